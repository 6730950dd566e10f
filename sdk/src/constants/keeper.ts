import { type Address, type Hex, concatHex, encodeAbiParameters, keccak256 } from "viem"
import { MAX_ACTIONS, MAX_POOLS, MAX_SUB_ACCOUNTS } from "./module.js"

/**
 * The EntryPoint nonce key the module requires for `keeper`'s operations (`LeverageModule.keeperNonceKey`): the low 192
 * bits of `keccak256(abi.encode(keeper, keyGeneration, salt))`, with the Safe's `AutomationConfig.keyGeneration` and the
 * `salt` the module drew when the Safe last registered the key (`getKeeper(safe, keeper).salt`, from the parent block's
 * hash). Keeper operations never share a sequence with the owners (key 0 and any other key is refused with
 * `KeeperNonceKeyInvalid`) nor with another keeper; `revokeAllKeepers` (a new generation) and every new registration of
 * the key (a new salt) retire every operation signed before, which could not know the new key.
 *
 * @param parameters - The keeper address, the Safe's key generation and the key's registration salt (uint112).
 * @returns The 192-bit nonce key.
 * @example
 * const { keyGeneration } = await client.readContract({ ..., functionName: "getAutomationConfig", args: [safe] })
 * const { salt } = await client.readContract({ ..., functionName: "getKeeper", args: [safe, keeper] })
 * const key = getKeeperNonceKey({ keeper, keyGeneration, salt })
 */
export function getKeeperNonceKey({ keeper, keyGeneration, salt }: { keeper: Address; keyGeneration: number | bigint; salt: bigint }): bigint {
  const hash = keccak256(encodeAbiParameters([{ type: "address" }, { type: "uint32" }, { type: "uint112" }], [keeper, Number(keyGeneration), salt]))
  return BigInt(hash) & ((1n << 192n) - 1n)
}

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
