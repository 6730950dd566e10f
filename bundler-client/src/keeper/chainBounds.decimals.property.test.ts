import type { Hex } from "viem"
import { expect, test } from "vitest"
import { collateralValue } from "@levpilot/sdk/rules"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { portfolioOf, toChainPlan } from "./portfolio.js"
import { newSafeRuntime } from "./runtime.js"
import { keeperCosts } from "./safeStep.js"
import { ADAPTER, LLTV, SAFE, STEP_RISK, h, stepHarness } from "./testing.js"

// Issue 11 items 1, 2 and 8 as one property over the keeper's whole planning path (pure TypeScript, no chain): random
// Safes whose loan and collateral tokens have 6, 8 or 18 decimals, random idle balances (odd wei), ERC-4626 pools whose
// `maxWithdraw` is below their assets by a few wei or a fraction, Morpho markets with little free liquidity, debts at
// every health, and in some cases an ERC-20 paymaster charging the loan token (its pre-charge learned in the block).
// Each Safe goes through the keeper's own step (`SafeStep.run`, dry run: `portfolioOf` -> paymaster reserve -> solver in
// floats -> `toChainPlan` -> `clampForSend`), and the plan it would send is walked against the raw on-chain bounds it
// came from, read independently of the keeper's snapshot: every amount an exact bigint, every pool withdrawal within
// `maxWithdraw`, every borrow within the market's free liquidity, every repay within the debt, every spend within the
// Safe's balance at that point less the paymaster's charge.

const LOANS: Record<number, Hex> = {
  0: "0x00000000000000000000000000000000000000b0",
  2: "0x00000000000000000000000000000000000000b2",
  6: "0x00000000000000000000000000000000000000b6",
  8: "0x00000000000000000000000000000000000000b8",
  12: "0x00000000000000000000000000000000000000bc",
  18: "0x00000000000000000000000000000000000000b9",
  24: "0x00000000000000000000000000000000000000bd",
}
const COLLATERALS: Record<number, Hex> = {
  0: "0x00000000000000000000000000000000000000c0",
  2: "0x00000000000000000000000000000000000000c2",
  6: "0x00000000000000000000000000000000000000c6",
  8: "0x00000000000000000000000000000000000000c8",
  12: "0x00000000000000000000000000000000000000cc",
  18: "0x00000000000000000000000000000000000000c9",
  24: "0x00000000000000000000000000000000000000cd",
}
const POOLS: Hex[] = ["0x00000000000000000000000000000000000000f1", "0x00000000000000000000000000000000000000f2"]
const CASES = 1_500
const BLOCK = 100n

type Band = "below" | "inside" | "above"

/**
 * The property over `CASES` random Safes whose tokens have `decimals` (the largest first for case 0), drawn from `start`;
 * each loan decimals must be drawn at least `minPerDecimals` times.
 */
const decimalsProperty = (title: string, { start, decimals, minPerDecimals }: { start: number; decimals: readonly number[]; minPerDecimals: number }) =>
test(title, async () => {
  let seed = start
  const rnd = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31), seed / 2 ** 31)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T
  const odd = () => BigInt(1 + Math.floor(rnd() * 3_071))
  /** `x` whole, a few wei short, a random fraction of it, or 0. */
  const below = (x: bigint) => {
    const r = rnd()
    return r < 0.35 ? x : r < 0.55 ? (x > 3_071n ? x - odd() : 0n) : r < 0.9 ? (x * BigInt(Math.floor(rnd() * 1_000))) / 1_000n : 0n
  }
  const stats = { plans: 0, sent: 0, clamped: 0, poolAtMax: 0, borrowAtFree: 0, solverBreaks: 0, solverBreaksBy: {} as Record<string, number>, reserveBinds: 0, byLoanDecimals: Object.fromEntries(decimals.map((d) => [d, 0])) as Record<number, number>, swaps: 0 }
  for (let n = 0; n < CASES; n++) {
    const ld = n === 0 ? Math.max(...decimals) : pick(decimals)
    const loan = LOANS[ld] as Hex
    const count = 1 + Math.floor(rnd() * 4)
    const pools = rnd() < 0.7 ? POOLS.slice(0, 1 + Math.floor(rnd() * 2)) : []
    let totalDebt = 0n
    const subAccounts = Array.from({ length: count }, (_, i) => {
      const cd = pick(decimals)
      // Price of one collateral token in loan tokens (a stable pair, wstETH/WETH, ETH, BTC, anything), 1e36-scaled.
      const human = pick([1, 1.17, 3_000, 60_000, 0.05 + rnd() * 5_000])
      const price = (BigInt(Math.round(human * 1e6)) * 10n ** BigInt(36 + ld - cd)) / 10n ** 6n + BigInt(Math.floor(rnd() * 1e6))
      const value = BigInt(1 + Math.floor(rnd() * 9)) * 10n ** BigInt(ld + 2 + Math.floor(rnd() * 5)) + odd()
      const collateral = (value * 10n ** 36n) / price
      const band: Band = n === 0 && i === 0 ? "below" : pick(["below", "below", "inside", "above"] as const)
      const health = band === "below" ? 0.97 + rnd() * 0.12 : band === "inside" ? 1.12 + rnd() * 0.36 : 1.55 + rnd() * 1.5
      const debt = (collateralValue(collateral, price) * LLTV) / h(health)
      totalDebt += debt
      const id = `0x${(i + 1).toString(16).padStart(2, "0").repeat(32)}` as Hex
      return {
        subAccount: id, loanToken: loan, collateralToken: COLLATERALS[cd] as Hex, collateral, debt, lltv: LLTV, price, band,
        policy: {
          adapter: ADAPTER, priceFeed: "0x0000000000000000000000000000000000000000", minHealth: h(1.1), targetHealth: h(1.3), maxHealth: h(1.5),
          maxAmountPerRebalance: 2n ** 200n, maxAmountPerEpoch: 2n ** 200n, epochLength: 86_400, maxRebalancesPerEpoch: 100, maxGasPerEpoch: 10n ** 12n,
          cooldown: 0, maxLossBps: 300, maxEpochLossBps: 300, boostAllowed: rnd() < 0.6, maxSlippageBps: 0, maxOracleAge: 3_600, maxOracleDeviationBps: 100,
          minFeedAnswer: 0n, maxFeedAnswer: 0n, pools, market: `0x${id.slice(2, 66)}`,
        },
        epochUsage: { lastRebalance: 0, epoch: 0, lossPpb: 0, amountMoved: 0n, rebalances: 0, gasUsed: 0 },
      }
    })
    // The pools' assets and what the Safe may withdraw of them (the issue's wei-exact maxWithdraw in case 0).
    const poolPositions = pools.map((pool) => {
      const assets = n === 0 ? 17_972_917_458_421_535_745n + 10n ** 18n : (totalDebt * BigInt(Math.floor(rnd() * 400))) / 1_000n + odd()
      const maxWithdraw = n === 0 ? 17_972_917_458_421_535_745n : below(assets)
      return { pool, asset: loan, shares: assets, assets, maxWithdraw }
    })
    const loanBalance = rnd() < 0.4 ? 0n : (totalDebt * BigInt(Math.floor(rnd() * 300))) / 1_000n + odd()
    const tokens = [{ token: loan, decimals: ld, balance: loanBalance }]
    for (const cd of decimals)
      if (subAccounts.some((s) => s.collateralToken === COLLATERALS[cd])) tokens.push({ token: COLLATERALS[cd] as Hex, decimals: cd, balance: rnd() < 0.5 ? 0n : 10n ** BigInt(cd) * BigInt(Math.floor(rnd() * 5)) + odd() })
    // Morpho markets' free liquidity: unknown (no limit), none, or a fraction of the debt (odd wei).
    const borrowable: Record<string, bigint> = {}
    for (const s of subAccounts) {
      const r = rnd()
      if (r < 0.3) continue
      borrowable[s.subAccount] = r < 0.4 ? 0n : (s.debt * BigInt(Math.floor(rnd() * 300))) / 1_000n + odd()
    }
    // A token paymaster charging the loan token, its pre-charge learned earlier in this block (the keeper's retry).
    const paymaster = rnd() < 0.4
    const charge = !paymaster ? 0n : rnd() < 0.1 ? loanBalance + odd() : (loanBalance * BigInt(Math.floor(rnd() * 300))) / 1_000n + odd()
    const state = { safe: SAFE, tokens, pools: poolPositions, unreadable: [], subAccounts }
    const snapshot = portfolioOf(state as never, { blockNumber: BLOCK, timestamp: 1_700_000_000n, risk: STEP_RISK, costs: keeperCosts({ costs: { gasPriceGwei: 1, nativePrice: 3000 } } as never), borrowable })
    const { step, events } = stepHarness(undefined, { paymasterToken: paymaster ? loan : undefined })
    const rt = newSafeRuntime({ address: SAFE, risk: STEP_RISK } as never)
    // This property is about the chain's bounds on what is sent. The band rule on paper (issue 13, stop 51) would floor
    // each boost at the band rule's own landing, which the market's free liquidity caps the same way, so no boost would
    // borrow at the free liquidity (the bound `borrowAtFree` exercises): it is left out here (no floor, as before s50).
    rt.bandPaper = { observe: () => new Map<string, number>() } as unknown as typeof rt.bandPaper
    if (paymaster) rt.paymasterTokenCharge = { charge, block: BLOCK }
    await step.run(rt, BLOCK, { snapshot })

    // A random Safe below its band that no plan can rescue is alerted `rescue-infeasible` (review rr11r R3), with its event.
    expect(events.filter((e) => e.type === "alert" && e.kind !== "nothing-to-send" && e.kind !== "rescue-infeasible")).toEqual([])
    expect(events.filter((e) => e.type === "alert" && e.kind === "rescue-infeasible").length).toBe(events.filter((e) => e.type === "no-rescue").length)
    const observed = events.find((e) => e.type === "observed")
    const solved = observed?.type === "observed" ? observed.result?.plan : undefined
    const sent = events.find((e) => e.type === "plan")
    if (solved) stats.plans++
    if (sent?.type !== "plan") continue
    const plan: ChainPlan = sent.plan
    stats.sent++
    stats.byLoanDecimals[ld] = (stats.byLoanDecimals[ld] ?? 0) + 1
    if (solved && JSON.stringify(toChainPlan(solved), (_, v) => (typeof v === "bigint" ? `${v}` : v)) !== JSON.stringify(plan, (_, v) => (typeof v === "bigint" ? `${v}` : v))) stats.clamped++

    // The walk, against the raw on-chain bounds (not the keeper's snapshot): balances less the paymaster's charge.
    const walk = (plan: ChainPlan, count = false): string | undefined => {
      const balance: Record<string, bigint> = Object.fromEntries(tokens.map((t) => [t.token.toLowerCase(), t.balance]))
      const loanKey = loan.toLowerCase()
      if (paymaster) balance[loanKey] = (balance[loanKey] as bigint) > charge ? (balance[loanKey] as bigint) - charge : 0n
      const withdrawn: Record<string, bigint> = {}
      const borrowed: Record<string, bigint> = {}
      const debt = Object.fromEntries(subAccounts.map((s) => [s.subAccount.toLowerCase(), s.debt]))
      const collateral = Object.fromEntries(subAccounts.map((s) => [s.subAccount.toLowerCase(), s.collateral]))
      for (const a of plan.actions) {
        // The solver's amounts are floats until `toChainPlan`: anything else than a bigint here would reach the chain.
        if (typeof (a.amount as unknown) !== "bigint") return `${a.kind} amount ${String(a.amount)} is not a bigint`
        if (a.kind === "EndCallback") continue
        if (a.amount <= 0n) return `${a.kind} amount ${a.amount} is not positive`
        const id = (plan.subAccounts[a.subAccount] as string).toLowerCase()
        const sub = subAccounts.find((s) => s.subAccount.toLowerCase() === id)
        if (sub === undefined) return `${a.kind} on an unknown sub-account ${id}`
        const collKey = sub.collateralToken.toLowerCase()
        const spend = (token: string, amount: bigint) => {
          const held = balance[token] ?? 0n
          balance[token] = held - amount
          return amount > held ? `${a.kind} spends ${amount} of ${token}, the Safe holds ${held} then${paymaster && token === loanKey ? ` (paymaster charge ${charge} kept aside)` : ""}` : undefined
        }
        const receive = (token: string, amount: bigint) => void (balance[token] = (balance[token] ?? 0n) + amount)
        let broken: string | undefined
        switch (a.kind) {
          case "WithdrawFromPool": {
            const pool = (a.pool as string).toLowerCase()
            const max = poolPositions.find((p) => p.pool.toLowerCase() === pool)?.maxWithdraw ?? 0n
            withdrawn[pool] = (withdrawn[pool] ?? 0n) + a.amount
            if ((withdrawn[pool] as bigint) > max) return `WithdrawFromPool ${withdrawn[pool]} in all > maxWithdraw ${max}`
            if (count && withdrawn[pool] === max) stats.poolAtMax++
            receive(loanKey, a.amount)
            break
          }
          case "DepositToPool":
            broken = spend(loanKey, a.amount)
            break
          case "Borrow": {
            borrowed[id] = (borrowed[id] ?? 0n) + a.amount
            const free = borrowable[sub.subAccount]
            if (free !== undefined && (borrowed[id] as bigint) > free) return `Borrow ${borrowed[id]} in all > the market's free liquidity ${free}`
            if (count && free !== undefined && borrowed[id] === free) stats.borrowAtFree++
            debt[id] = (debt[id] as bigint) + a.amount
            receive(loanKey, a.amount)
            break
          }
          case "Repay":
            if (a.amount > (debt[id] as bigint)) return `Repay ${a.amount} > debt ${debt[id]}`
            debt[id] = (debt[id] as bigint) - a.amount
            broken = spend(loanKey, a.amount)
            break
          case "SupplyCollateral":
            broken = spend(collKey, a.amount)
            collateral[id] = (collateral[id] as bigint) + a.amount
            break
          case "WithdrawCollateral":
            if (a.amount > (collateral[id] as bigint)) return `WithdrawCollateral ${a.amount} > collateral ${collateral[id]}`
            collateral[id] = (collateral[id] as bigint) - a.amount
            receive(collKey, a.amount)
            break
          default:
            // No swap lane without a quoter (config.swap undefined): the solver plans none.
            stats.swaps++
        }
        if (broken) return broken
      }
      return undefined
    }
    const show = (p: ChainPlan) => `case ${n}: ${p.actions.map((a) => `${a.kind}[${a.subAccount}]=${a.amount}`).join(" ")}`
    expect(walk(plan, true), show(plan)).toBeUndefined()
    // The test can fail: the solver's own amounts (floats, before the clamp) break a bound in some cases ...
    const solverBreak = solved && walk(toChainPlan(solved))
    if (solverBreak) {
      stats.solverBreaks++
      const bound = /maxWithdraw|free liquidity|debt|charge|holds|collateral/.exec(solverBreak)?.[0] ?? "other"
      stats.solverBreaksBy[bound] = (stats.solverBreaksBy[bound] ?? 0) + 1
    }
    // ... and so does the plan made without the paymaster's charge kept aside.
    if (paymaster) {
      const { step: open, events: openEvents } = stepHarness(undefined, { paymasterToken: loan })
      await open.run(newSafeRuntime({ address: SAFE, risk: STEP_RISK } as never), BLOCK, { snapshot: portfolioOf(state as never, { blockNumber: BLOCK, timestamp: 1_700_000_000n, risk: STEP_RISK, costs: keeperCosts({ costs: { gasPriceGwei: 1, nativePrice: 3000 } } as never), borrowable }) })
      const unreserved = openEvents.find((e) => e.type === "plan")
      if (unreserved?.type === "plan" && walk(unreserved.plan) !== undefined) stats.reserveBinds++
    }
  }
  // The draws reach every shape (measured: see the numbers printed on failure).
  const summary = JSON.stringify(stats)
  expect(stats.swaps, summary).toBe(0)
  expect(stats.sent, summary).toBeGreaterThan(600)
  for (const d of decimals) expect(stats.byLoanDecimals[d], summary).toBeGreaterThan(minPerDecimals)
  // Measured at this seed: 147 plans clamped, 117 pool withdrawals at exactly maxWithdraw, 14 borrows at exactly the
  // market's free liquidity, the solver's own plan breaking a bound in 147 cases and the unreserved plan in 172.
  expect(stats.clamped, summary).toBeGreaterThan(80)
  expect(stats.poolAtMax, summary).toBeGreaterThan(60)
  expect(stats.borrowAtFree, summary).toBeGreaterThan(5)
  expect(stats.solverBreaks, summary).toBeGreaterThan(80)
  expect(stats.reserveBinds, summary).toBeGreaterThan(100)
}, 60_000)

decimalsProperty("property: 1,500 random Safes (6/8/18-decimal tokens) through the keeper's step: every amount it would send is a bigint within the on-chain bound it came from", { start: 0xdec1, decimals: [6, 8, 18], minPerDecimals: 150 })
// Held out (review rev11t): other decimals and another seed.
decimalsProperty("property: held-out: 1,500 random Safes (0/2/12/24-decimal tokens, another seed) through the keeper's step: every amount it would send is a bigint within the on-chain bound it came from", { start: 0x5eed77, decimals: [0, 2, 12, 24], minPerDecimals: 100 })
