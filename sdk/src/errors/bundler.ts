import { type Address, BaseError, type Hex, HttpRequestError, RpcRequestError, TimeoutError } from "viem"
import { firstInCauseChain, someInCauseChain } from "./causeChain.js"

type Cause = { cause?: Error | undefined }

/** Error codes of a connection that never reached the server (Node's `fetch` and `net`). */
const unreachableCodes = new Set(["ECONNREFUSED", "ENOTFOUND", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN"])

/** Where a request failed below JSON-RPC: `reached` is false when nothing reached the server (connection refused). */
export type TransportFailure = { url: string | undefined; reached: boolean }

/**
 * Classifies an error as a transport failure (no usable HTTP answer) from the error chain's classes and error codes, not
 * its text: a viem `HttpRequestError` without a status or with a 5xx status, a `TimeoutError`, or a connection that
 * failed with `ECONNREFUSED` / `ENOTFOUND` / `EHOSTUNREACH` / `ENETUNREACH` / `EAI_AGAIN`. A JSON-RPC error answer
 * (`RpcRequestError`) is not a transport failure: the server answered.
 *
 * @param error - The caught error.
 * @returns The failing URL and whether the request reached the server, or `undefined` for any other error.
 */
export function getTransportFailure(error: unknown): TransportFailure | undefined {
  if (!(error instanceof BaseError)) return undefined
  if (someInCauseChain(error, (e) => e instanceof RpcRequestError)) return undefined
  const transport = firstInCauseChain(error, (e) => (e instanceof HttpRequestError && (e.status === undefined || e.status >= 500)) || e instanceof TimeoutError) as
    | HttpRequestError
    | TimeoutError
    | undefined
  if (!transport) return undefined
  const refused = someInCauseChain(transport, (e) => e instanceof Error && unreachableCodes.has(String((e as { code?: unknown }).code)))
  return { url: transport.url, reached: !refused }
}

export type BundlerUnavailableErrorType = BundlerUnavailableError & { name: "BundlerUnavailableError" }
/** The bundler did not answer (connection refused, timeout, HTTP 5xx, not JSON) before the operation was sent. */
export class BundlerUnavailableError extends BaseError {
  url: string | undefined
  constructor({ url, cause }: { url?: string | undefined } & Cause) {
    super("The bundler is unavailable.", {
      cause,
      metaMessages: [...(url ? [`Bundler: ${url}`] : []), "This could arise when:", "- the bundler process stopped or is restarting;", "- the URL or port is wrong.", "Nothing was sent."],
      name: "BundlerUnavailableError",
    })
    this.url = url
  }
}

export type UserOperationInFlightErrorType = UserOperationInFlightError & { name: "UserOperationInFlightError" }
/**
 * The bundler refused the operation because one of the same sender and nonce is already in its mempool or being bundled
 * (AA25 "already being processed", "already present in mempool", "replacement underpriced"), or the nonce is used.
 */
export class UserOperationInFlightError extends BaseError {
  constructor({ cause }: Cause) {
    super("The bundler already has an operation of this sender at this nonce.", {
      cause,
      metaMessages: [
        "This could arise when:",
        "- an earlier send at this nonce is still in the bundler's mempool or being bundled (a resend without a fee bump);",
        "- the operation at this nonce was already included (the nonce is used).",
        "Track the nonce on chain (EntryPoint `getNonce`, `UserOperationEvent`) rather than sending again.",
      ],
      name: "UserOperationInFlightError",
    })
  }
}

export type PendingOperationFailedErrorType = PendingOperationFailedError & { name: "PendingOperationFailedError" }
/**
 * The bundler's gas estimation failed with AA25 while this operation's nonce is still the chain's: the failure was
 * another pending operation's. Alto simulates the operations in its mempool that share this operation's paymaster
 * ahead of it (`--ignored-paymasters` turns that off per paymaster); one of them is no longer valid (its nonce was
 * used elsewhere), so every operation of that paymaster fails until the bundler drops it. Nothing was sent.
 */
export class PendingOperationFailedError extends BaseError {
  nonce: bigint
  constructor({ nonce, cause }: { nonce: bigint } & Cause) {
    super("The bundler's simulation failed on another pending operation, not on this one.", {
      cause,
      metaMessages: [
        `This operation's nonce ${nonce} is still unused on chain.`,
        "This could arise when:",
        "- another operation with the same paymaster waits in the bundler's mempool and is no longer valid (its nonce used by another bundler);",
        "- the bundler simulates pending operations of the same paymaster first (Alto: unless the paymaster is in `--ignored-paymasters`).",
        "Nothing was sent; a retry succeeds once the bundler has dropped the invalid operation.",
      ],
      name: "PendingOperationFailedError",
    })
    this.nonce = nonce
  }
}

export type UnconfirmedUserOperationErrorType = UnconfirmedUserOperationError & { name: "UnconfirmedUserOperationError" }
/**
 * `eth_sendUserOperation` reached the bundler but its answer is unusable (not JSON, cut off, not a 32-byte hash, a
 * timeout, HTTP 5xx): the operation may or may not be in the bundler's mempool. Whether it lands is for the chain to
 * tell, by `nonce` (or by `userOperationHash`, computed locally).
 */
export class UnconfirmedUserOperationError extends BaseError {
  sender: Address
  nonce: bigint
  userOperationHash: Hex
  constructor({ sender, nonce, userOperationHash, answer, cause }: { sender: Address; nonce: bigint; userOperationHash: Hex; answer?: unknown } & Cause) {
    super("The bundler's answer to eth_sendUserOperation is unusable; the operation may have been accepted.", {
      cause,
      metaMessages: [
        ...(answer !== undefined ? [`Answer: ${(JSON.stringify(answer) ?? String(answer)).slice(0, 120)}`] : []),
        `Sender: ${sender}`,
        `Nonce: ${nonce}`,
        `UserOperation hash (computed): ${userOperationHash}`,
        "Do not send a different operation at another nonce: track this nonce on chain, and resend at the same nonce if it",
        "is not included.",
      ],
      name: "UnconfirmedUserOperationError",
    })
    this.sender = sender
    this.nonce = nonce
    this.userOperationHash = userOperationHash
  }
}
