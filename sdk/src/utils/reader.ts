import type { Account, Address, Chain, Client, Transport } from "viem"
import type { SmartAccount } from "viem/account-abstraction"

const isSmartAccount = (account: unknown): account is SmartAccount =>
  typeof account === "object" && account !== null && "entryPoint" in account && "client" in account

/**
 * The client to read chain state with: a smart account's public client when `client` is a bundler or
 * SmartAccountClient (whose transport is the bundler), else `client` itself.
 *
 * @returns A client for `eth_call`s.
 */
export function getReadClient(client: Client<Transport, Chain | undefined, Account | undefined>): Client<Transport, Chain | undefined> {
  const account = (client as { account?: unknown }).account
  if (isSmartAccount(account)) return account.client as Client<Transport, Chain | undefined>
  return client as Client<Transport, Chain | undefined>
}

/**
 * The Safe a read is about: `safe` when given, else the address of the client's smart account.
 *
 * @returns The Safe address, or `undefined`.
 */
export function getDefaultSafe(client: Client<Transport, Chain | undefined, Account | undefined>, safe: Address | undefined): Address | undefined {
  if (safe) return safe
  const account = (client as { account?: unknown }).account
  return isSmartAccount(account) ? account.address : undefined
}
