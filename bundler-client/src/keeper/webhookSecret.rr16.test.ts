import { createHash } from "node:crypto"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { pino } from "pino"
import { describe, expect, test } from "vitest"
import { systemClock } from "./clock.js"
import { KeeperMetrics } from "./metrics.js"
import { parseKeeperConfig } from "./config.js"
import { WebhookDeliveryError, WebhookNotifier, postWebhook, redactWebhookUrl, webhookUrlFingerprint } from "./webhook.js"

// Review rr16 (issue 16, notifications: "no secret leak"). F3: many webhook receivers authenticate by the URL itself
// (Slack / Discord incoming webhooks: https://hooks.slack.com/services/T../B../<secret>; `?token=` query strings;
// `https://user:password@host`). A failed delivery names the URL verbatim in WebhookDeliveryError's message, which the
// keeper logs at every failed attempt ("webhook notification failed; retrying" / "dropped") and, in fleet mode, BullMQ
// keeps as the notify job's failedReason in Redis and the worker logs as "job failed". The Redis URL's password is
// redacted in the same logs (redactRedisUrl); the webhook URL is not.
// Fixed (f16c): redactWebhookUrl in WebhookDeliveryError (message and cause); a URL with userinfo is refused by the config.

const SECRET = "s3cr3tT0ken"

describe("rr16 F3 (fixed): the webhook URL (a bearer secret for Slack-style receivers) is redacted in errors and logs", () => {
  test("fixed (was: the URL verbatim): a 404 and an unreachable receiver keep scheme, host and first path segment only, in the error and every log line", async () => {
    const server = createServer((_, res) => {
      res.writeHead(404)
      res.end()
    })
    await new Promise<void>((done) => server.listen(0, "127.0.0.1", done))
    const { port } = server.address() as AddressInfo
    try {
      const url = `http://127.0.0.1:${port}/services/T00/B00/${SECRET}?token=${SECRET}`
      const error = await postWebhook({ url, timeoutMs: 2_000, secret: undefined }, "id-1", "{}").catch((e: Error & { shortMessage: string }) => e)
      expect(error).toBeInstanceOf(WebhookDeliveryError)
      expect((error as WebhookDeliveryError).status).toBe(404)
      // f16d (rr16b W1): scheme and a fingerprint of the URL only (was: host, port and first path segment).
      expect((error as { shortMessage: string }).shortMessage).toBe(`The webhook at http://…#${webhookUrlFingerprint(url)} answered HTTP 404.`)
      expect((error as Error).message).not.toContain(SECRET)

      // The embedded notifier logs that message at every attempt.
      const lines: string[] = []
      const logger = pino({ level: "info" }, { write: (line: string) => void lines.push(line) })
      const notifier = new WebhookNotifier({
        settings: { url: `http://127.0.0.1:1/services/T00/B00/${SECRET}`, events: ["alert"], maxAttempts: 2, backoffMs: 10, timeoutMs: 1_000, secret: undefined },
        keeper: "0x00000000000000000000000000000000000000a1",
        chainId: () => 1,
        logger,
        metrics: new KeeperMetrics(),
        clock: systemClock,
      })
      notifier.notify({ type: "alert", safe: "0x0000000000000000000000000000000000005afe", block: 1n, kind: "send-failed", message: "x" })
      await notifier.flush(5_000)
      expect(lines.length).toBeGreaterThanOrEqual(2)
      expect(lines.some((l) => l.includes(`http://…#${webhookUrlFingerprint(`http://127.0.0.1:1/services/T00/B00/${SECRET}`)}`))).toBe(true)
      expect(lines.some((l) => l.includes("127.0.0.1:1"))).toBe(false)
      expect(lines.some((l) => l.includes(SECRET))).toBe(false)
    } finally {
      server.close()
    }
  })

  test("the URL is redacted (path after the host, query, userinfo) like the Redis URL's password", async () => {
    const error = await postWebhook({ url: `http://hook:${SECRET}@127.0.0.1:1/services/T00/B00/${SECRET}?token=${SECRET}`, timeoutMs: 1_000, secret: undefined }, "id", "{}").catch(
      (e: Error & { shortMessage: string }) => e,
    )
    expect((error as Error).message).not.toContain(SECRET)
  })

  test("redactWebhookUrl keeps the scheme and an 8-hex fingerprint of the URL only (f16d, rr16b W1; was scheme, host, port, first path segment); the configuration refuses userinfo, naming webhook.url", () => {
    const slack = `https://hooks.slack.com/services/T0/B0/${SECRET}`
    expect(redactWebhookUrl(slack)).toMatch(/^https:\/\/…#[0-9a-f]{8}$/)
    expect(redactWebhookUrl(slack)).toBe(`https://…#${createHash("sha256").update(slack).digest("hex").slice(0, 8)}`)
    expect(redactWebhookUrl(`https://example.com/${SECRET}`)).not.toBe(redactWebhookUrl(`https://example.com/other`))
    const userinfo = redactWebhookUrl(`https://u:${SECRET}@example.com:8443/?token=${SECRET}#${SECRET}`)
    expect(userinfo).toMatch(/^https:\/\/…#[0-9a-f]{8}$/)
    expect(userinfo).not.toContain("example.com")
    expect(redactWebhookUrl("not a url")).toBe("<invalid webhook URL>")
    const valid = {
      rpcUrl: "http://127.0.0.1:8545",
      bundlerUrl: "http://127.0.0.1:4337",
      keeperPrivateKey: `0x${"11".repeat(32)}`,
      deployment: { leverageModule: "0x00000000000000000000000000000000000000a1", morphoBlueAdapter: "0x00000000000000000000000000000000000000a2" },
      safes: ["0x00000000000000000000000000000000000000b1"],
    }
    expect(parseKeeperConfig({ ...valid, webhook: { url: `https://example.com/hook/${SECRET}` } }).webhook?.url).toBe(`https://example.com/hook/${SECRET}`)
    let refused: unknown
    try {
      parseKeeperConfig({ ...valid, webhook: { url: `https://hook:${SECRET}@example.com/hook` } })
    } catch (e) {
      refused = e
    }
    expect(refused).toMatchObject({ field: "webhook.url" })
    expect(String((refused as Error).message)).not.toContain(SECRET)
  })
})
