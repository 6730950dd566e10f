import type { Account, Chain, Client, Transport } from "viem"
import type { SmartAccount } from "viem/account-abstraction"
import { type AddKeeperParameters, type AddKeeperReturnType, addKeeper } from "../actions/addKeeper.js"
import {
  type ApprovePaymasterTokenParameters,
  type ApprovePaymasterTokenReturnType,
  approvePaymasterToken,
} from "../actions/approvePaymasterToken.js"
import { type GetPolicyParameters, type GetPolicyReturnType, getPolicy } from "../actions/getPolicy.js"
import { type GetSubAccountStateParameters, type GetSubAccountStateReturnType, getSubAccountState } from "../actions/getSubAccountState.js"
import { type PauseAutomationParameters, type PauseAutomationReturnType, pauseAutomation } from "../actions/pauseAutomation.js"
import { type RemovePolicyParameters, type RemovePolicyReturnType, removePolicy } from "../actions/removePolicy.js"
import { type RevokeAllKeepersParameters, type RevokeAllKeepersReturnType, revokeAllKeepers } from "../actions/revokeAllKeepers.js"
import { type RevokeKeeperParameters, type RevokeKeeperReturnType, revokeKeeper } from "../actions/revokeKeeper.js"
import { type SendRebalanceParameters, type SendRebalanceReturnType, sendRebalance } from "../actions/sendRebalance.js"
import {
  type SetAutomationConfigParameters,
  type SetAutomationConfigReturnType,
  setAutomationConfig,
} from "../actions/setAutomationConfig.js"
import { type SetSelfPayBudgetParameters, type SetSelfPayBudgetReturnType, setSelfPayBudget } from "../actions/setSelfPayBudget.js"
import { type SetPolicyParameters, type SetPolicyReturnType, setPolicy } from "../actions/setPolicy.js"
import { type SetSponsorParameters, type SetSponsorReturnType, setSponsor } from "../actions/setSponsor.js"
import {
  type UninstallLeverageModuleParameters,
  type UninstallLeverageModuleReturnType,
  uninstallLeverageModule,
} from "../actions/uninstallLeverageModule.js"
import { type UnpauseAutomationParameters, type UnpauseAutomationReturnType, unpauseAutomation } from "../actions/unpauseAutomation.js"
import { type WaitForRebalanceParameters, type WaitForRebalanceReturnType, waitForRebalance } from "../actions/waitForRebalance.js"
import { type ValidateRebalanceParameters, type ValidateRebalanceReturnType, validateRebalance } from "../actions/validateRebalance.js"
import type { LeverageDeployments } from "../constants/deployments.js"

type WithoutDeployments<parameters> = parameters extends unknown ? Omit<parameters, "deployments"> & { deployments?: LeverageDeployments | undefined } : never

/** The leverage actions bound to a client; `deployments` given to `leverageActions()` apply unless a call overrides them. */
export type LeverageActions<account extends SmartAccount | undefined = SmartAccount | undefined> = {
  setPolicy: <accountOverride extends SmartAccount | undefined = undefined>(
    parameters: WithoutDeployments<SetPolicyParameters<account, accountOverride>>,
  ) => Promise<SetPolicyReturnType>
  removePolicy: <accountOverride extends SmartAccount | undefined = undefined>(
    parameters: WithoutDeployments<RemovePolicyParameters<account, accountOverride>>,
  ) => Promise<RemovePolicyReturnType>
  addKeeper: <accountOverride extends SmartAccount | undefined = undefined>(
    parameters: WithoutDeployments<AddKeeperParameters<account, accountOverride>>,
  ) => Promise<AddKeeperReturnType>
  revokeKeeper: <accountOverride extends SmartAccount | undefined = undefined>(
    parameters: WithoutDeployments<RevokeKeeperParameters<account, accountOverride>>,
  ) => Promise<RevokeKeeperReturnType>
  revokeAllKeepers: <accountOverride extends SmartAccount | undefined = undefined>(
    parameters?: WithoutDeployments<RevokeAllKeepersParameters<account, accountOverride>>,
  ) => Promise<RevokeAllKeepersReturnType>
  uninstallLeverageModule: <accountOverride extends SmartAccount | undefined = undefined>(
    parameters?: WithoutDeployments<UninstallLeverageModuleParameters<account, accountOverride>>,
  ) => Promise<UninstallLeverageModuleReturnType>
  setSponsor: <accountOverride extends SmartAccount | undefined = undefined>(
    parameters: WithoutDeployments<SetSponsorParameters<account, accountOverride>>,
  ) => Promise<SetSponsorReturnType>
  setAutomationConfig: <accountOverride extends SmartAccount | undefined = undefined>(
    parameters: WithoutDeployments<SetAutomationConfigParameters<account, accountOverride>>,
  ) => Promise<SetAutomationConfigReturnType>
  setSelfPayBudget: <accountOverride extends SmartAccount | undefined = undefined>(
    parameters: WithoutDeployments<SetSelfPayBudgetParameters<account, accountOverride>>,
  ) => Promise<SetSelfPayBudgetReturnType>
  approvePaymasterToken: <accountOverride extends SmartAccount | undefined = undefined>(
    parameters: ApprovePaymasterTokenParameters<account, accountOverride>,
  ) => Promise<ApprovePaymasterTokenReturnType>
  pauseAutomation: <accountOverride extends SmartAccount | undefined = undefined>(
    parameters?: WithoutDeployments<PauseAutomationParameters<account, accountOverride>>,
  ) => Promise<PauseAutomationReturnType>
  unpauseAutomation: <accountOverride extends SmartAccount | undefined = undefined>(
    parameters?: WithoutDeployments<UnpauseAutomationParameters<account, accountOverride>>,
  ) => Promise<UnpauseAutomationReturnType>
  getPolicy: (parameters: WithoutDeployments<GetPolicyParameters>) => Promise<GetPolicyReturnType>
  getSubAccountState: (parameters?: WithoutDeployments<GetSubAccountStateParameters>) => Promise<GetSubAccountStateReturnType>
  validateRebalance: (parameters: WithoutDeployments<ValidateRebalanceParameters>) => Promise<ValidateRebalanceReturnType>
  sendRebalance: (parameters: WithoutDeployments<SendRebalanceParameters>) => Promise<SendRebalanceReturnType>
  waitForRebalance: (parameters: WaitForRebalanceParameters) => Promise<WaitForRebalanceReturnType>
}

export type LeverageActionsParameters = {
  /** Deployments for chains the canonical map does not have (devnets, forks). */
  deployments?: LeverageDeployments | undefined
}

/**
 * A client decorator with every leverage action: `client.extend(leverageActions({ deployments }))`. Owner actions use
 * the client's smart account (or `protocolKit`), reads use the account's public client, and `sendRebalance` needs a
 * keeper account (`toKeeperAccount`).
 *
 * @param parameters - {@link LeverageActionsParameters}
 * @returns The decorator.
 * @example
 * const safeClient = createSmartAccountClient({ account, bundlerTransport: http(bundlerUrl) }).extend(leverageActions({ deployments }))
 * await safeClient.pauseAutomation()
 */
export function leverageActions(parameters: LeverageActionsParameters = {}) {
  return <transport extends Transport, chain extends Chain | undefined, account extends SmartAccount | undefined>(
    client: Client<transport, chain, account>,
  ): LeverageActions<account> => {
    const withDeployments = <p extends object>(p: p) => ({ deployments: parameters.deployments, ...p })
    const reader = client as unknown as Client<Transport, Chain | undefined, Account | undefined>
    const owner = client as Client<Transport, Chain | undefined, account>
    return {
      setPolicy: (p) => setPolicy(owner, withDeployments(p) as SetPolicyParameters<account>),
      removePolicy: (p) => removePolicy(owner, withDeployments(p) as RemovePolicyParameters<account>),
      addKeeper: (p) => addKeeper(owner, withDeployments(p) as AddKeeperParameters<account>),
      revokeKeeper: (p) => revokeKeeper(owner, withDeployments(p) as RevokeKeeperParameters<account>),
      revokeAllKeepers: (p) => revokeAllKeepers(owner, withDeployments(p ?? {}) as RevokeAllKeepersParameters<account>),
      uninstallLeverageModule: (p) => uninstallLeverageModule(owner, withDeployments(p ?? {}) as UninstallLeverageModuleParameters<account>),
      setSponsor: (p) => setSponsor(owner, withDeployments(p) as SetSponsorParameters<account>),
      setAutomationConfig: (p) => setAutomationConfig(owner, withDeployments(p) as SetAutomationConfigParameters<account>),
      setSelfPayBudget: (p) => setSelfPayBudget(owner, withDeployments(p) as SetSelfPayBudgetParameters<account>),
      approvePaymasterToken: (p) => approvePaymasterToken(owner, p as ApprovePaymasterTokenParameters<account>),
      pauseAutomation: (p) => pauseAutomation(owner, withDeployments(p ?? {}) as PauseAutomationParameters<account>),
      unpauseAutomation: (p) => unpauseAutomation(owner, withDeployments(p ?? {}) as UnpauseAutomationParameters<account>),
      getPolicy: (p) => getPolicy(reader, withDeployments(p)),
      getSubAccountState: (p) => getSubAccountState(reader, withDeployments(p ?? {})),
      validateRebalance: (p) => validateRebalance(reader, withDeployments(p)),
      sendRebalance: (p) => sendRebalance(client as Client<Transport, Chain | undefined, SmartAccount | undefined>, withDeployments(p)),
      waitForRebalance: (p) => waitForRebalance(client as Client<Transport, Chain | undefined, SmartAccount | undefined>, p),
    }
  }
}
