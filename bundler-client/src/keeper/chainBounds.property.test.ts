import type { Address, Hex } from "viem"
import { expect, test } from "vitest"
import { type CheckRebalanceRulesParameters, type RuleSubAccount, checkRebalanceRules, collateralValue, minAmountOut } from "@levpilot/sdk/rules"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { type ChainBounds, type PlanFunding, clampPlanToChainBounds } from "./chainBounds.js"
import { LLTV, LOAN, ROUTE, SLIP, SWAP_ADAPTER, h, policy } from "./testing.js"

// Random plans of two to four sub-accounts sharing a loan token, random clamps (to zero too), random interleavings, a
// Safe balance sometimes short of the idle-funded repay, donors next to a recipient's own flash sale, tiny collaterals:
// boost supplies and flash repays taking idle balance on top of their swap's output with the Safe holding less of it,
// or none (review 3), clamped with the plan's funding split (`PlanFunding`, what the keeper's settlement passes) or,
// when the Safe holds some of every topped-up token, without it; every clamped plan is judged by the SDK's rule book
// (`checkRebalanceRules`, the module's rules as one function).

/** The real swap pays 20 bps under the oracle (inside the policy's 50). */
const SWAP_COST_BPS = 20n

type Kind = "boost" | "flash" | "poolRepay" | "dueRepay" | "donor" | "recipient" | "selfRecipient" | "saleTopUp"
/** `repayableDebt`: an Aave sub-account's maxRepayable (its debt reserve's own debt), below what the plan repays. */
type Sub = { id: Hex; kind: Kind; due: boolean; collateralToken: Address; price: bigint; collateral: bigint; debt: bigint; pool?: Address; repayableDebt?: bigint }
type Segment = ChainPlan["actions"][number][]


const show = (p: ChainPlan) => p.actions.map((a) => `${a.kind}[${a.subAccount}]=${a.amount}`)
/**
 * Seeds (`seed`, `aaveSeed`): the committed one, and review brk11u's held-out seeds (issue 11 F1/F2: the exact walk
 * trimmed the excess off an earlier pool withdrawal a later spend needed, and a not-due repay whose pool was cut took
 * the idle balance of a later due rescue).
 */
const SEEDS: readonly (readonly [number, number])[] = [
  [0x11c, 0xaa4e],
  [0x7ee5, 0x1234],
  [0xb11a1, 0xb11a2],
  [0x9001, 0x9002],
  [0xbeef, 0xcafe],
  // Review rr11's held-out seed (R1: a not-due recipient whose donor's borrow was cut took the due rescue's idle balance).
  [31337, 73313],
  // And R2 (without the funding split, a sale's output above its minimum charged to an earlier idle-funded due repay).
  [77, 88],
  // Review rr11b's held-out seed (B2: a DUE recipient whose donor's borrow was cut took a later due rescue's idle balance).
  [4242, 2424],
]

test.each(SEEDS)("property (seeds %i / %i): random plans, clamps and interleavings keep positive amounts, no more than asked, supplies at their own purchase's minimum, and the rule book's acceptance", (seed0, aaveSeed0) => {
  let seed = seed0
  const rnd = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31), seed / 2 ** 31)
  // Aave limits (review 4, B2) from their own stream, so the cases above draw the same numbers as before.
  let aaveSeed = aaveSeed0
  const rndAave = () => ((aaveSeed = (aaveSeed * 1_103_515_245 + 12_345) % 2 ** 31), aaveSeed / 2 ** 31)
  /** A repayment `r` of an Aave sub-account: maxRepayable a few wei (float drift) or a fraction below it. */
  const repayableBelow = (r: bigint) => (rndAave() < 0.5 ? r - BigInt(1 + Math.floor(rndAave() * 3_071)) : (r * BigInt(100 + Math.floor(rndAave() * 900))) / 1_000n)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T
  const stats = { cases: 0, clamped: 0, none: 0, subDropped: 0, interleaved: 0, idleShort: 0, donorNextToSale: 0, tinyPurchase: 0, topUpShort: 0, topUpNone: 0, saleTopUpShort: 0, withoutSplit: 0, aaveRepay: 0, overLoss: 0, allowanceCut: 0, notDueGrowth: 0, producerSplit: 0 }
  for (let n = 0; stats.cases < 3_000; n++) {
    const loanDecimals = pick([6, 8, 18])
    const subs: Sub[] = []
    const newSub = (kind: Kind, health: number, due: boolean, scale = 1, exponent = 3 + Math.floor(rnd() * 4)): Sub => {
      const index = subs.length
      // A few sats of an 8-decimal collateral at 60,000: a clamped purchase's on-chain minimum can round to 0.
      const tiny = (kind === "boost" || kind === "flash") && rnd() < 0.15
      const decimals = tiny ? 8 : pick([6, 8, 18])
      const price = tiny
        ? (60_000n * 10n ** BigInt(36 + loanDecimals)) / 10n ** 8n
        : (10n ** BigInt(36 + loanDecimals - decimals) * BigInt(1 + Math.floor(rnd() * 50_000))) / 7n + BigInt(Math.floor(rnd() * 1e6))
      const value = 10n ** BigInt(loanDecimals + exponent) * BigInt(scale)
      const collateral = tiny ? BigInt(200 + Math.floor(rnd() * 10_000)) : (value * 10n ** 36n) / price
      const debt = (collateralValue(collateral, price) * LLTV) / h(health)
      const sub: Sub = { id: `0x${(index + 1).toString(16).padStart(2, "0").repeat(32)}`, kind, due, collateralToken: `0x${"c".repeat(38)}${index}${decimals % 10}`, price, collateral, debt }
      if (kind === "poolRepay") sub.pool = `0x${"9".repeat(39)}${index}`
      subs.push(sub)
      return sub
    }
    const total = 2 + Math.floor(rnd() * 3)
    const withDue = rnd() < 0.6
    if (withDue) newSub("dueRepay", 1.05, true)
    else newSub(pick(["boost", "flash"] as const), 1.6, true)
    while (subs.length < total) {
      // The other sub-accounts are what the solver makes of them: not-due donors and pool-funded repays, never a boost
      // (growth, which the module refuses for a not-due sub-account); a sale only on a due one (below its band: the
      // module lets only a due sub-account swap, fourteenth review of issue 10).
      const kind = pick(["poolRepay", "donor", "donorToSelling", "saleTopUp"] as const)
      // A sale is a due sub-account's (only a due one swaps: fourteenth review of issue 10): below its band.
      if (kind !== "donor" && kind !== "donorToSelling") newSub(kind, kind === "saleTopUp" ? 1.05 : kind === "poolRepay" ? 1.2 : 1.45, kind === "saleTopUp")
      else if (total - subs.length >= 2) {
        const exponent = 3 + Math.floor(rnd() * 4)
        newSub("donor", 1.45, false, 2, exponent)
        // The recipient may also deleverage with its own flash sale, next to the donor's borrow (half each).
        newSub(kind === "donor" ? "recipient" : "selfRecipient", kind === "donor" ? 1.2 : 1.05, kind !== "donor", 1, exponent)
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
    // Idle collateral a boost's supply takes on top of its purchase (issue 11 review 3), per collateral token.
    const topUps: Record<string, bigint> = {}
    // Idle loan token flash repays take on top of their sale (the solver's swap deleverage repays idle funds first).
    let loanTopUp = 0n
    // What each swap was planned to pay of the spend it funds (the plan's funding split), by action.
    const paidBy = new Map<ChainPlan["actions"][number], bigint>()
    // What the plan's producer knows (the solver's `paysFor` and idle parts): a donor's borrow pays its recipient's
    // repayment; a plain repay's idle part (all of a due repay's, none of a pool- or donor-funded one's).
    const paysFor = new Map<ChainPlan["actions"][number], ChainPlan["actions"][number]>()
    const idleOfSpend = new Map<ChainPlan["actions"][number], bigint>()
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
        // A due boost aims at 1.35; a not-due one moves less than its distance to the target (NotDueMoveExceedsDistance).
        const aim = s.due ? 1.35 : 1.42
        const x = BigInt(Math.floor((0.8 * V - aim * D) / (aim - 0.8 * 0.998)))
        const quoted = (((x * 10n ** 36n) / s.price) * (10_000n - SWAP_COST_BPS)) / 10_000n
        // Never below the router's minimum (a few sats round the quote below it).
        const minimum = minAmountOut(BigInt(SLIP), s.price, false, x)
        const supply = quoted > minimum ? quoted : minimum
        swapOut.set(s.id, { x, supply })
        // Sometimes the supply also takes idle collateral (0.5-2% of the purchase) the Safe holds.
        const topUp = supply > 1_000n && rnd() < 0.3 ? supply / BigInt(50 + Math.floor(rnd() * 150)) : 0n
        if (topUp > 0n) topUps[s.collateralToken] = topUp
        freeOf.set(s.id, clampTo(x))
        const borrow = { kind: "Borrow", subAccount: i, amount: x } as const
        const buy = { kind: "BuyCollateral", subAccount: i, route: ROUTE, amount: x } as const
        paidBy.set(buy, supply)
        if (s.kind === "boost") chains.push([[borrow], [buy], [{ kind: "SupplyCollateral", subAccount: i, amount: supply + topUp }]])
        else chains.push([[{ kind: "SupplyCollateralWithCallback", subAccount: i, amount: supply + topUp }, borrow, buy, { kind: "EndCallback", subAccount: i, amount: 0n }]])
      } else if (s.kind === "poolRepay") {
        const w = BigInt(Math.floor(D - (0.8 * V) / 1.25))
        const pool = s.pool as Address
        pools.push(pool)
        const r = rnd()
        bounds.maxWithdraw[pool] = r < 0.3 ? w + 1_000n : r < 0.5 ? w - 3_071n : r < 0.8 ? (w * BigInt(Math.floor(rnd() * 1_000))) / 1_000n : 0n
        bounds.poolAsset[pool] = LOAN
        if (rndAave() < 0.3) s.repayableDebt = repayableBelow(w)
        const repay = { kind: "Repay", subAccount: i, amount: w } as const
        idleOfSpend.set(repay, 0n)
        chains.push([[{ kind: "WithdrawFromPool", subAccount: i, pool, amount: w }], [repay]])
      } else if (s.kind === "dueRepay") {
        const repay = BigInt(Math.floor(D - (0.8 * V) / 1.3))
        if (rndAave() < 0.3) s.repayableDebt = repayableBelow(repay)
        idle += repay
        const spend = { kind: "Repay", subAccount: i, amount: repay } as const
        idleOfSpend.set(spend, repay)
        chains.push([[spend]])
      } else if (s.kind === "donor") {
        const recipient = subs[subs.indexOf(s) + 1] as Sub
        // A recipient selling half (due, below its band) repays to 1.3 with that collateral gone:
        // D - T = 0.8 (V - T / 2) / 1.3; a plain recipient (not due) is repaid toward 1.25.
        const rD = num(recipient.debt)
        const rV = valueOf(recipient)
        const total = BigInt(Math.floor(recipient.kind === "recipient" ? rD - (0.8 * rV) / 1.25 : (1.3 * rD - 0.8 * rV) / 0.9))
        const r = index(recipient)
        if (recipient.kind === "recipient") {
          if (rndAave() < 0.3) recipient.repayableDebt = repayableBelow(total)
          freeOf.set(s.id, clampTo(total))
          const [borrow, repay] = [{ kind: "Borrow", subAccount: i, amount: total } as const, { kind: "Repay", subAccount: r, amount: total } as const]
          paysFor.set(borrow, repay)
          idleOfSpend.set(repay, 0n)
          chains.push([[borrow], [repay]])
        } else {
          // Half from the donor, half from the recipient's own flash sale of collateral.
          const y = total / 2n
          const c = ((total - y) * 10n ** 36n) / recipient.price + 1n
          const sold = minAmountOut(BigInt(SLIP), recipient.price, true, c)
          swapOut.set(recipient.id, { x: c, supply: sold })
          freeOf.set(s.id, clampTo(y))
          const sell = { kind: "SellCollateral", subAccount: r, route: ROUTE, amount: c } as const
          paidBy.set(sell, sold)
          const sale: Segment = [
            { kind: "RepayWithCallback", subAccount: r, amount: sold },
            { kind: "WithdrawCollateral", subAccount: r, amount: c },
            sell,
            { kind: "EndCallback", subAccount: r, amount: 0n },
          ]
          const [borrow, repay] = [{ kind: "Borrow", subAccount: i, amount: y } as const, { kind: "Repay", subAccount: r, amount: y } as const]
          paysFor.set(borrow, repay)
          idleOfSpend.set(repay, 0n)
          chains.push([[borrow], sale, [repay]])
        }
      } else if (s.kind === "saleTopUp") {
        // A flash sale whose repayment also takes idle loan token (5-15% of it): the sale planned at its minimum or at
        // a settled quote above it (the router pays that much at the full input).
        // Due (below its band): the sale and the top-up repay to health 1.3 with the sold collateral gone,
        // D - T = 0.8 (V - (1 - f) T) / 1.3, inside the landing zone [1.15, 1.4] at the sale's minimum too.
        const f = 5 + Math.floor(rnd() * 11)
        const total = BigInt(Math.floor((1.3 * D - 0.8 * V) / (0.5 + 0.008 * f)))
        const t = (total * BigInt(f)) / 100n
        const c = ((total - t) * 10n ** 36n) / s.price + 1n
        const minimum = minAmountOut(BigInt(SLIP), s.price, true, c)
        const paid = rnd() < 0.5 ? minimum : (minimum * BigInt(10_000 + Math.floor(rnd() * 40))) / 10_000n
        swapOut.set(s.id, { x: c, supply: paid })
        freeOf.set(s.id, undefined)
        idle += t
        loanTopUp += t
        const sell = { kind: "SellCollateral", subAccount: i, route: ROUTE, amount: c } as const
        paidBy.set(sell, paid)
        chains.push([
          [
            { kind: "RepayWithCallback", subAccount: i, amount: paid + t },
            { kind: "WithdrawCollateral", subAccount: i, amount: c },
            sell,
            { kind: "EndCallback", subAccount: i, amount: 0n },
          ],
        ])
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
    const drift = rnd()
    const held = drift < 0.4 ? idle : drift < 0.8 ? (idle > 3_071n ? idle - BigInt(1 + Math.floor(rnd() * 3_071)) : 0n) : (idle * BigInt(Math.floor(rnd() * 1_000))) / 1_000n
    // The Safe's idle collateral: the whole top-up, a few wei short, a fraction of it, or none.
    const heldCollateral = Object.fromEntries(
      Object.entries(topUps).map(([token, t]) => {
        const r = rnd()
        return [token, r < 0.25 ? t : r < 0.5 ? (t > 3_071n ? t - BigInt(1 + Math.floor(rnd() * 3_071)) : 1n) : r < 0.8 ? (t * BigInt(1 + Math.floor(rnd() * 999))) / 1_000n || 1n : 0n]
      }),
    )
    bounds.balances = { [LOAN]: held, ...heldCollateral }
    // The keeper passes its settlement's split; without it a Safe holding none of a topped-up token is ambiguous (the
    // clamp cannot tell a top-up from the plan's bet on the router's output above its minimum), so it is left out only
    // when the Safe holds some of each.
    const ambiguous = Object.values(heldCollateral).some((b) => b === 0n) || (loanTopUp > 0n && held === 0n)
    const split: PlanFunding | undefined = ambiguous || rnd() < 0.75 ? { swapPaid: actions.map((a) => paidBy.get(a)) } : undefined
    // Every other plan with a split also carries what its producer knows (task pf11: the solver's `paysFor` and idle
    // parts, no inference); the others leave the clamp its fallback inference. No draw of `rnd`: the cases stay the same.
    const producer = split !== undefined && n % 2 === 1
    const funding: PlanFunding | undefined = producer
      ? { ...split, paysFor: actions.map((a) => (paysFor.has(a) ? actions.indexOf(paysFor.get(a) as ChainPlan["actions"][number]) : undefined)), idle: actions.map((a) => idleOfSpend.get(a)) }
      : split
    if (producer) stats.producerSplit++
    for (const s of subs)
      bounds.subAccounts[s.id] = { debt: s.debt, collateral: s.collateral, loanToken: LOAN, collateralToken: s.collateralToken, borrowable: freeOf.get(s.id), price: s.price, maxSlippageBps: SLIP, due: s.due, repayable: s.repayableDebt }

    // The plan given is judged as the solver saw the chain (no Aave limit), the clamped one with maxRepayable.
    const judge = (p: ChainPlan, shares: (pool: Address) => bigint, balance: bigint, collateral: Record<string, bigint>, aave = true) => {
      const outputs: Record<number, bigint> = {}
      p.actions.forEach((a, k) => {
        if (a.kind !== "BuyCollateral" && a.kind !== "SellCollateral") return
        const s = subs.find((x) => x.id === p.subAccounts[a.subAccount]) as Sub
        const { x, supply } = swapOut.get(s.id) as { x: bigint; supply: bigint }
        // A concave output through the quote, never below the router's minimum (else the swap reverts).
        const minimum = minAmountOut(BigInt(SLIP), s.price, a.kind === "SellCollateral", a.amount)
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
            state: {
              loanToken: LOAN, collateralToken: s.collateralToken, collateral: s.collateral, debt: s.debt, price: s.price, lltv: LLTV,
              ...(aave && s.repayableDebt !== undefined ? { repayableDebt: s.repayableDebt } : {}),
            },
            usage: { epoch: 0, lastRebalance: 0, rebalances: 0, lossPpb: 0, gasUsed: 0, amountMoved: 0n },
          }),
        ),
        pools: pools.map((pool) => ({ address: pool, asset: LOAN, totalAssets: 10n ** 40n, totalSupply: 10n ** 40n, shares: shares(pool) })),
        balances: { [LOAN]: balance, ...collateral },
        swapAdapter: SWAP_ADAPTER,
        timestamp: 1_700_000_000n,
        gasUsed: 500_000n,
        outcome: { swapOutputs: outputs },
      }
      return checkRebalanceRules(input)
    }
    // The generator's plan is one the module accepts when the chain can bear it. Its not-due swaps' losses are not
    // sized to the due moves' allowance (RebalanceLib._settle counts due positions only; the solver sizes them to it):
    // such a case is drawn again.
    const asked = (pool: Address) => actions.find((a) => a.kind === "WithdrawFromPool" && a.pool === pool)?.amount ?? 0n
    const original = judge(plan, asked, idle, topUps, false)
    if (!original.ok && original.error.name === "ValueLossExceeded") {
      stats.overLoss++
      continue
    }
    // Nor does the solver grow a not-due sub-account (its not-due moves are donor moves); the module refuses growth.
    if (!original.ok && original.error.name === "NotDueGrowth") {
      stats.notDueGrowth++
      continue
    }
    expect(original.ok ? "ok" : `${original.error.name} ${original.error.args.join(" ")} ${subs.map((s) => `${s.id.slice(0, 4)}:${s.kind}`)} ${actions.map((a) => `${a.kind}[${a.subAccount}]=${a.amount}`)}`).toBe("ok")

    stats.cases++
    if (held < idle && actions.some((a) => a.kind === "BuyCollateral" || a.kind === "SellCollateral")) stats.idleShort++
    if (Object.entries(topUps).some(([token, t]) => (heldCollateral[token] as bigint) < t)) stats.topUpShort++
    if (ambiguous) stats.topUpNone++
    if (loanTopUp > 0n && held < idle) stats.saleTopUpShort++
    if (funding === undefined) stats.withoutSplit++
    if (subs.some((s) => s.repayableDebt !== undefined)) stats.aaveRepay++
    if (subs.some((s) => s.kind === "selfRecipient")) stats.donorNextToSale++
    if (subs.some((s) => (s.kind === "boost" || s.kind === "flash") && s.collateral < 20_000n)) stats.tinyPurchase++
    const { plan: out, binding } = clampPlanToChainBounds(plan, bounds, funding)
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
    // A callback left empty becomes its plain action (SupplyCollateralWithCallback → SupplyCollateral).
    const plainOf = (kind: string) => kind.replace("WithCallback", "")
    const originalOf = (a: ChainPlan["actions"][number]) => {
      const mine = plan.actions.filter((b) => plan.subAccounts[b.subAccount] === out.subAccounts[a.subAccount])
      return (mine.find((b) => b.kind === a.kind) ?? mine.find((b) => plainOf(b.kind) === a.kind)) as ChainPlan["actions"][number]
    }
    for (const a of out.actions) {
      if (a.kind === "EndCallback") continue
      expect(a.amount).toBeGreaterThan(0n)
      expect(a.amount).toBeLessThanOrEqual(originalOf(a).amount)
      if (a.kind === "Repay" || a.kind === "RepayWithCallback") {
        // An Aave sub-account's repayments clear at most its maxRepayable.
        const s = subs.find((x) => x.id === out.subAccounts[a.subAccount]) as Sub
        const repaid = out.actions.filter((b) => b.subAccount === a.subAccount && (b.kind === "Repay" || b.kind === "RepayWithCallback")).reduce((sum, b) => sum + b.amount, 0n)
        if (s.repayableDebt !== undefined) expect(repaid).toBeLessThanOrEqual(s.repayableDebt)
      }
      if (a.kind === "SupplyCollateral" || a.kind === "SupplyCollateralWithCallback") {
        const s = subs.find((x) => x.id === out.subAccounts[a.subAccount]) as Sub
        const buy = out.actions.find((b) => b.kind === "BuyCollateral" && b.subAccount === a.subAccount)
        // Without its purchase (dropped by the clamps) a supply takes only idle collateral the Safe holds.
        if (buy === undefined) expect(a.amount).toBeLessThanOrEqual(heldCollateral[s.collateralToken] ?? 0n)
        else expect(a.amount).toBeGreaterThanOrEqual(minAmountOut(BigInt(SLIP), s.price, false, buy.amount))
      }
    }
    // Explicit on-chain bounds the rule book does not judge (issue 11 items 1, 8): a sub-account's borrows within its
    // market's free liquidity, its repayments within its debt plus what it borrowed, its pool withdrawals within maxWithdraw.
    for (const [i, id] of out.subAccounts.entries()) {
      const mine = out.actions.filter((a) => a.subAccount === i)
      const sum = (kinds: string[]) => mine.filter((a) => kinds.includes(a.kind)).reduce((t, a) => t + a.amount, 0n)
      const free = bounds.subAccounts[id]?.borrowable
      if (free !== undefined) expect(sum(["Borrow"])).toBeLessThanOrEqual(free)
      expect(sum(["Repay", "RepayWithCallback"])).toBeLessThanOrEqual((bounds.subAccounts[id]?.debt as bigint) + sum(["Borrow"]))
    }
    for (const pool of pools)
      expect(out.actions.filter((a) => a.kind === "WithdrawFromPool" && a.pool === pool).reduce((t, a) => t + a.amount, 0n)).toBeLessThanOrEqual(bounds.maxWithdraw[pool] ?? 0n)
    // No sub-account listed without a venue action.
    out.subAccounts.forEach((_, i) => expect(out.actions.some((a) => a.subAccount === i && !["BuyCollateral", "SellCollateral", "WithdrawFromPool", "DepositToPool", "EndCallback"].includes(a.kind))).toBe(true))
    const verdict = judge(out, (pool) => bounds.maxWithdraw[pool] ?? 0n, held, heldCollateral)
    if (!verdict.ok) {
      // A due boost or sale cut short can land outside its band: a magnitude the clamp cannot restore (the keeper
      // re-plans). So can a due repay the Safe's balance no longer covers (more than float drift short), or whose
      // maxRepayable (Aave) clears less than the repay.
      const short = held < idle - 3_071n
      const health =
        ["HealthOutOfBand", "HealthOutsideLandingZone"].includes(verdict.error.name) &&
        subs.some((due) => due.due && verdict.error.args[0] === due.id && (due.kind !== "dueRepay" || short || due.repayableDebt !== undefined))
      // A cut on the due sub-account's move shrinks the loss allowance (due moves only), while a not-due swap's loss
      // stays: also a magnitude the clamp cannot restore (the keeper re-plans to the new limits next block).
      const allowance = verdict.error.name === "ValueLossExceeded" && binding.length > 0
      if (allowance) stats.allowanceCut++
      const magnitude = health || allowance
      if (!magnitude) console.log("DEBUG", verdict.error, subs.map((s) => `${s.id.slice(0, 4)}:${s.kind}:${s.repayableDebt}`), show(plan), show(out), binding)
      expect(magnitude ? "magnitude" : `${verdict.error.name} ${verdict.error.args.join(" ")}`).toBe("magnitude")
    }
  }
  expect(stats.cases).toBe(3_000)
  expect(stats.allowanceCut).toBeLessThan(150) // clamped plans refused by the smaller allowance (the keeper re-plans)
  expect(stats.overLoss).toBeLessThan(1_200) // drawn again (580 of 3,580 draws measured): not-due swap losses past the due moves' allowance
  expect(stats.clamped).toBeGreaterThan(1_000)
  expect(stats.none).toBeGreaterThan(50)
  expect(stats.subDropped).toBeGreaterThan(100)
  expect(stats.interleaved).toBeGreaterThan(1_000)
  // The review's shapes (issue 11): idle-funded spends the balance does not cover in swap plans, a donor's borrow next
  // to the recipient's own flash sale, purchases of a few sats.
  expect(stats.idleShort).toBeGreaterThan(300)
  expect(stats.donorNextToSale).toBeGreaterThan(200)
  expect(stats.tinyPurchase).toBeGreaterThan(100) // 135 measured: only the due sub-account boosts now
  // A boost's supply taking its purchase plus idle collateral the Safe holds less of (review 3: Z7, Z7b).
  expect(stats.topUpShort).toBeGreaterThan(200)
  // The residual (review 3): the Safe holding none of a topped-up token (only the split tells the top-up apart), flash
  // repays topped up with idle loan token the Safe holds less of, and plans clamped without the split.
  expect(stats.topUpNone).toBeGreaterThan(60) // 96 measured since over-loss draws are drawn again
  expect(stats.saleTopUpShort).toBeGreaterThan(200)
  expect(stats.withoutSplit).toBeGreaterThan(300)
  // Aave sub-accounts whose maxRepayable is below the repay the solver planned (review 4, B2/B2b).
  expect(stats.aaveRepay).toBeGreaterThan(500)
  // Plans carrying their producer's paysFor and idle parts (task pf11): the clamp infers nothing for these.
  expect(stats.producerSplit).toBeGreaterThan(500)
})
