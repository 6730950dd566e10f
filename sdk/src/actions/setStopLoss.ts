import { type Chain, type Client, type Hex, type Transport, encodeFunctionData, zeroAddress } from "viem"
import type { SmartAccount } from "viem/account-abstraction"
import { readContract } from "viem/actions"
import { leverageModuleAbi } from "../abis/leverageModule.js"
import type { LeverageDeployments } from "../constants/deployments.js"
import { MAX_EXIT_HEALTH, MIN_BAND_GAP } from "../constants/module.js"
import type { UnknownChainErrorType } from "../errors/deployments.js"
import { InvalidStopLossError, type InvalidStopLossErrorType, UnknownSubAccountError, type UnknownSubAccountErrorType } from "../errors/policy.js"
import { resolveLeverageDeployment } from "../utils/getLeverageDeployment.js"
import { type OwnerLaneParameters, type OwnerLaneReturnType, getOwnerContext, sendOwnerCalls } from "../utils/ownerLane.js"

/** A sub-account's stop-loss (`LeverageModule.setStopLoss`, docs/stop-loss-exit.md); both zero: no stop. */
export type StopLoss = {
  /** Venue oracle price at or below which the stop is engaged (Morpho: 1e36-scaled loan base units per collateral base unit). */
  stopPrice: bigint
  /** Health (WAD) an engaged stop exits to: in [maxHealth + MIN_BAND_GAP, MAX_EXIT_HEALTH]. */
  exitHealth: bigint
}

/**
 * The module's `setStopLoss` checks on `stop` against the policy's `maxHealth` (WAD), in its order: the field it would
 * name in `InvalidStopLoss(field)`, or undefined when it accepts.
 */
export function stopLossInvalidField(stop: StopLoss, maxHealth: bigint): "stopPrice" | "exitHealth" | undefined {
  if (stop.stopPrice === 0n && stop.exitHealth === 0n) return undefined
  if (stop.stopPrice === 0n) return "stopPrice"
  if (stop.stopPrice >= 2n ** 192n) return "stopPrice" // uint192 (review rr13s S1)
  if (stop.exitHealth < maxHealth + MIN_BAND_GAP || stop.exitHealth > MAX_EXIT_HEALTH) return "exitHealth"
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
  const field = stopLossInvalidField({ stopPrice, exitHealth }, policy.maxHealth)
  if (field !== undefined) throw new InvalidStopLossError({ field })
  return sendOwnerCalls(client as Client<Transport, Chain | undefined, SmartAccount | undefined>, {
    ...(parameters as OwnerLaneParameters),
    calls: [{ to: safe, data: encodeSetStopLoss(subAccount, { stopPrice, exitHealth }) }],
  })
}
