import { type Address, type Hex, encodeAbiParameters, encodeFunctionData, keccak256, zeroAddress } from "viem"
import { leverageModuleAbi } from "../abis/leverageModule.js"
import { maxPlanActions, maxPlanSubAccounts } from "../constants/keeper.js"
import { ActionNotAllowedError, DuplicateSubAccountError, MalformedPlanError } from "../errors/plan.js"
import { type Plan, type PoolActionKind, actionKinds } from "../types/leverage.js"

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
 * Checks what the module checks about a plan's shape before any state is read: 1 to 8 unique sub-accounts,
 * 1 to 32 actions with in-range indices, non-zero amounts, a pool on pool actions only.
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
  plan.actions.forEach((action, index) => {
    if (!actionKinds.includes(action.kind)) throw new MalformedPlanError({ reason: 7 })
    if (!Number.isInteger(action.subAccount) || action.subAccount < 0 || action.subAccount >= n) throw new MalformedPlanError({ reason: 8 })
    if (action.amount <= 0n) throw new ActionNotAllowedError({ index, kind: action.kind, reason: "The amount must be greater than zero." })
    if (isPoolAction(action.kind)) {
      if (!action.pool || action.pool === zeroAddress) throw new ActionNotAllowedError({ index, kind: action.kind, reason: "Pool actions must name a pool." })
    } else if (action.pool !== undefined && action.pool !== zeroAddress)
      throw new ActionNotAllowedError({ index, kind: action.kind, reason: "Venue actions carry no pool." })
  })
}

/**
 * The plan as the ABI `Plan` struct (action kinds as enum indices, zero pool on venue actions).
 *
 * @returns Arguments for `executeRebalance`.
 */
export function toPlanStruct(plan: Plan) {
  return {
    subAccounts: plan.subAccounts,
    actions: plan.actions.map((action) => ({
      kind: actionKinds.indexOf(action.kind),
      subAccount: action.subAccount,
      pool: action.pool ?? zeroAddress,
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
