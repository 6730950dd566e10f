import { type Address, type Hex, custom } from "viem"
import { describe, expect, it, vi } from "vitest"
import { withStopHeld } from "../solver/solver.js"
import { healthOf } from "../solver/state.js"
import { stopExitResult } from "../solver/stopExit.js"
import { DEFAULT_GAS_PER_ACTION, type SubAccountInput } from "../solver/types.js"

// Issue 13 (docs/stop-loss-exit.md Phase B), f13h: the live keeper never planned the owner's stop exit (only the
// backtester did). `readPortfolio` now carries the stop read in its pinned multicall into the solver's policy
// (`stopPrice`, `exitHealth`, `maxOracleDeviationBps`) and marks a sub-account due by its engaged stop in the send
// clamp's bounds; `stopExitResult` (called by the step for a loan asset the solver plans nothing for) plans the swap
// deleverage the module accepts while the stop is engaged: RepayWithCallback { WithdrawCollateral, SellCollateral }
// EndCallback, landing between health + MIN_BAND_GAP and exitHealth, judged by the rule book with the stop.

const BLOCK = 1_234n
const SAFE = "0x00000000000000000000000000000000000005af" as Address
const MORPHO_ADAPTER = "0x0000000000000000000000000000000000000001" as Address
const LOAN = "0x00000000000000000000000000000000000000b1" as Address
const COLL = "0x00000000000000000000000000000000000000c1" as Address
const MORPHO = "0x00000000000000000000000000000000000000e1" as Address
const SUB = `0x${"aa".repeat(32)}` as Hex
/** 3,000 USDC (6 decimals) per WETH (18), 1e36-scaled. */
const PRICE = 3000n * 10n ** 24n
const WAD = 10n ** 18n
const state = { stop: { stopPrice: 0n, exitHealth: 0n } as { stopPrice: bigint; exitHealth: bigint } | undefined }

vi.mock("viem/actions", async (original) => ({ ...(await original<typeof import("viem/actions")>()), getBlock: vi.fn(async () => ({ number: BLOCK, timestamp: 1_700_000_000n })) }))
vi.mock("@levpilot/sdk/actions", async (original) => ({
  ...(await original<typeof import("@levpilot/sdk/actions")>()),
  getSubAccountStateSettled: vi.fn(async () => ({
    unreadable: [],
    states: [
      {
        // 10 WETH, 15,000 USDC debt: health 10 x 3,000 x 0.86 / 15,000 = 1.72, inside the band [1.5, 2.1].
        subAccount: SUB,
        loanToken: LOAN,
        collateralToken: COLL,
        collateral: 10n * WAD,
        debt: 15_000n * 10n ** 6n,
        price: PRICE,
        lltv: 86n * 10n ** 16n,
        health: 172n * 10n ** 16n,
        leverage: 2n * WAD,
        equity: 15_000n * 10n ** 6n,
        band: "inside",
        epochUsage: { epoch: 0, lastRebalance: 0, rebalances: 0, lossPpb: 0, gasUsed: 0, amountMoved: 0n },
        policy: {
          adapter: MORPHO_ADAPTER,
          market: SUB,
          priceFeed: "0x0000000000000000000000000000000000000000",
          pools: [],
          boostAllowed: true,
          maxSlippageBps: 50,
          maxOracleDeviationBps: 100,
          minHealth: 15n * 10n ** 17n,
          targetHealth: 18n * 10n ** 17n,
          maxHealth: 21n * 10n ** 17n,
          maxAmountPerRebalance: 10n ** 30n,
          maxAmountPerEpoch: 10n ** 30n,
          epochLength: 86_400,
          maxRebalancesPerEpoch: 10,
          maxGasPerEpoch: 10n ** 12n,
          cooldown: 0,
          maxLossBps: 50,
          maxEpochLossBps: 400,
          maxOracleAge: 3_600,
          minFeedAnswer: 0n,
          maxFeedAnswer: 0n,
        },
      },
    ],
  })),
}))
vi.mock("@levpilot/sdk/utils", async (original) => ({
  ...(await original<typeof import("@levpilot/sdk/utils")>()),
  readMany: vi.fn(async (_client: unknown, _deployment: unknown, contracts: readonly { address: Address; functionName: string }[]) => {
    const answer: Record<string, unknown> = { balanceOf: 0n, MORPHO, market: [10n ** 22n, 10n ** 22n, 10n ** 21n, 10n ** 21n, 0n, 0n], getStopLoss: state.stop }
    return contracts.map((c) =>
      c.functionName === "getStopLoss" && state.stop === undefined
        ? { status: "failure", error: new Error("read failed") }
        : { status: "success", result: c.functionName === "decimals" ? (c.address.toLowerCase() === LOAN ? 6 : 18) : answer[c.functionName] },
    )
  }),
}))

/** The snapshot with `stop`, and a selling curve of 5-20 bps shortfall (fee and impact) on the sub-account. */
async function snapshotWith(stop: { stopPrice: bigint; exitHealth: bigint } | undefined) {
  state.stop = stop
  const { readPortfolio } = await import("./portfolio.js")
  const client = { chain: { id: 31_337 }, transport: custom({ request: async ({ method }) => Promise.reject(new Error(`unrecorded ${method}`)) }) } as never
  const deployment = { leverageModule: "0x00000000000000000000000000000000000000aa", adapters: { morphoBlue: MORPHO_ADAPTER }, multicall3: "0x00000000000000000000000000000000000000ca" } as never
  const costs = { gasPrice: 3e-6, gasPerAction: DEFAULT_GAS_PER_ACTION, baseGas: 150_000, boostEdgeBps: 20 }
  const snapshot = await readPortfolio(client, { safe: SAFE, deployment, risk: { mode: "expected", tolerance: 0.001, horizon: 86_400 } as never, costs })
  const sub = snapshot.input.subAccounts[0] as SubAccountInput
  sub.swap = { route: `0x${"00".repeat(31)}01`, points: [{ amountIn: 0.01, shortfallBps: 5 }, { amountIn: 100, shortfallBps: 20 }] }
  return snapshot
}

describe("f13h (issue 13 Phase B): the keeper plans the owner's stop exit", () => {
  it("an engaged stop (price at the stop) reaches the solver's policy and the bounds mark the sub-account due", async () => {
    const snapshot = await snapshotWith({ stopPrice: PRICE, exitHealth: 3n * WAD })
    const policy = snapshot.input.subAccounts[0]?.policy
    expect(policy?.stopPrice).toBeCloseTo(3000, 9)
    expect(policy?.exitHealth).toBe(3)
    expect(policy?.maxOracleDeviationBps).toBe(100)
    expect(withStopHeld(snapshot.input).subAccounts[0]?.policy.boostAllowed).toBe(false) // the stop holds (f13g; the solver's mask since k13s)
    expect(snapshot.bounds.subAccounts[SUB]?.due).toBe(true)
  })

  it("engaged, health 1.72 inside the band: one swap deleverage toward exitHealth 3 that the rule book accepts", async () => {
    const snapshot = await snapshotWith({ stopPrice: PRICE, exitHealth: 3n * WAD })
    const result = stopExitResult(snapshot.input)
    const plan = result?.plan
    expect(plan?.actions.map((a) => a.kind)).toEqual(["RepayWithCallback", "WithdrawCollateral", "SellCollateral", "EndCallback"])
    expect(plan?.subAccounts).toEqual([SUB.toLowerCase()])
    // Exposure sold: the sale's collateral leaves the position and repays debt; health lands in (1.73, 3].
    const s = snapshot.input.subAccounts[0]?.state as SubAccountInput["state"]
    const sold = plan?.actions[1]?.amount as number
    const repaid = plan?.actions[0]?.amount as number
    expect(sold).toBeGreaterThan(1)
    const after = healthOf({ ...s, collateral: s.collateral - sold, debt: s.debt - repaid })
    expect(after).toBeGreaterThan(1.72 + 0.01)
    expect(after).toBeLessThanOrEqual(3)
  })

  it("no exit without a stop, with the stop held but not engaged, or with an unread stop", async () => {
    expect(stopExitResult((await snapshotWith({ stopPrice: 0n, exitHealth: 0n })).input)).toBeUndefined()
    expect(stopExitResult((await snapshotWith({ stopPrice: (PRICE * 995n) / 1000n, exitHealth: 3n * WAD })).input)).toBeUndefined()
    expect(stopExitResult((await snapshotWith(undefined)).input)).toBeUndefined()
    const held = await snapshotWith({ stopPrice: (PRICE * 995n) / 1000n, exitHealth: 3n * WAD })
    expect(held.bounds.subAccounts[SUB]?.due).toBe(false)
  })

  it("the exits' half of maxRebalancesPerEpoch (review rr13s S4): none once 5 of 10 are spent in the epoch", async () => {
    const snapshot = await snapshotWith({ stopPrice: PRICE, exitHealth: 3n * WAD })
    const sub = snapshot.input.subAccounts[0] as SubAccountInput
    const epoch = Math.floor(snapshot.input.now / 86_400)
    sub.epoch = { ...sub.epoch, epoch, rebalancesInEpoch: 4 }
    expect(stopExitResult(snapshot.input)?.plan).toBeDefined()
    sub.epoch = { ...sub.epoch, epoch, rebalancesInEpoch: 5 }
    expect(stopExitResult(snapshot.input)).toBeUndefined()
  })
  it("with swap.repayment sale-minimum (input.saleMinimumRepayment) the exit is sized on the sale-minimum repayment, as the backtester's and the solver's rescues are (review rv60k F2)", async () => {
    const snapshot = await snapshotWith({ stopPrice: PRICE, exitHealth: 3n * WAD })
    expect(stopExitResult(snapshot.input)?.plan).toBeDefined()
    const mode = stopExitResult({ ...snapshot.input, saleMinimumRepayment: true })?.plan
    // planStopExit records `brought` only when it sizes on the minimum (repayAtMinimum).
    expect(mode?.actions.find((a) => a.kind === "RepayWithCallback")?.brought, "the exit sized on the sale-minimum repayment").toBeDefined()
  })
})
