/**
 * Runs at most `concurrency` of the tasks given to the returned function at once (the rest wait in order). A task may
 * give its slot back before it ends by calling the `release` it is passed (e.g. a step once its Safe is checked, while
 * its send goes on); calling it again, or the task's end after it, frees nothing more.
 *
 * @returns `run(task)`, resolving with the task's result.
 */
export function limiter(concurrency: number) {
  return slotQueue(() => concurrency).run
}

/**
 * The queue behind {@link limiter} and {@link adaptiveLimiter}: starts waiting tasks in order while fewer than `capacity()`
 * run. `next()` starts what a raised capacity now allows.
 */
function slotQueue(capacity: () => number) {
  let active = 0
  const queue: (() => void)[] = []
  const next = () => {
    while (active < capacity()) {
      const start = queue.shift()
      if (!start) return
      active += 1
      start()
    }
  }
  const run = <T>(task: (release: () => void) => Promise<T>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      queue.push(() => {
        let held = true
        const release = () => {
          if (!held) return
          held = false
          active -= 1
          next()
        }
        Promise.resolve()
          .then(() => task(release))
          .then(resolve, reject)
          .finally(release)
      })
      next()
    })
  return { run, next }
}

/**
 * A {@link limiter} whose limit follows what a downstream service (the bundler, the paymaster) keeps up with: at most
 * `max` tasks at once, halved (down to 1) when a task reports the service overloaded (a request that timed out, an
 * unusable answer), grown by 1 (up to `max`) per `limit` tasks the service accepted in a row (TCP's additive
 * increase: one step per window of sends, so it probes the service's capacity slowly). A congestion is counted once: only an
 * overload reported by a task started under the current limit (its `epoch()` at start) halves it; the others of the
 * same burst were started under the old one.
 */
export type AdaptiveLimiter = {
  /** Runs `task` in a slot (as {@link limiter}). */
  run: <T>(task: (release: () => void) => Promise<T>) => Promise<T>
  /** The current limit's generation: read it when a task starts, pass it to {@link AdaptiveLimiter.overloaded}. */
  epoch: () => number
  /** The service did not keep up with a task started at `epoch`. */
  overloaded: (epoch: number) => void
  /** The service accepted a task (the overloads of tasks started before reset the count). */
  succeeded: () => void
  /** The current limit. */
  limit: () => number
}

/** @returns An {@link AdaptiveLimiter} starting at `max`. */
export function adaptiveLimiter(max: number): AdaptiveLimiter {
  let cap = max
  let generation = 0
  let accepted = 0
  const { run, next } = slotQueue(() => cap)
  return {
    run,
    epoch: () => generation,
    overloaded: (epoch) => {
      if (epoch !== generation) return
      generation += 1
      accepted = 0
      cap = Math.max(1, Math.floor(cap / 2))
    },
    succeeded: () => {
      if (cap >= max || ++accepted < cap) return
      accepted = 0
      cap += 1
      next()
    },
    limit: () => cap,
  }
}
