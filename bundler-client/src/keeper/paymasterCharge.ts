import type { Address } from "viem"
import { PaymasterTokenChargeError, firstInCauseChain } from "@levpilot/sdk/errors"
import type { KeeperClients } from "./clients.js"
import type { KeeperConfig } from "./config.js"
import type { PortfolioSnapshot } from "./portfolio.js"

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
  return (firstInCauseChain(error, (e) => e instanceof PaymasterTokenChargeError) as PaymasterTokenChargeError | undefined)?.charge
}

/**
 * Keeps a token paymaster's pre-charge out of what a plan may spend: the Safe's balance of `token` in the snapshot's
 * chain bounds (what the clamp holds spends to) and in the solver's input (human units, `idle`) is lowered by `charge`,
 * to 0 at least. The paymaster pulls the charge in validation, before the plan runs: a plan spending the whole balance
 * would revert in every block. Mutates `snapshot`.
 *
 * @param snapshot - The Safe's snapshot at the plan's block (its `bounds.balances`, base units, and `input.idle`).
 * @param token - The paymaster's ERC-20 (`paymasterContext.token`); undefined: nothing is reserved.
 * @param charge - The paymaster's maximum charge of the prepared operation, base units of `token`.
 */
export function reservePaymasterCharge(snapshot: Pick<PortfolioSnapshot, "bounds" | "input" | "decimals">, token: Address | undefined, charge: bigint): void {
  const key = token?.toLowerCase()
  if (key === undefined || charge <= 0n || snapshot.bounds.balances[key] === undefined) return
  const left = (snapshot.bounds.balances[key] as bigint) - charge
  snapshot.bounds.balances[key] = left > 0n ? left : 0n
  snapshot.input.idle[key] = Number(snapshot.bounds.balances[key]) / 10 ** (snapshot.decimals[key] ?? 18)
}
