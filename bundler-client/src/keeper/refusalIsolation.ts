/**
 * Isolating the sub-accounts that make a plan refused plan-wide (issue 11 items 9 and 10; reviews rr11j J1, rr11k K1/K2,
 * rr11l L1-L4): a pure, deterministic group test over a plan's sub-accounts, with a hard simulation budget.
 *
 * The module refuses some plans as a whole, naming no sub-account (`ValueLossExceeded`: the loss check is its last
 * post-condition, over the plan's total). Such a refusal says that the SET is refused, not which member is at fault: a
 * swap's slippage, an Aave flash premium or a pool fee paid out by one sub-account, or a loss budget two sub-accounts
 * only exceed together (non-monotone: each accepted alone). This unit finds, within `budget` simulations, a subset the
 * simulation accepts, keeping the most urgent sub-accounts, and the sub-accounts whose plan ALONE is refused.
 *
 * Guarantees (property-tested in refusalIsolation.property.test.ts):
 * - a sub-account is blamed (`culprits`) only when a subset of exactly that one sub-account was refused plan-wide;
 *   `named` only when the simulation named it;
 * - at most `budget` calls to `simulate`; the whole set is simulated first (unless its verdict is given), so when it is
 *   accepted everyone is sent in one simulation;
 * - every id ends in exactly one of `send`, `culprits`, `named`, `untried` (`untried`: not decided within the budget,
 *   with no plan without the others, or in an accepted subset but not in its plan (`sent`): never silently dropped by
 *   the caller, see safeStep.ts);
 * - the search stops at the first accepted subset, since in the keeper an accepted simulation IS the send (the SDK's
 *   `sendRebalance` simulates and sends in one call: issue 11 item 3, one send path). To make that first accepted
 *   subset large and urgent, it only tries the set still in play and its most urgent prefixes, halving.
 *
 * Search: `active` = the ids still in play (most urgent first). Its verdict refused, the shortest refused prefix is
 * looked for by halving (`R` = a prefix of `active` known refused, split into its more urgent half `U` and the rest `L`):
 * first `active` without `L` (when that differs from `U`: accepted, it is sent, the largest send the level allows),
 * then `U` alone (refused: `R = U`; accepted: `U` is sent; with no plan: `L` alone instead). A refused `R` of one id is
 * a culprit (refused alone): it leaves `active`, and `active` is tried again; refused again, `active` without the rest of
 * the first-level half the culprit came from is tried next (review rr11m M3: when the most urgent are refused alone, the
 * ones behind them are sent in the first block), then halving goes on. Deterministic: the same verdicts give the same
 * calls. Costs about 2 log2(n) + 2 simulations per culprit.
 */

/** A simulation's verdict on a subset of the plan's sub-accounts. */
export type IsolationVerdict =
  /**
   * The simulation accepted the subset's plan (in the keeper: it was sent). `sent`: the ids the accepted plan lists when
   * fewer than the subset (a member with no plan without one left out of the subset, e.g. its donor: review rr11m M1);
   * the rest of the subset is not sent (`untried`, why `sent`). Omitted: the whole subset.
   */
  | { kind: "accepted"; sent?: readonly string[] | undefined }
  /** Refused naming no sub-account (plan-wide: a loss-class module error, or the rule book's plan-wide refusal). */
  | { kind: "refused" }
  /** Refused naming this sub-account (lower case, one of the subset): it leaves the search. */
  | { kind: "named"; id: string }
  /** Nothing to simulate: no plan for this subset (e.g. a rescue funded by a donor left out): no information. */
  | { kind: "empty" }

/** What the search decided; each input id is in exactly one list. */
export type Isolation = {
  /** The ids of the accepted plan (most urgent first), when one was found: the search stopped there. */
  send?: string[] | undefined
  /** Ids whose subset of one (that id alone) was refused plan-wide, in the order found. */
  culprits: string[]
  /** Ids the simulation named in a refusal. */
  named: string[]
  /** Ids not decided: the budget ran out, a subset without them was sent, or no subset with them had a plan. */
  untried: string[]
  /** Why `untried` is not empty: `budget` spent, `sent` (an accepted subset left them for the next operation), or `no-plan`. */
  why?: "budget" | "sent" | "no-plan" | undefined
  /** Calls made to `simulate`. */
  simulations: number
}

/**
 * Isolates the sub-accounts that make `ids`' plan refused.
 *
 * @param ids - The plan's sub-accounts (lower case, distinct), most urgent first.
 * @param budget - The most calls to `simulate` (a non-negative integer; 0: only `whole` is used).
 * @param simulate - Simulates the plan of a subset of `ids` (most urgent first); may throw (propagated: e.g. a token
 *   paymaster's pre-charge, which the keeper retries with the same step's budget).
 * @param whole - The verdict on `ids` itself when already known (not counted against `budget`).
 * @returns Where each id ended, and the simulations made.
 */
export async function isolateRefusals({
  ids,
  budget,
  simulate,
  whole,
}: {
  ids: readonly string[]
  budget: number
  simulate: (subset: string[]) => Promise<IsolationVerdict>
  whole?: IsolationVerdict | undefined
}): Promise<Isolation> {
  let active = [...ids]
  const culprits: string[] = []
  const named: string[] = []
  let simulations = 0
  // `id` leaves the search into `list` (`named` or `culprits`).
  const leave = (list: string[], id: string) => {
    list.push(id)
    active = active.filter((x) => x !== id)
  }
  // Subsets already refused plan-wide in this search (sorted, comma-joined): not simulated again (a culprit's leaving
  // can make `active` a set just refused).
  const refusedSets = new Set<string>(whole?.kind === "refused" ? [[...ids].sort().join(",")] : [])
  const test = async (subset: string[]): Promise<IsolationVerdict | undefined> => {
    const key = [...subset].sort().join(",")
    if (refusedSets.has(key)) return { kind: "refused" }
    if (simulations >= budget) return undefined
    simulations += 1
    const v = await simulate([...subset])
    if (v.kind === "refused") refusedSets.add(key)
    // A name outside the subset is no information about it (the caller's bug or another plan's): treated as empty.
    return v.kind === "named" && !subset.includes(v.id) ? { kind: "empty" } : v
  }
  // `send`: the accepted subset, cut to the ids its plan lists (`sent`); the rest of `active` is untried.
  const done = (why: Isolation["why"], subset?: string[], accepted?: IsolationVerdict): Isolation => {
    const listed = accepted?.kind === "accepted" ? accepted.sent : undefined
    const send = subset === undefined || listed === undefined ? subset : subset.filter((id) => listed.includes(id))
    const untried = active.filter((id) => !send?.includes(id))
    return { send, culprits, named, untried, why: untried.length === 0 ? undefined : send !== undefined ? "sent" : why, simulations }
  }
  let verdict = whole ?? (active.length > 0 ? await test(active) : undefined)
  // The refused half found at the first level of the last round, less the culprit that round found (review rr11m M3).
  let suspects: string[] = []
  for (;;) {
    if (active.length === 0) return done(undefined)
    if (verdict === undefined) return done("budget")
    if (verdict.kind === "accepted") return done(undefined, active, verdict)
    if (verdict.kind === "empty") return done("no-plan")
    if (verdict.kind === "named") {
      leave(named, verdict.id)
      verdict = active.length > 0 ? await test(active) : undefined
      continue
    }
    // `active` refused again after a culprit left: the refused half it came from may hold more culprits (the most urgent
    // ones refused alone, in a crash). Before halving again, `active` without that half, in one simulation: accepted,
    // the sub-accounts behind them are sent in this block (review rr11m M3); else no narrowing, halving goes on.
    if (suspects.length > 0) {
      const others = active.filter((id) => !suspects.includes(id))
      suspects = []
      if (others.length > 0) {
        const c = await test(others)
        if (c === undefined) return done("budget")
        if (c.kind === "accepted") return done("sent", others, c)
        if (c.kind === "named") {
          leave(named, c.id)
          verdict = active.length > 0 ? await test(active) : undefined
          continue
        }
      }
    }
    // `refused` is known refused (tested as exactly this set); halve it, most urgent half first.
    let refused = active
    let restart = false
    let firstHalf: string[] | undefined
    while (refused.length > 1) {
      const half = Math.ceil(refused.length / 2)
      const urgent = refused.slice(0, half)
      const rest = refused.slice(half)
      // First without the less urgent half only (those outside `refused` kept): accepted, the largest send this level
      // can give; refused, no narrowing (the cause may be outside), so the urgent half is tried alone next.
      const wide = active.filter((id) => !rest.includes(id))
      if (wide.length > urgent.length) {
        const w = await test(wide)
        if (w === undefined) return done("budget")
        if (w.kind === "accepted") return done("sent", wide, w)
        if (w.kind === "named") {
          leave(named, w.id)
          restart = true
          break
        }
      }
      let v = await test(urgent)
      let tried = urgent
      if (v?.kind === "empty") {
        v = await test(rest)
        tried = rest
      }
      if (v === undefined) return done("budget")
      if (v.kind === "accepted") return done("sent", tried, v)
      if (v.kind === "empty") return done("no-plan")
      if (v.kind === "named") {
        leave(named, v.id)
        restart = true
        break
      }
      firstHalf ??= tried
      refused = tried
    }
    // A refused subset of one id: a culprit (refused alone). Either way `active` changed and is tried again.
    if (!restart) {
      leave(culprits, refused[0] as string)
      suspects = (firstHalf ?? []).filter((id) => id !== refused[0])
    }
    verdict = active.length > 0 ? await test(active) : undefined
  }
}
