import { type Address, type Hex, concatHex, encodeFunctionData, parseAbi } from "viem"
import { MAX_ACTIONS, MAX_POOLS, MAX_SUB_ACCOUNTS } from "./module.js"

/**
 * The EntryPoint nonce key the module requires for `keeper`'s operations (`LeverageModule.keeperNonceKey`):
 * `keyGeneration << 160 | keeper`. Keeper operations never share a sequence with the owners (key 0 and any other key is
 * refused with `KeeperNonceKeyInvalid`) nor with another keeper, and `revokeAllKeepers` (a new generation) retires every
 * operation signed before.
 *
 * @param parameters - The keeper address and the Safe's `AutomationConfig.keyGeneration`.
 * @returns The 192-bit nonce key.
 * @example
 * const { keyGeneration } = await client.readContract({ ..., functionName: "getAutomationConfig", args: [safe] })
 * const key = getKeeperNonceKey({ keeper, keyGeneration })
 */
export function getKeeperNonceKey({ keeper, keyGeneration }: { keeper: Address; keyGeneration: number | bigint }): bigint {
  return (BigInt(keyGeneration) << 160n) | BigInt(keeper)
}

/**
 * The call, made by the Safe, that moves `keeper`'s nonce sequence off zero (EntryPoint v0.7 `incrementNonce(key)`):
 * the key's first operation then updates the EntryPoint's nonce slot from non-zero to non-zero instead of writing it from
 * zero, about 17,000 gas less for that sponsored operation (an SSTORE from zero costs 22,100 gas, an update 5,000 with a
 * cold slot's 2,100 in both). The owners pay it once, in the batch that registers the key (`addKeeper` does).
 *
 * @param parameters - The EntryPoint, the keeper address and the Safe's `AutomationConfig.keyGeneration`.
 * @returns The call `{ to, data }` for the Safe to make.
 * @example calls.push(getKeeperNonceWarmUpCall({ entryPoint, keeper, keyGeneration: 0 }))
 */
export function getKeeperNonceWarmUpCall({ entryPoint, keeper, keyGeneration }: { entryPoint: Address; keeper: Address; keyGeneration: number | bigint }): {
  to: Address
  data: Hex
} {
  const key = getKeeperNonceKey({ keeper, keyGeneration })
  return { to: entryPoint, data: encodeFunctionData({ abi: incrementNonceAbi, functionName: "incrementNonce", args: [key] }) }
}

const incrementNonceAbi = parseAbi(["function incrementNonce(uint192 key)"])

/** Maximum sub-accounts in one plan (ConstantsLib.MAX_SUB_ACCOUNTS). */
export const maxPlanSubAccounts = Number(MAX_SUB_ACCOUNTS)
/** Maximum actions in one plan (ConstantsLib.MAX_ACTIONS). */
export const maxPlanActions = Number(MAX_ACTIONS)
/** Maximum pools in one policy (ConstantsLib.MAX_POOLS). */
export const maxPolicyPools = Number(MAX_POOLS)

/**
 * A well-formed ECDSA signature (of an unrelated key) used while estimating gas: it makes the module run the same
 * `ecrecover` path as a real keeper signature and return SIG_VALIDATION_FAILED, which estimation tolerates.
 */
export const keeperStubSignature: Hex = concatHex([
  "0x000000000000000000000000",
  "0x184dff8a1741510d53486b71a91af75d48581bc56f4c9880ae0cbb70a01da98167cedc23ef1364112fd9e452b2c4bc231e7f9d08507b285820923f43f36a47cb1b",
])
