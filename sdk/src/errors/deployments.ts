import { type Address, BaseError } from "viem"

export type UnknownChainErrorType = UnknownChainError & { name: "UnknownChainError" }
/** No leverage autopilot addresses are known for the client's chain. */
export class UnknownChainError extends BaseError {
  constructor({ chainId }: { chainId: number }) {
    super(`No leverage autopilot deployment is known for chain ${chainId}.`, {
      metaMessages: [
        "This could arise when:",
        "- the module is not deployed on this chain yet;",
        "- the client points at a devnet: pass `deployments: { [chainId]: ... }` to the action or to `leverageActions()`.",
      ],
      name: "UnknownChainError",
    })
  }
}

export type ModuleNotInstalledErrorType = ModuleNotInstalledError & { name: "ModuleNotInstalledError" }
/** The Safe has not enabled the leverage module or does not use it as fallback handler. */
export class ModuleNotInstalledError extends BaseError {
  constructor({ safe, module, enabled, fallbackHandler }: { safe: Address; module: Address; enabled: boolean; fallbackHandler: Address }) {
    super(`The leverage module ${module} is not installed on Safe ${safe}.`, {
      metaMessages: [
        `Module enabled: ${enabled}`,
        `Fallback handler: ${fallbackHandler}`,
        "This could arise when:",
        "- the Safe was created without the module: run `installLeverageModule` (protocol-kit Safe transaction);",
        "- another fallback handler replaced the module.",
      ],
      name: "ModuleNotInstalledError",
    })
  }
}

export type AccountNotFoundErrorType = AccountNotFoundError & { name: "AccountNotFoundError" }
/** An owner action got neither a smart account (client or `account`) nor a `protocolKit` Safe. */
export class AccountNotFoundError extends BaseError {
  constructor() {
    super("No Safe to act for: pass `account`, use a client with an account, or pass `protocolKit`.", { name: "AccountNotFoundError" })
  }
}
