import { type Address, type Hex, isAddressEqual, zeroAddress } from "viem"
import { type CheckRebalanceRulesParameters, type RulePool, type RuleSubAccount, checkRebalanceRules, checkRebalanceRulesFeeLenient } from "@levpilot/sdk/rules"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { saleMinimumRepaymentWord } from "@levpilot/sdk/utils"
import type { ChainBounds, RuleJudge } from "./chainBounds.js"
import type { PortfolioSnapshot } from "./portfolio.js"

/** Action kinds the snapshot's judge models: no swap outputs are known here (the SDK quotes them at send). */
const JUDGED_KINDS = new Set(["WithdrawFromPool", "DepositToPool", "SupplyCollateral", "WithdrawCollateral", "Borrow", "Repay"])

/**
 * The rule book (`checkRebalanceRules` of @levpilot/sdk/rules: the module's rules, the SDK's own check before sending) on
 * the state of one snapshot, for the clamp's re-judgement after it cut a plan (`clampPlanToChainBounds`' `judge`, review
 * rr11e E1). The input is built as `validateRebalance` builds it, from what the snapshot read at its block: each listed
 * sub-account's policy, market state and epoch usage (the lens), its stop-loss (`PortfolioSnapshot.stops`, the SDK's
 * `stopLossCall`; unread: no stop), an Aave-free repayable debt, the named pools' totals,
 * the Safe's shares and each pool's fees per side (`poolTotals`: `exitFeeBps` from `previewRedeem` vs `convertToAssets`, `entryFeeBps` from `previewDeposit` vs `convertToShares`, as the SDK reads them), the Safe's balances as `bounds` has them (the paymaster's pre-charge kept aside), the
 * snapshot's timestamp. The price feed is not judged again (`priceFeed` zero): the oracle checks do not depend on the
 * plan's amounts and the snapshot's sub-accounts passed them at this block (`excludeFailingOracles`); the gas charged is
 * 0 (the SDK charges its estimate).
 *
 * Undefined for a plan it cannot judge, left to the SDK's validation as before: one with a swap or callback action (the
 * swap outputs are quoted only at send), one listing a sub-account the snapshot does not have or an Aave v3 sub-account
 * (its factor after the plan needs Aave's own figures: `aaveBase`, collateral flags), one naming a pool without totals
 * or whose asset's balance `bounds` does not carry,
 * or a state the rule book cannot take (it throws).
 *
 * The verdict is the strict one, every pool fee paid out (what the module says of a vault that pays its fee out). When
 * that is `ValueLossExceeded` and the same plan passes with every fee kept in its pool
 * (`checkRebalanceRulesFeeLenient`'s `feeUndecided`, review rr11h H3: the previews cannot tell a vault that keeps its
 * fee, where the module books only the part the Safe does not get back), the refusal carries `feeUndecided`: the clamp
 * still tries its strict repair first and defers the plan to the chain's simulation only when no repair passes (review
 * rr11i H3-a).
 *
 * @param snapshot - The snapshot the plan was solved on.
 * @param bounds - The bounds the plan is clamped to (the snapshot's, after the paymaster reserve).
 * @param options.aaveAdapter - The deployment's Aave v3 adapter (its sub-accounts are not judged here).
 * @returns The judge.
 */
export function snapshotRuleJudge(
  snapshot: Pick<PortfolioSnapshot, "chain" | "timestamp" | "poolTotals" | "stops">,
  bounds: ChainBounds,
  options: { aaveAdapter?: Address | undefined } = {},
): RuleJudge {
  return (plan: ChainPlan) => {
    if (!plan.actions.every((a) => JUDGED_KINDS.has(a.kind))) return undefined
    const subAccounts: RuleSubAccount[] = []
    for (const id of plan.subAccounts) {
      const s = snapshot.chain.find((c) => c.subAccount.toLowerCase() === id.toLowerCase())
      if (s === undefined) return undefined
      if (options.aaveAdapter !== undefined && isAddressEqual(s.policy.adapter, options.aaveAdapter)) return undefined
      const repayable = bounds.subAccounts[id.toLowerCase()]?.repayable
      subAccounts.push({
        id: id as Hex,
        policy: { ...s.policy, priceFeed: zeroAddress },
        state: repayable === undefined || repayable >= s.debt ? s : { ...s, repayableDebt: repayable },
        usage: s.epochUsage,
        // The owner's stop as the snapshot read it (review rr13s S3): judged as RebalanceLib `_trigger` judges it, so a
        // boost while it holds is the module's NoTrigger / ActionNotAllowed / HealthDecreased here too.
        stop: snapshot.stops?.[id.toLowerCase()],
      })
    }
    const pools: RulePool[] = []
    for (const address of new Set(plan.actions.flatMap((a) => (a.pool === undefined ? [] : [a.pool.toLowerCase()])))) {
      const p = snapshot.poolTotals?.[address]
      // A pool whose totals or whose asset's balance the snapshot did not read: not judged (the rule book would take 0).
      if (p === undefined || bounds.balances[p.asset.toLowerCase()] === undefined) return undefined
      // The pool's fee as the module pays it (its position valued at convertToAssets; review rr11f F2), read at the snapshot's block.
      pools.push({ address: address as Address, asset: p.asset, totalAssets: p.totalAssets, totalSupply: p.totalSupply, shares: p.shares, entryFeeBps: p.entryFeeBps, exitFeeBps: p.exitFeeBps })
    }
    const input: CheckRebalanceRulesParameters = {
      plan: { subAccounts: plan.subAccounts, actions: plan.actions.map((a) => ({ kind: a.kind, subAccount: a.subAccount, pool: "repayment" in a && a.repayment === "sale-minimum" ? saleMinimumRepaymentWord : a.pool, amount: a.amount })) },
      subAccounts,
      pools,
      balances: bounds.balances,
      swapAdapter: zeroAddress,
      timestamp: BigInt(snapshot.timestamp),
      gasUsed: 0n,
    }
    try {
      const strict = checkRebalanceRules(input)
      if (strict.ok || strict.error.name !== "ValueLossExceeded") return strict
      // Refused only if the fee leaves the pool? Marked so, still refused: the repair runs first (rr11i H3-a).
      const lenient = checkRebalanceRulesFeeLenient(input)
      return lenient.ok && "feeUndecided" in lenient ? { ...strict, feeUndecided: true } : strict
    } catch {
      // An input the rule book cannot take (a state the lens left incomplete): not judged here; the SDK validates.
      return undefined
    }
  }
}
