import type { Logger } from "pino"
import { zeroAddress } from "viem"
import { getTransportFailure } from "@levpilot/sdk/errors"
import { solveByLoanAsset } from "../solver/solver.js"
import { DEFAULT_GAS_PER_ACTION, type Plan, type SolverInput, type SolverResult } from "../solver/types.js"
import type { Clock } from "./clock.js"
import type { KeeperClients } from "./clients.js"
import type { KeeperConfig } from "./config.js"
import type { KeeperEvents } from "./events.js"
import type { InclusionTracker } from "./inclusion.js"
import type { KeeperMetrics } from "./metrics.js"
import { readPortfolio, settleSwapAmounts, toChainPlan } from "./portfolio.js"
import { type SafeRuntime, backoff } from "./runtime.js"
import type { RebalanceSender } from "./sender.js"
import type { KeeperStateStore, PendingOperation } from "./stateFile.js"
import type { VolatilityFeed } from "./volatilityFeed.js"

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

/**
 * One block's work for one Safe: reconcile the operation in flight (tracker), else read the Safe from the chain, feed
 * the volatility estimate, solve, and send the plan (sender) or print it (dry run). Failures are alerted and back off.
 */
export class SafeStep {
  constructor(
    private readonly deps: {
      config: KeeperConfig
      clients: KeeperClients
      store: KeeperStateStore
      metrics: KeeperMetrics
      logger: Logger
      events: KeeperEvents
      clock: Clock
      tracker: InclusionTracker
      sender: RebalanceSender
      volatility: VolatilityFeed
      dryRun: boolean
    },
  ) {}

  /**
   * Runs the step unless the Safe is already being processed or backing off.
   *
   * @returns When the Safe's work for this block is done.
   */
  async run(rt: SafeRuntime, block: bigint): Promise<void> {
    if (rt.busy) return
    rt.busy = true
    const safe = rt.config.address
    try {
      if (this.deps.clock.now() < rt.backoffUntil) return
      let replace: PendingOperation | undefined
      const pending = this.deps.store.pending(safe)
      if (pending) {
        const verdict = await this.deps.tracker.track(rt, pending, block)
        if (verdict !== "resubmit") return
        replace = pending
      }
      await this.solveAndSend(rt, block, replace)
    } catch (error) {
      this.deps.events.alert(safe, block, getTransportFailure(error) ? "rpc-error" : "send-failed", error)
      backoff(rt, this.deps.config.retry, this.deps.clock.now())
    } finally {
      rt.busy = false
    }
  }

  private async solveAndSend(rt: SafeRuntime, block: bigint, replace: PendingOperation | undefined): Promise<void> {
    const { config, clients, store, metrics, logger, events, clock } = this.deps
    const safe = rt.config.address
    const snapshot = this.deps.volatility.apply(
      rt,
      await readPortfolio(clients.publicClient, { safe, deployment: config.deployment, risk: rt.config.risk, costs: keeperCosts(config), swap: config.swap }),
    )
    for (const s of snapshot.chain) {
      const labels = { safe, sub_account: s.subAccount }
      metrics.set("levpilot_health", "Health of each sub-account (collateral value x LLTV / debt).", labels, s.debt === 0n ? Number.POSITIVE_INFINITY : Number(s.health) / 1e18)
      metrics.set("levpilot_leverage", "Effective leverage of each sub-account.", labels, Number(s.leverage) / 1e18)
    }
    const outOfBand = snapshot.chain.some((s) => s.band !== "inside")
    if (!outOfBand) rt.triggerBlock = undefined
    else if (rt.triggerBlock === undefined) {
      rt.triggerBlock = snapshot.blockNumber
      rt.triggerAt = clock.now()
    }
    let result: SolverResult | undefined
    if (snapshot.input.subAccounts.length > 0) for (const r of solveByLoanAsset(snapshot.input).values()) if (r.plan && !result?.plan) result = r
    events.emit({ type: "observed", safe, block, snapshot, result })
    const plan = result?.plan
    if (!plan) {
      if (replace) {
        logger.info({ safe, nonce: replace.nonce }, "operation in flight no longer needed; its nonce stays the guard")
        store.setPending(safe, undefined)
      }
      if (outOfBand) logger.debug({ safe, reasons: result?.outcomes.map((o) => o.reason) }, "out of band, no plan")
      return
    }
    let chainPlan = toChainPlan(plan)
    if (config.swap !== undefined && chainPlan.actions.some((a) => a.kind === "SellCollateral")) {
      const tokens = chainPlan.subAccounts.map((id) => {
        const s = snapshot.chain.find((c) => c.subAccount.toLowerCase() === id.toLowerCase())
        return { collateral: s?.collateralToken ?? zeroAddress, loan: s?.loanToken ?? zeroAddress }
      })
      chainPlan = await settleSwapAmounts(clients.publicClient, chainPlan, { ...config.swap, tokens })
    }
    if (this.deps.dryRun) {
      logger.info({ safe, block: Number(block), plan: describePlan(plan) }, "dry run: plan not sent")
      events.emit({ type: "plan", safe, block, plan: chainPlan, dryRun: true })
      return
    }
    await this.deps.sender.send(rt, snapshot.blockNumber, chainPlan, replace, plan)
  }
}
