import type { AaveCollateralShare } from "../utils/aaveCollateral.js"
import { type Address, type Chain, type Client, type Hex, type Transport, isHex } from "viem"
import {
  type SmartAccount,
  type UserOperation,
  estimateUserOperationGas,
  getUserOperationHash,
  prepareUserOperation,
  sendUserOperation,
} from "viem/account-abstraction"
import { getChainId, readContract } from "viem/actions"
import { getAction } from "viem/utils"
import { leverageModuleAbi } from "../abis/leverageModule.js"
import type { KeeperAccountExtension } from "../accounts/toKeeperAccount.js"
import type { LeverageDeployments } from "../constants/deployments.js"
import {
  BundlerUnavailableError,
  type BundlerUnavailableErrorType,
  PendingOperationFailedError,
  type PendingOperationFailedErrorType,
  UnconfirmedUserOperationError,
  type UnconfirmedUserOperationErrorType,
  UserOperationInFlightError,
  type UserOperationInFlightErrorType,
  getTransportFailure,
} from "../errors/bundler.js"
import { AccountNotFoundError } from "../errors/deployments.js"
import { getLeverageError } from "../errors/getLeverageError.js"
import { InvalidRebalanceOverrideError, type InvalidRebalanceOverrideErrorType, KeeperCallNotAllowedError } from "../errors/keeper.js"
import type { Plan } from "../types/leverage.js"
import { getKeeperEstimationStateOverride, getRebalanceExecutionGas } from "../utils/estimation.js"
import { encodeRebalanceCallData } from "../utils/plan.js"
import { PaymasterChargeUnknownError, type PaymasterChargeUnknownErrorType, PaymasterTokenChargeError, type PaymasterTokenChargeErrorType } from "../errors/paymaster.js"
import { type CheckRebalanceRulesParameters, checkRebalanceRulesFeeLenient } from "../rules/planRules.js"
import { getPaymasterTokenReserve } from "./getPaymasterTokenReserve.js"
import { type ValidateRebalanceErrorType, toRuleError, validateRebalance } from "./validateRebalance.js"

export type SendRebalanceParameters = {
  plan: Plan
  /** A keeper account other than the client's. */
  account?: SmartAccount | undefined
  /** Check the plan against chain state before sending (default true); see `validateRebalance`. */
  validate?: boolean | undefined
  /**
   * The Safe's Aave collateral reserves already read at a block (the keeper's snapshot), for the validation to use when
   * it reads at that block instead of reading them again; see `validateRebalance`'s `aaveCollateral`.
   */
  aaveCollateral?: AaveCollateralShare | undefined
  /**
   * Estimate gas with the Safe's automation caps raised in a state override (default true): bundlers simulate with
   * gas fields far above any cap, which the module rejects. See `getKeeperEstimationStateOverride`.
   */
  estimationOverride?: boolean | undefined
  /** ERC-7677 context for the client's paymaster, e.g. `{ token }` for ERC-20 payment. */
  paymasterContext?: unknown | undefined
  /**
   * The ERC-20 a token paymaster (the v0.7 sample `TokenPaymaster`) charges for this operation. It pulls its maximum
   * charge from the Safe in validation, before the plan runs: once the operation is prepared, that exact charge
   * (`getPaymasterTokenReserve` for the operation) is taken out of the Safe's balance and the plan judged again with the
   * rule book; {@link PaymasterTokenChargeError} (nothing sent) when the plan needs what the paymaster takes. Needs
   * `validate` (a plan validated only up to the module's first call is not judged again). A paymaster without the
   * sample's `cachedPrice` and `tokenPaymasterConfig` has no charge that can be read: a plan moving `token` is refused
   * with {@link PaymasterChargeUnknownError} (nothing sent) rather than sent with nothing kept aside.
   */
  paymasterToken?: Address | undefined
  /**
   * Room kept for the token paymaster's price to fall between the charge read and the operation's validation, in basis
   * points of the charge (default {@link defaultPaymasterPriceMarginBps}, 10 %). Any operation through the paymaster
   * refreshes its cached price in `postOp`, and anyone may force a refresh: when the token falls against the native
   * asset after the read, the pre-charge grows, and a plan leaving only the exact charge would revert (the plan runs
   * short by the difference). With the margin, a refresh lowering the price by up to 1 / (1 + margin) still lands. The
   * refresh the next `postOp` would make at the current feeds is always counted (see `getPaymasterTokenReserve`). Only
   * with `paymasterToken`; 0 keeps the exact charge.
   */
  paymasterPriceMarginBps?: number | undefined
  /**
   * Headroom added to the bundler's call gas estimate when `callGasLimit` is not given, in basis points (default
   * 1_000 = 10%, at least 60,000 gas), capped at the Safe's `maxCallGasLimit`. An estimate runs at the latest block;
   * if the operation lands in a later second, the venue first accrues interest (Morpho calls its IRM and writes the
   * market), which the estimate did not pay for. EntryPoint v0.7 charges 10% of the call gas left unused, so the
   * headroom is kept small. The padded limit is then checked against the execution itself (`getRebalanceExecutionGas`:
   * one `eth_call` from the EntryPoint with that gas, `eth_estimateGas` when it fails) and raised when short; a plan
   * whose execution reverts is not sent. 0 sends the bundler's estimate as is (no check), except for a plan validated
   * `feeUndecided` (`validateRebalance`'s verdict): its execution is always simulated, as with a given `callGasLimit`.
   */
  callGasMarginBps?: number | undefined
  /**
   * Gas added to the bundler's verification gas estimate when `verificationGasLimit` is not given (default 0). A
   * bundler estimates with a placeholder signature, and the module skips what only a signed operation runs in
   * validation: the gas-field caps and, for a self-paid operation, the charge to the self-pay budget (see
   * `selfPayValidationGas`). A self-paid send passes that here.
   */
  verificationGasPadding?: bigint | undefined
  deployments?: LeverageDeployments | undefined
} & SendRebalanceOverrides

const sameUrl = (a: string | undefined, b: string | undefined) => {
  try {
    return a !== undefined && b !== undefined && new URL(a).href === new URL(b).href
  } catch {
    return a === b
  }
}

/**
 * Validation gas a bundler's estimate of a self-paid keeper operation misses, because it signs with a placeholder and
 * the module runs these only for a signed operation: the gas-field caps (`AutomationConfig`, one cold slot plus the
 * comparisons) and the self-pay charge (`SelfPayBudget`: a cold read and a write that may be zero to non-zero, plus
 * the epoch roll-over), with margin: 2 x (2,100 + 22,100) + 10,000 rounded up to 60,000 gas.
 */
export const selfPayValidationGas = 60_000n

/**
 * Default room kept over a token paymaster's pre-charge for its price to fall before inclusion, basis points of the
 * charge (10 %): a refresh of the cached price by a move of up to about 9 % still lands. The cost is 10 % of one
 * operation's gas charge left idle in the Safe.
 */
export const defaultPaymasterPriceMarginBps = 1_000

/** The smallest headroom added to an estimated call gas limit: an IRM call plus the interest writes, with margin. */
export const minCallGasMargin = 60_000n

/**
 * Fields a keeper may fix instead of letting the client fill them: a resend at the same nonce with higher fees, or gas
 * limits inside the Safe's automation caps. Unset fields are filled (nonce from the EntryPoint on the keeper's nonce
 * key, fees from the client, gas from the bundler's estimate).
 */
export type SendRebalanceOverrides = {
  nonce?: bigint | undefined
  maxFeePerGas?: bigint | undefined
  maxPriorityFeePerGas?: bigint | undefined
  callGasLimit?: bigint | undefined
  verificationGasLimit?: bigint | undefined
  preVerificationGas?: bigint | undefined
  paymasterVerificationGasLimit?: bigint | undefined
  paymasterPostOpGasLimit?: bigint | undefined
}

const overrideKeys = [
  "nonce",
  "maxFeePerGas",
  "maxPriorityFeePerGas",
  "callGasLimit",
  "verificationGasLimit",
  "preVerificationGas",
  "paymasterVerificationGasLimit",
  "paymasterPostOpGasLimit",
] as const satisfies readonly (keyof SendRebalanceOverrides)[]

/** The UserOperation hash. */
export type SendRebalanceReturnType = Hex

export type SendRebalanceErrorType =
  | ValidateRebalanceErrorType
  | InvalidRebalanceOverrideErrorType
  | BundlerUnavailableErrorType
  | UserOperationInFlightErrorType
  | PendingOperationFailedErrorType
  | UnconfirmedUserOperationErrorType
  | PaymasterTokenChargeErrorType
  | PaymasterChargeUnknownErrorType
  | Error

const keeperOf = (account: SmartAccount | undefined): (SmartAccount & KeeperAccountExtension) | undefined =>
  (account as Partial<KeeperAccountExtension> | undefined)?.kind === "leverageKeeper" ? (account as SmartAccount & KeeperAccountExtension) : undefined

/**
 * A gas limit padded for what the bundler's estimate can miss, clipped to the Safe's cap on that field
 * (`AutomationConfig.maxCallGasLimit` / `maxVerificationGasLimit`, which the module enforces in validation,
 * `GasFieldAboveCap`): `estimate + pad` when it fits, else the cap; an estimate already above the cap is kept as it is,
 * so the module names the field instead of the operation running out of gas.
 *
 * @param estimate - The bundler's estimate (gas).
 * @param pad - Gas added to it (>= 0).
 * @param cap - The Safe's cap on the field (gas).
 * @returns The limit to sign (gas).
 * @example paddedGasLimit(950_000n, 60_000n, 1_000_000n) // 1_000_000n
 */
export function paddedGasLimit(estimate: bigint, pad: bigint, cap: bigint): bigint {
  const padded = estimate + pad
  if (padded <= cap) return padded
  return estimate > cap ? estimate : cap
}

/**
 * The one build of a keeper operation, shared by {@link sendRebalance} and {@link estimateRebalance}: the plan validated
 * (`validate`), `executeRebalance(keeper, plan)` encoded, the overrides checked, gas estimated by the bundler (the Safe's
 * caps lifted in a state override, `estimationOverride`), the call gas padded by `callGasMarginBps` and checked against
 * the execution (`getRebalanceExecutionGas`), the operation prepared (nonce, fees, paymaster fields) and signed (the
 * keeper account's signer checks the Safe's automation settings first: pause, each gas field against its cap,
 * `GasFieldAboveCapError`, required paymaster, self-pay budget), then, with `paymasterToken`, the plan judged again with
 * the token paymaster's pre-charge kept aside. Nothing is sent. Errors are thrown named as `sendRebalance` documents.
 */
async function buildRebalanceOperation(
  client: Client<Transport, Chain | undefined, SmartAccount | undefined>,
  parameters: SendRebalanceParameters,
): Promise<{ userOperation: UserOperation<"0.7">; account: SmartAccount; keeper: SmartAccount & KeeperAccountExtension; reader: Client<Transport, Chain | undefined>; bundlerEstimate: EstimateRebalanceReturnType["bundlerEstimate"] }> {
  const { plan, validate = true, estimationOverride = true, paymasterContext, deployments } = parameters
  const account = parameters.account ?? client.account
  if (!account) throw new AccountNotFoundError()
  const keeper = keeperOf(account)
  if (!keeper) throw new KeeperCallNotAllowedError({ reason: "sendRebalance needs a keeper account (toKeeperAccount)." })
  const validated = validate ? await validateRebalance(account.client as Client<Transport, Chain | undefined>, { safe: keeper.safe, keeper: keeper.keeper, plan, deployments, aaveCollateral: parameters.aaveCollateral }) : undefined
  const callData = encodeRebalanceCallData({ keeper: keeper.keeper, plan })
  const overrides: SendRebalanceOverrides = {}
  for (const key of overrideKeys) {
    const value = parameters[key]
    if (value === undefined) continue
    if (typeof value !== "bigint" || value < 0n) throw new InvalidRebalanceOverrideError({ field: key, value })
    overrides[key] = value
  }
  const reader = account.client as Client<Transport, Chain | undefined>
  const bundlerUrl = (client.transport as { url?: string | undefined }).url
  let userOperation: UserOperation<"0.7">
  let bundlerEstimate: EstimateRebalanceReturnType["bundlerEstimate"]
  try {
    const stateOverride = estimationOverride ? await getKeeperEstimationStateOverride({ client: reader, module: keeper.module, safe: keeper.safe }) : undefined
    const extra = { ...(stateOverride ? { stateOverride } : {}), ...(paymasterContext !== undefined ? { paymasterContext } : {}) }
    const marginBps = BigInt(parameters.callGasMarginBps ?? 1_000)
    if (overrides.callGasLimit === undefined && marginBps > 0n) {
      const [estimate, config] = await Promise.all([
        getAction(client, estimateUserOperationGas, "estimateUserOperationGas")({ account, callData, ...overrides, ...extra } as Parameters<typeof estimateUserOperationGas>[1]),
        readContract(reader, { address: keeper.module, abi: leverageModuleAbi, functionName: "getAutomationConfig", args: [keeper.safe] }),
      ])
      bundlerEstimate = { callGasLimit: estimate.callGasLimit, verificationGasLimit: estimate.verificationGasLimit, preVerificationGas: estimate.preVerificationGas }
      const cap = BigInt(config.maxCallGasLimit)
      const pad = (gas: bigint) => {
        const margin = (gas * marginBps) / 10_000n
        return paddedGasLimit(gas, margin > minCallGasMargin ? margin : minCallGasMargin, cap)
      }
      // The limit to send, checked against the execution itself and raised to its need when short
      // (getRebalanceExecutionGas): Alto answers a failed simulation with its 9,000-gas floor doubled, and an operation
      // sent with that lands and runs out of gas in its plan.
      const padded = pad(estimate.callGasLimit)
      const needed = await getRebalanceExecutionGas(reader, { entryPoint: account.entryPoint.address, safe: keeper.safe, callData, callGasLimit: padded })
      overrides.callGasLimit = needed > padded ? pad(needed) : padded
      overrides.verificationGasLimit ??= paddedGasLimit(estimate.verificationGasLimit, parameters.verificationGasPadding ?? 0n, BigInt(config.maxVerificationGasLimit))
      overrides.preVerificationGas ??= estimate.preVerificationGas
      if (estimate.paymasterVerificationGasLimit !== undefined) overrides.paymasterVerificationGasLimit ??= estimate.paymasterVerificationGasLimit
      if (estimate.paymasterPostOpGasLimit !== undefined) overrides.paymasterPostOpGasLimit ??= estimate.paymasterPostOpGasLimit
    } else if (validated?.verdict?.feeUndecided === true) {
      // A plan the rule book cannot decide (review rr11h H3: refused if its pools pay their fees out, accepted if they
      // keep them) is never sent unsimulated (review rr11i H3-b): the execution is run here even though the caller fixed
      // `callGasLimit` (or set `callGasMarginBps` 0); the module's refusal (ValueLossExceeded for a paid-out fee) is
      // thrown and nothing is signed. A limit that does not cover the execution is the caller's, and left as given.
      await getRebalanceExecutionGas(reader, { entryPoint: account.entryPoint.address, safe: keeper.safe, callData, callGasLimit: overrides.callGasLimit ?? 0n })
    }
    const prepared = (await getAction(client, prepareUserOperation, "prepareUserOperation")({ account, callData, ...overrides, ...extra } as Parameters<
      typeof prepareUserOperation
    >[1])) as unknown as UserOperation<"0.7">
    userOperation = { ...prepared, signature: await account.signUserOperation(prepared) }
  } catch (error) {
    const failure = getTransportFailure(error)
    if (failure && sameUrl(failure.url, bundlerUrl)) throw new BundlerUnavailableError({ url: bundlerUrl, cause: error as Error })
    const named = getLeverageError(error, { keeper: keeper.keeper })
    if (named instanceof UserOperationInFlightError) {
      // Nothing was sent yet: AA25 in estimation at a nonce the chain has not used is another pending operation's.
      const chainNonce = await account.getNonce().catch(() => undefined)
      if (chainNonce !== undefined && (overrides.nonce === undefined || overrides.nonce === chainNonce))
        throw new PendingOperationFailedError({ nonce: chainNonce, cause: error as Error })
    }
    throw named
  }
  if (parameters.paymasterToken !== undefined && validated?.input !== undefined && userOperation.paymaster !== undefined)
    await assertPlanSurvivesPaymasterCharge(reader, {
      token: parameters.paymasterToken,
      safe: keeper.safe,
      userOperation,
      input: validated.input,
      deployments,
      priceMarginBps: parameters.paymasterPriceMarginBps ?? defaultPaymasterPriceMarginBps,
    })
  return { userOperation, account, keeper, reader, bundlerEstimate }
}

/**
 * Sends a keeper UserOperation `executeRebalance(keeper, plan)` from a keeper account (`toKeeperAccount`) through
 * the client's bundler, with the client's paymaster when it has one. The plan is validated against chain state first;
 * the operation is then prepared (nonce on the keeper's nonce key, fees, paymaster fields, gas estimated with the
 * Safe's caps lifted and the call gas padded by `callGasMarginBps`), signed, and sent with one `eth_sendUserOperation`.
 * Failures come back as named errors: module custom errors decoded, AA22 as an expired key, AA24 as a rejected keeper
 * signature, a paymaster refusal as `PaymasterRefusedError` (no answer: `PaymasterUnavailableError`), AA25 as
 * `UserOperationInFlightError` (AA25 in gas estimation while the nonce is still unused: `PendingOperationFailedError`,
 * another pending operation's failure), a bundler that
 * cannot be reached before sending as `BundlerUnavailableError`, and an unusable answer to the send itself (the
 * operation may be in the mempool) as `UnconfirmedUserOperationError` with the nonce and the locally computed hash.
 * {@link estimateRebalance} runs the same build and stops before the send.
 *
 * @param client - A SmartAccountClient (or bundler client) whose account is a keeper account.
 * @param parameters - {@link SendRebalanceParameters}
 * @returns The UserOperation hash. {@link SendRebalanceReturnType}
 * @example
 * const hash = await sendRebalance(keeperClient, {
 *   plan: { subAccounts: [id], actions: [{ kind: "WithdrawFromPool", subAccount: 0, pool: vault, amount }, { kind: "Repay", subAccount: 0, amount }] },
 * })
 * await keeperClient.waitForUserOperationReceipt({ hash })
 * // a resend of a stuck op: same nonce, higher fees
 * await sendRebalance(keeperClient, { plan, nonce, maxFeePerGas: fee * 2n, maxPriorityFeePerGas: tip * 2n })
 */
export async function sendRebalance(
  client: Client<Transport, Chain | undefined, SmartAccount | undefined>,
  parameters: SendRebalanceParameters,
): Promise<SendRebalanceReturnType> {
  const { userOperation, account, keeper, reader } = await buildRebalanceOperation(client, parameters)
  const unconfirmed = async (cause: Error | undefined, answer?: unknown) =>
    new UnconfirmedUserOperationError({
      sender: userOperation.sender,
      nonce: userOperation.nonce,
      userOperationHash: getUserOperationHash({
        chainId: reader.chain?.id ?? (await getChainId(reader)),
        entryPointAddress: account.entryPoint.address,
        entryPointVersion: "0.7",
        userOperation,
      }),
      answer,
      cause,
    })
  let answer: unknown
  try {
    // The client without its account, so nothing is prepared or signed again: this is only the eth_sendUserOperation.
    answer = await sendUserOperation({ ...client, account: undefined } as Client<Transport, Chain | undefined, undefined>, {
      ...userOperation,
      entryPointAddress: account.entryPoint.address,
    } as Parameters<typeof sendUserOperation>[1])
  } catch (error) {
    const failure = getTransportFailure(error)
    if (failure && !failure.reached) throw new BundlerUnavailableError({ url: failure.url, cause: error as Error })
    if (failure || !(error instanceof Error) || error.name === "SyntaxError") throw await unconfirmed(error as Error)
    throw getLeverageError(error, { keeper: keeper.keeper })
  }
  if (typeof answer !== "string" || !isHex(answer) || answer.length !== 66) throw await unconfirmed(undefined, answer)
  return answer
}

/**
 * What {@link estimateRebalance} built, nothing of it sent:
 * - `userOperation`: the keeper UserOperation exactly as {@link sendRebalance} would send it (v0.7 shape; gas limits,
 *   fees and `nonce` as bigints: gas, wei per gas), signed by the keeper key;
 * - `bundlerEstimate`: the bundler's own estimate before the call gas headroom (gas), when it was asked for one (no
 *   `callGasLimit` given and `callGasMarginBps` above 0), else undefined.
 */
export type EstimateRebalanceReturnType = {
  userOperation: UserOperation<"0.7">
  bundlerEstimate: { callGasLimit: bigint; verificationGasLimit: bigint; preVerificationGas: bigint } | undefined
}

/**
 * Estimate-only {@link sendRebalance}: the same build (one code path, `buildRebalanceOperation`): validation, the
 * bundler's gas estimate with the Safe's caps lifted, the same call gas headroom (`callGasMarginBps`, at least
 * {@link minCallGasMargin}, clipped to the cap by {@link paddedGasLimit}) checked against the execution, the operation
 * prepared and signed (the keeper account's signer runs the Safe's automation checks: a gas field above its cap is
 * thrown as `GasFieldAboveCapError` naming the field, its value and the cap, in gas), and with `paymasterToken` the
 * pre-charge check. It then returns the operation instead of calling `eth_sendUserOperation`: no operation reaches the
 * bundler's mempool, no nonce is used, no fee is paid. A keeper reads with it what one plan needs (a narrowing's plan of
 * one sub-account) without sending it.
 *
 * @param client - As for {@link sendRebalance}: a SmartAccountClient (or bundler client) whose account is a keeper account.
 * @param parameters - {@link SendRebalanceParameters}, the same as a send's.
 * @returns {@link EstimateRebalanceReturnType}: the signed operation and the bundler's raw estimate.
 * @throws The errors {@link sendRebalance} throws before its send ({@link SendRebalanceErrorType}): the validation's
 *   (`NoTriggerError`, the rule book's), `InvalidRebalanceOverrideError`, `BundlerUnavailableError`,
 *   `PendingOperationFailedError` / `UserOperationInFlightError` (AA25 in estimation), `GasFieldAboveCapError` (and the
 *   other automation checks of the signer), `PaymasterTokenChargeError`, `PaymasterChargeUnknownError`, the module's
 *   decoded errors; never `UnconfirmedUserOperationError` (nothing is sent).
 * @example
 * const { userOperation } = await estimateRebalance(keeperClient, { plan })
 * userOperation.callGasLimit // gas, the limit a send would sign
 */
export async function estimateRebalance(
  client: Client<Transport, Chain | undefined, SmartAccount | undefined>,
  parameters: SendRebalanceParameters,
): Promise<EstimateRebalanceReturnType> {
  const { userOperation, bundlerEstimate } = await buildRebalanceOperation(client, parameters)
  return { userOperation, bundlerEstimate }
}

/**
 * The token paymaster's pre-charge for the prepared operation plus `priceMarginBps` (default 0: exact; see
 * `getPaymasterTokenReserve`), out of the Safe's balance of `token`, and the plan judged again on what is left (the
 * paymaster pulls it in validation, before the plan runs). The error's `charge` is that reserve, margin included.
 *
 * @throws {PaymasterTokenChargeError} When the rule book then refuses the plan.
 * @throws {PaymasterChargeUnknownError} When the plan moves `token` and the paymaster's charge cannot be read (not the
 *   v0.7 sample TokenPaymaster): nothing is silently reserved.
 */
export async function assertPlanSurvivesPaymasterCharge(
  reader: Client<Transport, Chain | undefined>,
  {
    token,
    safe,
    userOperation,
    input,
    deployments,
    priceMarginBps,
  }: { token: Address; safe: Address; userOperation: UserOperation<"0.7">; input: CheckRebalanceRulesParameters; deployments: LeverageDeployments | undefined; priceMarginBps?: number | undefined },
): Promise<void> {
  const key = Object.keys(input.balances).find((t) => t.toLowerCase() === token.toLowerCase())
  // A token no action of the plan moves cannot make the plan fail.
  if (key === undefined) return
  const paymaster = userOperation.paymaster as Address
  const found = await getPaymasterTokenReserve(reader, { safe, paymaster, userOperation, deployments, priceMarginBps }).catch((error: Error) => {
    // No charge model to read (not the sample TokenPaymaster): the charge is unknown, so the plan is refused.
    throw new PaymasterChargeUnknownError({ paymaster, token, cause: error })
  })
  if (found === undefined) return
  const balance = input.balances[key] as bigint
  const left = balance > found.reserve ? balance - found.reserve : 0n
  // Lenient on an undecided pool fee as validateRebalance is (review rr11h H3): the simulation decides that part.
  const judged = checkRebalanceRulesFeeLenient({ ...input, balances: { ...input.balances, [key]: left } })
  if (!judged.ok) throw new PaymasterTokenChargeError({ token, charge: found.reserve, balance, cause: toRuleError(judged.error) })
}
