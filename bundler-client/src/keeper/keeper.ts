import { createPimlicoClient } from "permissionless/clients/pimlico"
import { type Logger, pino } from "pino"
import {
  type Address,
  BaseError,
  type Chain,
  type Hex,
  HttpRequestError,
  type PublicClient,
  RpcRequestError,
  createPublicClient,
  defineChain,
  http,
  isAddressEqual,
  parseEventLogs,
  zeroAddress,
} from "viem"
import { type BundlerClient, createBundlerClient, createPaymasterClient, entryPoint07Abi } from "viem/account-abstraction"
import { privateKeyToAccount } from "viem/accounts"
import { leverageModuleAbi } from "../../../sdk/src/abis/leverageModule.js"
import { type ToKeeperAccountReturnType, toKeeperAccount } from "../../../sdk/src/accounts/toKeeperAccount.js"
import { validateRebalance } from "../../../sdk/src/actions/validateRebalance.js"
import type { LeverageDeployments } from "../../../sdk/src/constants/deployments.js"
import { decodeModuleError, getLeverageError } from "../../../sdk/src/errors/getLeverageError.js"
import type { Plan as ChainPlan } from "../../../sdk/src/types/leverage.js"
import { getKeeperEstimationStateOverride } from "../../../sdk/src/utils/estimation.js"
import { encodeRebalanceCallData } from "../../../sdk/src/utils/plan.js"
import { SECONDS_PER_YEAR } from "../risk/firstPassage"
import { solveByLoanAsset } from "../solver/solver"
import { DEFAULT_GAS_PER_ACTION, type Plan, type SolverInput, type SolverResult } from "../solver/types"
import type { KeeperConfig, KeeperSafeConfig } from "./config"
import { BundlerUnavailableError, SelfPayNotAllowedError } from "./errors"
import { KeeperMetrics, serveMetrics } from "./metrics"
import { type PortfolioSnapshot, readPortfolio, toChainPlan } from "./portfolio"
import { KeeperStateStore, type PendingOperation } from "./stateFile"
import { LiveVolatility, type VolatilityEstimate, applySigma } from "./volatility"

/** What the keeper did, for the live table, tests and benchmarks (the logs carry the same). */
export type KeeperEvent =
  | { type: "observed"; safe: Address; block: bigint; snapshot: PortfolioSnapshot; result: SolverResult | undefined }
  | { type: "plan"; safe: Address; block: bigint; plan: ChainPlan; dryRun: boolean }
  | { type: "sent"; safe: Address; block: bigint; userOpHash: Hex; nonce: bigint; sponsored: boolean; attempt: number; plan: ChainPlan }
  | {
      type: "included"
      safe: Address
      block: bigint
      userOpHash: Hex
      success: boolean
      actualGasUsed: bigint
      actualGasCost: bigint
      paymaster: Address | undefined
      latencyBlocks: number
      latencyMs: number
      /** Whether this keeper sent the included operation (false: an earlier instance's or unknown hash). */
      known: boolean
      /** Why a reverted operation reverted (the module's error, decoded), when known. */
      revert?: string | undefined
    }
  | { type: "resubmit"; safe: Address; block: bigint; userOpHash: Hex | undefined; reason: string }
  /**
   * The bundler answered a send with "this sender and nonce is already being processed" (AA25) or the answer was
   * unusable after the request reached it: the operation may be in flight, so the keeper keeps tracking its nonce.
   */
  | { type: "tracking"; safe: Address; block: bigint; nonce: bigint; reason: "already-in-flight" | "ambiguous-answer"; message: string }
  /** The chain head moved back (reorg); the keeper continues from the new head. */
  | { type: "reorg"; from: bigint; to: bigint }
  | { type: "alert"; safe: Address; block: bigint; kind: "bundler-unavailable" | "paymaster-refused" | "send-failed" | "rpc-error"; message: string }

export type KeeperOptions = {
  logger?: Logger | undefined
  metrics?: KeeperMetrics | undefined
  onEvent?: ((event: KeeperEvent) => void) | undefined
  /** Print plans without sending (`levpilot keeper --dry-run`). */
  dryRun?: boolean | undefined
  /** Chain of the RPC; read with `eth_chainId` when omitted. */
  chain?: Chain | undefined
}

type SafeRuntime = {
  config: KeeperSafeConfig
  account: ToKeeperAccountReturnType | undefined
  busy: boolean
  failures: number
  backoffUntil: number
  triggerBlock: bigint | undefined
  triggerAt: number
  /** Live volatility per sub-account id (lower case). */
  volatility: Map<string, LiveVolatility>
  /** Last estimate logged per sub-account, to log only meaningful changes. */
  loggedSigma: Map<string, VolatilityEstimate>
  lastSeen?: { block: bigint; timestamp: number } | undefined
  blockSeconds?: number | undefined
}

/** Blocks between the solve and the plan's execution the band margin allows for, and its width in standard deviations. */
export const INCLUSION_MARGIN = { blocks: 2, deviations: 2, maxShareOfBand: 0.25 }

/**
 * Autopilot aims at its risk health clipped into the module's limits (rule 3: a triggered sub-account's landing zone,
 * a source's target), often at one of their edges; if the price moves before the operation is included, the module
 * rejects a plan that now lands just outside (`HealthOutsideLandingZone`, `HealthCrossedTarget`). So the keeper gives
 * the solver a landing margin for the price move expected until inclusion:
 * `m = deviations x sigma x sqrt(blocks x blockSeconds / year)` in log-health (at most `maxShareOfBand` of the band's
 * log-width). The policy is unchanged, so which sub-accounts are triggered (rule 1) does not change either.
 *
 * @returns The input with each sub-account's `landingMargin`; the on-chain policy is unchanged.
 */
export function withInclusionMargin(input: SolverInput, blockSeconds: number): SolverInput {
  return {
    ...input,
    subAccounts: input.subAccounts.map((sub) => {
      const { minHealth, maxHealth } = sub.policy
      const m = Math.min(
        INCLUSION_MARGIN.deviations * sub.risk.sigma * Math.sqrt((INCLUSION_MARGIN.blocks * blockSeconds) / SECONDS_PER_YEAR),
        INCLUSION_MARGIN.maxShareOfBand * Math.log(maxHealth / minHealth),
      )
      return m > 0 && Number.isFinite(m) ? { ...sub, landingMargin: m } : sub
    }),
  }
}

const userOperationEvent = entryPoint07Abi.find((x) => x.type === "event" && x.name === "UserOperationEvent")
if (!userOperationEvent || userOperationEvent.type !== "event") throw new TypeError("EntryPoint ABI without UserOperationEvent")

function causes(error: unknown): Error[] {
  const list: Error[] = []
  let e: unknown = error
  while (e instanceof Error && list.length < 20) {
    list.push(e)
    e = (e as { cause?: unknown }).cause
  }
  return list
}

function isPaymasterRefusal(error: unknown): boolean {
  return causes(error).some((e) => e.name === "PaymasterRefusedError" || /refused to sponsor|paymaster refused/i.test(e.message))
}

/** The bundler says an operation of this sender and nonce is already in its mempool or being bundled. */
function isAlreadyInFlight(error: unknown): boolean {
  return causes(error).some((e) => /AA25|already being processed|already present in mempool|already known|replacement (transaction )?underpriced/i.test(e.message))
}

/** Nothing reached the server (connection refused, unknown host). */
function isConnectionRefused(error: unknown): boolean {
  return causes(error).some((e) => /ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ENETUNREACH/i.test(`${e.message} ${(e as { code?: unknown }).code ?? ""}`))
}

/** The bundler answered eth_sendUserOperation with something that is not a UserOperation hash. */
class InvalidBundlerAnswerError extends BaseError {
  constructor(answer: unknown) {
    super(`The bundler answered eth_sendUserOperation with ${JSON.stringify(answer)?.slice(0, 80) ?? String(answer)}, not a 32-byte hash.`, { name: "InvalidBundlerAnswerError" })
  }
}

function isUnreachable(error: unknown): boolean {
  return causes(error).some(
    (e) =>
      (e instanceof HttpRequestError && (e.status === undefined || e.status >= 500)) ||
      /ECONNREFUSED|ECONNRESET|fetch failed|socket hang up|timed out/i.test(e.message),
  )
}

const shortMessage = (error: unknown) => (error instanceof BaseError ? error.shortMessage : error instanceof Error ? error.message : String(error))

/**
 * The keeper daemon: on every new block it reads each Safe's sub-accounts, pools and balances from the chain,
 * runs the solver (every plan passes `checkPlanAgainstPolicy`), and sends the plan as a keeper UserOperation through
 * the bundler, sponsored by the ERC-7677 paymaster (self-paid only when allowed), then tracks inclusion on chain.
 *
 * Safety: one EntryPoint nonce sequence per Safe (the SDK's keeper nonce key) and at most one operation in flight per
 * Safe; a replacement reuses the in-flight nonce, so at most one of them can execute. The in-flight operation is
 * persisted (intent first, hash after) to `stateFile`; after a restart the keeper reconciles it with the chain's
 * nonce and `UserOperationEvent` logs before sending anything new.
 */
export class Keeper {
  readonly metrics: KeeperMetrics
  readonly logger: Logger
  private readonly store: KeeperStateStore
  private readonly safes: Map<Address, SafeRuntime>
  private readonly keeperKey
  private publicClient: PublicClient | undefined
  private bundler: BundlerClient | undefined
  private sponsoredBundler: BundlerClient | undefined
  private estimateFees: (() => Promise<{ maxFeePerGas: bigint; maxPriorityFeePerGas: bigint }>) | undefined
  private running = false
  private loop: Promise<void> | undefined
  private lastBlock = -1n
  private metricsServer: { url: string; stop: () => Promise<void> } | undefined
  private readonly inflight = new Set<Promise<void>>()

  constructor(
    readonly config: KeeperConfig,
    private readonly options: KeeperOptions = {},
  ) {
    this.logger = options.logger ?? pino({ level: config.logLevel, base: { service: "levpilot-keeper" } })
    this.metrics = options.metrics ?? new KeeperMetrics()
    this.store = new KeeperStateStore(config.stateFile)
    this.keeperKey = privateKeyToAccount(config.keeperPrivateKey)
    this.safes = new Map(
      config.safes.map((s) => [
        s.address,
        { config: s, account: undefined, busy: false, failures: 0, backoffUntil: 0, triggerBlock: undefined, triggerAt: 0, volatility: new Map(), loggedSigma: new Map() },
      ]),
    )
    // Counters start at zero so a scrape before the first event already shows every series.
    for (const safe of this.safes.keys()) {
      for (const result of ["success", "reverted"]) this.metrics.inc("levpilot_rebalances_total", "Keeper operations included, by outcome.", { safe, result }, 0)
      for (const kind of ["bundler-unavailable", "paymaster-refused", "send-failed", "rpc-error"])
        this.metrics.inc("levpilot_failures_total", "Keeper failures by kind.", { safe, kind }, 0)
    }
    this.metrics.declare("levpilot_reaction_latency_blocks", "Blocks from the first out-of-band observation to inclusion.", "summary")
    this.metrics.declare("levpilot_reaction_latency_ms", "Milliseconds from the first out-of-band observation to inclusion seen.", "summary")
  }

  /** Eth_sendUserOperation requests dispatched to the bundler, by lower-case sender (an answer may be lost after it). */
  private readonly dispatched = new Set<string>()

  /** URL of the Prometheus endpoint, when serving. */
  get metricsUrl(): string | undefined {
    return this.metricsServer?.url
  }

  private get deployments(): LeverageDeployments {
    return { [this.client().chain?.id ?? 0]: this.config.deployment }
  }

  private client(): PublicClient {
    if (!this.publicClient) throw new TypeError("Keeper.init() was not called")
    return this.publicClient
  }

  /** Connects to the RPC and bundler and starts the metrics endpoint; `start()` calls it. */
  async init(): Promise<void> {
    if (this.publicClient) return
    let chain = this.options.chain
    if (!chain) {
      const probe = createPublicClient({ transport: http(this.config.rpcUrl) })
      const id = await probe.getChainId()
      chain = defineChain({ id, name: `chain ${id}`, nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 }, rpcUrls: { default: { http: [this.config.rpcUrl] } } })
    }
    this.publicClient = createPublicClient({ chain, transport: http(this.config.rpcUrl, { retryCount: 2, retryDelay: 100 }), pollingInterval: this.config.pollIntervalMs }) as PublicClient
    const pimlico = createPimlicoClient({ transport: http(this.config.bundlerUrl, { retryCount: 0 }), entryPoint: { address: this.config.deployment.entryPoint, version: "0.7" } })
    const estimateFeesPerGas = async () => {
      try {
        return (await pimlico.getUserOperationGasPrice()).fast
      } catch {
        const fees = await this.client().estimateFeesPerGas()
        return { maxFeePerGas: fees.maxFeePerGas, maxPriorityFeePerGas: fees.maxPriorityFeePerGas }
      }
    }
    this.estimateFees = estimateFeesPerGas
    const onFetchRequest = (_request: Request, init: RequestInit) => {
      if (typeof init.body !== "string" || !init.body.includes("eth_sendUserOperation")) return
      try {
        const body = JSON.parse(init.body) as { method?: string; params?: [{ sender?: string }] } | { method?: string; params?: [{ sender?: string }] }[]
        for (const r of Array.isArray(body) ? body : [body])
          if (r.method === "eth_sendUserOperation" && typeof r.params?.[0]?.sender === "string") this.dispatched.add(r.params[0].sender.toLowerCase())
      } catch {}
    }
    const base = { client: this.publicClient, transport: http(this.config.bundlerUrl, { retryCount: 0, timeout: 10_000, onFetchRequest }), userOperation: { estimateFeesPerGas } }
    this.bundler = createBundlerClient(base)
    if (this.config.paymasterUrl)
      this.sponsoredBundler = createBundlerClient({
        ...base,
        paymaster: createPaymasterClient({ transport: http(this.config.paymasterUrl, { retryCount: 0 }) }),
        ...(this.config.paymasterContext !== undefined ? { paymasterContext: this.config.paymasterContext } : {}),
      })
    if (this.config.metricsPort !== undefined && !this.metricsServer)
      this.metricsServer = await serveMetrics(this.metrics, { port: this.config.metricsPort, host: this.config.metricsHost })
    this.logger.info(
      { chainId: chain.id, keeper: this.keeperKey.address, safes: [...this.safes.keys()], metrics: this.metricsServer?.url, dryRun: this.options.dryRun ?? false },
      "keeper started",
    )
  }

  /** Starts watching blocks; resolves once the first poll is scheduled. */
  async start(): Promise<void> {
    await this.init()
    this.running = true
    this.loop = this.run()
  }

  /** Stops polling, waits for the Safes being processed, closes the metrics endpoint. */
  async stop(): Promise<void> {
    this.running = false
    await this.loop
    await Promise.allSettled([...this.inflight])
    await this.metricsServer?.stop()
    this.metricsServer = undefined
    this.logger.info("keeper stopped")
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        const block = await this.client().getBlockNumber({ cacheTime: 0 })
        if (block !== this.lastBlock) {
          if (block < this.lastBlock) {
            // A reorg (or a node restarted on an older state): continue from the new head instead of waiting for the
            // height to pass the old one. Pending operations are re-checked against the new chain by nonce.
            this.metrics.inc("levpilot_reorgs_total", "Times the chain head moved back.")
            this.logger.warn({ from: Number(this.lastBlock), to: Number(block) }, "chain head moved back (reorg); continuing from the new head")
            this.emit({ type: "reorg", from: this.lastBlock, to: block })
          }
          this.lastBlock = block
          this.metrics.set("levpilot_block_number", "Latest block the keeper processed.", {}, Number(block))
          for (const safe of this.safes.keys()) {
            const p = this.processSafe(safe, block).finally(() => this.inflight.delete(p))
            this.inflight.add(p)
          }
        }
      } catch (error) {
        this.metrics.inc("levpilot_rpc_errors_total", "RPC errors while polling blocks.")
        this.logger.warn({ err: shortMessage(error) }, "RPC error while polling for blocks; retrying")
      }
      await new Promise((resolve) => setTimeout(resolve, this.config.pollIntervalMs))
    }
  }

  private emit(event: KeeperEvent): void {
    this.options.onEvent?.(event)
  }

  private alert(safe: Address, block: bigint, kind: Extract<KeeperEvent, { type: "alert" }>["kind"], error: unknown): void {
    const message = shortMessage(error)
    this.logger.debug({ safe, kind, details: error instanceof BaseError ? error.details : undefined, full: error instanceof Error ? error.message : String(error) }, "alert details")
    this.metrics.inc("levpilot_failures_total", "Keeper failures by kind.", { safe, kind })
    this.logger.error({ alert: true, safe, kind, block: Number(block), err: message }, `ALERT ${kind}: ${message}`)
    this.emit({ type: "alert", safe, block, kind, message })
  }

  private backoff(rt: SafeRuntime): number {
    rt.failures += 1
    const delay = Math.min(this.config.retry.maxMs, this.config.retry.baseMs * 2 ** (rt.failures - 1))
    rt.backoffUntil = Date.now() + delay
    return delay
  }

  private async keeperAccount(rt: SafeRuntime): Promise<ToKeeperAccountReturnType> {
    rt.account ??= await toKeeperAccount({ client: this.client(), safe: rt.config.address, keeper: this.keeperKey, deployments: this.deployments })
    return rt.account
  }

  /**
   * One block's work for one Safe: reconcile the operation in flight, else read, solve and send. Never runs twice at
   * once for the same Safe.
   *
   * @returns When the Safe's work for this block is done.
   */
  async processSafe(safe: Address, block: bigint): Promise<void> {
    const rt = this.safes.get(safe)
    if (!rt || rt.busy) return
    rt.busy = true
    try {
      if (Date.now() < rt.backoffUntil) return
      let replace: PendingOperation | undefined
      const pending = this.store.pending(safe)
      if (pending) {
        const verdict = await this.track(rt, pending, block)
        if (verdict !== "resubmit") return
        replace = pending
      }
      const costs = keeperCosts(this.config)
      const snapshot = this.withLiveVolatility(rt, await readPortfolio(this.client(), { safe, deployment: this.config.deployment, risk: rt.config.risk, costs }))
      for (const s of snapshot.chain) {
        const labels = { safe, sub_account: s.subAccount }
        this.metrics.set("levpilot_health", "Health of each sub-account (collateral value x LLTV / debt).", labels, s.debt === 0n ? Number.POSITIVE_INFINITY : Number(s.health) / 1e18)
        this.metrics.set("levpilot_leverage", "Effective leverage of each sub-account.", labels, Number(s.leverage) / 1e18)
      }
      const outOfBand = snapshot.chain.some((s) => s.band !== "inside")
      if (!outOfBand) rt.triggerBlock = undefined
      else if (rt.triggerBlock === undefined) {
        rt.triggerBlock = snapshot.blockNumber
        rt.triggerAt = Date.now()
      }
      let result: SolverResult | undefined
      if (snapshot.input.subAccounts.length > 0) for (const r of solveByLoanAsset(snapshot.input).values()) if (r.plan && !result?.plan) result = r
      this.emit({ type: "observed", safe, block, snapshot, result })
      const plan = result?.plan
      if (!plan) {
        if (replace) {
          this.logger.info({ safe, nonce: replace.nonce }, "operation in flight no longer needed; its nonce stays the guard")
          this.store.setPending(safe, undefined)
        }
        if (outOfBand) this.logger.debug({ safe, reasons: result?.outcomes.map((o) => o.reason) }, "out of band, no plan")
        return
      }
      const chainPlan = toChainPlan(plan)
      if (this.options.dryRun) {
        this.logger.info({ safe, block: Number(block), plan: describePlan(plan) }, "dry run: plan not sent")
        this.emit({ type: "plan", safe, block, plan: chainPlan, dryRun: true })
        return
      }
      await this.send(rt, snapshot.blockNumber, chainPlan, replace, plan)
    } catch (error) {
      const kind = isUnreachable(error) ? "rpc-error" : "send-failed"
      this.alert(safe, block, kind, error)
      this.backoff(rt)
    } finally {
      rt.busy = false
    }
  }

  /**
   * Feeds every sub-account's oracle price into its live volatility estimate and gives the solver the estimate instead
   * of the configured sigma (which is the prior, and the floor until `risk.volatility.minSamples` updates were seen).
   *
   * @returns The snapshot with `input.subAccounts[].risk.sigma` replaced.
   */
  private withLiveVolatility(rt: SafeRuntime, snapshot: PortfolioSnapshot): PortfolioSnapshot {
    const safe = rt.config.address
    const { sigma: prior, volatility: settings } = rt.config.risk
    const estimates = new Map<string, VolatilityEstimate>()
    for (const sub of snapshot.input.subAccounts) {
      const id = sub.state.id
      let estimator = rt.volatility.get(id)
      if (!estimator) {
        estimator = new LiveVolatility(prior, settings)
        rt.volatility.set(id, estimator)
      }
      const sampled = estimator.observe(snapshot.timestamp, sub.state.price)
      const estimate = estimator.estimate()
      estimates.set(id, estimate)
      const labels = { safe, sub_account: id }
      this.metrics.set("levpilot_sigma", "Annualised volatility the solver uses per sub-account (live EWMA estimate, prior or floor).", labels, estimate.sigma)
      this.metrics.set("levpilot_sigma_ewma", "Raw EWMA volatility estimate per sub-account (annualised).", labels, estimate.ewma)
      this.metrics.set("levpilot_sigma_samples", "Oracle updates observed per sub-account.", labels, estimate.samples)
      if (!sampled) continue
      const last = rt.loggedSigma.get(id)
      const moved = !last || last.source !== estimate.source || Math.abs(estimate.sigma / last.sigma - 1) > 0.25
      this.logger[moved ? "info" : "debug"](
        { safe, subAccount: id, sigma: Number(estimate.sigma.toPrecision(4)), ewma: Number(estimate.ewma.toPrecision(4)), samples: estimate.samples, source: estimate.source, prior, price: sub.state.price },
        "volatility estimate",
      )
      if (moved) rt.loggedSigma.set(id, estimate)
    }
    const input = applySigma(snapshot.input, (id) => estimates.get(id)?.sigma)
    // Seconds per block, from consecutive observations (12 s until known).
    if (rt.lastSeen && snapshot.blockNumber > rt.lastSeen.block && snapshot.timestamp > rt.lastSeen.timestamp)
      rt.blockSeconds = (snapshot.timestamp - rt.lastSeen.timestamp) / Number(snapshot.blockNumber - rt.lastSeen.block)
    rt.lastSeen = { block: snapshot.blockNumber, timestamp: snapshot.timestamp }
    return { ...snapshot, input: input.mode === "threshold" ? input : withInclusionMargin(input, rt.blockSeconds ?? 12) }
  }

  /** The volatility each sub-account of a Safe is solved with now (tests, status). */
  volatility(safe: Address): Record<string, VolatilityEstimate> {
    const out: Record<string, VolatilityEstimate> = {}
    for (const [id, v] of this.safes.get(safe)?.volatility ?? []) out[id] = v.estimate()
    return out
  }

  /** Checks the chain for the in-flight operation: included (by hash or by nonce), still waiting, or due for resubmission. */
  /**
   * Why an included operation reverted: the EntryPoint's `UserOperationRevertReason` in the same transaction, decoded
   * into the module's error when it is one. No event (and no data) usually means the call ran out of gas.
   */
  private async revertReason(transactionHash: Hex | null, userOpHash: Hex): Promise<{ error: string; data: Hex } | undefined> {
    if (!transactionHash) return undefined
    try {
      const receipt = await this.client().getTransactionReceipt({ hash: transactionHash })
      const [event] = parseEventLogs({ abi: entryPoint07Abi, eventName: "UserOperationRevertReason", logs: receipt.logs }).filter(
        (l) => l.args.userOpHash === userOpHash,
      )
      const data = (event?.args.revertReason ?? "0x") as Hex
      if (data === "0x") return { error: "no revert data (out of gas?)", data }
      const decoded = decodeModuleError(data)
      const text = decoded ? `${decoded.errorName}(${decoded.args.map((x) => String(x)).join(", ")})` : `unknown error ${data.slice(0, 10)}`
      return { error: text, data }
    } catch {
      return undefined
    }
  }

  private async track(rt: SafeRuntime, pending: PendingOperation, block: bigint): Promise<"included" | "waiting" | "resubmit"> {
    const safe = rt.config.address
    const client = this.client()
    const nonce = BigInt(pending.nonce)
    if (BigInt(pending.sentBlock) > block) {
      // The block it was sent at is no longer on the chain (reorg): count the waiting time from the new head.
      pending = { ...pending, sentBlock: block.toString() }
      this.store.setPending(safe, pending)
    }
    const fromBlock = BigInt(pending.sentBlock)
    const logs = await client.getLogs({
      address: this.config.deployment.entryPoint,
      event: userOperationEvent as Extract<(typeof entryPoint07Abi)[number], { name: "UserOperationEvent" }>,
      args: { sender: safe },
      fromBlock,
      toBlock: "latest",
    })
    const log = logs.find((l) => l.args.nonce === nonce)
    if (!log) {
      // The pending operation's own nonce key (keeper address and key generation).
      const chainNonce = await client.readContract({ address: this.config.deployment.entryPoint, abi: entryPoint07Abi, functionName: "getNonce", args: [safe, nonce >> 64n] })
      if (chainNonce > nonce) {
        this.logger.warn({ safe, nonce: pending.nonce }, "nonce consumed without a matching event in range; clearing")
        this.store.setPending(safe, undefined)
        return "included"
      }
      const waitFrom = pending.waitFromBlock !== undefined && BigInt(pending.waitFromBlock) <= block ? BigInt(pending.waitFromBlock) : fromBlock
      if (block - waitFrom >= BigInt(this.config.resubmitAfterBlocks)) {
        const reason = `not included after ${block - waitFrom} blocks`
        this.metrics.inc("levpilot_resubmissions_total", "Operations resubmitted (dropped or underpriced).", { safe })
        this.logger.warn({ safe, userOpHash: pending.userOpHash, nonce: pending.nonce, attempts: pending.attempts }, `operation ${reason}; resubmitting with the same nonce`)
        this.emit({ type: "resubmit", safe, block, userOpHash: pending.userOpHash, reason })
        return "resubmit"
      }
      return "waiting"
    }
    const args = log.args
    const included = log.blockNumber ?? block
    const triggerBlock = rt.triggerBlock ?? BigInt(pending.triggerBlock)
    const latencyBlocks = Number(included - triggerBlock)
    const latencyMs = Date.now() - (rt.triggerBlock !== undefined ? rt.triggerAt : pending.triggerAt)
    const success = args.success === true
    const paymaster = args.paymaster && !isAddressEqual(args.paymaster, zeroAddress) ? args.paymaster : undefined
    const known = pending.userOpHash !== undefined && args.userOpHash === pending.userOpHash
    this.metrics.inc("levpilot_rebalances_total", "Keeper operations included, by outcome.", { safe, result: success ? "success" : "reverted" })
    if (success) {
      this.metrics.observe("levpilot_reaction_latency_blocks", "Blocks from the first out-of-band observation to inclusion.", latencyBlocks)
      this.metrics.observe("levpilot_reaction_latency_ms", "Milliseconds from the first out-of-band observation to inclusion seen.", latencyMs)
    }
    const revert = success ? undefined : await this.revertReason(log.transactionHash, args.userOpHash as Hex)
    this.logger[success ? "info" : "warn"](
      { safe, userOpHash: args.userOpHash, block: Number(included), success, gasUsed: String(args.actualGasUsed), paymaster, latencyBlocks, latencyMs, known, ...(revert ? { revert } : {}) },
      success ? "rebalance included" : `rebalance included but reverted${revert ? `: ${revert.error}` : ""}`,
    )
    this.store.setPending(safe, undefined)
    rt.triggerBlock = undefined
    rt.failures = 0
    this.emit({
      type: "included",
      safe,
      block: included,
      userOpHash: args.userOpHash as Hex,
      success,
      actualGasUsed: args.actualGasUsed ?? 0n,
      actualGasCost: args.actualGasCost ?? 0n,
      paymaster,
      latencyBlocks,
      latencyMs,
      known,
      ...(revert ? { revert: revert.error } : {}),
    })
    return "included"
  }

  private async selfPayBlocked(safe: Address): Promise<string | undefined> {
    if (!this.config.allowSelfPay) return "allowSelfPay is false in the keeper configuration"
    const config = await this.client().readContract({ address: this.config.deployment.leverageModule, abi: leverageModuleAbi, functionName: "getAutomationConfig", args: [safe] })
    if (!isAddressEqual(config.requiredPaymaster, zeroAddress)) return `the Safe requires paymaster ${config.requiredPaymaster} on chain`
    const budget = await this.client().readContract({ address: this.config.deployment.leverageModule, abi: leverageModuleAbi, functionName: "getSelfPayBudget", args: [safe] })
    if (budget.maxWeiPerEpoch === 0n) return "the Safe has no self-pay budget on chain (setSelfPayBudget)"
    return undefined
  }

  /**
   * Gas limits of a self-paid operation, from the Safe's own caps. Alto 0.0.20 replaces the caller's state override
   * with its own sender-balance override when there is no paymaster, so the module's caps cannot be lifted for
   * estimation and a self-paid operation is sent with fixed limits (unused gas is refunded, minus the EntryPoint's
   * 10% penalty on unused execution gas).
   */
  private async selfPayGasLimits(safe: Address) {
    const c = await this.client().readContract({ address: this.config.deployment.leverageModule, abi: leverageModuleAbi, functionName: "getAutomationConfig", args: [safe] })
    const min = (a: bigint, b: number) => (a < BigInt(b) ? a : BigInt(b))
    return {
      verificationGasLimit: min(400_000n, c.maxVerificationGasLimit),
      callGasLimit: min(2_500_000n, c.maxCallGasLimit),
      preVerificationGas: min(150_000n, c.maxPreVerificationGas),
    }
  }

  private async send(rt: SafeRuntime, block: bigint, plan: ChainPlan, replace: PendingOperation | undefined, solverPlan?: Plan): Promise<void> {
    const safe = rt.config.address
    const client = this.client()
    const account = await this.keeperAccount(rt)
    await validateRebalance(client, { safe, keeper: this.keeperKey.address, plan, deployments: this.deployments })
    const callData = encodeRebalanceCallData({ keeper: this.keeperKey.address, plan })
    const nonce = replace ? BigInt(replace.nonce) : await account.getNonce()
    const stateOverride = await getKeeperEstimationStateOverride({ client, module: this.config.deployment.leverageModule, safe })
    let fees = await (this.estimateFees as NonNullable<typeof this.estimateFees>)()
    if (replace) {
      const bump = (old: string, now: bigint) => {
        const bumped = (BigInt(old) * BigInt(100 + this.config.feeBumpPercent)) / 100n
        return bumped > now ? bumped : now
      }
      fees = { maxFeePerGas: bump(replace.maxFeePerGas, fees.maxFeePerGas), maxPriorityFeePerGas: bump(replace.maxPriorityFeePerGas, fees.maxPriorityFeePerGas) }
    }
    const attempt = (replace?.attempts ?? 0) + 1
    const intent: PendingOperation = {
      userOpHash: undefined,
      nonce: nonce.toString(),
      sentBlock: block.toString(),
      sentAt: Date.now(),
      maxFeePerGas: fees.maxFeePerGas.toString(),
      maxPriorityFeePerGas: fees.maxPriorityFeePerGas.toString(),
      sponsored: false,
      attempts: attempt,
      triggerBlock: (rt.triggerBlock ?? block).toString(),
      triggerAt: rt.triggerBlock !== undefined ? rt.triggerAt : Date.now(),
    }
    const submit = async (bundler: BundlerClient, sponsored: boolean) => {
      this.store.setPending(safe, { ...intent, sponsored })
      this.dispatched.delete(safe.toLowerCase())
      const hash: unknown = await bundler.sendUserOperation({
        account,
        callData,
        nonce,
        stateOverride,
        ...(sponsored ? {} : await this.selfPayGasLimits(safe)),
        maxFeePerGas: fees.maxFeePerGas,
        maxPriorityFeePerGas: fees.maxPriorityFeePerGas,
      } as Parameters<BundlerClient["sendUserOperation"]>[0])
      if (typeof hash !== "string" || !/^0x[0-9a-fA-F]{64}$/.test(hash)) throw new InvalidBundlerAnswerError(hash)
      return hash as Hex
    }
    let userOpHash: Hex
    let sponsored = this.sponsoredBundler !== undefined
    try {
      try {
        if (!this.sponsoredBundler) {
          const blocked = await this.selfPayBlocked(safe)
          if (blocked) throw new SelfPayNotAllowedError({ safe, reason: `no paymasterUrl is configured and ${blocked}` })
          userOpHash = await submit(this.bundler as BundlerClient, false)
        } else userOpHash = await submit(this.sponsoredBundler, true)
      } catch (error) {
        if (!sponsored || !isPaymasterRefusal(error)) throw error
        this.alert(safe, block, "paymaster-refused", error)
        const blocked = await this.selfPayBlocked(safe)
        if (blocked) throw new SelfPayNotAllowedError({ safe, reason: blocked, cause: error as Error })
        this.logger.warn({ safe }, "paymaster refused; the Safe pays its own gas (allowed by policy)")
        sponsored = false
        userOpHash = await submit(this.bundler as BundlerClient, false)
      }
    } catch (error) {
      if (isAlreadyInFlight(error)) {
        // AA25 "same sender and nonce already being processed" (or already in the mempool): an operation at this nonce
        // is in flight, e.g. the one a resend was meant to replace. Not a failure: keep tracking the nonce (its log
        // search from the original block), and wait `resubmitAfterBlocks` from now before trying again.
        const kept: PendingOperation = replace
          ? { ...replace, attempts: attempt, waitFromBlock: block.toString() }
          : { ...intent, sponsored, waitFromBlock: block.toString() }
        this.store.setPending(safe, kept)
        this.metrics.inc("levpilot_already_in_flight_total", "Sends the bundler answered with an operation already in flight at that nonce (tracked, not failed).", { safe })
        this.logger.info({ safe, nonce: nonce.toString(), attempt, userOpHash: kept.userOpHash, err: shortMessage(error) }, "the bundler already has an operation at this nonce; tracking it")
        this.emit({ type: "tracking", safe, block, nonce, reason: "already-in-flight", message: shortMessage(error) })
        return
      }
      const dispatched = this.dispatched.has(safe.toLowerCase())
      if (dispatched && !isConnectionRefused(error) && !causes(error).some((e) => e instanceof RpcRequestError)) {
        // The request reached the bundler but the answer is unusable (not JSON, cut off, wrong shape, timeout): the
        // operation may be in its mempool. Keep the intent (no hash) and let the chain decide: `track` finds it by
        // nonce, or resubmits the same nonce after `resubmitAfterBlocks`.
        this.store.setPending(safe, { ...intent, sponsored })
        this.alert(safe, block, "send-failed", error)
        this.logger.warn({ safe, nonce: nonce.toString(), attempt }, "unusable answer to eth_sendUserOperation; keeping the intent and tracking the nonce on chain")
        this.emit({ type: "tracking", safe, block, nonce, reason: "ambiguous-answer", message: shortMessage(error) })
        return
      }
      this.store.setPending(safe, replace && !isUnreachable(error) ? undefined : replace)
      if (error instanceof SelfPayNotAllowedError) {
        this.alert(safe, block, "paymaster-refused", error)
        const delay = this.backoff(rt)
        this.logger.warn({ safe, retryInMs: delay }, "operation not sent")
        return
      }
      if (isUnreachable(error)) {
        const wrapped = new BundlerUnavailableError({ url: this.config.bundlerUrl, cause: error as Error })
        this.alert(safe, block, "bundler-unavailable", wrapped)
        const delay = this.backoff(rt)
        this.logger.warn({ safe, retryInMs: delay }, "bundler unavailable; retrying with backoff")
        return
      }
      throw getLeverageError(error, { keeper: this.keeperKey.address })
    }
    this.store.setPending(safe, { ...intent, userOpHash, sponsored })
    rt.failures = 0
    this.metrics.inc("levpilot_userops_sent_total", "Keeper UserOperations accepted by the bundler.", { safe, paid_by: sponsored ? "paymaster" : "safe" })
    const sigma = solverPlan ? Object.fromEntries([...rt.volatility].filter(([id]) => solverPlan.subAccounts.includes(id)).map(([id, v]) => [id, Number(v.estimate().sigma.toPrecision(4))])) : undefined
    this.logger.info({ safe, userOpHash, nonce: nonce.toString(), sponsored, attempt, block: Number(block), actions: plan.actions.length, sigma }, "rebalance sent")
    this.emit({ type: "sent", safe, block, userOpHash, nonce, sponsored, attempt, plan })
  }

  /** One pass over every Safe at the latest block (`--once`, tests). */
  async runOnce(): Promise<void> {
    const block = await this.client().getBlockNumber({ cacheTime: 0 })
    this.lastBlock = block
    await Promise.all([...this.safes.keys()].map((safe) => this.processSafe(safe, block)))
  }

  /**
   * Follows the operations in flight after {@link runOnce} (`--once`): on every new block each Safe with a pending
   * operation is tracked (and resubmitted when due) until none is left or `timeoutMs` has passed.
   *
   * @returns The Safes whose operation is still pending at the timeout (empty when everything landed).
   */
  async settle(timeoutMs: number): Promise<Address[]> {
    const until = Date.now() + timeoutMs
    let last = this.lastBlock
    for (;;) {
      const pending = [...this.safes.keys()].filter((safe) => this.store.pending(safe) !== undefined)
      if (pending.length === 0 || Date.now() >= until) return pending
      await new Promise((resolve) => setTimeout(resolve, this.config.pollIntervalMs))
      let block: bigint
      try {
        block = await this.client().getBlockNumber({ cacheTime: 0 })
      } catch (error) {
        this.metrics.inc("levpilot_rpc_errors_total", "RPC errors while polling blocks.")
        this.logger.warn({ err: shortMessage(error) }, "RPC error while polling for blocks; retrying")
        continue
      }
      if (block === last) continue
      last = block
      this.lastBlock = block
      await Promise.all(pending.map((safe) => this.processSafe(safe, block)))
    }
  }

  /** The persisted in-flight operation of a Safe (tests, status). */
  pending(safe: Address): PendingOperation | undefined {
    return this.store.pending(safe)
  }
}

/**
 * The solver's cost model the keeper uses: the configured gas price and native token price.
 *
 * @returns The cost model.
 */
export function keeperCosts(config: Pick<KeeperConfig, "costs">): SolverInput["costs"] {
  return { gasPrice: config.costs.gasPriceGwei * 1e-9 * config.costs.nativePrice, gasPerAction: DEFAULT_GAS_PER_ACTION, baseGas: 150_000, boostEdgeBps: 20 }
}

/**
 * One line per action, human units.
 *
 * @returns e.g. `["WithdrawFromPool 1200.5 0xabc… -> sub 0", "Repay 1200.5 -> sub 0"]`.
 */
export function describePlan(plan: Plan): string[] {
  return plan.actions.map((a) => `${a.kind} ${Number(a.amount.toPrecision(8))}${a.pool ? ` ${a.pool.slice(0, 10)}…` : ""} -> ${(plan.subAccounts[a.subAccount] ?? "").slice(0, 10)}…`)
}
