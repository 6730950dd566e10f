import type { Address, Hex } from "viem"
import { minAmountOut } from "@levpilot/sdk/rules"
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
  subAccounts: Record<
    string,
    {
      debt: bigint
      collateral: bigint
      loanToken: string
      collateralToken: string
      borrowable?: bigint | undefined
      /** The venue's oracle price (1e36 scale) and the policy's `maxSlippageBps`: a swap's on-chain minimum output. */
      price?: bigint | undefined
      maxSlippageBps?: number | undefined
    }
  >
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
 * The funding actions of a swap plan clamped as in {@link clampToChainBounds} (a pool withdrawal to what is left of
 * `maxWithdraw`, a borrow to its market's free liquidity), and every action they fund lowered consistently, so no
 * action spends more than what funds it brings:
 * - what a clamp takes off a token is taken off the next action that spends that token: a `BuyCollateral` or a
 *   `Repay`/`RepayWithCallback` (loan token), a `DepositToPool` (its asset);
 * - a `BuyCollateral` lowered from `x` to `x'` lowers the collateral supply it funds (the next `SupplyCollateral` of its
 *   sub-account, or the `SupplyCollateralWithCallback` whose callback it runs in) to `supply * x' / x` (the swap's
 *   output is concave in its input: at least that much arrives when `supply` did for `x`), never below the purchase's
 *   on-chain minimum output at `x'` (`minAmountOut`, oracle price and `maxSlippageBps` when the bounds carry them):
 *   the swap delivers at least that or reverts, and the module's IdleInflow rule wants every unit of it used.
 * Everything else passes through.
 *
 * @returns The plan with those amounts exact.
 */
function clampCallbackFunding(plan: ChainPlan, bounds: ChainBounds): ChainPlan {
  const withdrawable = { ...bounds.maxWithdraw }
  const borrowable = Object.fromEntries(Object.entries(bounds.subAccounts).map(([id, s]) => [id, s.borrowable]))
  const subOf = (a: ChainPlan["actions"][number]) => bounds.subAccounts[(plan.subAccounts[a.subAccount] ?? "").toLowerCase()]
  // What the clamps took off each token (lower-case address), not yet taken off an action spending it.
  const cut: Record<string, bigint> = {}
  const take = (token: string | undefined, amount: bigint): bigint => {
    const c = token === undefined ? 0n : (cut[token] ?? 0n)
    if (c === 0n || token === undefined) return amount
    const taken = min(c, amount)
    cut[token] = c - taken
    return amount - taken
  }
  const actions = plan.actions.slice()
  // Per sub-account index: the last lowered BuyCollateral (from, to, its minimum at `to`), waiting for its supply.
  const bought = new Map<number, { from: bigint; to: bigint; minimum: bigint | undefined }>()
  let opener = -1
  actions.forEach((a, k) => {
    if (a.kind === "EndCallback") opener = -1
    if (a.kind === "EndCallback") return
    const sub = subOf(a)
    let amount = a.amount
    if (a.kind === "WithdrawFromPool") {
      const pool = (a.pool as Address).toLowerCase()
      amount = min(amount, withdrawable[pool] ?? 0n)
      withdrawable[pool] = (withdrawable[pool] ?? 0n) - amount
      const asset = bounds.poolAsset[pool]
      if (asset !== undefined) cut[asset] = (cut[asset] ?? 0n) + a.amount - amount
    } else if (a.kind === "Borrow") {
      const id = (plan.subAccounts[a.subAccount] ?? "").toLowerCase()
      const free = borrowable[id]
      if (free !== undefined) {
        amount = min(amount, free)
        borrowable[id] = free - amount
      }
      if (sub !== undefined) cut[sub.loanToken] = (cut[sub.loanToken] ?? 0n) + a.amount - amount
    } else if (a.kind === "Repay" || a.kind === "RepayWithCallback") {
      amount = take(sub?.loanToken, amount)
    } else if (a.kind === "DepositToPool") {
      amount = take(bounds.poolAsset[(a.pool as Address).toLowerCase()], amount)
    } else if (a.kind === "BuyCollateral") {
      amount = take(sub?.loanToken, amount)
      if (amount < a.amount) {
        const minimum = sub?.price !== undefined && sub.maxSlippageBps !== undefined && amount > 0n ? minAmountOut(BigInt(sub.maxSlippageBps), sub.price, false, amount) : undefined
        const lowered = { from: a.amount, to: amount, minimum }
        const open = opener >= 0 ? actions[opener] : undefined
        // A flash-looped boost: the purchase pays back the callback's supply.
        if (open?.kind === "SupplyCollateralWithCallback" && open.subAccount === a.subAccount) actions[opener] = { ...open, amount: fundedSupply(open.amount, lowered) }
        else bought.set(a.subAccount, lowered)
      }
    } else if (a.kind === "SupplyCollateral") {
      const lowered = bought.get(a.subAccount)
      if (lowered !== undefined) {
        amount = fundedSupply(amount, lowered)
        bought.delete(a.subAccount)
      }
    }
    if (a.kind === "SupplyCollateralWithCallback" || a.kind === "RepayWithCallback") opener = k
    actions[k] = { ...a, amount } as ChainPlan["actions"][number]
  })
  return { ...plan, actions }
}

/** A collateral supply funded by a purchase lowered from `from` to `to` (see {@link clampCallbackFunding}). */
function fundedSupply(supply: bigint, bought: { from: bigint; to: bigint; minimum: bigint | undefined }): bigint {
  if (bought.from === 0n) return supply
  const scaled = (supply * bought.to) / bought.from
  const floor = bought.minimum ?? 0n
  return min(supply, scaled > floor ? scaled : floor)
}
