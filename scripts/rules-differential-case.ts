/**
 * One recorded case of modules/test/differential/RulesDifferential.t.sol (its `Case` struct, ABI-decoded by viem:
 * uint8/16/32 fields as numbers, wider ones as bigints) as the SDK's `checkRebalanceRules` parameters. Used by
 * scripts/rules-differential.ts; its own module so a single recorded case can be replayed in a unit test.
 */
import type { Hex } from "viem"
import { type CheckRebalanceRulesParameters, type RulePool, poolEntryFeeBpsOf, poolFeeBpsOf } from "@levpilot/sdk/rules"

export type Decoded = Record<string, any>

/** `ActionKind.SellCollateral` and `ActionKind.BuyCollateral` (ILeverageModule.sol). */
const SELL_COLLATERAL = 6
const BUY_COLLATERAL = 7

/**
 * A recorded pool as the keeper models it (sdk validateRebalance): its fees per side, in bps, read from the vault's
 * own answers at the case's block, exit by `poolFeeBpsOf(convertToAssets(totalSupply), previewRedeem(totalSupply))`
 * and entry by `poolEntryFeeBpsOf(convertToShares(totalAssets), previewDeposit(totalAssets), totalAssets)`; a side
 * read as 0 bps or not read (a reverted call is recorded as 0; cases recorded before the fee reads have none) is left
 * unset, as the keeper does.
 */
const toPool = (p: Decoded): RulePool => {
  const pool: RulePool = { address: p.pool, asset: p.asset, totalAssets: p.totalAssets, totalSupply: p.totalSupply, shares: p.shares }
  const exit = p.grossAssets === undefined ? undefined : poolFeeBpsOf(p.grossAssets, p.netAssets)
  if (exit !== undefined && exit > 0n) pool.exitFeeBps = exit
  const entry = p.grossShares === undefined ? undefined : poolEntryFeeBpsOf(p.grossShares, p.netShares, p.totalAssets)
  if (entry !== undefined && entry > 0n) pool.entryFeeBps = entry
  return pool
}

/** The SDK's rules parameters for a recorded case `c`. */
export const toParams = (c: Decoded): CheckRebalanceRulesParameters => {
  const tokens = c.tokens as Hex[]
  const balances = Object.fromEntries(tokens.map((token, k) => [token, (c.balances as bigint[])[k] as bigint]))
  const outputs: Record<number, bigint | null> = {}
  // A recorded output is the swap's real output (0 included: 1 wei in can pay nothing) whenever the forge side ran the
  // swap (`_swapOutcomes`: a swap action with a non-zero amount on a listed sub-account that has a policy); otherwise
  // nothing is recorded and the rules take the module's minimum output.
  const actions = c.plan.actions as Decoded[]
  const subs = c.subs as Decoded[]
  const ran = (k: number): boolean => {
    const a = actions[k]
    if (a === undefined || (Number(a.kind) !== SELL_COLLATERAL && Number(a.kind) !== BUY_COLLATERAL) || a.amount === 0n) return false
    const adapter = subs[Number(a.subAccount)]?.policy?.adapter as Hex | undefined
    return adapter !== undefined && BigInt(adapter) !== 0n
  }
  ;(c.swapOutputs as bigint[]).forEach((out, k) => {
    if ((c.swapFails as boolean[])[k]) outputs[k] = null
    else if (out !== 0n || ran(k)) outputs[k] = out
  })
  return {
    plan: { subAccounts: c.plan.subAccounts, actions: c.plan.actions.map((a: Decoded) => ({ kind: a.kind, subAccount: a.subAccount, pool: a.pool, amount: a.amount })) },
    subAccounts: (c.subs as Decoded[]).map((s) => ({
      id: s.id,
      policy: s.policy,
      state: s.state,
      usage: s.usage,
      feed: { answer: s.feedAnswer, updatedAt: s.feedUpdatedAt, decimals: s.feedDecimals, loanDecimals: s.loanDecimals, collateralDecimals: s.collateralDecimals },
      venue: { totalSupplyAssets: s.totalSupplyAssets, totalBorrowAssets: s.totalBorrowAssets, totalBorrowShares: s.totalBorrowShares, borrowShares: s.borrowShares },
      // Recorded since the stop-loss (docs/stop-loss-exit.md); older case files have none.
      ...(s.stop !== undefined ? { stop: { stopPrice: s.stop.stopPrice, exitHealth: s.stop.exitHealth } } : {}),
    })),
    pools: (c.pools as Decoded[]).map(toPool),
    balances,
    swapAdapter: c.swapAdapter,
    timestamp: c.timestamp,
    // The differential's gas caps are 1 (always exceeded) or 1e12 (never): any realistic figure gives the module's verdict.
    gasUsed: 1_000_000n,
    outcome: {
      swapOutputs: outputs,
      swapAdapterErrors: Object.fromEntries((c.swapAdapterErrors as Hex[]).flatMap((data, k) => (data === "0x" ? [] : [[k, data]]))),
    },
  }
}
