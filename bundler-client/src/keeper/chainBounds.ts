import type { Address, Hex } from "viem"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"

/**
 * The on-chain bounds a plan's amounts come from, read at the plan's block, in base units (exact integers). Keys are
 * lower-case addresses / sub-account ids.
 */
export type ChainBounds = {
  /** The Safe's balance of each token. */
  balances: Record<string, bigint>
  /** ERC-4626 `maxWithdraw(safe)` of each pool, in the pool's asset. */
  maxWithdraw: Record<string, bigint>
  /** The asset of each pool. */
  poolAsset: Record<string, string>
  /** Debt and collateral of each sub-account, its tokens, and what its market can still lend (unknown: no limit). */
  subAccounts: Record<string, { debt: bigint; collateral: bigint; loanToken: string; collateralToken: string; borrowable?: bigint | undefined }>
}

const min = (a: bigint, b: bigint) => (a < b ? a : b)

/** The action kinds whose bounds the walk below models. */
const clampedKinds = new Set<string>(["WithdrawFromPool", "DepositToPool", "SupplyCollateral", "WithdrawCollateral", "Borrow", "Repay"])

/**
 * Clamps every amount of a plan to the on-chain bound it came from, walking the actions in order as the module runs
 * them: a pool withdrawal to what is left of `maxWithdraw`, a repay to the Safe's loan-token balance at that point and
 * the sub-account's debt, a deposit or collateral supply to the balance at that point, a collateral withdrawal to the
 * collateral. The solver works in floats (risk estimates), so an amount derived from a bound can exceed it by rounding
 * (an 18-decimal `maxWithdraw` of 17972917458421535745 wei comes back 3,071 wei higher): the vault would revert
 * exactly when the pool is the binding source. A borrow is clamped to its market's free liquidity when known.
 * Actions clamped to zero are dropped.
 *
 * @returns The plan with exact amounts, or undefined when no action is left.
 */
export function clampToChainBounds(plan: ChainPlan, bounds: ChainBounds): ChainPlan | undefined {
  // Swap and callback plans are sized exactly on the pool and the venue by `settleSwapAmounts`; their inner actions run
  // inside a venue callback (and EndCallback carries no amount), which this walk does not model. What funds a callback
  // before it (a pool withdrawal, a donor's borrow) is still clamped, and the next callback repayment lowered as much.
  if (plan.actions.some((a) => !clampedKinds.has(a.kind))) return clampCallbackFunding(plan, bounds)
  const balances = { ...bounds.balances }
  const withdrawable = { ...bounds.maxWithdraw }
  const subs = Object.fromEntries(Object.entries(bounds.subAccounts).map(([id, s]) => [id, { ...s }]))
  const add = (token: string, amount: bigint) => {
    balances[token] = (balances[token] ?? 0n) + amount
  }
  const actions: ChainPlan["actions"][number][] = []
  for (const a of plan.actions) {
    const id = (plan.subAccounts[a.subAccount] ?? "").toLowerCase()
    const s = subs[id]
    let amount = a.amount
    if (a.kind === "WithdrawFromPool" || a.kind === "DepositToPool") {
      const pool = (a.pool as Address).toLowerCase()
      const asset = bounds.poolAsset[pool] ?? ""
      if (a.kind === "WithdrawFromPool") {
        amount = min(amount, withdrawable[pool] ?? 0n)
        withdrawable[pool] = (withdrawable[pool] ?? 0n) - amount
        add(asset, amount)
      } else {
        amount = min(amount, balances[asset] ?? 0n)
        add(asset, -amount)
        withdrawable[pool] = (withdrawable[pool] ?? 0n) + amount
      }
    } else if (s) {
      if (a.kind === "Repay") {
        amount = min(min(amount, balances[s.loanToken] ?? 0n), s.debt)
        s.debt -= amount
        if (s.borrowable !== undefined) s.borrowable += amount
        add(s.loanToken, -amount)
      } else if (a.kind === "Borrow") {
        if (s.borrowable !== undefined) {
          amount = min(amount, s.borrowable)
          s.borrowable -= amount
        }
        s.debt += amount
        add(s.loanToken, amount)
      } else if (a.kind === "SupplyCollateral") {
        amount = min(amount, balances[s.collateralToken] ?? 0n)
        s.collateral += amount
        add(s.collateralToken, -amount)
      } else if (a.kind === "WithdrawCollateral") {
        amount = min(amount, s.collateral)
        s.collateral -= amount
        add(s.collateralToken, amount)
      }
    }
    if (amount > 0n) actions.push({ ...a, amount } as ChainPlan["actions"][number])
  }
  if (actions.length === 0) return undefined
  return { subAccounts: plan.subAccounts as Hex[], actions }
}

/**
 * The funding actions before a callback block of a swap plan, clamped as in {@link clampToChainBounds}: a pool
 * withdrawal to what is left of `maxWithdraw`, a borrow to its market's free liquidity; the first `RepayWithCallback`
 * after them carries that much less (it repays what they bring). Everything else passes through.
 *
 * @returns The plan with those amounts exact.
 */
function clampCallbackFunding(plan: ChainPlan, bounds: ChainBounds): ChainPlan {
  const withdrawable = { ...bounds.maxWithdraw }
  const borrowable = Object.fromEntries(Object.entries(bounds.subAccounts).map(([id, s]) => [id, s.borrowable]))
  let cut = 0n
  const actions = plan.actions.map((a) => {
    let amount = a.amount
    if (a.kind === "WithdrawFromPool") {
      const pool = (a.pool as Address).toLowerCase()
      amount = min(amount, withdrawable[pool] ?? 0n)
      withdrawable[pool] = (withdrawable[pool] ?? 0n) - amount
    } else if (a.kind === "Borrow") {
      const id = (plan.subAccounts[a.subAccount] ?? "").toLowerCase()
      const free = borrowable[id]
      if (free !== undefined) {
        amount = min(amount, free)
        borrowable[id] = free - amount
      }
    } else if (a.kind === "RepayWithCallback" && cut > 0n) {
      amount = amount > cut ? amount - cut : 0n
      cut = 0n
      return { ...a, amount }
    }
    cut += a.amount - amount
    return { ...a, amount } as ChainPlan["actions"][number]
  })
  return { ...plan, actions }
}
