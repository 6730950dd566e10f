import { type Chain, type Client, type Hex, type Transport, encodeFunctionData, zeroAddress } from "viem"
import type { SmartAccount } from "viem/account-abstraction"
import { readContract } from "viem/actions"
import { leverageModuleAbi } from "../abis/leverageModule.js"
import type { LeverageDeployments } from "../constants/deployments.js"
import { MAX_EXIT_HEALTH, MIN_BAND_GAP } from "../constants/module.js"
import type { UnknownChainErrorType } from "../errors/deployments.js"
import { InvalidStopLossError, type StopLossField, type InvalidStopLossErrorType, UnknownSubAccountError, type UnknownSubAccountErrorType } from "../errors/policy.js"
import { resolveLeverageDeployment } from "../utils/getLeverageDeployment.js"
import { type OwnerLaneParameters, type OwnerLaneReturnType, getOwnerContext, sendOwnerCalls } from "../utils/ownerLane.js"

/** A sub-account's stop-loss (`LeverageModule.setStopLoss`, docs/stop-loss-exit.md); both zero: no stop. */
export type StopLoss = {
  /** Venue oracle price at or below which the stop is engaged (Morpho: 1e36-scaled loan base units per collateral base unit). */
  stopPrice: bigint
  /** Health (WAD) an engaged stop exits to: in [maxHealth + MIN_BAND_GAP, MAX_EXIT_HEALTH]. */
  exitHealth: bigint
}

/** The policy fields a stop is checked against (module `OwnerControlsLib.checkStopPolicy`). */
export type StopLossPolicyCaps = {
  /** WAD. */
  maxHealth: bigint
  maxRebalancesPerEpoch: number | bigint
  /** Loan base units. */
  maxAmountPerEpoch: bigint
  /** Gas units. */
  maxGasPerEpoch: bigint
}

/**
 * The module's `setStopLoss` checks on `stop` against its policy, in its order: the field it would name in
 * `InvalidStopLoss(field)`, or undefined when it accepts. Besides the stop's own range, every epoch cap the stop exit's
 * half uses (RebalanceLib `_checkStopExitShare`, floor(cap / 2)) must be at least 2, else every exit reverts (review
 * rr13t T2). The module makes the same cap check at `setPolicy` while a stop is set ({@link stopLossCapField}).
 */
export function stopLossInvalidField(stop: StopLoss, policy: StopLossPolicyCaps): StopLossField | undefined {
  if (stop.stopPrice === 0n && stop.exitHealth === 0n) return undefined
  if (stop.stopPrice === 0n) return "stopPrice"
  if (stop.stopPrice >= 2n ** 192n) return "stopPrice" // uint192 (review rr13s S1)
  if (stop.exitHealth > MAX_EXIT_HEALTH || stop.exitHealth < policy.maxHealth + MIN_BAND_GAP) return "exitHealth"
  return stopLossCapField(policy)
}

/** The first epoch cap (module order) whose stop exit share, floor(cap / 2), is 0; undefined when none is. */
export function stopLossCapField(policy: Omit<StopLossPolicyCaps, "maxHealth">): StopLossField | undefined {
  if (BigInt(policy.maxRebalancesPerEpoch) < 2n) return "maxRebalancesPerEpoch"
  if (policy.maxAmountPerEpoch < 2n) return "maxAmountPerEpoch"
  if (policy.maxGasPerEpoch < 2n) return "maxGasPerEpoch"
  return undefined
}

/**
 * Call data of the Safe's `setStopLoss(subAccount, stopPrice, exitHealth)` (sent to the Safe itself, which forwards it
 * to the module through its fallback handler).
 */
export function encodeSetStopLoss(subAccount: Hex, stop: StopLoss): Hex {
  return encodeFunctionData({ abi: leverageModuleAbi, functionName: "setStopLoss", args: [subAccount, stop.stopPrice, stop.exitHealth] })
}

export type SetStopLossParameters<
  account extends SmartAccount | undefined = SmartAccount | undefined,
  accountOverride extends SmartAccount | undefined = SmartAccount | undefined,
> = OwnerLaneParameters<account, accountOverride> &
  StopLoss & {
    subAccount: Hex
    deployments?: LeverageDeployments | undefined
  }

export type SetStopLossReturnType = OwnerLaneReturnType

export type SetStopLossErrorType = UnknownChainErrorType | UnknownSubAccountErrorType | InvalidStopLossErrorType | Error

/**
 * Sets (or clears, both zero) a sub-account's stop-loss. Checked before sending as the module checks it (a policy must
 * exist; {@link stopLossInvalidField}).
 *
 * @param client - A SmartAccountClient of the Safe, or any client with `protocolKit`.
 * @param parameters - {@link SetStopLossParameters}
 * @returns What was sent. {@link SetStopLossReturnType}
 * @example
 * await setStopLoss(safeClient, { subAccount, stopPrice: 2_700n * 10n ** 24n, exitHealth: 3n * 10n ** 18n, deployments })
 */
export async function setStopLoss<account extends SmartAccount | undefined, accountOverride extends SmartAccount | undefined = undefined>(
  client: Client<Transport, Chain | undefined, account>,
  parameters: SetStopLossParameters<account, accountOverride>,
): Promise<SetStopLossReturnType> {
  const { subAccount, stopPrice, exitHealth } = parameters
  const { safe, reader } = await getOwnerContext(client, parameters as OwnerLaneParameters)
  const { deployment } = await resolveLeverageDeployment(reader, parameters.deployments)
  const policy = await readContract(reader, { address: deployment.leverageModule, abi: leverageModuleAbi, functionName: "getPolicy", args: [safe, subAccount] })
  if (policy.adapter === zeroAddress) throw new UnknownSubAccountError({ subAccount })
  const field = stopLossInvalidField({ stopPrice, exitHealth }, policy)
  if (field !== undefined) throw new InvalidStopLossError({ field })
  return sendOwnerCalls(client as Client<Transport, Chain | undefined, SmartAccount | undefined>, {
    ...(parameters as OwnerLaneParameters),
    calls: [{ to: safe, data: encodeSetStopLoss(subAccount, { stopPrice, exitHealth }) }],
  })
}
