import type { ClampRuleRefusedError } from "./errors.js"
import type { AloneFact, AloneTable } from "./runtime.js"

/**
 * Simulations per step (one block of one Safe, the token paymaster's retries included) for plans refused plan-wide by a
 * loss-class refusal: each such plan's own simulation and the probes isolating its cause (`isolateRefusals`: halving the
 * refused plan's sub-accounts, most urgent first). Each is one `sendRebalance` attempt (its simulation, then the send
 * when accepted). Shared fairly between the loan assets' plans of the step (`StepIsolation.share`), so one asset's
 * culprits cannot spend another's. When spent, the sub-accounts not yet decided are left out of the block with a
 * `nothing-to-send` alert (stage `undecided`) when out of their band, and tried again at the next block.
 *
 * The real bound on the simulations of one step (review rr11m M3-b): this budget, plus REMEMBERED_RETESTS_PER_STEP
 * re-tests of remembered culprits, plus one simulation per further plan attempted once it is spent (the next loan
 * asset's plan, or the plan re-built after a sub-account the simulation named is left out).
 */
export const REFUSAL_SIMULATIONS_PER_STEP = 8

/**
 * Sub-accounts found refused alone at earlier steps (`chain-rule` entries of `SafeRuntime.aloneFacts`) are left out of the step's plans up
 * front (no simulation spent on them), and at most this many of them are re-tested alone per step (outside
 * REFUSAL_SIMULATIONS_PER_STEP), the one tested longest ago first (then the most urgent): accepted, it is sent and its
 * blame forgotten (review rr11m M4/M5). Only in a step that sent nothing else (an accepted simulation is the send). A
 * re-test the token paymaster's pre-charge refused is not counted: the paymaster's retry re-tests (review rr11n N1).
 */
export const REMEMBERED_RETESTS_PER_STEP = 1

/**
 * Probes per step after an ambiguous HTTP 5xx answer (`isAmbiguousAnswer`) to a plan of several while the alone table
 * (`SafeRuntime.aloneFacts`) holds no plan accepted after the same answer (no size conclusion; reviews rr11v V1/V2/V4,
 * rr11y): one, so the bundler down costs the step two sends (the plan and this probe), not a narrowing's
 * REFUSAL_SIMULATIONS_PER_STEP. The probe is the plan without the sub-accounts the table holds refused alone, else one
 * sub-account alone in rotation (the most urgent with no entry in the table; all tried: the most urgent again). Accepted:
 * sent, and written `accepted` (the answer is the plans' size for ALONE_FACT_BLOCKS).
 */
export const AMBIGUOUS_PROBES_PER_STEP = 1

/**
 * Plans of several probed per step by the narrowing of an ambiguous HTTP 5xx answer under a size conclusion (within the
 * plan's share of REFUSAL_SIMULATIONS_PER_STEP; the probes alone of the table's `unconfirmed` entries come first and are
 * not counted): enough to halve a module-size plan (8, or the 6 left) to 4, 2, 1 (or 3, 2, 1 and the rest without that
 one: review rr11y Y1, a second sub-account answered alone). A plan no larger than one accepted after the same
 * answer answered alike is the bundler's outage: the conclusion is dropped at once (review rr11y Y4), so an outage costs
 * at most 1 + the unconfirmed + this many sends in its first block, then two.
 */
export const AMBIGUOUS_NARROW_PROBES = 4


/**
 * The blame an isolation found (sub-accounts left out, culprits, refusal runs, culprits remembered), held apart from the
 * step's until {@link ProvisionalBlame.commit}: the isolation of a plan's failure naming none of its sub-accounts
 * (`SafeRuntime.recentFailures` slot `unnamed`) blames only when a subset of the plan was accepted and sent; when none was (the same
 * failure for each sub-account alone: the bundler's, not theirs) or a probe ended the step, the record is dropped and
 * nothing was blamed.
 */
export class ProvisionalBlame {
  /** Lower-case ids left out of the step's plans. */
  readonly excluded = new Set<string>()
  /** Lower-case ids found refused alone (`StepIsolation.culprits`). */
  readonly culprits = new Set<string>()
  /** The step's refusal runs by run key (`solveAndSend`'s `ruleRefusedNow`). */
  readonly stepRuns = new Map<string, ClampRuleRefusedError>()
  /** The isolation's refusal runs by run key (`StepIsolation.runs`). */
  readonly runs = new Map<string, ClampRuleRefusedError>()
  /** Culprits to remember (`chain-rule` entries of `SafeRuntime.aloneFacts`), by lower-case id. */
  readonly memory = new Map<string, AloneFact>()

  /** Applies the record to the step's collections and the Safe's alone table (created when the record remembers one). */
  commit(step: { excluded: Set<string>; stepRuns: Map<string, ClampRuleRefusedError>; isolation: StepIsolation; rt: { aloneFacts?: AloneTable | undefined } }): void {
    for (const id of this.excluded) step.excluded.add(id)
    for (const id of this.culprits) step.isolation.culprits.add(id)
    for (const [key, error] of this.stepRuns) step.stepRuns.set(key, error)
    for (const [key, error] of this.runs) step.isolation.runs.set(key, error)
    if (this.memory.size > 0) {
      const table = (step.rt.aloneFacts ??= { facts: new Map<string, AloneFact>() })
      for (const [id, entry] of this.memory) table.facts.set(id, entry)
    }
  }
}

/**
 * What one step (`SafeStep.run`, across the token paymaster's retries of `solveAndSend`) spends and learns isolating
 * plan-wide refusals: the simulations against REFUSAL_SIMULATIONS_PER_STEP, the re-tests of remembered culprits against
 * REMEMBERED_RETESTS_PER_STEP, the sub-accounts found refused alone in this step (left out of the retries) and their
 * refusal runs (carried into the retry's report, so a retry neither ends nor re-alerts them).
 */
export class StepIsolation {
  /** Simulations spent against REFUSAL_SIMULATIONS_PER_STEP (refused plans' own and the probes). */
  spent = 0
  /** Re-tests alone of remembered culprits made against REMEMBERED_RETESTS_PER_STEP. */
  retests = 0
  /** Probes after an ambiguous answer with no size conclusion, against AMBIGUOUS_PROBES_PER_STEP. */
  ambiguousProbes = 0
  /** Lower-case ids found refused alone in this step. */
  readonly culprits = new Set<string>()
  /** Their refusal runs, and the remembered ones' runs continued, by run key. */
  readonly runs = new Map<string, ClampRuleRefusedError>()
  /**
   * The sub-accounts (as the plan lists them) of the plan whose failure ended the step, when one did: named by the step's
   * `send-failed` alert (review rr11p P6 residual). Cleared at each of the step's attempts.
   */
  failedPlan: readonly string[] | undefined
  /**
   * Set when the step's failure is a size-dependent Safe-wide one that even the plan of one sub-account hit (review rr11s
   * S1's narrowing): the alert says so. Cleared with `failedPlan`.
   */
  narrowedToOne: true | undefined
  /**
   * The sub-accounts (lower-case ids, most urgent first) whose plan alone the narrowing tried and the bundler or paymaster
   * refused for the same size-dependent Safe-wide cause, each with that refusal's own words (its numbers: the prefund,
   * the budget, the sponsor's cap, as the answer gives them; review rr11t T1). Named by the step's alert. Cleared with
   * `failedPlan`.
   */
  tooBigAlone: { id: string; reason: string }[] = []

  /**
   * The probes the isolation of a refused plan may make: the budget left, shared equally (rounded up) between this plan
   * and the plans ranked after it in its attempt (`plans`, this one included, at least 1).
   */
  share(plans: number): number {
    const left = Math.max(0, REFUSAL_SIMULATIONS_PER_STEP - this.spent)
    return Math.ceil(left / Math.max(1, plans))
  }

  /**
   * Forgets a remembered culprit no longer blamed (sent, no plan alone, or named by the simulation): its memory entry and
   * its run in this step's refusals (`stepRuns`) and in the isolation's, unless the step continues it for another reason.
   */
  forget(table: AloneTable | undefined, id: string, stepRuns: Map<string, ClampRuleRefusedError>): void {
    const before = table?.facts.get(id)
    if (before?.cause !== "chain-rule" || before.key === undefined) return
    table?.facts.delete(id)
    stepRuns.delete(before.key)
    this.runs.delete(before.key)
  }

  /** Whether a remembered culprit may still be re-tested alone in this step. */
  canRetest(): boolean {
    return this.retests < REMEMBERED_RETESTS_PER_STEP
  }

  /**
   * The remembered culprit to re-test alone: among `candidates` (lower-case ids, most urgent first), the one whose last
   * test alone is oldest (ties: the most urgent), so several are re-tested in rotation.
   */
  static nextRetest(facts: ReadonlyMap<string, AloneFact>, candidates: readonly string[]): string | undefined {
    let best: string | undefined
    for (const id of candidates) {
      const f = facts.get(id)
      if (f?.cause !== "chain-rule") continue
      if (best === undefined || f.seen < (facts.get(best) as AloneFact).seen) best = id
    }
    return best
  }
}

/**
 * Steps in a row a due sub-account's plan (below its band) may be ranked but not reached, a more urgent loan asset's plan
 * sent first each time (one operation per step), or left for the next operation by the module's limits (review rr11o
 * O4), before it has the turn, with a `nothing-to-send` alert (stage `unreached`, then at most once per
 * RULE_REFUSAL_REALERT_BLOCKS). Plans with the turn go first, the one waiting longest first (its oldest `since`; review
 * rr11o O2), and the turn is spent when its plan is attempted, whatever the outcome (review rr11o O1); in a step without
 * a turn the most urgent plan goes first. So when plans stay due whatever is sent (operations reverting on chain, a
 * stream of newly due ones), each of N due plans is attempted within UNREACHED_TURN_BLOCKS + N - 1 blocks of becoming
 * due and then at least once every max(N, UNREACHED_TURN_BLOCKS + 1) blocks (review rr11n N4); attempted, not landed: a
 * plan the simulation refuses goes through the isolation. A due sub-account the isolation leaves behind an accepted
 * subset of its own plan (why `sent`, not a rejoined culprit) is unreached too, and its turn puts it first in that plan's
 * isolation: accepted alone, it is sent within UNREACHED_TURN_BLOCKS + 1 blocks, and again every UNREACHED_TURN_BLOCKS + 1
 * while it stays left behind (review rr11p P5: never sent).
 */
export const UNREACHED_TURN_BLOCKS = 3n

/**
 * The unreached turn at one step (UNREACHED_TURN_BLOCKS), read from the Safe's unreached runs (`SafeRuntime.unreached`,
 * by lower-case id): a due sub-account left unreached UNREACHED_TURN_BLOCKS steps in a row or more has the turn.
 */
export class StepTurns {
  constructor(
    private readonly unreached: ReadonlyMap<string, { since: bigint | undefined }> | undefined,
    private readonly block: bigint,
  ) {}

  /** The block its unreached run started when `id` (any case) has the turn, else undefined. */
  since(id: string): bigint | undefined {
    const since = this.unreached?.get(id.toLowerCase())?.since
    return since !== undefined && this.block - since >= UNREACHED_TURN_BLOCKS ? since : undefined
  }

  /** Whether `id` (any case) has the turn. */
  has(id: string): boolean {
    return this.since(id) !== undefined
  }

  /**
   * How long a plan of `ids` waited: the oldest `since` among its sub-accounts with the turn, the step's block when none
   * has it (ranks after every turn; review rr11o O2).
   */
  waited(ids: readonly string[]): bigint {
    let oldest = this.block
    for (const id of ids) {
      const since = this.since(id)
      if (since !== undefined && since < oldest) oldest = since
    }
    return oldest
  }

  /** `ids` with the turn first, the longest waiting first (review rr11p P5), then the others in their order. */
  first(ids: readonly string[]): string[] {
    const turns = ids.filter((id) => this.has(id)).sort((a, b) => Number((this.since(a) as bigint) - (this.since(b) as bigint)))
    return [...turns, ...ids.filter((id) => !turns.includes(id))]
  }
}
