import { type Chain, type Client, type Transport, encodeFunctionData } from "viem"
import type { SmartAccount } from "viem/account-abstraction"
import { leverageModuleAbi } from "../abis/leverageModule.js"
import type { LeverageDeployments } from "../constants/deployments.js"
import type { UnknownChainErrorType } from "../errors/deployments.js"
import { resolveLeverageDeployment } from "../utils/getLeverageDeployment.js"
import { type OwnerLaneParameters, type OwnerLaneReturnType, getOwnerContext, sendOwnerCalls } from "../utils/ownerLane.js"

export type SetSelfPayBudgetParameters<
  account extends SmartAccount | undefined = SmartAccount | undefined,
  accountOverride extends SmartAccount | undefined = SmartAccount | undefined,
> = OwnerLaneParameters<account, accountOverride> & {
  /** Wei keeper operations without a paymaster may cost the Safe per epoch (charged at maximum cost); 0 = sponsored only. */
  maxWeiPerEpoch: bigint
  /** Seconds; the epoch restarts on the first successful rebalance after it ends. */
  epochLength: number
  deployments?: LeverageDeployments | undefined
}

export type SetSelfPayBudgetReturnType = OwnerLaneReturnType

export type SetSelfPayBudgetErrorType = UnknownChainErrorType | Error

/**
 * Sets how much keeper operations without a paymaster may cost the Safe per epoch and restarts the epoch. Without a
 * budget (the default) keeper operations must be sponsored by a paymaster.
 *
 * @param client - A SmartAccountClient of the Safe, or any client with `protocolKit`.
 * @param parameters - {@link SetSelfPayBudgetParameters}
 * @returns What was sent. {@link SetSelfPayBudgetReturnType}
 * @example
 * await setSelfPayBudget(safeClient, { maxWeiPerEpoch: parseEther("0.05"), epochLength: 86_400, deployments })
 */
export async function setSelfPayBudget<account extends SmartAccount | undefined, accountOverride extends SmartAccount | undefined = undefined>(
  client: Client<Transport, Chain | undefined, account>,
  parameters: SetSelfPayBudgetParameters<account, accountOverride>,
): Promise<SetSelfPayBudgetReturnType> {
  const { safe, reader } = await getOwnerContext(client, parameters as OwnerLaneParameters)
  await resolveLeverageDeployment(reader, parameters.deployments)
  const data = encodeFunctionData({ abi: leverageModuleAbi, functionName: "setSelfPayBudget", args: [parameters.maxWeiPerEpoch, parameters.epochLength] })
  return sendOwnerCalls(client as Client<Transport, Chain | undefined, SmartAccount | undefined>, {
    ...(parameters as OwnerLaneParameters),
    calls: [{ to: safe, data }],
  })
}
