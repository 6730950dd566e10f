import { type Address, type Hex, encodeAbiParameters, encodeFunctionData, keccak256, zeroAddress } from "viem"
import { leverageModuleAbi } from "../abis/leverageModule.js"
import { maxPlanActions, maxPlanSubAccounts } from "../constants/keeper.js"
import { ActionNotAllowedError, DuplicateSubAccountError, MalformedPlanError } from "../errors/plan.js"
import {
  MALFORMED_DIRTY_POOL,
  MALFORMED_EMPTY_CALLBACK,
  MALFORMED_NESTED_CALLBACK,
  MALFORMED_UNCLOSED_CALLBACK,
  MALFORMED_UNOPENED_CALLBACK,
  REPAY_PLUS_SALE_MINIMUMS,
} from "../constants/module.js"
import { type CallbackActionKind, type Plan, type PlanAction, type PoolActionKind, type SwapActionKind, actionKinds } from "../types/leverage.js"

/**
 * Sub-account id of (adapter, market): keccak256(abi.encode(adapter, market)), as the module computes it.
 *
 * @returns The 32-byte id.
 * @example
 * const id = getSubAccountId({ adapter: deployment.adapters.morphoBlue, market: marketId })
 */
export function getSubAccountId({ adapter, market }: { adapter: Address; market: Hex }): Hex {
  return keccak256(encodeAbiParameters([{ type: "address" }, { type: "bytes32" }], [adapter, market]))
}

/**
 * Whether an action kind moves funds with an ERC-4626 pool (and so must name one).
 *
 * @returns `true` for `WithdrawFromPool` and `DepositToPool`.
 */
export function isPoolAction(kind: string): kind is PoolActionKind {
  return kind === "WithdrawFromPool" || kind === "DepositToPool"
}

/**
 * Whether an action kind is a swap through the module's swap adapter (and so must name a route).
 *
 * @returns `true` for `SellCollateral` and `BuyCollateral`.
 */
export function isSwapAction(kind: string): kind is SwapActionKind {
  return kind === "SellCollateral" || kind === "BuyCollateral"
}

/**
 * Whether an action kind opens a callback block (closed by the next `EndCallback`).
 *
 * @returns `true` for `RepayWithCallback` and `SupplyCollateralWithCallback`.
 */
export function isCallbackAction(kind: string): kind is CallbackActionKind {
  return kind === "RepayWithCallback" || kind === "SupplyCollateralWithCallback"
}

/**
 * A swap route word (bytes32, at most 160 bits used) as the address-typed `pool` field the plan encoding carries it in.
 *
 * @throws {MalformedPlanError} reason MALFORMED_DIRTY_POOL when the route does not fit 160 bits.
 */
export function routeToPoolField(route: Hex): Address {
  const word = BigInt(route)
  if (word >> 160n !== 0n) throw new MalformedPlanError({ reason: MALFORMED_DIRTY_POOL })
  return `0x${word.toString(16).padStart(40, "0")}`
}

/** The `pool` word of a `RepayWithCallback` in the sale-minimum repayment mode (`repayment: "sale-minimum"`). */
export const saleMinimumRepaymentWord: Address = `0x${REPAY_PLUS_SALE_MINIMUMS.toString(16).padStart(40, "0")}`

/**
 * The ABI `pool` field of an action: a pool action's pool, a swap's route word, a sale-minimum `RepayWithCallback`'s
 * mode word ({@link saleMinimumRepaymentWord}), else zero.
 *
 * @throws {MalformedPlanError} reason MALFORMED_DIRTY_POOL when a route does not fit 160 bits.
 */
export function poolFieldOf(action: PlanAction): Address {
  if ("route" in action && action.route !== undefined) return routeToPoolField(action.route)
  if ("repayment" in action && action.repayment === "sale-minimum") return saleMinimumRepaymentWord
  return action.pool ?? zeroAddress
}

/**
 * Checks what the module checks about a plan's shape before any state is read: 1 to 8 unique sub-accounts,
 * 1 to 32 actions with in-range indices, non-zero amounts (zero on `EndCallback`), a pool on pool actions only, a
 * non-zero route on swaps, callback blocks one level deep, never empty, every one closed.
 *
 * @throws {MalformedPlanError} {@link DuplicateSubAccountError} {@link ActionNotAllowedError}
 */
export function assertPlanShape(plan: Plan): void {
  const n = plan.subAccounts.length
  if (n === 0 || n > maxPlanSubAccounts) throw new MalformedPlanError({ reason: 4 })
  if (plan.actions.length === 0 || plan.actions.length > maxPlanActions) throw new MalformedPlanError({ reason: 5 })
  plan.subAccounts.forEach((id, i) => {
    if (plan.subAccounts.slice(0, i).some((other) => other.toLowerCase() === id.toLowerCase()))
      throw new DuplicateSubAccountError({ subAccount: id })
  })
  let openedAt = -1
  plan.actions.forEach((action, index) => {
    if (!actionKinds.includes(action.kind)) throw new MalformedPlanError({ reason: 7 })
    if (!Number.isInteger(action.subAccount) || action.subAccount < 0 || action.subAccount >= n) throw new MalformedPlanError({ reason: 8 })
    if (isCallbackAction(action.kind)) {
      if (openedAt >= 0) throw new MalformedPlanError({ reason: MALFORMED_NESTED_CALLBACK })
      openedAt = index
    } else if (action.kind === "EndCallback") {
      if (openedAt < 0) throw new MalformedPlanError({ reason: MALFORMED_UNOPENED_CALLBACK })
      if (openedAt === index - 1) throw new MalformedPlanError({ reason: MALFORMED_EMPTY_CALLBACK })
      openedAt = -1
      // The type says so; untyped callers may still pass an amount or a pool.
      const end = action as { amount: bigint; pool?: Address | undefined }
      if (end.amount !== 0n || (end.pool !== undefined && end.pool !== zeroAddress))
        throw new ActionNotAllowedError({ index, kind: "EndCallback", reason: "EndCallback carries no amount and no pool." })
      return
    }
    const saleMinimum = "repayment" in action && action.repayment === "sale-minimum"
    if (saleMinimum && action.kind !== "RepayWithCallback")
      throw new ActionNotAllowedError({ index, kind: action.kind, reason: 'Only a RepayWithCallback takes repayment "sale-minimum".' })
    // A sale-minimum repayment may carry 0 when its block sells collateral of its sub-account (the module adds the sales' minimum).
    const sells = (j: number): boolean => {
      for (let k = j + 1; k < plan.actions.length && plan.actions[k]?.kind !== "EndCallback"; k++) {
        const inner = plan.actions[k] as PlanAction
        if (inner.kind === "SellCollateral" && inner.subAccount === action.subAccount) return true
      }
      return false
    }
    if (action.amount < 0n || (action.amount === 0n && !(saleMinimum && sells(index))))
      throw new ActionNotAllowedError({ index, kind: action.kind, reason: "The amount must be greater than zero." })
    if (action.kind === "SellCollateral" || action.kind === "BuyCollateral") {
      if (!action.route || BigInt(action.route) === 0n) throw new ActionNotAllowedError({ index, kind: action.kind, reason: "Swaps must name a route." })
      routeToPoolField(action.route)
    } else if (isPoolAction(action.kind)) {
      if (!action.pool || action.pool === zeroAddress) throw new ActionNotAllowedError({ index, kind: action.kind, reason: "Pool actions must name a pool." })
    } else if (action.pool !== undefined && action.pool !== zeroAddress)
      throw new ActionNotAllowedError({ index, kind: action.kind, reason: "Venue actions carry no pool." })
  })
  if (openedAt >= 0) throw new MalformedPlanError({ reason: MALFORMED_UNCLOSED_CALLBACK })
}

/**
 * The plan as the ABI `Plan` struct (action kinds as enum indices, zero pool on venue actions, a swap's route word in
 * its `pool` field).
 *
 * @returns Arguments for `executeRebalance`.
 */
export function toPlanStruct(plan: Plan) {
  return {
    subAccounts: plan.subAccounts,
    actions: plan.actions.map((action) => ({
      kind: actionKinds.indexOf(action.kind),
      subAccount: action.subAccount,
      pool: poolFieldOf(action),
      amount: action.amount,
    })),
  }
}

export type EncodeRebalanceCallDataParameters = { keeper: Address; plan: Plan }

/**
 * Encodes the keeper operation's callData `executeRebalance(keeper, plan)` canonically (the only encoding the
 * module accepts). The plan's shape is checked first.
 *
 * @param parameters - {@link EncodeRebalanceCallDataParameters}
 * @returns The callData.
 * @example
 * const callData = encodeRebalanceCallData({ keeper: keeper.address, plan })
 */
export function encodeRebalanceCallData({ keeper, plan }: EncodeRebalanceCallDataParameters): Hex {
  assertPlanShape(plan)
  return encodeFunctionData({ abi: leverageModuleAbi, functionName: "executeRebalance", args: [keeper, toPlanStruct(plan)] })
}
