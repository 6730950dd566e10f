import type { Logger } from "pino"
import type { KeeperMetrics } from "../metrics.js"

/** Error codes and messages of a Redis server that cannot be reached (as opposed to a command's own error). */
const unreachable = /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ECONNRESET|EPIPE|Connection is closed|connect ETIMEDOUT/i

/** Whether `error` says the Redis server cannot be reached (refused, unknown host, timeout, connection lost). */
export const isRedisUnreachable = (error: unknown): boolean => {
  const e = error as { code?: unknown; message?: unknown } | undefined
  return unreachable.test(String(e?.code ?? "")) || unreachable.test(String(e?.message ?? ""))
}

/** `url` without its password (`redis://user:***@host:port`), for logs. */
export const redactRedisUrl = (url: string): string => {
  try {
    const u = new URL(url)
    if (u.password) u.password = "***"
    return u.href.replace(/\/$/, "")
  } catch {
    return "(unparsable redis URL)"
  }
}

/** Help text of the gauge `levpilot_redis_up`. */
const UP_HELP = "1 when the fleet's Redis server answers, 0 while it cannot be reached."

/**
 * Reports whether the fleet's Redis server can be reached, from every connection's `error` and `ready` events, without
 * flooding the log: ioredis and BullMQ retry a refused connection several times a second, each attempt an `error`.
 * The first failure logs one error line naming the server (`cannot reach Redis at redis://host:port: retrying`), a
 * failure that lasts logs again at most every `repeatMs` with the count of attempts in between, and the first
 * connection after it logs that Redis is reachable again. The gauge `levpilot_redis_up` is 1 or 0.
 */
export class RedisHealth {
  private down: { since: number; lastLogged: number; failures: number } | undefined
  private readonly url: string

  constructor(
    private readonly deps: { url: string; logger: Logger; metrics: KeeperMetrics; now?: () => number; repeatMs?: number },
  ) {
    this.url = redactRedisUrl(deps.url)
  }

  /**
   * A connection's error. Unreachable-server errors are counted and rate-limited.
   *
   * @returns Whether the error was one of those (the caller logs any other error itself).
   */
  error(error: unknown): boolean {
    if (!isRedisUnreachable(error)) return false
    const { logger, metrics } = this.deps
    const now = (this.deps.now ?? Date.now)()
    const message = (error as { message?: unknown } | undefined)?.message
    if (!this.down) {
      this.down = { since: now, lastLogged: now, failures: 1 }
      metrics.set("levpilot_redis_up", UP_HELP, {}, 0)
      logger.error({ redis: this.url, err: message }, `cannot reach Redis at ${this.url}: retrying`)
      return true
    }
    this.down.failures += 1
    if (now - this.down.lastLogged >= (this.deps.repeatMs ?? 30_000)) {
      logger.error({ redis: this.url, err: message, downForMs: now - this.down.since, failedAttempts: this.down.failures }, `still cannot reach Redis at ${this.url}: retrying`)
      this.down.lastLogged = now
    }
    return true
  }

  /** A connection is ready (connected and usable). */
  ready(): void {
    const { logger, metrics } = this.deps
    metrics.set("levpilot_redis_up", UP_HELP, {}, 1)
    if (!this.down) return
    logger.info({ redis: this.url, downForMs: (this.deps.now ?? Date.now)() - this.down.since, failedAttempts: this.down.failures }, `Redis at ${this.url} is reachable again`)
    this.down = undefined
  }
}
