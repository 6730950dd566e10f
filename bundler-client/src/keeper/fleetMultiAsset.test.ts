import { Writable } from "node:stream"
import { pino } from "pino"
import { type Address, type Hex, getAddress } from "viem"
import { describe, expect, test, vi } from "vitest"
import { PaymasterTokenChargeError, SubAccountReadError } from "@levpilot/sdk/errors"
import { collateralValue } from "@levpilot/sdk/rules"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { KeeperEvents, type KeeperEvent } from "./events.js"
import { KeeperMetrics } from "./metrics.js"
import { ADAPTER, LLTV, fleetStepHarness, h } from "./testing.js"

vi.mock("@levpilot/sdk/actions", async (importOriginal) => ({ ...(await importOriginal<typeof import("@levpilot/sdk/actions")>()), sendRebalance: vi.fn() }))
const { sendRebalance } = await import("@levpilot/sdk/actions")
// The step's own read of one Safe (its re-plan after a PaymasterTokenChargeError reads afresh): the chain (mock) answers
// with the same state as the block's batched read.
vi.mock("./portfolio.js", async (importOriginal) => ({ ...(await importOriginal<typeof import("./portfolio.js")>()), readPortfolio: vi.fn() }))
const { readPortfolio, portfolioOf } = await import("./portfolio.js")

// Issue 11 (the keeper acts when it matters), fleet mode with several assets at once: one keeper (one FleetStep, one
// token paymaster charging USDC) serves Safes whose loan tokens have 6, 8 and 18 decimals, one of them with a broken
// feed next to a sub-account in danger. Each Safe's plan must be in its own token's exact base units within that
// Safe's balances and pools, the USDC Safe's plan must leave the paymaster's pre-charge (learned from the SDK's
// PaymasterTokenChargeError, then kept aside in the same block), the broken sub-account must be alerted once and
// left out while its neighbour is rescued, and the others must not be held up by it. The bundler and chain are mocks:
// `sendRebalance` refuses a USDC plan that spends into the charge, as the SDK does.

const USDC: Address = "0x00000000000000000000000000000000000000b6" // 6 decimals, the paymaster's token
const WBTC: Address = "0x00000000000000000000000000000000000000b8" // 8 decimals
const DAI: Address = "0x00000000000000000000000000000000000000b9" // 18 decimals
const WETH: Address = "0x00000000000000000000000000000000000000c9" // 18 decimals
const POOL_USDC: Address = "0x00000000000000000000000000000000000000f6"
const POOL_DAI: Address = "0x00000000000000000000000000000000000000f9"
const DECIMALS: Record<string, number> = { [USDC]: 6, [WBTC]: 8, [DAI]: 18, [WETH]: 18 }
const ETH_PRICE = 3_000
const CHARGE = 3_141_593n // 3.14 USDC: the paymaster's maximum pre-charge of an operation
const BLOCK = 100n
const TIMESTAMP = 1_700_000_000n

/** The 1e36-scaled oracle price of one `collateral` in `loan` at `human` loan units per collateral unit. */
const priceOf = (human: number, loan: Address, collateral: Address) => (BigInt(Math.round(human * 1e6)) * 10n ** BigInt(36 + (DECIMALS[loan] as number) - (DECIMALS[collateral] as number))) / 10n ** 6n
const safeAddress = (n: number) => getAddress(`0x${n.toString(16).padStart(40, "0")}`)

/** A Morpho sub-account at `health` (WETH or WBTC collateral worth `value` loan units), band [1.1, 1.5]. */
function sub(id: Hex, loan: Address, collateralToken: Address, human: number, value: number, health: number, pools: Address[]) {
  const price = priceOf(human, loan, collateralToken)
  const collateral = (BigInt(Math.round(value)) * 10n ** BigInt(DECIMALS[loan] as number) * 10n ** 36n) / price
  const debt = (collateralValue(collateral, price) * LLTV) / h(health)
  return {
    subAccount: id, loanToken: loan, collateralToken, collateral, debt, lltv: LLTV, price, band: health < 1.1 ? "below" : health > 1.5 ? "above" : "inside",
    policy: {
      adapter: ADAPTER, priceFeed: "0x0000000000000000000000000000000000000000", minHealth: h(1.1), targetHealth: h(1.3), maxHealth: h(1.5), maxAmountPerRebalance: 2n ** 200n, maxAmountPerEpoch: 2n ** 200n,
      epochLength: 86_400, maxRebalancesPerEpoch: 100, maxGasPerEpoch: 10n ** 12n, cooldown: 0, maxLossBps: 300, maxEpochLossBps: 300, boostAllowed: false, maxSlippageBps: 0,
      maxOracleAge: 3_600, maxOracleDeviationBps: 100, minFeedAnswer: 0n, maxFeedAnswer: 0n, pools, market: `0x${id.slice(2, 66)}`,
    },
    epochUsage: { lastRebalance: 0, epoch: 0, lossPpb: 0, amountMoved: 0n, rebalances: 0, gasUsed: 0 },
  }
}

type Sub = ReturnType<typeof sub>
/** A Safe as the lens's batched read returns it (`getSafeStates`). */
function safeState(safe: Address, subAccounts: Sub[], tokens: { token: Address; balance: bigint }[], pools: { pool: Address; asset: Address; assets: bigint; maxWithdraw: bigint }[], unreadable: SubAccountReadError[] = []) {
  return {
    safe,
    keeperKey: { active: true, validAfter: 0, validUntil: 2 ** 40 },
    paused: false,
    keeperNonce: 0n,
    subAccounts,
    unreadable,
    tokens: tokens.map((t) => ({ ...t, decimals: DECIMALS[t.token] as number })),
    pools: pools.map((p) => ({ ...p, shares: p.assets })),
  }
}

const id = (n: number) => `0x${n.toString(16).padStart(2, "0").repeat(32)}` as Hex

describe("fleet: one keeper, Safes on 6-, 8- and 18-decimal loan tokens, a USDC token paymaster, one broken feed", () => {
  test("each Safe's plan is exact in its own token and within its bounds; the USDC plan leaves the paymaster's charge; the broken feed alerts once while every other Safe is served", async () => {
    const A = safeAddress(0xa1) // USDC loan (the paymaster's token), idle USDC short of the rescue: the charge binds
    const B = safeAddress(0xb1) // DAI loan (18), WBTC collateral (8), a pool whose maxWithdraw is a few wei under its assets
    const C = safeAddress(0xc1) // WBTC loan (8), WETH collateral (18), idle WBTC
    const D = safeAddress(0xd1) // USDC loan: one sub-account's feed reverts, its neighbour is below its band
    const E = safeAddress(0xe1) // calm: nothing to do
    const BROKEN = id(0xdd)
    const states = [
      safeState(A, [sub(id(0xa1), USDC, WETH, ETH_PRICE, 200_000, 1.03, [])], [{ token: USDC, balance: 30_000_123_457n }, { token: WETH, balance: 0n }], []),
      safeState(B, [sub(id(0xb1), DAI, WBTC, 60_000, 1_000_000, 1.02, [POOL_DAI])], [{ token: DAI, balance: 12_345n }, { token: WBTC, balance: 0n }], [{ pool: POOL_DAI, asset: DAI, assets: 117_972_917_458_421_535_748_000n, maxWithdraw: 117_972_917_458_421_535_745_000n }]),
      safeState(C, [sub(id(0xc1), WBTC, WETH, 0.05, 40, 1.04, [])], [{ token: WBTC, balance: 500_000_001n }, { token: WETH, balance: 0n }], []),
      safeState(D, [sub(id(0xd2), USDC, WETH, ETH_PRICE, 80_000, 1.05, [POOL_USDC])], [{ token: USDC, balance: 10_000_000n }, { token: WETH, balance: 0n }], [{ pool: POOL_USDC, asset: USDC, assets: 50_000_000_000n, maxWithdraw: 49_999_999_999n }], [
        new SubAccountReadError({ subAccount: BROKEN, adapter: ADAPTER, revertData: "0x" }),
      ]),
      safeState(E, [sub(id(0xe1), USDC, WETH, ETH_PRICE, 50_000, 1.3, [])], [{ token: USDC, balance: 10n ** 9n }, { token: WETH, balance: 0n }], []),
    ]

    // The bundler (mock): a sponsored USDC plan that spends into the paymaster's pre-charge is refused as the SDK
    // refuses it (PaymasterTokenChargeError, nothing sent); any other plan is accepted.
    vi.mocked(readPortfolio).mockImplementation(async (_client, { safe, risk, costs }) =>
      portfolioOf(states.find((s) => s.safe.toLowerCase() === safe.toLowerCase()) as never, { blockNumber: BLOCK, timestamp: TIMESTAMP, risk, costs }),
    )
    const sent = new Map<Address, { plan: ChainPlan; paymasterToken: Address | undefined }[]>()
    const refused: Address[] = []
    vi.mocked(sendRebalance).mockReset()
    vi.mocked(sendRebalance).mockImplementation(async (_bundler, parameters) => {
      const p = parameters as unknown as { account: { address: Address }; plan: ChainPlan; paymasterToken?: Address }
      const safe = p.account.address
      const state = states.find((s) => s.safe.toLowerCase() === safe.toLowerCase())
      if (p.paymasterToken !== undefined && state) {
        const usdc = state.tokens.find((t) => t.token === p.paymasterToken)?.balance ?? 0n
        // The plan's lowest point of the token's balance after the paymaster's pre-charge, if it moves the token.
        let balance = usdc - CHARGE
        let lowest = 0n
        for (const a of p.plan.actions) {
          const loan = state.subAccounts.find((s) => s.subAccount === p.plan.subAccounts[a.subAccount])?.loanToken
          if (loan !== p.paymasterToken) continue
          if (a.kind === "Repay" || a.kind === "DepositToPool") balance -= a.amount
          if (a.kind === "Borrow" || a.kind === "WithdrawFromPool") balance += a.amount
          if (balance < lowest) lowest = balance
        }
        if (lowest < 0n) {
          refused.push(safe)
          throw new PaymasterTokenChargeError({ token: p.paymasterToken, charge: CHARGE, balance: usdc })
        }
      }
      sent.set(safe, [...(sent.get(safe) ?? []), { plan: p.plan, paymasterToken: p.paymasterToken }])
      return `0x${safe.slice(2).padStart(64, "0")}` as Hex
    })

    const logger = pino({ level: "silent" }, new Writable({ write: (_c, _e, done) => done() }))
    const metrics = new KeeperMetrics()
    const events: KeeperEvent[] = []
    const keeperEvents = new KeeperEvents({ logger, metrics, onEvent: (e) => events.push(e) })
    const config = {
      deployment: { leverageModule: "0x00000000000000000000000000000000000000aa", entryPoint: "0x0000000071727De22E5E9d8BAf0edAc6f37da032", adapters: { morphoBlue: ADAPTER } },
      fleet: { sendConcurrency: 2 },
      paymasterContext: { token: USDC },
      costs: { gasPriceGwei: 1, nativePrice: ETH_PRICE },
    }
    const { step } = fleetStepHarness({ config, metrics, logger, events: keeperEvents, timestamp: TIMESTAMP })
    for (const s of states) step.runtime(s.safe).account = { address: s.safe, getNonce: async () => 0n } as never

    const started = Date.now()
    const outcomes = await Promise.all(states.map((state) => step.run({ safe: state.safe, block: BLOCK, timestamp: TIMESTAMP, state: state as never, userOps: [] })))
    expect(outcomes).toEqual(["done", "done", "done", "done", "done"])
    expect(Date.now() - started).toBeLessThan(20_000)

    // A, B, C and D each sent one plan; the calm Safe none.
    expect([...sent.keys()].sort()).toEqual([A, B, C, D].sort())
    expect(sent.get(E)).toBeUndefined()
    // A's first plan (and D's, whose rescue also took its idle USDC) spent into the paymaster's charge (refused,
    // nothing sent); each was planned again in the same block with the charge kept aside, and sent.
    expect(refused.sort()).toEqual([A, D].sort())
    for (const [safe, sends] of sent) {
      expect(sends).toHaveLength(1)
      const { plan, paymasterToken } = sends[0] as { plan: ChainPlan; paymasterToken: Address | undefined }
      expect(paymasterToken).toBe(USDC) // one keeper, one token paymaster for every Safe
      const state = states.find((s) => s.safe === safe) as (typeof states)[number]
      // Exact integers within the Safe's own bounds, in its own tokens' base units.
      const balance = Object.fromEntries(state.tokens.map((t) => [t.token, t.token === USDC ? t.balance - CHARGE : t.balance]))
      const withdrawn: Record<string, bigint> = {}
      for (const a of plan.actions) {
        expect(typeof a.amount).toBe("bigint")
        expect(a.amount).toBeGreaterThan(0n)
        const s = state.subAccounts.find((x) => x.subAccount === plan.subAccounts[a.subAccount]) as Sub
        expect(s).toBeDefined()
        if (a.kind === "WithdrawFromPool") {
          const pool = state.pools.find((p) => p.pool === a.pool) as (typeof state.pools)[number]
          withdrawn[pool.pool] = (withdrawn[pool.pool] ?? 0n) + a.amount
          expect(withdrawn[pool.pool]).toBeLessThanOrEqual(pool.maxWithdraw)
          balance[pool.asset] = (balance[pool.asset] as bigint) + a.amount
        } else if (a.kind === "Repay") {
          expect(a.amount).toBeLessThanOrEqual(s.debt)
          balance[s.loanToken] = (balance[s.loanToken] as bigint) - a.amount
          expect(balance[s.loanToken]).toBeGreaterThanOrEqual(0n)
        } else expect.unreachable(`${a.kind}: a plain rescue here`)
      }
      // Only rescues of sub-accounts below their band; the broken one is never listed.
      expect(plan.subAccounts).not.toContain(BROKEN)
      for (const sa of plan.subAccounts) expect(state.subAccounts.find((x) => x.subAccount === sa)?.band).toBe("below")
    }
    // A's rescue used its USDC up to the charge (the charge bound it), not a wei into it.
    const aRepaid = (sent.get(A)?.[0]?.plan.actions ?? []).reduce((t, a) => t + (a.kind === "Repay" ? a.amount : 0n), 0n)
    expect(aRepaid).toBeLessThanOrEqual(30_000_123_457n - CHARGE)
    expect(aRepaid).toBeGreaterThan(30_000_123_457n - CHARGE - 10n ** 6n)
    // B's pool withdrawal (18 decimals, maxWithdraw a few wei under the assets) is held to maxWithdraw.
    expect(sent.get(B)?.[0]?.plan.actions.some((a) => a.kind === "WithdrawFromPool")).toBe(true)

    // One alert in all: the broken feed of D, once; it is exposed in metrics; D's neighbour was still rescued.
    const alerts = events.filter((e) => e.type === "alert")
    expect(alerts.map((e) => e.type === "alert" && [e.safe, e.kind])).toEqual([[D, "feed-broken"]])
    expect(alerts[0]?.type === "alert" && alerts[0].message).toContain(BROKEN)
    expect(metrics.render()).toMatch(new RegExp(`levpilot_subaccount_unreadable\\{[^}]*sub_account="${BROKEN}"[^}]*\\} 1`))
    expect(sent.get(D)?.[0]?.plan.subAccounts).toEqual([id(0xd2)])
  })
})
