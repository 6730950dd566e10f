import { Writable } from "node:stream"
import { pino } from "pino"
import { afterEach, describe, expect, test, vi } from "vitest"
import { UserOperationInFlightError } from "@levpilot/sdk/errors"
import { type KeeperEvent, KeeperEvents } from "./events.js"
import { KeeperMetrics } from "./metrics.js"
import { newSafeRuntime } from "./runtime.js"
import { RebalanceSender } from "./sender.js"
import { StoreFencedError } from "./store.js"

vi.mock("@levpilot/sdk/actions", async (importOriginal) => ({ ...(await importOriginal<typeof import("@levpilot/sdk/actions")>()), sendRebalance: vi.fn() }))
const { sendRebalance } = await import("@levpilot/sdk/actions")

// Review rev11 (issue 11 item 9, AA25 handling): when the bundler answers AA25 and the chain's nonce is not the one
// sent (the chain moved on), the sender wrote the kept record WITHOUT awaiting it. In fleet mode on Redis that write is
// fenced: a worker whose lease expired (a stalled, overloaded machine: the worst minute) gets StoreFencedError, which
// then rejects nowhere. Node's default for an unhandled rejection is to crash the process: every Safe of that node goes
// unmanaged until it is restarted.

const SAFE = "0x0000000000000000000000000000000000005afe"

describe("RebalanceSender: AA25 at a nonce the chain has left, with the Safe's lease lost", () => {
  const unhandled: unknown[] = []
  const onUnhandled = (reason: unknown) => unhandled.push(reason)
  afterEach(() => {
    process.off("unhandledRejection", onUnhandled)
  })

  test("the fenced write is handled (no unhandled rejection), the nonce-mismatch alert is raised", async () => {
    process.on("unhandledRejection", onUnhandled)
    const logger = pino({ level: "silent" }, new Writable({ write: (_c, _e, done) => done() }))
    const metrics = new KeeperMetrics()
    const events: KeeperEvent[] = []
    const keeperEvents = new KeeperEvents({ logger, metrics, onEvent: (e) => events.push(e) })
    let writes = 0
    const store = {
      pending: () => undefined,
      // The intent before the send is written; the lease is then lost (every later write is fenced).
      setPending: async () => {
        if (++writes > 1) throw new StoreFencedError({ safe: SAFE })
      },
    }
    const nonces = [5n, 6n]
    const rt = newSafeRuntime({ address: SAFE } as never)
    rt.account = { getNonce: async () => nonces.shift() ?? 6n } as never
    vi.mocked(sendRebalance).mockRejectedValue(new UserOperationInFlightError({ cause: new Error("AA25 invalid account nonce") }))
    const sender = new RebalanceSender({
      config: { deployment: { leverageModule: "0x00000000000000000000000000000000000000aa" }, feeBumpPercent: 20, allowSelfPay: false, paymasterContext: undefined, retry: { baseMs: 1, maxMs: 1 } } as never,
      clients: {
        publicClient: { readContract: async () => ({ maxFeePerGas: 10n ** 11n, maxPriorityFeePerGas: 10n ** 9n }) },
        estimateFees: async () => ({ maxFeePerGas: 10n ** 10n, maxPriorityFeePerGas: 10n ** 9n }),
        sponsoredBundler: {},
        bundler: {},
        deployments: {},
      } as never,
      keeper: {} as never,
      store,
      metrics,
      logger,
      events: keeperEvents,
      clock: { now: () => 0 } as never,
    })
    await sender.send(rt, 100n, { subAccounts: [], actions: [] } as never, undefined).catch((error) => expect(error).toBeInstanceOf(StoreFencedError))
    await new Promise((done) => setTimeout(done, 50))
    expect(unhandled).toEqual([])
    expect(events.filter((e) => e.type === "alert").map((e) => e.type === "alert" && e.kind)).toContain("nonce-mismatch")
  })
})
