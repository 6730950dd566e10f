import { type Address, BaseError } from "viem"

type Cause = { cause?: Error | undefined }

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
        "- the service does not accept this token for ERC-20 payment;",
        "- the service does not support this chain or EntryPoint.",
        "Nothing was sent to the bundler.",
      ],
      name: "PaymasterRefusedError",
    })
    this.reason = reason
  }
}

export type PaymasterUnavailableErrorType = PaymasterUnavailableError & { name: "PaymasterUnavailableError" }
/**
 * The ERC-7677 paymaster service did not answer `pm_getPaymasterStubData` / `pm_getPaymasterData` (connection refused,
 * timeout, HTTP 5xx): unlike {@link PaymasterRefusedError} it said nothing about this UserOperation, so a retry may be
 * sponsored.
 */
export class PaymasterUnavailableError extends BaseError {
  url: string | undefined
  constructor({ url, cause }: { url?: string | undefined } & Cause) {
    super("The paymaster did not answer.", {
      cause,
      metaMessages: [
        ...(url ? [`Paymaster: ${url}`] : []),
        "This could arise when:",
        "- the paymaster service is overloaded (the request timed out) or restarting;",
        "- the URL or port is wrong.",
        "Nothing was sent to the bundler.",
      ],
      name: "PaymasterUnavailableError",
    })
    this.url = url
  }
}

export type PaymasterValidationFailedErrorType = PaymasterValidationFailedError & { name: "PaymasterValidationFailedError" }
/**
 * The paymaster's `validatePaymasterUserOp` reverted in the bundler's simulation (AA33), e.g. an ERC-20 paymaster could
 * not pull the token from the Safe.
 */
export class PaymasterValidationFailedError extends BaseError {
  /** The decoded revert (`ERC20InsufficientAllowance(...)`, a revert string) or the bundler's text. */
  reason: string
  constructor({ reason, cause }: { reason: string } & Cause) {
    super("The paymaster rejected this UserOperation in validation (AA33).", {
      cause,
      metaMessages: [
        `Reason: ${reason}`,
        "This could arise when:",
        "- the Safe has not approved the token paymaster for the token, or the allowance is used up (`approvePaymasterToken`);",
        "- the Safe's token balance is below the paymaster's pre-charge (the maximum gas cost in tokens);",
        "- the paymaster's cached price is missing or the gas limits do not fit its rules (e.g. postOp gas limit too low).",
        "Nothing was included on chain.",
      ],
      name: "PaymasterValidationFailedError",
    })
    this.reason = reason
  }
}

export type InvalidPaymasterErrorType = InvalidPaymasterError & { name: "InvalidPaymasterError" }
/** The paymaster address cannot be approved: zero, the Safe itself or the token. */
export class InvalidPaymasterError extends BaseError {
  paymaster: Address
  constructor({ paymaster, cause }: { paymaster: Address } & Cause) {
    super(`Paymaster ${paymaster} cannot be approved.`, {
      cause,
      metaMessages: ["The paymaster must be an address other than zero, the Safe and the token."],
      name: "InvalidPaymasterError",
    })
    this.paymaster = paymaster
  }
}

export type InvalidPaymasterTokenErrorType = InvalidPaymasterTokenError & { name: "InvalidPaymasterTokenError" }
/** The token to pay a paymaster with is the zero address or the Safe itself. */
export class InvalidPaymasterTokenError extends BaseError {
  token: Address
  constructor({ token, cause }: { token: Address } & Cause) {
    super(`Token ${token} cannot be approved for a paymaster.`, {
      cause,
      metaMessages: ["The token must be the ERC-20 the paymaster accepts, not zero and not the Safe."],
      name: "InvalidPaymasterTokenError",
    })
    this.token = token
  }
}

export type PaymasterTokenChargeErrorType = PaymasterTokenChargeError & { name: "PaymasterTokenChargeError" }
/**
 * An ERC-20 paymaster pre-charges the Safe `charge` base units of `token` in validation, before the plan runs, and the
 * plan needs that part of the Safe's `balance` (the rule book refuses the plan on what is left: `cause`). Nothing was
 * sent; plan again keeping `charge` of `token` aside.
 */
export class PaymasterTokenChargeError extends BaseError {
  token: Address
  charge: bigint
  balance: bigint
  constructor({ token, charge, balance, cause }: { token: Address; charge: bigint; balance: bigint } & Cause) {
    super(`The paymaster pre-charges ${charge} base units of ${token} before the plan runs, and the plan needs them.`, {
      cause,
      metaMessages: [
        `Safe's balance: ${balance}; left for the plan after the pre-charge: ${balance > charge ? balance - charge : 0n}.`,
        "The token paymaster pulls its maximum charge (the operation's gas limits x maxFeePerGas, at its price with markup) in validation.",
        "Nothing was sent: plan again with that much of the token kept aside.",
      ],
      name: "PaymasterTokenChargeError",
    })
    this.token = token
    this.charge = charge
    this.balance = balance
  }
}
