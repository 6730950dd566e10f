import type { Address, Hex } from "viem"
import { expect, test } from "vitest"
import { WAD } from "@levpilot/sdk/constants"
import { type CheckRebalanceRulesParameters, type RulePolicy, type RuleSubAccount, checkRebalanceRules, collateralValue, minAmountOut } from "@levpilot/sdk/rules"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { type ChainBounds, clampPlanToChainBounds } from "./chainBounds.js"

// Random plans of two or three sub-accounts sharing a loan token, random clamps (to zero too), random interleavings:
// every clamped plan is judged by the SDK's rule book (`checkRebalanceRules`, the module's rules as one function).

const LOAN = "0x00000000000000000000000000000000000000b1"
const ADAPTER = "0x00000000000000000000000000000000000000ad"
const SWAP_ADAPTER = "0x00000000000000000000000000000000000000a5"
const ROUTE = `0x${"0".repeat(61)}1f4` as const
const ZERO = "0x0000000000000000000000000000000000000000"
const SLIPPAGE = 50
/** The real swap pays 20 bps under the oracle (inside the policy's 50). */
const SWAP_COST_BPS = 20n
const LLTV = (8n * WAD) / 10n
const h = (x: number) => BigInt(Math.round(x * 1e6)) * 10n ** 12n

type Kind = "boost" | "flash" | "poolRepay" | "dueRepay" | "donor" | "recipient"
type Sub = { id: Hex; kind: Kind; due: boolean; collateralToken: Address; price: bigint; collateral: bigint; debt: bigint; pool?: Address }
type Segment = ChainPlan["actions"][number][]

function policy(pools: readonly Address[]): RulePolicy {
  return {
    adapter: ADAPTER,
    minHealth: h(1.1),
    cooldown: 0,
    market: `0x${"00".repeat(32)}`,
    priceFeed: ZERO,
    targetHealth: h(1.3),
    epochLength: 86_400,
    maxHealth: h(1.5),
    maxGasPerEpoch: 10n ** 12n,
    maxOracleAge: 3_600,
    maxLossBps: 300,
    maxEpochLossBps: 300,
    maxRebalancesPerEpoch: 100,
    maxOracleDeviationBps: 100,
    boostAllowed: true,
    maxSlippageBps: SLIPPAGE,
    maxAmountPerRebalance: 2n ** 200n,
    maxAmountPerEpoch: 2n ** 200n,
    minFeedAnswer: 0n,
    maxFeedAnswer: 0n,
    pools,
  }
}

test("property: random plans, clamps and interleavings keep positive amounts, no more than asked, supplies at their own purchase's minimum, and the rule book's acceptance", () => {
  let seed = 0x11c
  const rnd = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31), seed / 2 ** 31)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T
  const stats = { cases: 0, clamped: 0, none: 0, subDropped: 0, interleaved: 0 }
  for (let n = 0; n < 3_000; n++) {
    const loanDecimals = pick([6, 8, 18])
    const subs: Sub[] = []
    const newSub = (kind: Kind, health: number, due: boolean, scale = 1, exponent = 3 + Math.floor(rnd() * 4)): Sub => {
      const index = subs.length
      const decimals = pick([6, 8, 18])
      const price = (10n ** BigInt(36 + loanDecimals - decimals) * BigInt(1 + Math.floor(rnd() * 50_000))) / 7n + BigInt(Math.floor(rnd() * 1e6))
      const value = 10n ** BigInt(loanDecimals + exponent) * BigInt(scale)
      const collateral = (value * 10n ** 36n) / price
      const debt = (collateralValue(collateral, price) * LLTV) / h(health)
      const sub: Sub = { id: `0x${(index + 1).toString(16).padStart(2, "0").repeat(32)}`, kind, due, collateralToken: `0x${"c".repeat(38)}${index}${decimals % 10}`, price, collateral, debt }
      if (kind === "poolRepay") sub.pool = `0x${"9".repeat(39)}${index}`
      subs.push(sub)
      return sub
    }
    const total = 2 + Math.floor(rnd() * 2)
    const withDue = rnd() < 0.6
    if (withDue) newSub("dueRepay", 1.05, true)
    else newSub(pick(["boost", "flash"] as const), 1.6, true)
    while (subs.length < total) {
      const kind = pick(["boost", "flash", "poolRepay", "donor"] as const)
      if (kind !== "donor") newSub(kind, kind === "poolRepay" ? 1.2 : 1.45, false)
      else if (total - subs.length >= 2) {
        const exponent = 3 + Math.floor(rnd() * 4)
        newSub("donor", 1.45, false, 2, exponent)
        newSub("recipient", 1.2, false, 1, exponent)
      }
    }

    // The solver's plan (amounts through floats, as the solver works), per sub-account as ordered segments.
    const order = subs.map((_, i) => i).sort(() => rnd() - 0.5)
    const index = (s: Sub) => order.indexOf(subs.indexOf(s))
    const num = (x: bigint) => Number(x)
    const valueOf = (s: Sub) => num(collateralValue(s.collateral, s.price))
    const chains: Segment[][] = []
    const swapOut = new Map<Hex, { x: bigint; supply: bigint }>()
    let idle = 0n
    const bounds: ChainBounds = { balances: {}, maxWithdraw: {}, poolAsset: {}, subAccounts: {} }
    const pools: Address[] = []
    const clampTo = (x: bigint): bigint | undefined => {
      const r = rnd()
      if (r < 0.2) return undefined
      if (r < 0.4) return x * 2n
      if (r < 0.6) return x - BigInt(1 + Math.floor(rnd() * 3_071)) > 0n ? x - BigInt(1 + Math.floor(rnd() * 3_071)) : 0n
      if (r < 0.85) return (x * BigInt(Math.floor(rnd() * 1_000))) / 1_000n
      return 0n
    }
    const freeOf = new Map<Hex, bigint | undefined>()
    for (const s of subs) {
      const i = index(s)
      const V = valueOf(s)
      const D = num(s.debt)
      if (s.kind === "boost" || s.kind === "flash") {
        const x = BigInt(Math.floor((0.8 * V - 1.35 * D) / (1.35 - 0.8 * 0.998)))
        const supply = ((x * 10n ** 36n) / s.price) * (10_000n - SWAP_COST_BPS) / 10_000n
        swapOut.set(s.id, { x, supply })
        freeOf.set(s.id, clampTo(x))
        const borrow = { kind: "Borrow", subAccount: i, amount: x } as const
        const buy = { kind: "BuyCollateral", subAccount: i, route: ROUTE, amount: x } as const
        if (s.kind === "boost") chains.push([[borrow], [buy], [{ kind: "SupplyCollateral", subAccount: i, amount: supply }]])
        else chains.push([[{ kind: "SupplyCollateralWithCallback", subAccount: i, amount: supply }, borrow, buy, { kind: "EndCallback", subAccount: i, amount: 0n }]])
      } else if (s.kind === "poolRepay") {
        const w = BigInt(Math.floor(D - (0.8 * V) / 1.25))
        const pool = s.pool as Address
        pools.push(pool)
        const r = rnd()
        bounds.maxWithdraw[pool] = r < 0.3 ? w + 1_000n : r < 0.5 ? w - 3_071n : r < 0.8 ? (w * BigInt(Math.floor(rnd() * 1_000))) / 1_000n : 0n
        bounds.poolAsset[pool] = LOAN
        chains.push([[{ kind: "WithdrawFromPool", subAccount: i, pool, amount: w }], [{ kind: "Repay", subAccount: i, amount: w }]])
      } else if (s.kind === "dueRepay") {
        const repay = BigInt(Math.floor(D - (0.8 * V) / 1.3))
        idle += repay
        chains.push([[{ kind: "Repay", subAccount: i, amount: repay }]])
      } else if (s.kind === "donor") {
        const recipient = subs[subs.indexOf(s) + 1] as Sub
        const y = BigInt(Math.floor(num(recipient.debt) - (0.8 * valueOf(recipient)) / 1.25))
        freeOf.set(s.id, clampTo(y))
        chains.push([[{ kind: "Borrow", subAccount: i, amount: y }], [{ kind: "Repay", subAccount: index(recipient), amount: y }]])
      }
    }
    // A random interleaving that keeps each chain's order (a callback block stays whole).
    const actions: ChainPlan["actions"][number][] = []
    const left = chains.map((c) => c.slice())
    while (left.some((c) => c.length > 0)) {
      const open = left.filter((c) => c.length > 0)
      actions.push(...((pick(open).shift() as Segment) ?? []))
    }
    const plan: ChainPlan = { subAccounts: order.map((k) => (subs[k] as Sub).id), actions }
    const sequential = chains.flat(2)
    if (actions.some((a, k) => a !== sequential[k])) stats.interleaved++
    bounds.balances = { [LOAN]: idle }
    for (const s of subs)
      bounds.subAccounts[s.id] = { debt: s.debt, collateral: s.collateral, loanToken: LOAN, collateralToken: s.collateralToken, borrowable: freeOf.get(s.id), price: s.price, maxSlippageBps: SLIPPAGE, due: s.due }

    const judge = (p: ChainPlan, shares: (pool: Address) => bigint) => {
      const outputs: Record<number, bigint> = {}
      p.actions.forEach((a, k) => {
        if (a.kind !== "BuyCollateral") return
        const s = subs.find((x) => x.id === p.subAccounts[a.subAccount]) as Sub
        const { x, supply } = swapOut.get(s.id) as { x: bigint; supply: bigint }
        // A concave output through the quote, never below the router's minimum (else the swap reverts).
        const minimum = minAmountOut(BigInt(SLIPPAGE), s.price, false, a.amount)
        const scaled = (supply * a.amount) / x
        outputs[k] = scaled > minimum ? scaled : minimum
      })
      const listed = p.subAccounts.map((id) => subs.find((x) => x.id === id) as Sub)
      const input: CheckRebalanceRulesParameters = {
        plan: p,
        subAccounts: listed.map(
          (s): RuleSubAccount => ({
            id: s.id,
            policy: policy(s.pool ? [s.pool] : []),
            state: { loanToken: LOAN, collateralToken: s.collateralToken, collateral: s.collateral, debt: s.debt, price: s.price, lltv: LLTV },
            usage: { epoch: 0, lastRebalance: 0, rebalances: 0, lossPpb: 0, gasUsed: 0, amountMoved: 0n },
          }),
        ),
        pools: pools.map((pool) => ({ address: pool, asset: LOAN, totalAssets: 10n ** 40n, totalSupply: 10n ** 40n, shares: shares(pool) })),
        balances: { [LOAN]: idle },
        swapAdapter: SWAP_ADAPTER,
        timestamp: 1_700_000_000n,
        gasUsed: 500_000n,
        outcome: { swapOutputs: outputs },
      }
      return checkRebalanceRules(input)
    }
    // The generator's plan is one the module accepts when the chain can bear it.
    const asked = (pool: Address) => actions.find((a) => a.kind === "WithdrawFromPool" && a.pool === pool)?.amount ?? 0n
    const original = judge(plan, asked)
    expect(original.ok ? "ok" : `${original.error.name} ${original.error.args.join(" ")} ${subs.map((s) => `${s.id.slice(0, 4)}:${s.kind}`)} ${actions.map((a) => `${a.kind}[${a.subAccount}]=${a.amount}`)}`).toBe("ok")

    stats.cases++
    const { plan: out, binding } = clampPlanToChainBounds(plan, bounds)
    if (binding.length > 0) stats.clamped++
    else if (JSON.stringify(out, (_, v) => (typeof v === "bigint" ? v.toString() : v)) !== JSON.stringify(plan, (_, v) => (typeof v === "bigint" ? v.toString() : v))) {
      console.log(JSON.stringify({ plan, bounds }, (_, v) => (typeof v === "bigint" ? `${v}n` : v)))
      expect(out).toEqual(plan)
    }
    if (out === undefined) {
      stats.none++
      continue
    }
    if (out.subAccounts.length < plan.subAccounts.length) stats.subDropped++
    const originalOf = (a: ChainPlan["actions"][number]) => plan.actions.find((b) => b.kind === a.kind && plan.subAccounts[b.subAccount] === out.subAccounts[a.subAccount]) as ChainPlan["actions"][number]
    for (const a of out.actions) {
      if (a.kind === "EndCallback") continue
      expect(a.amount).toBeGreaterThan(0n)
      expect(a.amount).toBeLessThanOrEqual(originalOf(a).amount)
      if (a.kind === "SupplyCollateral" || a.kind === "SupplyCollateralWithCallback") {
        const s = subs.find((x) => x.id === out.subAccounts[a.subAccount]) as Sub
        const buy = out.actions.find((b) => b.kind === "BuyCollateral" && b.subAccount === a.subAccount)
        expect(buy).toBeDefined()
        expect(a.amount).toBeGreaterThanOrEqual(minAmountOut(BigInt(SLIPPAGE), s.price, false, buy?.amount ?? 0n))
      }
    }
    // No sub-account listed without a venue action.
    out.subAccounts.forEach((_, i) => expect(out.actions.some((a) => a.subAccount === i && !["BuyCollateral", "SellCollateral", "WithdrawFromPool", "DepositToPool", "EndCallback"].includes(a.kind))).toBe(true))
    const verdict = judge(out, (pool) => bounds.maxWithdraw[pool] ?? 0n)
    if (!verdict.ok) {
      // A due boost cut short can land above its band: a magnitude the clamp cannot restore (the keeper re-plans).
      const due = subs.find((s) => s.due) as Sub
      const magnitude = ["HealthOutOfBand", "HealthOutsideLandingZone"].includes(verdict.error.name) && verdict.error.args[0] === due.id && due.kind !== "dueRepay"
      expect(magnitude ? "magnitude" : `${verdict.error.name} ${verdict.error.args.join(" ")}`).toBe("magnitude")
    }
  }
  expect(stats.cases).toBe(3_000)
  expect(stats.clamped).toBeGreaterThan(1_000)
  expect(stats.none).toBeGreaterThan(50)
  expect(stats.subDropped).toBeGreaterThan(100)
  expect(stats.interleaved).toBeGreaterThan(1_000)
})
