import { pino } from "pino"
import { type Address, type Hex, HttpRequestError, type PublicClient, getAddress } from "viem"
import { describe, expect, test } from "vitest"
import type { KeeperConfig } from "../config.js"
import { DISCOVERY_ALERT_AFTER_HEADS, type KeeperEvent, KeeperEvents } from "../events.js"
import { KeeperMetrics } from "../metrics.js"
import { SafeSource } from "./source.js"

// Review rr16 (issue 16, discovery kept current "as new blocks arrive"; Safes with an operation in flight tracked).
// F4: SafeSource.at runs discovery first and lists the Safes only if it succeeded. One `eth_getLogs` refused with
// HTTP 429 (a hosted RPC's rate limit, the commonest refusal; after the transport's 2 retries) or a connection reset throws out of `at`: the embedded
// keeper's runBlock and the queue leader's lead() then read NO Safe at that head, not the ones already discovered and
// not even the Safes with an operation in flight (whose inclusion tracking and resubmission wait for a head whose
// getLogs passes). A log-range refusal that persists at one block (a node that refuses eth_getLogs for the module)
// stops the whole fleet for ever. Neither is a keeper alert (no webhook): the head poller logs "block processing
// failed" at error level, and no metric counts skipped heads in embedded mode.
// Fixed (f16c): the known and pending Safes are listed at that head, discovery retries next head, and one
// `discovery-stalled` alert per outage (after DISCOVERY_ALERT_AFTER_HEADS heads, at once for a one-block refusal).

const MODULE = "0x00000000000000000000000000000000000000d1" as Address
const EP = "0x0000000071727De22E5E9d8BAf0edAc6f37da032" as Address
const KEEPER = "0x00000000000000000000000000000000000000a1" as Address
const S = getAddress("0x0000000000000000000000000000000000005afe")
const PENDING = getAddress("0x000000000000000000000000000000000000beef")
const SUB = `0x${"b9".repeat(32)}` as Hex

const registered = [
  { address: MODULE, eventName: "KeeperAdded", args: { safe: S, keeper: KEEPER, validAfter: 0, validUntil: 2 ** 40 }, blockNumber: 5n, blockHash: `0x${"aa".repeat(32)}`, logIndex: 0 },
  { address: MODULE, eventName: "PolicySet", args: { safe: S, subAccount: SUB }, blockNumber: 5n, blockHash: `0x${"aa".repeat(32)}`, logIndex: 1 },
]

const sourceOf = (client: PublicClient) =>
  new SafeSource({
    config: { discovery: { fromBlock: 0n, logWindow: 50, reorgDepth: 64 }, deployment: { leverageModule: MODULE, entryPoint: EP }, allowlist: undefined, safes: [] } as unknown as KeeperConfig,
    client,
    keeper: KEEPER,
    logger: pino({ level: "silent" }),
    metrics: new KeeperMetrics(),
  })

describe("rr16 F4: one refused eth_getLogs (HTTP 429) no longer leaves a head with no Safe read", () => {
  test("fixed (was: SafeSource.at threw, no Safe listed): a refused discovery read lists the known and pending Safes, and discovery catches up at the next head", async () => {
    let refuse = false
    let calls = 0
    const client = {
      getLogs: async ({ fromBlock, toBlock }: { fromBlock: bigint; toBlock: bigint }) => {
        calls += 1
        if (refuse) throw new HttpRequestError({ url: "https://rpc.example", status: 429, details: "Too Many Requests" })
        return registered.filter((l) => l.blockNumber >= fromBlock && l.blockNumber <= toBlock)
      },
    } as unknown as PublicClient
    const source = sourceOf(client)
    const first = await source.at({ number: 100n, timestamp: 1_000n, seenAt: 0 } as never, [PENDING])
    expect(first.safes).toEqual([S, PENDING])
    refuse = true
    const before = calls
    const second = await source.at({ number: 101n, timestamp: 1_012n, seenAt: 0 } as never, [PENDING])
    expect(second.safes).toEqual([S, PENDING])
    expect(second.discoveryFailed).toBe(true)
    expect(calls).toBeGreaterThan(before)
    expect(source.discovery?.block).toBe(100n)
    refuse = false
    const third = await source.at({ number: 102n, timestamp: 1_024n, seenAt: 0 } as never, [])
    expect(third.discoveryFailed).toBe(false)
    expect(third.safes).toEqual([S])
    expect(source.discovery?.block).toBe(102n)
  })

  test("a refused discovery read still lists the Safes known so far and the pending ones (discovery catches up at the next head)", async () => {
    let refuse = false
    const client = {
      getLogs: async ({ fromBlock, toBlock }: { fromBlock: bigint; toBlock: bigint }) => {
        if (refuse) throw new HttpRequestError({ url: "https://rpc.example", status: 429, details: "Too Many Requests" })
        return registered.filter((l) => l.blockNumber >= fromBlock && l.blockNumber <= toBlock)
      },
    } as unknown as PublicClient
    const source = sourceOf(client)
    await source.at({ number: 100n, timestamp: 1_000n, seenAt: 0 } as never, [PENDING])
    refuse = true
    const second = await source.at({ number: 101n, timestamp: 1_012n, seenAt: 0 } as never, [PENDING])
    expect(second.safes).toEqual([S, PENDING])
  })

  /** A source whose alerts are collected; `mode` decides what getLogs answers. */
  const alerting = (answer: (from: bigint, to: bigint) => unknown) => {
    const events: KeeperEvent[] = []
    const logger = pino({ level: "silent" })
    const metrics = new KeeperMetrics()
    const client = { getLogs: async ({ fromBlock, toBlock }: { fromBlock: bigint; toBlock: bigint }) => answer(fromBlock, toBlock) } as unknown as PublicClient
    const source = new SafeSource({
      config: { discovery: { fromBlock: 0n, logWindow: 50, reorgDepth: 64 }, deployment: { leverageModule: MODULE, entryPoint: EP }, allowlist: undefined, safes: [] } as unknown as KeeperConfig,
      client,
      keeper: KEEPER,
      logger,
      metrics,
      events: new KeeperEvents({ logger, metrics, onEvent: (e) => events.push(e) }),
    })
    const alerts = () => events.filter((e) => e.type === "alert" && e.kind === "discovery-stalled")
    return { source, alerts, metrics }
  }

  test("an outage of the node (429) alerts discovery-stalled once, after DISCOVERY_ALERT_AFTER_HEADS heads, not per head; again only after discovery advanced", async () => {
    let refuse = false
    const { source, alerts } = alerting((from, to) => {
      if (refuse) throw new HttpRequestError({ url: "https://rpc.example", status: 429, details: "Too Many Requests" })
      return registered.filter((l) => l.blockNumber >= from && l.blockNumber <= to)
    })
    await source.at({ number: 100n, timestamp: 1_000n, seenAt: 0 } as never, [])
    refuse = true
    for (let n = 101n; n < 101n + BigInt(DISCOVERY_ALERT_AFTER_HEADS) - 1n; n++) await source.at({ number: n, timestamp: 1_000n, seenAt: 0 } as never, [])
    expect(alerts()).toHaveLength(0)
    for (let n = 110n; n < 130n; n++) expect((await source.at({ number: n, timestamp: 1_000n, seenAt: 0 } as never, [])).safes).toEqual([S])
    expect(alerts()).toHaveLength(1)
    expect(alerts()[0]).toMatchObject({ safe: MODULE, block: 110n })
    refuse = false
    await source.at({ number: 130n, timestamp: 1_000n, seenAt: 0 } as never, [])
    refuse = true
    for (let n = 131n; n < 140n; n++) await source.at({ number: n, timestamp: 1_000n, seenAt: 0 } as never, [])
    expect(alerts()).toHaveLength(2)
  })

  test("a range the node refuses even at one block alerts at once (the window is halved down to one block first), and the known Safes are still read", async () => {
    const asked: bigint[] = []
    const { source, alerts } = alerting((from, to) => {
      asked.push(to - from + 1n)
      if (to >= 101n) throw new HttpRequestError({ url: "https://rpc.example", status: 400, details: "query returned more than 10000 results" })
      return registered.filter((l) => l.blockNumber >= from && l.blockNumber <= to)
    })
    await source.at({ number: 100n, timestamp: 1_000n, seenAt: 0 } as never, [])
    const second = await source.at({ number: 120n, timestamp: 1_000n, seenAt: 0 } as never, [PENDING])
    expect(second.safes).toEqual([S, PENDING])
    expect(asked.at(-1)).toBe(1n)
    expect(alerts()).toHaveLength(1)
    expect((alerts()[0] as { message: string }).message).toMatch(/refused eth_getLogs over blocks 101-101/)
    await source.at({ number: 121n, timestamp: 1_000n, seenAt: 0 } as never, [])
    expect(alerts()).toHaveLength(1)
  })
})
