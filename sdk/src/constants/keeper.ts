import { type Hex, concatHex, hexToBigInt, pad, toHex } from "viem"

/** EntryPoint nonce key of keeper operations: `uint192(uint160(bytes20("levpilot.keeper")))`, apart from owner keys. */
export const keeperNonceKey: bigint = hexToBigInt(pad(toHex("levpilot.keeper"), { dir: "right", size: 20 }))

/** Maximum sub-accounts in one plan (PlanLib.MAX_SUB_ACCOUNTS). */
export const maxPlanSubAccounts = 8
/** Maximum actions in one plan (PlanLib.MAX_ACTIONS). */
export const maxPlanActions = 32
/** Maximum pools in one policy (LeverageModule.MAX_POOLS). */
export const maxPolicyPools = 8

/**
 * A well-formed ECDSA signature (of an unrelated key) used while estimating gas: it makes the module run the same
 * `ecrecover` path as a real keeper signature and return SIG_VALIDATION_FAILED, which estimation tolerates.
 */
export const keeperStubSignature: Hex = concatHex([
  "0x000000000000000000000000",
  "0x184dff8a1741510d53486b71a91af75d48581bc56f4c9880ae0cbb70a01da98167cedc23ef1364112fd9e452b2c4bc231e7f9d08507b285820923f43f36a47cb1b",
])
