import { type Address, BaseError } from "viem"
import { PaymasterTokenChargeError } from "@levpilot/sdk/errors"
import type { KeeperClients } from "./clients.js"
import type { KeeperConfig } from "./config.js"

/**
 * The ERC-20 an ERC-20 paymaster charges this keeper's sponsored operations (`paymasterContext.token`), if any.
 *
 * @returns The token address, or `undefined` without a paymaster URL or a token in the context.
 */
export function paymasterTokenOf(deps: { config: Pick<KeeperConfig, "paymasterContext">; clients: Pick<KeeperClients, "sponsoredBundler"> }): Address | undefined {
  const token = (deps.config.paymasterContext as { token?: unknown } | undefined)?.token
  return deps.clients.sponsoredBundler !== undefined && typeof token === "string" ? (token as Address) : undefined
}

/**
 * The pre-charge of a {@link PaymasterTokenChargeError} anywhere in `error`'s chain.
 *
 * @returns Base units of the paymaster's token, or `undefined`.
 */
export function paymasterChargeOf(error: unknown): bigint | undefined {
  if (error instanceof PaymasterTokenChargeError) return error.charge
  const inner = error instanceof BaseError ? error.walk((e) => e instanceof PaymasterTokenChargeError) : null
  return inner instanceof PaymasterTokenChargeError ? inner.charge : undefined
}
