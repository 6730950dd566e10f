import { describe, expect, test } from "vitest"
import { WebhookDeliveryError, redactWebhookUrl } from "./webhook.js"

// Review rr16b (issue 16, f16c's webhook URL redaction, rr16 F3). W1 (Low: operator logs, BullMQ failedReason): the
// redaction keeps the host and the first path segment when more follow. Receivers that carry the secret THERE leak it:
// a Telegram bot URL (`https://api.telegram.org/bot<token>/sendMessage`: the token is the first segment; Telegram
// answers the keeper's JSON with HTTP 400, so every notification logs it) and per-endpoint hosts
// (`https://<token>.m.pipedream.net`, the host is the secret).

const TG = "123456789:AAH-s3cr3tT0kenPart"
const PD = "eo9s3cr3tsub"

describe("rr16b W1: the redacted webhook URL still holds a secret in the first path segment or the host", () => {
  test("fixed (f16d): only the scheme and an 8-hex fingerprint of the URL are shown; two receivers get different fingerprints", () => {
    const tg = `https://api.telegram.org/bot${TG}/sendMessage?chat_id=1`
    expect(redactWebhookUrl(tg)).toMatch(/^https:\/\/…#[0-9a-f]{8}$/)
    const e = new WebhookDeliveryError({ url: `https://api.telegram.org/bot${TG}/sendMessage`, status: 400, retryable: false })
    expect(e.shortMessage).not.toContain(TG)
    expect(e.shortMessage).not.toContain("telegram")
    expect(redactWebhookUrl(`https://${PD}.m.pipedream.net`)).not.toContain(PD)
    expect(redactWebhookUrl(tg)).not.toBe(redactWebhookUrl(`https://${PD}.m.pipedream.net`))
  })

  test("was FAILS TODAY: no part of the URL beyond scheme and registrable host is shown (or only a fingerprint of it)", () => {
    expect(redactWebhookUrl(`https://api.telegram.org/bot${TG}/sendMessage`)).not.toContain("s3cr3t")
    expect(new WebhookDeliveryError({ url: `https://api.telegram.org/bot${TG}/sendMessage`, status: 400, retryable: false }).message).not.toContain("s3cr3t")
    expect(redactWebhookUrl(`https://${PD}.m.pipedream.net`)).not.toContain("s3cr3t")
  })
})
