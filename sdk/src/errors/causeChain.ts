/** Links of a cause chain followed at most (a longer chain is cut there; a cycle ends at its first repeated link). */
export const MAX_CAUSE_DEPTH = 32

/**
 * The first link of `error`'s cause chain, `error` itself first, for which `predicate` holds, or undefined. The chain
 * follows `cause` of any object (viem's `BaseError` and a plain `Error` with `cause` alike, as viem's `BaseError.walk`
 * does past its first link), each link once and at most MAX_CAUSE_DEPTH links: unlike `BaseError.walk`, which recurses
 * without end (RangeError: maximum call stack size exceeded) on a cyclic chain, a cycle ends the walk. The SDK's and the
 * keeper's one walk of what a failure carries.
 *
 * @param error - Any caught value (a non-object is a chain of one link).
 * @param predicate - Called once per link, in order; the walk stops at the first link for which it returns true.
 * @returns The first matching link, or undefined.
 * @example firstInCauseChain(error, (e) => e instanceof RpcRequestError)
 */
export function firstInCauseChain(error: unknown, predicate: (link: unknown) => boolean): unknown {
  const seen = new Set<unknown>()
  for (let e: unknown = error; !seen.has(e) && seen.size < MAX_CAUSE_DEPTH; e = (e as { cause?: unknown }).cause) {
    if (predicate(e)) return e
    seen.add(e)
    if (e === null || typeof e !== "object" || !("cause" in e) || e.cause === undefined) return undefined
  }
  return undefined
}

/**
 * Whether `predicate` holds for a link of `error`'s cause chain ({@link firstInCauseChain}: cycle-safe, at most
 * MAX_CAUSE_DEPTH links).
 *
 * @example someInCauseChain(error, (e) => e instanceof TypeError)
 */
export function someInCauseChain(error: unknown, predicate: (link: unknown) => boolean): boolean {
  return firstInCauseChain(error, predicate) !== undefined
}
