import { type Address, type Hex, concatHex, hashTypedData, numberToHex } from "viem"
import { type UserOperation, toPackedUserOperation } from "viem/account-abstraction"

/** EIP-712 types of the `SafeOp` struct signed by Safe owners (Safe4337Module v0.3.0) and by keepers. */
export const safeOperationTypes = {
  SafeOp: [
    { type: "address", name: "safe" },
    { type: "uint256", name: "nonce" },
    { type: "bytes", name: "initCode" },
    { type: "bytes", name: "callData" },
    { type: "uint128", name: "verificationGasLimit" },
    { type: "uint128", name: "callGasLimit" },
    { type: "uint256", name: "preVerificationGas" },
    { type: "uint128", name: "maxPriorityFeePerGas" },
    { type: "uint128", name: "maxFeePerGas" },
    { type: "bytes", name: "paymasterAndData" },
    { type: "uint48", name: "validAfter" },
    { type: "uint48", name: "validUntil" },
    { type: "address", name: "entryPoint" },
  ],
} as const

export type GetSafeOperationTypedDataParameters = {
  userOperation: Omit<UserOperation<"0.7">, "signature"> & { signature?: Hex | undefined }
  chainId: number
  /** The module (verifying contract). */
  module: Address
  entryPoint: Address
  validAfter?: number | undefined
  validUntil?: number | undefined
}

/**
 * The EIP-712 typed data of a UserOperation as a `SafeOp`: domain `{ chainId, verifyingContract: module }`,
 * initCode = factory || factoryData, paymasterAndData packed as in EntryPoint v0.7.
 *
 * @param parameters - {@link GetSafeOperationTypedDataParameters}
 * @returns Typed data for `signTypedData` / `hashTypedData`.
 */
export function getSafeOperationTypedData({
  userOperation,
  chainId,
  module,
  entryPoint,
  validAfter = 0,
  validUntil = 0,
}: GetSafeOperationTypedDataParameters) {
  const packed = toPackedUserOperation({ ...userOperation, signature: "0x" } as UserOperation<"0.7">)
  return {
    domain: { chainId, verifyingContract: module },
    types: safeOperationTypes,
    primaryType: "SafeOp",
    message: {
      safe: userOperation.sender,
      nonce: userOperation.nonce,
      initCode: packed.initCode,
      callData: userOperation.callData,
      verificationGasLimit: userOperation.verificationGasLimit,
      callGasLimit: userOperation.callGasLimit,
      preVerificationGas: userOperation.preVerificationGas,
      maxPriorityFeePerGas: userOperation.maxPriorityFeePerGas,
      maxFeePerGas: userOperation.maxFeePerGas,
      paymasterAndData: packed.paymasterAndData,
      validAfter,
      validUntil,
      entryPoint,
    },
  } as const
}

/**
 * The SafeOp hash the module's `getOperationHash` returns for this operation.
 *
 * @returns The 32-byte EIP-712 hash.
 */
export function getSafeOperationHash(parameters: GetSafeOperationTypedDataParameters): Hex {
  return hashTypedData(getSafeOperationTypedData(parameters))
}

/**
 * Packs `validAfter (6 bytes) || validUntil (6 bytes) || signature`, the module's signature layout.
 *
 * @returns The UserOperation signature.
 */
export function packSafeOperationSignature({ validAfter = 0, validUntil = 0, signature }: { validAfter?: number; validUntil?: number; signature: Hex }): Hex {
  return concatHex([numberToHex(validAfter, { size: 6 }), numberToHex(validUntil, { size: 6 }), signature])
}
