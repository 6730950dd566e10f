import { type Address, type Chain, type Client, type Hex, type Transport, encodeFunctionData, getAddress, isAddressEqual, parseAbi, slice } from "viem"
import type { SmartAccount } from "viem/account-abstraction"
import { getStorageAt, readContract } from "viem/actions"
import { leverageModuleAbi } from "../abis/leverageModule.js"
import type { LeverageDeployments } from "../constants/deployments.js"
import type { UnknownChainErrorType } from "../errors/deployments.js"
import { resolveLeverageDeployment } from "../utils/getLeverageDeployment.js"
import { type OwnerCall, type OwnerLaneParameters, type OwnerLaneReturnType, getOwnerContext, sendOwnerCalls } from "../utils/ownerLane.js"

/** Safe v1.4.1 module list head and fallback handler slot (`keccak256("fallback_manager.handler.address")`). */
const sentinel = "0x0000000000000000000000000000000000000001" as const satisfies Address
const fallbackHandlerSlot = "0x6c9a6c4a39284e37ed1cf53d337577d14212a4870fb976a4366c693b939918d5" as const satisfies Hex
const safeAbi = parseAbi([
  "function getModulesPaginated(address start, uint256 pageSize) view returns (address[] array, address next)",
  "function disableModule(address prevModule, address module)",
  "function setFallbackHandler(address handler)",
])

export type UninstallLeverageModuleParameters<
  account extends SmartAccount | undefined = SmartAccount | undefined,
  accountOverride extends SmartAccount | undefined = SmartAccount | undefined,
> = OwnerLaneParameters<account, accountOverride> & {
  deployments?: LeverageDeployments | undefined
}

export type UninstallLeverageModuleReturnType = OwnerLaneReturnType & {
  /** The key generation after the uninstall; a re-install starts with no keeper. */
  keyGeneration: number
  /** What the batch did besides revoking every key. */
  disabledModule: boolean
  clearedFallbackHandler: boolean
}

export type UninstallLeverageModuleErrorType = UnknownChainErrorType | Error

/**
 * Uninstalls the leverage module in one owner operation: `revokeAllKeepers` first (module storage outlives an
 * uninstall, so without it a re-install would bring the old keeper keys back), then `disableModule` and
 * `setFallbackHandler(0)` when the module is still the Safe's module and fallback handler. No keeper operation signed
 * before can execute afterwards, even if the owners re-install the module and re-register the same key. Sent as a Safe
 * transaction (`protocolKit`) or a UserOperation; after the UserOperation the Safe has no 4337 module left, so later owner
 * actions go through Safe transactions.
 *
 * @param client - A SmartAccountClient of the Safe, or any client with `protocolKit`.
 * @param parameters - {@link UninstallLeverageModuleParameters}
 * @returns What was sent. {@link UninstallLeverageModuleReturnType}
 * @example
 * await uninstallLeverageModule(publicClient, { protocolKit, deployments })
 */
export async function uninstallLeverageModule<account extends SmartAccount | undefined, accountOverride extends SmartAccount | undefined = undefined>(
  client: Client<Transport, Chain | undefined, account>,
  parameters: UninstallLeverageModuleParameters<account, accountOverride>,
): Promise<UninstallLeverageModuleReturnType> {
  const { safe, reader } = await getOwnerContext(client, parameters as OwnerLaneParameters)
  const { deployment } = await resolveLeverageDeployment(reader, parameters.deployments)
  const module = deployment.leverageModule
  const [config, [modules], handlerWord] = await Promise.all([
    readContract(reader, { address: module, abi: leverageModuleAbi, functionName: "getAutomationConfig", args: [safe] }),
    readContract(reader, { address: safe, abi: safeAbi, functionName: "getModulesPaginated", args: [sentinel, 100n] }),
    getStorageAt(reader, { address: safe, slot: fallbackHandlerSlot }),
  ])
  const calls: OwnerCall[] = [{ to: safe, data: encodeFunctionData({ abi: leverageModuleAbi, functionName: "revokeAllKeepers" }) }]
  const index = modules.findIndex((enabled) => isAddressEqual(enabled, module))
  if (index >= 0) {
    const prevModule = index === 0 ? sentinel : (modules[index - 1] as Address)
    calls.push({ to: safe, data: encodeFunctionData({ abi: safeAbi, functionName: "disableModule", args: [prevModule, module] }) })
  }
  const handler = getAddress(slice(handlerWord ?? `0x${"0".repeat(64)}`, 12))
  const clearHandler = isAddressEqual(handler, module)
  if (clearHandler) calls.push({ to: safe, data: encodeFunctionData({ abi: safeAbi, functionName: "setFallbackHandler", args: [getAddress(`0x${"0".repeat(40)}`)] }) })
  const sent = await sendOwnerCalls(client as Client<Transport, Chain | undefined, SmartAccount | undefined>, {
    ...(parameters as OwnerLaneParameters),
    calls,
  })
  return { ...sent, keyGeneration: config.keyGeneration + 1, disabledModule: index >= 0, clearedFallbackHandler: clearHandler }
}
