import { BaseError } from "viem"

export type PaymasterRefusedErrorType = PaymasterRefusedError & { name: "PaymasterRefusedError" }
/** The ERC-7677 paymaster service declined to sponsor (or to accept the token for) the UserOperation. */
export class PaymasterRefusedError extends BaseError {
  reason: string
  constructor({ reason, cause }: { reason: string; cause?: Error | undefined }) {
    super("The paymaster refused this UserOperation.", {
      cause,
      metaMessages: [
        `Reason: ${reason}`,
        "This could arise when:",
        "- the sponsorship policy or budget does not cover this Safe or this call;",
        "- `paymasterContext` is missing what the service needs (e.g. `{ token }` for ERC-20 payment);",
        "- the service does not support this chain or EntryPoint.",
        "Nothing was sent to the bundler.",
      ],
      name: "PaymasterRefusedError",
    })
    this.reason = reason
  }
}
