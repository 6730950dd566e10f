import {
  type Address,
  type Chain,
  type Client,
  type Hex,
  type JsonRpcAccount,
  type LocalAccount,
  type Transport,
  isAddressEqual,
  slice,
  toFunctionSelector,
} from "viem"
import { type SmartAccount, type SmartAccountImplementation, entryPoint07Abi, toSmartAccount } from "viem/account-abstraction"
import { getBlock, getChainId, readContract } from "viem/actions"
import { leverageModuleAbi } from "../abis/leverageModule.js"
import type { LeverageDeployments } from "../constants/deployments.js"
import { keeperStubSignature } from "../constants/keeper.js"
import { InvalidKeeperAccountParameterError, KeeperCallNotAllowedError, SelfPayEpochEndingError, SelfPayEpochTooShortError } from "../errors/keeper.js"
import { assertWithinAutomationConfig } from "../utils/automation.js"
import { resolveLeverageDeployment } from "../utils/getLeverageDeployment.js"
import { getSafeOperationTypedData, packSafeOperationSignature } from "../utils/safeOperation.js"

const executeRebalanceSelector = toFunctionSelector("executeRebalance(address,(bytes32[],(uint8,uint8,address,uint256)[]))")

export type ToKeeperAccountParameters = {
  /** Public client of the chain (reads nonces and the Safe's automation settings). */
  client: Client<Transport, Chain | undefined, JsonRpcAccount | LocalAccount | undefined>
  /** The Safe the keeper acts for (the operation's sender). */
  safe: Address
  /** The keeper session key the Safe registered with `addKeeper`. */
  keeper: LocalAccount
  /** Extra or replacement deployments by chain id. */
  deployments?: LeverageDeployments | undefined
  /**
   * EntryPoint nonce key. By default the one the module requires, read from the chain on every operation
   * (`keeperNonceKey(safe, keeper)`: it changes with each registration of the key and each key generation, see
   * {@link getKeeperNonceKey}); any other key is refused with `KeeperNonceKeyInvalid`.
   */
  nonceKey?: bigint | undefined
  /**
   * Signature validity window (unix seconds, 0 = open); the module also bounds it by the key's own window. By default:
   * - an operation paid by a paymaster the Safe lists as sponsor (`isSponsor`): [0, now + `sponsoredValiditySeconds`]
   *   (the module charges nothing to the self-pay budget, so the window pins no epoch; it only bounds how long a
   *   bundler may hold the operation);
   * - a self-paid operation, when the Safe has a self-pay budget: the current aligned epoch of that budget,
   *   [epoch start, next epoch start - 1] at the latest block's time. The module charges the budget of the epoch that
   *   holds the whole window, so the window cannot reach past the epoch's end; see `epochEndMarginSeconds`.
   */
  validAfter?: number | undefined
  validUntil?: number | undefined
  /**
   * Seconds before the end of a self-pay epoch in which a self-paid operation is not signed (default 30). Its window must
   * end with the epoch, and a bundler refuses an operation that expires within seconds (Alto: under 5 s from its clock),
   * or drops it once the window passes before inclusion. In those seconds signing throws
   * {@link SelfPayEpochEndingError} (with `retryAt`, the next epoch's start); an operation signed after it gets the new
   * epoch's window. The margin is measured from the later of the latest block's time and this machine's clock, so past
   * the boundary on the clock, the operation waits for the chain's first block of the new epoch. Not applied to
   * sponsored operations or to an explicit `validAfter` / `validUntil`. A Safe whose epoch is no longer than the margin
   * can never have a self-paid operation signed: {@link SelfPayEpochTooShortError} (not a deferral).
   */
  epochEndMarginSeconds?: number | undefined
  /**
   * How long a sponsored operation stays valid, seconds from the later of the latest block's time and this machine's
   * clock (default 3,600; 0 = until the key's own window ends). A bundler that holds an operation cannot land it after
   * that; the keeper signs a fresh one when it resends.
   */
  sponsoredValiditySeconds?: number | undefined
  /** Check the Safe's pause flag, gas caps, self-pay budget and required paymaster before signing (default true). */
  checkAutomationConfig?: boolean | undefined
}

export type KeeperAccountExtension = {
  /** Marks the account as a keeper account. */
  kind: "leverageKeeper"
  keeper: Address
  safe: Address
  module: Address
}

export type KeeperAccountImplementation = SmartAccountImplementation<typeof entryPoint07Abi, "0.7", KeeperAccountExtension, false>
export type ToKeeperAccountReturnType = SmartAccount<KeeperAccountImplementation>

/**
 * A viem `SmartAccount` for the module's automation lane: the sender is the Safe, the signer is the keeper session
 * key, and the only call it encodes is `executeRebalance(keeper, plan)` on the Safe itself. It signs the SafeOp
 * EIP-712 hash (validAfter || validUntil || 65-byte ECDSA) with an hour's window when sponsored and the current self-pay
 * epoch as window when self-paid (throwing {@link SelfPayEpochEndingError} in the epoch's last seconds), uses the keeper's
 * own nonce key (key generation and keeper address), and by default refuses to sign an operation the module would reject
 * for its pause flag, gas caps, self-pay budget or paymaster.
 *
 * @param parameters - {@link ToKeeperAccountParameters}
 * @returns A `SmartAccount` for `createSmartAccountClient` or `createBundlerClient`.
 * @example
 * const account = await toKeeperAccount({ client: publicClient, safe, keeper: privateKeyToAccount(sessionKey), deployments })
 * const keeperClient = createSmartAccountClient({ account, bundlerTransport: http(bundlerUrl) })
 * await sendRebalance(keeperClient, { plan })
 */
export async function toKeeperAccount(parameters: ToKeeperAccountParameters): Promise<ToKeeperAccountReturnType> {
  const { client, safe, keeper, deployments, checkAutomationConfig = true, epochEndMarginSeconds = 30, sponsoredValiditySeconds = 3_600 } = parameters
  if (!Number.isSafeInteger(sponsoredValiditySeconds) || sponsoredValiditySeconds < 0)
    throw new InvalidKeeperAccountParameterError({ field: "sponsoredValiditySeconds", reason: `must be a non-negative whole number of seconds, got ${sponsoredValiditySeconds}` })
  if (!Number.isSafeInteger(epochEndMarginSeconds) || epochEndMarginSeconds < 0)
    throw new InvalidKeeperAccountParameterError({ field: "epochEndMarginSeconds", reason: `must be a non-negative whole number of seconds, got ${epochEndMarginSeconds}` })
  const { deployment } = await resolveLeverageDeployment(client, deployments)
  const module = deployment.leverageModule
  const entryPoint = { abi: entryPoint07Abi, address: deployment.entryPoint, version: "0.7" } as const

  const extend: KeeperAccountExtension = { kind: "leverageKeeper", keeper: keeper.address, safe, module }
  const readKeeperNonceKey = () => readContract(client, { abi: leverageModuleAbi, address: module, functionName: "keeperNonceKey", args: [safe, keeper.address] })
  const implementation: KeeperAccountImplementation = {
    client,
    entryPoint,
    extend,
    async getAddress() {
      return safe
    },
    async encodeCalls(calls) {
      const [call, ...others] = calls
      if (!call || others.length > 0) throw new KeeperCallNotAllowedError({ reason: `Expected one call, got ${calls.length}.` })
      if (!isAddressEqual(call.to, safe)) throw new KeeperCallNotAllowedError({ reason: `The call must target the Safe ${safe}, not ${call.to}.` })
      if ((call.value ?? 0n) !== 0n) throw new KeeperCallNotAllowedError({ reason: "A keeper call carries no value." })
      const data = call.data ?? "0x"
      if (data.length < 10 || slice(data, 0, 4) !== executeRebalanceSelector)
        throw new KeeperCallNotAllowedError({ reason: "Only executeRebalance(keeper, plan) is allowed.", data })
      return data
    },
    async decodeCalls(data: Hex) {
      return [{ to: safe, data, value: 0n }]
    },
    async getFactoryArgs() {
      return { factory: undefined, factoryData: undefined }
    },
    async getNonce() {
      const key = parameters.nonceKey ?? (await readKeeperNonceKey())
      return readContract(client, { abi: entryPoint07Abi, address: entryPoint.address, functionName: "getNonce", args: [safe, key] })
    },
    async getStubSignature() {
      return keeperStubSignature
    },
    async signMessage() {
      throw new KeeperCallNotAllowedError({ reason: "A keeper key cannot sign messages for the Safe." })
    },
    async signTypedData() {
      throw new KeeperCallNotAllowedError({ reason: "A keeper key cannot sign typed data for the Safe." })
    },
    async signUserOperation(userOperation) {
      const chainId = userOperation.chainId ?? client.chain?.id ?? (await getChainId(client))
      const operation = { ...userOperation, sender: userOperation.sender ?? safe }
      const paymaster = operation.paymaster
      const [selfPay, sponsored] = await Promise.all([
        readContract(client, { abi: leverageModuleAbi, address: module, functionName: "getSelfPayBudget", args: [safe] }),
        paymaster
          ? readContract(client, { abi: leverageModuleAbi, address: module, functionName: "isSponsor", args: [safe, paymaster] })
          : Promise.resolve(false),
      ])
      let { validAfter = 0, validUntil = 0 } = parameters
      // Only a self-paid operation is charged to the self-pay budget, so only its window is pinned to an epoch (a
      // sponsored one pinned alike would expire at every epoch boundary).
      const pinned = parameters.validAfter === undefined && parameters.validUntil === undefined && selfPay.epochLength > 0 && !sponsored
      // The epoch is the latest block's: a bundler simulates at it, and a window that starts after it is "not due"
      // (AA22). "Now" for the margin is the later of that time and this machine's clock, which a bundler checks expiry
      // against: past the boundary on the clock but not yet on the chain, the operation waits for the next block.
      let now = 0
      if (pinned) {
        const blockTime = Number((await getBlock(client, { blockTag: "latest" })).timestamp)
        validAfter = Math.floor(blockTime / selfPay.epochLength) * selfPay.epochLength
        validUntil = validAfter + selfPay.epochLength - 1
        now = Math.max(blockTime, Math.floor(Date.now() / 1000))
      } else if (sponsored && sponsoredValiditySeconds > 0 && parameters.validAfter === undefined && parameters.validUntil === undefined) {
        // Sponsored: no epoch to pin, only a bound on how long a bundler may hold the operation.
        const blockTime = Number((await getBlock(client, { blockTag: "latest" })).timestamp)
        validUntil = Math.max(blockTime, Math.floor(Date.now() / 1000)) + sponsoredValiditySeconds
      }
      if (checkAutomationConfig) {
        const config = await readContract(client, { abi: leverageModuleAbi, address: module, functionName: "getAutomationConfig", args: [safe] })
        assertWithinAutomationConfig({ safe, userOperation: operation, config, selfPay, sponsored, validAfter })
      }
      if (pinned) {
        // An epoch no longer than the margin ends within it at every second: never signable, so not a deferral.
        if (selfPay.epochLength <= epochEndMarginSeconds)
          throw new SelfPayEpochTooShortError({ safe, epochLength: selfPay.epochLength, marginSeconds: epochEndMarginSeconds })
        if (validUntil - now < epochEndMarginSeconds)
          throw new SelfPayEpochEndingError({ safe, epochEnd: validUntil, now, marginSeconds: epochEndMarginSeconds })
      }
      const signature = await keeper.signTypedData(
        getSafeOperationTypedData({ userOperation: operation, chainId, module, entryPoint: entryPoint.address, validAfter, validUntil }),
      )
      return packSafeOperationSignature({ validAfter, validUntil, signature })
    },
  }
  return toSmartAccount(implementation)
}
