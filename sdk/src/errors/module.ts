import { BaseError } from "viem"

export type LeverageModuleRevertedErrorType = LeverageModuleRevertedError & { name: "LeverageModuleRevertedError" }
/** The module reverted with an error the SDK has no dedicated class for. */
export class LeverageModuleRevertedError extends BaseError {
  errorName: string
  args: readonly unknown[]
  constructor({ errorName, args, cause }: { errorName: string; args: readonly unknown[]; cause?: Error | undefined }) {
    super(`The leverage module reverted with ${errorName}.`, {
      cause,
      metaMessages: [`Arguments: ${args.map((arg) => String(arg)).join(", ") || "none"}`],
      name: "LeverageModuleRevertedError",
    })
    this.errorName = errorName
    this.args = args
  }
}
