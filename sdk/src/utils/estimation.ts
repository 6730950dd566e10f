import {
  type Address,
  type Chain,
  type Client,
  type Hex,
  type StateOverride,
  type Transport,
  decodeFunctionResult,
  encodeAbiParameters,
  encodeFunctionData,
  keccak256,
  maxUint32,
  maxUint64,
  numberToHex,
} from "viem"
import { call, estimateGas, readContract } from "viem/actions"
import { leverageModuleAbi } from "../abis/leverageModule.js"
import { EstimationOverrideError } from "../errors/keeper.js"

/** Storage slot of `ModuleStorage.selfPay` (its 6th member). */
export const selfPayMappingSlot = 7n

/** Storage slot of `ModuleStorage.automation` (LeverageModule: `_adapterList` 0, `_isAdapter` 1, `_s` from 2; `automation` is its 2nd member). */
export const automationMappingSlot = 3n

/**
 * Storage slots of `automation[safe]`: the AutomationConfig struct packs into two slots.
 *
 * @returns The two slot keys.
 */
export function getAutomationConfigSlots(safe: Address): readonly [Hex, Hex] {
  const base = keccak256(encodeAbiParameters([{ type: "address" }, { type: "uint256" }], [safe, automationMappingSlot]))
  return [base, numberToHex(BigInt(base) + 1n, { size: 32 })]
}

/**
 * A state override for gas estimation of keeper operations. Bundlers simulate validation with very large gas fields
 * (Alto: 10M verification gas) and the module reverts `GasFieldAboveCap` for any field above the Safe's cap, so a
 * keeper operation cannot be estimated against the real caps (nor, without a paymaster, against the self-pay budget
 * charged at maximum cost). The override raises every cap and the budget of this Safe to its type's maximum (keeping
 * the pause flag, required paymaster, key generation and budget epoch) for the estimation call only; the signed operation is then
 * checked against the real caps before signing. The override is verified with an `eth_call` of
 * `getAutomationConfig`, so a changed storage layout fails loudly instead of silently.
 *
 * @returns The `stateOverride` for `eth_estimateUserOperationGas`.
 * @throws {EstimationOverrideError} when the module's storage layout no longer matches.
 */
export async function getKeeperEstimationStateOverride({
  client,
  module,
  safe,
}: {
  client: Client<Transport, Chain | undefined>
  module: Address
  safe: Address
}): Promise<StateOverride> {
  const [config, budget] = await Promise.all([
    readContract(client, { address: module, abi: leverageModuleAbi, functionName: "getAutomationConfig", args: [safe] }),
    readContract(client, { address: module, abi: leverageModuleAbi, functionName: "getSelfPayBudget", args: [safe] }),
  ])
  const [slot0, slot1] = getAutomationConfigSlots(safe)
  const selfPaySlot = keccak256(encodeAbiParameters([{ type: "address" }, { type: "uint256" }], [safe, selfPayMappingSlot]))
  const budgetWord = (2n ** 88n - 1n) | (BigInt(budget.epochLength) << 96n) | (BigInt(budget.epoch) << 128n)
  const word0 =
    (config.paused ? 1n : 0n) | (BigInt(config.requiredPaymaster) << 8n) | (BigInt(maxUint32) << 168n) | (BigInt(maxUint32) << 200n)
  // The key generation (top 32 bits) is kept: keeper operations must use its nonce key.
  const word1 =
    maxUint32 | (maxUint32 << 32n) | (maxUint32 << 64n) | (maxUint64 << 96n) | (maxUint64 << 160n) | (BigInt(config.keyGeneration) << 224n)
  const stateOverride: StateOverride = [
    {
      address: module,
      stateDiff: [
        { slot: slot0, value: numberToHex(word0, { size: 32 }) },
        { slot: slot1, value: numberToHex(word1, { size: 32 }) },
        { slot: selfPaySlot, value: numberToHex(budgetWord, { size: 32 }) },
      ],
    },
  ]
  const { data } = await call(client, {
    to: module,
    data: encodeFunctionData({ abi: leverageModuleAbi, functionName: "getAutomationConfig", args: [safe] }),
    stateOverride,
  })
  const overridden = decodeFunctionResult({ abi: leverageModuleAbi, functionName: "getAutomationConfig", data: data ?? "0x" })
  const budgetCall = await call(client, {
    to: module,
    data: encodeFunctionData({ abi: leverageModuleAbi, functionName: "getSelfPayBudget", args: [safe] }),
    stateOverride,
  })
  const overriddenBudget = decodeFunctionResult({ abi: leverageModuleAbi, functionName: "getSelfPayBudget", data: budgetCall.data ?? "0x" })
  if (
    overriddenBudget.maxWeiPerEpoch !== 2n ** 88n - 1n ||
    overriddenBudget.spentWei !== 0n ||
    overriddenBudget.epochLength !== budget.epochLength ||
    overridden.paused !== config.paused ||
    overridden.requiredPaymaster !== config.requiredPaymaster ||
    overridden.keyGeneration !== config.keyGeneration ||
    BigInt(overridden.maxVerificationGasLimit) !== maxUint32 ||
    BigInt(overridden.maxPaymasterPostOpGasLimit) !== maxUint32 ||
    overridden.maxPriorityFeePerGas !== maxUint64
  )
    throw new EstimationOverrideError({ module })
  return stateOverride
}

/**
 * A transaction's intrinsic gas for `data` before EIP-7623's floor: 21,000 plus 4 per zero byte and 16 per other byte.
 *
 * @returns The gas.
 */
export function intrinsicCallGas(data: Hex): bigint {
  let gas = 21_000n
  for (let i = 2; i < data.length; i += 2) gas += data.slice(i, i + 2) === "00" ? 4n : 16n
  return gas
}

/**
 * Whether `callGasLimit` covers a keeper operation's execution phase, and if not, the gas it needs: the EntryPoint
 * calls the Safe with exactly `callGasLimit` gas, so the same call is made from the EntryPoint's address at the latest
 * block with that much gas for the call frame (`eth_call`, one execution). When that call fails (out of gas, or the
 * plan reverts), `eth_estimateGas` of the same call (the node's binary search, which needs the call to succeed) gives
 * the frame's need, its intrinsic gas taken off; a plan that reverts at any gas is thrown as the node reported it.
 *
 * A bundler's `eth_estimateUserOperationGas` is not enough on its own: Alto 0.0.20 answers a success with its 9,000-gas
 * floor (doubled: 18,000) when its own second simulation fails, e.g. on a node serving a state newer than the block it
 * dates the call at; a rebalance sent with that limit lands, runs out of gas in its plan and is charged for nothing.
 *
 * @returns `callGasLimit` when it covers the execution, else the execution's need (larger).
 * @throws The node's error when the execution reverts at any gas (the plan no longer holds on the latest state).
 */
export async function getRebalanceExecutionGas(
  client: Client<Transport, Chain | undefined>,
  { entryPoint, safe, callData, callGasLimit }: { entryPoint: Address; safe: Address; callData: Hex; callGasLimit: bigint },
): Promise<bigint> {
  const intrinsic = intrinsicCallGas(callData)
  const covered = await call(client, { account: entryPoint, to: safe, data: callData, gas: callGasLimit + intrinsic }).then(
    () => true,
    () => false,
  )
  if (covered) return callGasLimit
  const needed = (await estimateGas(client, { account: entryPoint, to: safe, data: callData })) - intrinsic
  return needed > callGasLimit ? needed : callGasLimit
}
