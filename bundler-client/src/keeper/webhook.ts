import { createHash, createHmac } from "node:crypto"
import type { Logger } from "pino"
import { type Address, BaseError } from "viem"
import type { Clock } from "./clock.js"
import type { KeeperEvent } from "./events.js"
import type { WebhookSettings } from "./fleet/config.js"
import type { KeeperMetrics } from "./metrics.js"

/**
 * The JSON body of a webhook notification: the keeper event's fields (amounts and block numbers as decimal strings),
 * plus `id` (the same for every retry of one notification, so a receiver can drop duplicates), the keeper address,
 * the chain id and the time it was raised.
 */
export type WebhookPayload = { id: string; type: "alert" | "sent" | "included"; keeper: Address; chainId: number | undefined; at: string } & Record<string, unknown>

/**
 * The notification of a keeper event, when `settings.events` has its type.
 *
 * @returns The payload, or undefined for an event that is not posted.
 */
export function webhookPayload(event: KeeperEvent, context: { events: WebhookSettings["events"]; keeper: Address; chainId: number | undefined; now: number }): WebhookPayload | undefined {
  if (event.type !== "alert" && event.type !== "sent" && event.type !== "included") return undefined
  if (!context.events.includes(event.type)) return undefined
  const detail = event.type === "alert" ? event.kind : event.userOpHash
  const fields = JSON.parse(JSON.stringify(event, (_, v) => (typeof v === "bigint" ? v.toString() : v))) as Record<string, unknown>
  return { ...fields, id: `${event.type}:${event.safe}:${event.block}:${detail}`, type: event.type, keeper: context.keeper, chainId: context.chainId, at: new Date(context.now).toISOString() }
}

export type WebhookDeliveryErrorType = WebhookDeliveryError & { name: "WebhookDeliveryError" }
/** A webhook POST failed: no answer in time, a network error, or a status other than 2xx. */
export class WebhookDeliveryError extends BaseError {
  /** Whether trying again may help (network errors, timeouts, 408, 429, 5xx). */
  retryable: boolean
  status: number | undefined
  /** The receiver's URL, redacted ({@link redactWebhookUrl}). */
  url: string
  constructor({ url, status, retryable, cause }: { url: string; status?: number | undefined; retryable: boolean; cause?: Error | undefined }) {
    const shown = redactWebhookUrl(url)
    super(status === undefined ? `The webhook at ${shown} could not be reached.` : `The webhook at ${shown} answered HTTP ${status}.`, {
      cause: cause && scrubbedCause(cause, url),
      metaMessages: [retryable ? "The notification is retried with backoff." : "A client error is not retried: check the URL and the receiver."],
      name: "WebhookDeliveryError",
    })
    this.retryable = retryable
    this.status = status
    this.url = shown
  }
}

/**
 * The webhook URL as errors and logs show it (review rr16 F3, rr16b W1): its scheme and a fingerprint, the first 8 hex
 * digits of the SHA-256 of the whole URL as configured (`https://…#3f9a01c2`). No host, port, path, query, fragment or
 * userinfo is shown: receivers authenticate by the URL itself, in its path (Slack, Discord), its first path segment
 * (a Telegram bot token) or its host (a per-endpoint host such as `<id>.m.pipedream.net`). The fingerprint tells two
 * configured receivers apart without revealing either (32 bits of a hash of a URL that holds a secret).
 *
 * @returns The redacted URL, or `<invalid webhook URL>` when `url` does not parse.
 * @example redactWebhookUrl("https://hooks.slack.com/services/T0/B0/secret") // "https://…#" + 8 hex digits
 */
export function redactWebhookUrl(url: string): string {
  let u: URL
  try {
    u = new URL(url)
  } catch {
    return "<invalid webhook URL>"
  }
  return `${u.protocol}//…#${webhookUrlFingerprint(url)}`
}

/** The first 8 hex digits of the SHA-256 of `url` (UTF-8), as {@link redactWebhookUrl} shows it. */
export function webhookUrlFingerprint(url: string): string {
  return createHash("sha256").update(url, "utf8").digest("hex").slice(0, 8)
}

/**
 * The error `fetch` threw, without the URL: its message with the URL (as given and as parsed) replaced by the redacted
 * one, and the network cause's code (`ECONNREFUSED`, ...) kept. Node's "Request cannot be constructed from a URL that
 * includes credentials" names the whole URL.
 */
function scrubbedCause(cause: Error, url: string): Error {
  const shown = redactWebhookUrl(url)
  let href: string | undefined
  try {
    href = new URL(url).href
  } catch {}
  const scrub = (text: string) => [url, href].reduce<string>((t, raw) => (raw ? t.split(raw).join(shown) : t), text)
  const inner = (cause as { cause?: { code?: unknown; message?: unknown } }).cause
  const code = typeof inner?.code === "string" ? ` (${inner.code})` : ""
  const scrubbed = new Error(`${scrub(cause.message)}${code}`)
  scrubbed.name = cause.name
  return scrubbed
}

/**
 * POSTs one notification (`content-type: application/json`, `x-levpilot-signature: sha256=<hex HMAC of the body>`
 * when a secret is set, `x-levpilot-delivery: <id>`).
 *
 * @throws {WebhookDeliveryError} when the receiver does not answer 2xx within `timeoutMs`.
 */
export async function postWebhook(settings: Pick<WebhookSettings, "url" | "timeoutMs" | "secret">, id: string, body: string): Promise<void> {
  const headers: Record<string, string> = { "content-type": "application/json", "x-levpilot-delivery": id }
  if (settings.secret) headers["x-levpilot-signature"] = `sha256=${createHmac("sha256", settings.secret).update(body).digest("hex")}`
  let response: Response
  try {
    response = await fetch(settings.url, { method: "POST", headers, body, signal: AbortSignal.timeout(settings.timeoutMs) })
  } catch (error) {
    throw new WebhookDeliveryError({ url: settings.url, retryable: true, cause: error as Error })
  }
  await response.arrayBuffer().catch(() => undefined)
  if (response.ok) return
  const status = response.status
  throw new WebhookDeliveryError({ url: settings.url, status, retryable: status === 408 || status === 429 || status >= 500 })
}

/** Delay before attempt `attempt` (2, 3, ...): `backoffMs x 2^(attempt-2)`, at most 60 s. */
export const webhookBackoff = (backoffMs: number, attempt: number) => Math.min(60_000, backoffMs * 2 ** (attempt - 2))

/**
 * Posts keeper events to a webhook from this process (the embedded keeper): every alert and every rebalance by default
 * (`webhook.events`), each retried with exponential backoff (`backoffMs`, doubling, at most 60 s) up to `maxAttempts`,
 * without holding up the keeper. Failures are logged and counted (`levpilot_webhook_failures_total`); in fleet mode
 * the notifications go through the queue instead, so a retry survives the worker.
 */
export class WebhookNotifier {
  private readonly inflight = new Set<Promise<void>>()

  constructor(
    private readonly deps: {
      settings: WebhookSettings
      keeper: Address
      chainId: () => number | undefined
      logger: Logger
      metrics: KeeperMetrics
      clock: Clock
    },
  ) {}

  /** Starts delivering `event` when its type is posted; returns at once. */
  notify(event: KeeperEvent): void {
    const { settings, keeper, chainId, clock } = this.deps
    const payload = webhookPayload(event, { events: settings.events, keeper, chainId: chainId(), now: clock.now() })
    if (!payload) return
    const p = this.deliver(payload).finally(() => this.inflight.delete(p))
    this.inflight.add(p)
  }

  /** Waits for the notifications in flight, at most `timeoutMs`. */
  async flush(timeoutMs: number): Promise<void> {
    await Promise.race([Promise.allSettled([...this.inflight]), this.deps.clock.sleep(timeoutMs)])
  }

  private async deliver(payload: WebhookPayload): Promise<void> {
    const { settings, logger, metrics, clock } = this.deps
    const body = JSON.stringify(payload)
    for (let attempt = 1; ; attempt++) {
      try {
        await postWebhook(settings, payload.id, body)
        metrics.inc("levpilot_webhook_deliveries_total", "Webhook notifications delivered.", { type: payload.type })
        return
      } catch (error) {
        const e = error as WebhookDeliveryError
        if (!e.retryable || attempt >= settings.maxAttempts) {
          metrics.inc("levpilot_webhook_failures_total", "Webhook notifications dropped after their last attempt.", { type: payload.type })
          logger.error({ id: payload.id, attempt, err: e.shortMessage }, "webhook notification dropped")
          return
        }
        logger.warn({ id: payload.id, attempt, err: e.shortMessage }, "webhook notification failed; retrying")
        await clock.sleep(webhookBackoff(settings.backoffMs, attempt + 1))
      }
    }
  }
}
