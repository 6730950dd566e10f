import type { AaveCollateralShare } from "@levpilot/sdk/utils"
import type { Logger } from "pino"
import { type Address, BaseError, ContractFunctionRevertedError, type LocalAccount, isAddressEqual, zeroAddress } from "viem"
import type { BundlerClient } from "viem/account-abstraction"
import { leverageModuleAbi } from "@levpilot/sdk/abis"
import { type ToKeeperAccountReturnType, toKeeperAccount } from "@levpilot/sdk/accounts"
import { type EstimateRebalanceReturnType, type SendRebalanceParameters, estimateRebalance, selfPayValidationGas, sendRebalance } from "@levpilot/sdk/actions"
import {
  BundlerUnavailableError,
  NoTriggerError,
  PaymasterRefusedError,
  PaymasterUnavailableError,
  SelfPayEpochEndingError,
  UnconfirmedUserOperationError,
  UserOperationInFlightError,
  LeverageModuleRevertedError,
  ReadFailedError,
  getTransportFailure,
} from "@levpilot/sdk/errors"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import type { Plan } from "../solver/types.js"
import type { Clock } from "./clock.js"
import type { KeeperClients } from "./clients.js"
import type { KeeperConfig } from "./config.js"
import { GasCapBelowMarketError, NonceMismatchError, ReplacementBlockedByCapsError, SelfPayNotAllowedError, findInCauseChain } from "./errors.js"
import { type KeeperEvents, shortMessage } from "./events.js"
import type { KeeperMetrics } from "./metrics.js"
import { type SafeRuntime, backoff } from "./runtime.js"
import { callBlockNumber, waitHeadPast } from "./settle.js"
import type { PendingOperation } from "./stateFile.js"
import { type PendingStore, writePendingRecord } from "./store.js"
import { bundlerFeeMinimumOf, priceUserOperation, raiseToBundlerMinimum } from "./fees.js"
import { paymasterTokenOf } from "./paymasterCharge.js"

/**
 * Blocks in a row whose send the SDK refuses with NoTrigger (no sub-account of the plan is due at the latest state: back
 * in its band, or a boost while its stop-loss holds) before it is a `send-failed` alert: once is the read racing the
 * state (the keeper's own operation just landed), every block is a disagreement between the keeper's read and the
 * SDK's. One alert per run: the run goes on (logged, backed off) without alerting again until a send is accepted or
 * refused otherwise (review rr13s S3: a persistent NoTrigger alerted every 3 blocks, about 100 an hour on mainnet).
 */
export const NO_TRIGGER_ALERT_BLOCKS = 3n

/**
 * Send attempts in a row (at most one counted per block) refused with an arithmetic panic (`Panic(0x11)`: a checked
 * `+`/`-`/`*` overflowed or underflowed) in the SDK's send-time reads or the bundler's simulation before it is a
 * `send-failed` alert. One is a read that mixed two blocks: anvil answers an `eth_call` at the latest block (by tag or by
 * number) that runs while the next block is mined with that next block's state under the latest block's header, so
 * Morpho Blue's interest accrual (`block.timestamp - lastUpdate`, `lastUpdate` written by the block being mined)
 * underflows (bench:fleet, 6 of 500 rebalances at its price shock). The next read is consistent again. A conforming
 * node reads a block's state under its own header, so on a real chain the panic repeats only when the arithmetic really
 * overflows: every attempt fails, and the third is alerted. Attempts, not blocks: a loaded fleet steps a Safe every few
 * blocks, and two racing reads blocks apart are not a real overflow.
 */
export const ARITHMETIC_PANIC_ALERT_ATTEMPTS = 3

/**
 * Send attempts in a row (at most one counted per block) refused because a read of the SDK's send-time validation failed
 * in its multicall (`ReadFailedError`: a node answering mid-block, a batch out of gas, a node failure) before it is an
 * `rpc-error` alert. Nothing was judged and nothing sent: each is planned again at the next block, no backoff.
 */
export const READ_FAILED_ALERT_ATTEMPTS = 3

const DEFERRED_HELP =
  "Sends put off to a later block, by reason (self-pay-epoch-ending: a self-paid operation in its epoch's last seconds; arithmetic-panic: the send-time read or simulation reverted with Panic 0x11, once; read-failed: a read of the send-time validation failed in its multicall)."

/** Solidity's panic selector `Panic(uint256)` and the arithmetic overflow / underflow code 0x11, as revert data. */
const ARITHMETIC_PANIC_DATA = `0x4e487b71${"11".padStart(64, "0")}`

/**
 * Whether `error` is a revert with `Panic(0x11)` (arithmetic overflow or underflow): viem's decoded revert of a read
 * (`ContractFunctionRevertedError`), the SDK's `LeverageModuleRevertedError` of a simulation, or the raw revert data in
 * an error's message or details (a bundler's simulation reason), anywhere in the cause chain.
 */
export function arithmeticPanicOf(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e !== undefined && e !== null && depth < 32; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof ContractFunctionRevertedError && e.data?.errorName === "Panic") return e.data.args?.[0] === 0x11n
    if (e instanceof LeverageModuleRevertedError && e.errorName === "Panic") return e.args[0] === 0x11n
    const text = e instanceof BaseError ? `${e.details ?? ""} ${e.shortMessage}` : e instanceof Error ? e.message : ""
    if (text.toLowerCase().includes(ARITHMETIC_PANIC_DATA)) return true
  }
  return false
}

/**
 * What a send says of the services' load, for the fleet's adaptive send slots (`adaptiveLimiter`): `sent` when the
 * bundler accepted it with no service failing; `overloaded` when the bundler or the paymaster did not answer in time
 * (`BundlerUnavailableError`, a timed-out answer to the send, a paymaster that did not answer).
 */
export type SendOutcome = "sent" | "overloaded"

/** `error`'s cause chain for the log: each error's name, HTTP status when it has one, and short message. */
const causeChainOf = (error: unknown): string[] => {
  const out: string[] = []
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 12; e = (e as { cause?: unknown }).cause, depth++) {
    const status = (e as { status?: unknown }).status
    const code = (e as { code?: unknown }).code
    out.push(`${e.name}${status !== undefined ? ` ${String(status)}` : ""}${code !== undefined ? ` [${String(code)}]` : ""}: ${(e instanceof BaseError ? e.shortMessage : e.message).slice(0, 200)}`)
  }
  return out
}

/** Whether `error`'s cause chain holds an error of class `type` ({@link findInCauseChain}). */
const has = (error: unknown, type: abstract new (...args: never[]) => Error) => findInCauseChain(error, type) !== undefined

/**
 * Sends a plan as a keeper UserOperation through the SDK's `sendRebalance` (validation, the keeper nonce key, gas
 * estimation with the Safe's caps lifted and call gas headroom, named errors), sponsored by the ERC-7677 paymaster, or
 * paid by the Safe when the paymaster refuses (or does not answer) and self-pay is allowed (by the configuration and on
 * chain).
 *
 * The operation in flight is persisted before each send (intent: nonce and fees) and after it (hash). A replacement
 * reuses the pending nonce with fees bumped by `feeBumpPercent`. The SDK's errors decide what happens next:
 * `UserOperationInFlightError` (AA25) keeps tracking the nonce (at the chain's nonce: in flight; above it: landed, the
 * tracker reports it; below it: the `nonce-mismatch` alert), `UnconfirmedUserOperationError` (the answer to the send
 * was unusable) keeps the intent for the chain to decide, `BundlerUnavailableError` and `SelfPayNotAllowedError` back
 * off, anything else is thrown to the caller.
 */
export class RebalanceSender {
  constructor(
    private readonly deps: {
      config: KeeperConfig
      clients: KeeperClients
      keeper: LocalAccount
      store: PendingStore
      metrics: KeeperMetrics
      logger: Logger
      events: KeeperEvents
      clock: Clock
    },
  ) {}

  /**
   * Sends `plan` for the Safe of `rt` (a replacement of `replace` when given). Never throws for the failures above.
   *
   * @param urgent - The plan restores a sub-account below its band: a stuck operation is repriced up to the Safe's caps.
   * @param aaveCollateral - The Safe's Aave collateral reserves as the snapshot read them (`PortfolioSnapshot.aaveCollateral`):
   *   the SDK's validation uses them, instead of reading them again, when it reads at the snapshot's block.
   * @returns What it says of the bundler's and paymaster's load ({@link SendOutcome}), undefined for any other end.
   */
  async send(rt: SafeRuntime, block: bigint, plan: ChainPlan, replace: PendingOperation | undefined, solverPlan?: Plan, urgent = false, aaveCollateral?: AaveCollateralShare | undefined): Promise<SendOutcome | undefined> {
    const { config, clients, metrics, logger, events, clock } = this.deps
    const safe = rt.config.address
    const { account, nonce, market, caps, previous, priced } = await this.quote(rt, replace, urgent)
    // One operation (its nonce and first send): gas-cap-below-market and replacement-blocked are alerted once for it, a
    // spike that lasts does not page at every resend.
    const operationKey = `${nonce}@${replace?.firstSentBlock ?? replace?.sentBlock ?? block}`
    const gasCapGauge = (value: number) => metrics.set("levpilot_gas_cap_below_market", "1 while the market's fees (at the last send) are above the Safe's maxFeePerGas or maxPriorityFeePerGas cap: operations go out at the caps.", { safe }, value)
    /** The gas-cap-below-market alert, once per operation; later capped sends are logged with both numbers. */
    const gasCapBelowMarket = (message: string, marketFees: typeof market) => {
      if (rt.gasCapAlerted === operationKey) return logger.warn({ safe, nonce: nonce.toString(), block: Number(block) }, message)
      rt.gasCapAlerted = operationKey
      events.alert(safe, block, "gas-cap-below-market", new GasCapBelowMarketError({ safe, market: marketFees, caps, message }))
    }
    gasCapGauge(priced.capped ? 1 : 0)
    if (priced.capped) {
      // Each field above its cap, with both numbers (a field within its cap is not named as above it).
      const above = [
        market.maxFeePerGas > caps.maxFeePerGas ? `maxFeePerGas ${market.maxFeePerGas} wei > cap ${caps.maxFeePerGas} wei` : undefined,
        market.maxPriorityFeePerGas > caps.maxPriorityFeePerGas ? `maxPriorityFeePerGas ${market.maxPriorityFeePerGas} wei > cap ${caps.maxPriorityFeePerGas} wei` : undefined,
      ].filter((x) => x !== undefined)
      const message =
        `the market's fees are above the Safe's caps: ${above.join(" and ")}; ` +
        "the operation is priced at the caps and may wait for fees to fall (raise them with setAutomationConfig)"
      gasCapBelowMarket(message, market)
    }
    if (replace && previous && !priced.replaces) {
      // At the caps: this resend cannot outbid the one in flight. The bundler takes it only if it dropped that one;
      // otherwise it answers AA25 and the keeper keeps tracking the operation already there. Alerted once per operation.
      logger.warn({ safe, nonce: nonce.toString(), reason: priced.reason }, "operation in flight already priced at the Safe's caps; resending at the caps")
      if (rt.replacementBlocked !== operationKey) {
        rt.replacementBlocked = operationKey
        events.alert(safe, block, "replacement-blocked", new ReplacementBlockedByCapsError({ safe, nonce, previous, need: priced.need ?? previous, caps }))
      }
    }
    let fees = priced.fees
    const attempt = (replace?.attempts ?? 0) + 1
    const intent: PendingOperation = {
      userOpHash: undefined,
      nonce: nonce.toString(),
      sentBlock: block.toString(),
      firstSentBlock: replace?.firstSentBlock ?? replace?.sentBlock ?? block.toString(),
      stallAlertedBlock: replace?.stallAlertedBlock,
      subAccounts: plan.subAccounts.map((id) => id.toLowerCase()).sort(),
      sentAt: clock.now(),
      maxFeePerGas: fees.maxFeePerGas.toString(),
      maxPriorityFeePerGas: fees.maxPriorityFeePerGas.toString(),
      sponsored: false,
      attempts: attempt,
      triggerBlock: (rt.triggerBlock ?? block).toString(),
      triggerAt: rt.triggerBlock !== undefined ? rt.triggerAt : clock.now(),
    }
    const send = async (bundler: BundlerClient, sponsored: boolean, validate: boolean) => {
      await writePendingRecord(this.deps, rt, block, { ...intent, sponsored })
      return await sendRebalance(bundler, this.rebalanceParameters({ account, plan, sponsored, validate, aaveCollateral, nonce, fees }))
    }
    // Fees below the bundler's lowest valid gas prices (priced from the node's estimate when the bundler's gas price
    // endpoint did not answer) are refused with the minimum named: raised to it within the caps and sent again in this
    // step (each field once); a minimum above the caps is the gas-cap-below-market alert, and the refusal is thrown.
    const submit = async (bundler: BundlerClient, sponsored: boolean, validate = true) => {
      for (let raised = 0; ; raised++) {
        try {
          return await send(bundler, sponsored, validate)
        } catch (error) {
          const minimum = bundlerFeeMinimumOf(error)
          if (minimum === undefined || raised >= 2) throw error
          const next = raiseToBundlerMinimum(fees, minimum, caps)
          if (next === undefined) {
            gasCapBelowMarket(
              `the bundler's minimum gas price is above the Safe's caps: ${minimum.field} must be at least ${minimum.minimum} wei, cap ` +
                `${caps[minimum.field]} wei (maxFeePerGas cap ${caps.maxFeePerGas} wei); nothing can be sent until fees fall or the caps are raised (setAutomationConfig)`,
              { ...fees, [minimum.field]: minimum.minimum },
            )
            gasCapGauge(1)
            throw error
          }
          logger.warn({ safe, nonce: nonce.toString(), field: minimum.field, minimum: minimum.minimum.toString(), sent: fees[minimum.field].toString() }, "the bundler refused fees below its minimum gas price; raising to it within the Safe's caps")
          fees = next
          intent.maxFeePerGas = fees.maxFeePerGas.toString()
          intent.maxPriorityFeePerGas = fees.maxPriorityFeePerGas.toString()
        }
      }
    }
    let userOpHash: `0x${string}`
    let sponsored = clients.sponsoredBundler !== undefined
    let paymasterOverloaded = false
    try {
      const first = async () => {
        sponsored = clients.sponsoredBundler !== undefined
        if (!clients.sponsoredBundler) {
          const blocked = await this.selfPayBlocked(safe)
          if (blocked) throw new SelfPayNotAllowedError({ safe, reason: `no paymasterUrl is configured and ${blocked}` })
          return await submit(clients.bundler, false)
        }
        return await submit(clients.sponsoredBundler, true)
      }
      try {
        try {
          userOpHash = await first()
        } catch (error) {
          // An arithmetic panic at the send-time read or the bundler's simulation: most often a read at the head made
          // while the next block was mined (anvil answers it with that block's state under the head's header; Morpho's
          // `block.timestamp - lastUpdate` underflows). Once the node has sealed that block the same reads are
          // consistent: sent again once, in this step, once the head moved (or after SETTLE_BOUND: nothing was being mined),
          // instead of a block later. A real overflow panics again and goes on to the count below.
          if (!arithmeticPanicOf(error)) throw error
          await this.settle()
          logger.info({ safe, block: Number(block), err: shortMessage(error) }, "the send-time read or the simulation reverted with an arithmetic panic; sending again once the node sealed its next block")
          userOpHash = await first()
        }
      } catch (error) {
        // A paymaster that did not answer (timeout, 5xx, down) is not a refusal, but the Safe may pay alike.
        const unanswered = has(error, PaymasterUnavailableError)
        if (!sponsored || !(unanswered || has(error, PaymasterRefusedError))) throw error
        // One alert per failed send: when the Safe may not pay itself, the SelfPayNotAllowedError below is it (its kind
        // from this cause); else the paymaster's failure is alerted here and the Safe pays.
        const blocked = await this.selfPayBlocked(safe)
        if (blocked) throw new SelfPayNotAllowedError({ safe, reason: blocked, cause: error as Error })
        events.alert(safe, block, unanswered ? "paymaster-unavailable" : "paymaster-refused", error)
        paymasterOverloaded = unanswered
        logger.warn({ safe }, `paymaster ${unanswered ? "did not answer" : "refused"}; the Safe pays its own gas (allowed by policy)`)
        sponsored = false
        // The plan was validated for the refused attempt, against this block.
        userOpHash = await submit(clients.bundler, false, false)
      }
    } catch (error) {
      if (has(error, UserOperationInFlightError)) {
        // AA25 is also the EntryPoint's "invalid account nonce": only an answer at the chain's own nonce can mean an
        // operation of ours is in flight.
        const chainNonce = await account.getNonce()
        if (chainNonce > nonce) {
          // The nonce is used: the operation (or an earlier send of it) landed, e.g. in the block its resubmission was
          // decided (issue 16). Not a mismatch: the record is kept (a resend's: the replaced one, with its hash and
          // first send) for the tracker, which reports the inclusion with its success flag at the next step. The
          // resubmission timer restarts, so a fleet step reading a block from before the landing does not resend it.
          const kept: PendingOperation = replace ? { ...replace, attempts: attempt, waitFromBlock: block.toString() } : { ...intent, sponsored, waitFromBlock: block.toString() }
          // Awaited: a fenced write (the fleet lease lost) is the caller's StoreFencedError, never an unhandled rejection.
          await writePendingRecord(this.deps, rt, block, kept)
          logger.info({ safe, nonce: nonce.toString(), chainNonce: chainNonce.toString(), attempt, userOpHash: kept.userOpHash, err: shortMessage(error) }, "the bundler answered AA25 and the chain's nonce is past this one: the operation landed; the tracker reports its inclusion")
          events.emit({ type: "tracking", safe, block, nonce, reason: "nonce-used", message: shortMessage(error) })
          return
        }
        if (chainNonce < nonce) {
          // The record is ahead of the chain (a reorg dropped an earlier operation, or the record came from elsewhere):
          // alert, and keep the intent for the tracker, which converges to the chain's nonce on the next block.
          events.alert(safe, block, "nonce-mismatch", new NonceMismatchError({ safe, nonce, chainNonce, cause: error as Error }))
          // Awaited: a fenced write (the fleet lease lost) is the caller's StoreFencedError, never an unhandled rejection.
          await writePendingRecord(this.deps, rt, block, replace ? { ...replace, attempts: attempt } : { ...intent, sponsored })
          return
        }
        // AA25 "same sender and nonce already being processed" (or already in the mempool): an operation at this nonce
        // is in flight, e.g. the one a resend was meant to replace. Not a failure: keep tracking the nonce (its log
        // search from the original block), and wait `resubmitAfterBlocks` from now before trying again.
        const kept: PendingOperation = replace ? { ...replace, attempts: attempt, waitFromBlock: block.toString() } : { ...intent, sponsored, waitFromBlock: block.toString() }
        await writePendingRecord(this.deps, rt, block, kept)
        metrics.inc("levpilot_already_in_flight_total", "Sends the bundler answered with an operation already in flight at that nonce (tracked, not failed).", { safe })
        logger.info({ safe, nonce: nonce.toString(), attempt, userOpHash: kept.userOpHash, err: shortMessage(error) }, "the bundler already has an operation at this nonce; tracking it")
        events.emit({ type: "tracking", safe, block, nonce, reason: "already-in-flight", message: shortMessage(error) })
        return
      }
      if (error instanceof UnconfirmedUserOperationError) {
        // The request reached the bundler but the answer is unusable (not JSON, cut off, wrong shape, timeout): the
        // operation may be in its mempool. Keep the intent (no hash) and let the chain decide: the tracker finds it by
        // nonce, or resubmits the same nonce after `resubmitAfterBlocks`.
        await writePendingRecord(this.deps, rt, block, { ...intent, sponsored })
        events.alert(safe, block, "send-failed", error)
        logger.warn({ safe, nonce: nonce.toString(), attempt }, "unusable answer to eth_sendUserOperation; keeping the intent and tracking the nonce on chain")
        events.emit({ type: "tracking", safe, block, nonce, reason: "ambiguous-answer", message: shortMessage(error) })
        // A send whose answer timed out: the bundler did not keep up.
        return getTransportFailure(error) !== undefined ? "overloaded" : undefined
      }
      const unreachable = error instanceof BundlerUnavailableError || getTransportFailure(error) !== undefined
      // A self-paid operation in the last seconds of its self-pay epoch is not signed (toKeeperAccount): nothing was
      // sent, and a replaced operation may still land in its epoch, so it stays tracked.
      const deferred = has(error, SelfPayEpochEndingError)
      // A replacement that fails because the original landed after this block's read (the plan no longer simulates):
      // keep tracking it, so the next block reports its inclusion instead of forgetting it.
      const landed = replace !== undefined && !unreachable && !deferred && (await account.getNonce().catch(() => nonce)) > nonce
      await writePendingRecord(this.deps, rt, block, replace && !unreachable && !deferred && !landed ? undefined : replace)
      if (deferred) {
        const { retryAt } = findInCauseChain(error, SelfPayEpochEndingError) as SelfPayEpochEndingError
        metrics.inc("levpilot_sends_deferred_total", DEFERRED_HELP, { safe, reason: "self-pay-epoch-ending" })
        logger.warn({ safe, retryAt }, "self-pay epoch ends within the signing margin; the operation is planned again from the next epoch")
        events.emit({ type: "deferred", safe, block, reason: "self-pay-epoch-ending", retryAt, message: shortMessage(error) })
        return
      }
      // NoTrigger at the SDK's check (against the latest state): no sub-account of the plan is due since this block's
      // read, e.g. this keeper's own operation landed or the owner acted between the read and the send (a node answering
      // the read from the state before the last block). Nothing to do: logged, planned again on the next block's read.
      // Only when it repeats over NO_TRIGGER_ALERT_BLOCKS blocks in a row (the keeper's read and the SDK's disagree for
      // good, e.g. a rule the keeper does not model) is it a send-failed alert, once for the run (backed off at each
      // later block of it, logged, not alerted again) until a send is accepted or refused otherwise (review rr13s S3).
      if (has(error, NoTriggerError)) {
        const run = (rt.noTrigger ??= { since: block, last: block, alerted: false })
        run.last = block
        if (block - run.since + 1n >= NO_TRIGGER_ALERT_BLOCKS) {
          if (!run.alerted) events.alert(safe, block, "send-failed", error)
          else logger.warn({ safe, block: Number(block), since: Number(run.since) }, "the SDK still refuses the plan with NoTrigger (alerted once for this run); backing off")
          run.alerted = true
          backoff(rt, config.retry, clock.now())
        } else logger.info({ safe, block: Number(block) }, "no sub-account of the plan is due at the latest state (NoTrigger: back in its band, or its stop-loss holds); planning again on the next block")
        return
      }
      endNoTriggerRun(rt)
      // An arithmetic panic (Panic 0x11) at the send-time reads or the bundler's simulation: once is a read that mixed
      // two blocks (a devnet's read racing its block production, see ARITHMETIC_PANIC_ALERT_ATTEMPTS): nothing was sent,
      // the step plans again on the next block's read, no backoff. ARITHMETIC_PANIC_ALERT_ATTEMPTS attempts in a row
      // (in different blocks, nothing else in between) is a real overflow: a send-failed alert, with backoff.
      if (arithmeticPanicOf(error)) {
        const run = rt.arithmeticPanic
        const attempts = run === undefined ? 1 : run.last === block ? run.attempts : run.attempts + 1
        rt.arithmeticPanic = { attempts, since: run?.since ?? block, last: block }
        if (attempts >= ARITHMETIC_PANIC_ALERT_ATTEMPTS) {
          events.alert(safe, block, "send-failed", error)
          backoff(rt, config.retry, clock.now())
          rt.arithmeticPanic = undefined
          return
        }
        metrics.inc("levpilot_sends_deferred_total", DEFERRED_HELP, { safe, reason: "arithmetic-panic" })
        logger.info({ safe, block: Number(block), attempts, since: Number(rt.arithmeticPanic.since), err: shortMessage(error) }, "the send-time read or the simulation reverted with an arithmetic panic (a read racing block production?); planning again on the next block")
        return
      }
      rt.arithmeticPanic = undefined
      // A read of the send-time validation failed in its multicall (ReadFailedError, naming the contract and function):
      // nothing was judged. A transient read failure, planned again at the next block, no backoff; an `rpc-error` alert
      // only after READ_FAILED_ALERT_ATTEMPTS attempts in a row (at most one per block).
      if (has(error, ReadFailedError)) {
        const run = rt.readFailed
        const attempts = run === undefined ? 1 : run.last === block ? run.attempts : run.attempts + 1
        rt.readFailed = { attempts, last: block }
        if (attempts >= READ_FAILED_ALERT_ATTEMPTS) {
          events.alert(safe, block, "rpc-error", findInCauseChain(error, ReadFailedError) as ReadFailedError)
          backoff(rt, config.retry, clock.now())
          rt.readFailed = undefined
          return
        }
        metrics.inc("levpilot_sends_deferred_total", DEFERRED_HELP, { safe, reason: "read-failed" })
        logger.info({ safe, block: Number(block), attempts, err: shortMessage(error) }, "a read of the send-time validation failed; planning again on the next block")
        return
      }
      rt.readFailed = undefined
      if (error instanceof SelfPayNotAllowedError) {
        events.alert(safe, block, has(error.cause, PaymasterUnavailableError) ? "paymaster-unavailable" : "paymaster-refused", error)
        logger.warn({ safe, retryInMs: backoff(rt, config.retry, clock.now()) }, "operation not sent")
        return has(error.cause, PaymasterUnavailableError) ? "overloaded" : undefined
      }
      if (error instanceof BundlerUnavailableError) {
        events.alert(safe, block, "bundler-unavailable", error)
        logger.warn({ safe, retryInMs: backoff(rt, config.retry, clock.now()), causes: causeChainOf(error) }, "bundler unavailable; retrying with backoff")
        return "overloaded"
      }
      throw error
    }
    await writePendingRecord(this.deps, rt, block, { ...intent, userOpHash, sponsored })
    rt.failures = 0
    endNoTriggerRun(rt)
    rt.arithmeticPanic = undefined
    rt.readFailed = undefined
    metrics.inc("levpilot_userops_sent_total", "Keeper UserOperations accepted by the bundler.", { safe, paid_by: sponsored ? "paymaster" : "safe" })
    const sigma = solverPlan ? Object.fromEntries([...rt.volatility].filter(([id]) => solverPlan.subAccounts.includes(id)).map(([id, v]) => [id, Number(v.estimate().sigma.toPrecision(4))])) : undefined
    // The plan's sub-accounts with their venue (morpho-blue, aave-v3): a cross-venue plan names both.
    const subAccounts = plan.subAccounts.map((id) => ({ id, venue: rt.venues.get(id.toLowerCase()) ?? "unknown" }))
    for (const venue of new Set(subAccounts.map((s) => s.venue)))
      metrics.inc("levpilot_venue_userops_sent_total", "Keeper UserOperations accepted by the bundler, per venue of the sub-accounts they touch (a cross-venue plan counts for each).", { safe, venue })
    logger.info({ safe, userOpHash, nonce: nonce.toString(), sponsored, attempt, block: Number(block), actions: plan.actions.length, subAccounts, sigma }, "rebalance sent")
    events.emit({ type: "sent", safe, block, userOpHash, nonce, sponsored, attempt, plan })
    return paymasterOverloaded ? "overloaded" : "sent"
  }

  /**
   * Estimates `plan` for the Safe of `rt` as {@link send} would send it, without sending (the SDK's `estimateRebalance`:
   * the same build, gas headroom and caps check as `sendRebalance`): the same bundler (the sponsored one when a paymaster
   * is configured, else the Safe's own with its self-pay padding), nonce (`replace`'s, else the chain's) and fees (priced
   * at the market within the Safe's caps). Nothing is persisted, no alert or metric is written, no backoff is set, and a
   * paymaster's refusal is not retried self-paid. A narrowing's probe reads with it the estimate of one sub-account's
   * plan alone (review rr11x X2 / rr11y Y3).
   *
   * @returns The signed, unsent operation and the bundler's raw estimate ({@link EstimateRebalanceReturnType}; gas, wei per gas).
   * @throws Whatever `estimateRebalance` throws, as it throws it (e.g. `GasFieldAboveCapError` with the field, its value
   *   and the cap in gas).
   */
  async estimate(rt: SafeRuntime, plan: ChainPlan, replace: PendingOperation | undefined, urgent = false, aaveCollateral?: AaveCollateralShare | undefined): Promise<EstimateRebalanceReturnType> {
    const { clients } = this.deps
    const { account, nonce, priced } = await this.quote(rt, replace, urgent)
    const fees = priced.fees
    const sponsored = clients.sponsoredBundler !== undefined
    return await estimateRebalance(clients.sponsoredBundler ?? clients.bundler, this.rebalanceParameters({ account, plan, sponsored, validate: true, aaveCollateral, nonce, fees }))
  }

  /**
   * One operation's nonce (`replace`'s, else the chain's on the keeper's key) and fees: the market's, capped at the Safe's
   * `maxFeePerGas` / `maxPriorityFeePerGas` (a replacement bumped by `feeBumpPercent`; `priceUserOperation`), wei per gas.
   */
  private async quote(rt: SafeRuntime, replace: PendingOperation | undefined, urgent: boolean) {
    const { config, clients } = this.deps
    const account = await this.keeperAccount(rt)
    const [nonce, market, automation] = await Promise.all([
      replace ? BigInt(replace.nonce) : account.getNonce(),
      clients.estimateFees(),
      clients.publicClient.readContract({ address: config.deployment.leverageModule, abi: leverageModuleAbi, functionName: "getAutomationConfig", args: [rt.config.address] }),
    ])
    const caps = { maxFeePerGas: BigInt(automation.maxFeePerGas), maxPriorityFeePerGas: BigInt(automation.maxPriorityFeePerGas) }
    const previous = replace ? { maxFeePerGas: BigInt(replace.maxFeePerGas), maxPriorityFeePerGas: BigInt(replace.maxPriorityFeePerGas) } : undefined
    const priced = priceUserOperation({ market, caps, previous, bumpPercent: config.feeBumpPercent, urgent })
    return { account, nonce, market, caps, previous, priced }
  }

  /** The SDK parameters of one of this keeper's operations, shared by {@link send} and {@link estimate}. */
  private rebalanceParameters({
    account,
    plan,
    sponsored,
    validate,
    aaveCollateral,
    nonce,
    fees,
  }: {
    account: ToKeeperAccountReturnType
    plan: ChainPlan
    sponsored: boolean
    validate: boolean
    aaveCollateral: AaveCollateralShare | undefined
    nonce: bigint
    fees: { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint }
  }): SendRebalanceParameters {
    return {
      account,
      plan,
      deployments: this.deps.clients.deployments,
      validate,
      ...(aaveCollateral !== undefined ? { aaveCollateral } : {}),
      // An ERC-20 paymaster's exact pre-charge must be left for it (PaymasterTokenChargeError otherwise).
      // With room for the paymaster's price to fall before inclusion (`paymasterPriceMarginBps`).
      ...(sponsored ? { paymasterToken: paymasterTokenOf(this.deps), paymasterPriceMarginBps: this.deps.config.paymasterPriceMarginBps } : {}),
      nonce,
      ...fees,
      // Self-paid: the bundler's estimate (Alto drops state overrides without a paymaster, and does not need them:
      // the module skips its caps for the placeholder signature), padded by the validation work the placeholder
      // skips; the call gas gets the SDK's interest-accrual headroom. No fixed limits: the EntryPoint charges 10% of
      // unused call gas and the self-pay budget is charged at the limits.
      ...(sponsored ? {} : { estimationOverride: false, verificationGasPadding: selfPayValidationGas }),
    }
  }

  private async keeperAccount(rt: SafeRuntime): Promise<ToKeeperAccountReturnType> {
    const { clients, keeper } = this.deps
    rt.account ??= await toKeeperAccount({ client: clients.publicClient, safe: rt.config.address, keeper, deployments: clients.deployments })
    return rt.account
  }

  /**
   * Waits until the node's calls run under a block past the one they run under now (`callBlockNumber`), at most
   * SETTLE_BOUND: the block being mined, if any, is then sealed and published (a number that cannot be read is not
   * waited for).
   */
  private async settle(): Promise<void> {
    const client = this.deps.clients.publicClient
    await waitHeadPast(() => callBlockNumber(client.request as never), undefined).catch(() => undefined)
  }

  /** Why the Safe may not pay its own gas, or `undefined` when it may. */
  private async selfPayBlocked(safe: Address): Promise<string | undefined> {
    const { config, clients } = this.deps
    if (!config.allowSelfPay) return "allowSelfPay is false in the keeper configuration"
    const module = config.deployment.leverageModule
    const automation = await clients.publicClient.readContract({ address: module, abi: leverageModuleAbi, functionName: "getAutomationConfig", args: [safe] })
    if (!isAddressEqual(automation.requiredPaymaster, zeroAddress)) return `the Safe requires paymaster ${automation.requiredPaymaster} on chain`
    const budget = await clients.publicClient.readContract({ address: module, abi: leverageModuleAbi, functionName: "getSelfPayBudget", args: [safe] })
    if (budget.maxWeiPerEpoch === 0n) return "the Safe has no self-pay budget on chain (setSelfPayBudget)"
    return undefined
  }
}

/** Ends the Safe's NoTrigger run (see NO_TRIGGER_ALERT_BLOCKS): a later refusal starts a new one. */
function endNoTriggerRun(rt: SafeRuntime): void {
  rt.noTrigger = undefined
}

/**
 * Called by the Safe's step at each block it runs (not backed off, not busy), before it plans. A NoTrigger run is the
 * blocks in a row at which the step ran and the SDK refused its send with NoTrigger: a step that ran after the run's
 * last refusal without one (the Safe back in its band: nothing planned, or a send that got no NoTrigger) ended it, so a
 * later refusal starts a new run, alerted again after NO_TRIGGER_ALERT_BLOCKS blocks (review rr11zb B2: the run used to
 * end only with an accepted send, so a second persistent run hours later was never alerted and two races blocks apart
 * were alerted as three in a row). Blocks the step skips while backed off do not end it (alerted once per run).
 *
 * @param rt the Safe's runtime (fields `lastStepBlock`, `noTrigger`, shared in fleet mode).
 * @param block the block the step runs at.
 */
export function noteStepRan(rt: SafeRuntime, block: bigint): void {
  if (rt.noTrigger !== undefined && rt.lastStepBlock !== undefined && rt.lastStepBlock > rt.noTrigger.last) endNoTriggerRun(rt)
  // Likewise the store-unavailable run (review rr11ze E6): a step that ran after its last failure without one ended it.
  if (rt.storeUnavailable !== undefined && rt.lastStepBlock !== undefined && rt.lastStepBlock > rt.storeUnavailable.last) rt.storeUnavailable = undefined
  rt.lastStepBlock = block
}
