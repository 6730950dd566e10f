import { HttpRequestError, TimeoutError } from "viem"
import { describe, expect, test, vi } from "vitest"
import { PaymasterRefusedError, PaymasterUnavailableError } from "@levpilot/sdk/errors"
import { senderHarness } from "./testing.js"

vi.mock("@levpilot/sdk/actions", async (importOriginal) => ({ ...(await importOriginal<typeof import("@levpilot/sdk/actions")>()), sendRebalance: vi.fn() }))
const { sendRebalance } = await import("@levpilot/sdk/actions")

// bench:fleet 5,000 x 4: every paymaster that did not answer was alerted twice, "The paymaster did not answer." (439,
// 98 timed out, 2 fetch failed) and "The paymaster refused and self-pay is not allowed for this Safe." (the same 439 / 98
// / 2): the sender alerted the paymaster's failure, found self-pay blocked, and the SelfPayNotAllowedError it threw was
// alerted again by the same send. One failed send is one alert.

const plan = { subAccounts: [], actions: [] } as never
const timedOut = () =>
  new PaymasterUnavailableError({ url: "http://paymaster", cause: new TimeoutError({ body: {}, url: "http://paymaster" }) as never })
const refused = () => new PaymasterRefusedError({ reason: "policy", cause: new HttpRequestError({ url: "http://paymaster", status: 400 }) })

describe("RebalanceSender: a paymaster that fails a sponsored send of a Safe that may not pay itself", () => {
  for (const [name, error, kind] of [["did not answer (timeout)", timedOut, "paymaster-unavailable"], ["refused", refused, "paymaster-refused"]] as const) {
    test(`${name}: one ${kind} alert naming that self-pay is not allowed, with backoff`, async () => {
      const { sender, rt, events } = senderHarness({ setPending: async () => undefined, nonces: [5n] })
      vi.mocked(sendRebalance).mockRejectedValue(error())
      await sender.send(rt, 100n, plan, undefined)
      const alerts = events.filter((e) => e.type === "alert")
      expect(alerts).toHaveLength(1)
      expect(alerts[0]).toMatchObject({ kind })
      expect((alerts[0] as { message: string }).message).toBe(`The paymaster ${kind === "paymaster-refused" ? "refused" : "did not answer"} and self-pay is not allowed for this Safe.`)
      expect(rt.backoffUntil).toBeGreaterThan(0)
    })
  }
})
