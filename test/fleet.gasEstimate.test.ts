import { type Address, getAddress } from "viem"
import { describe, expect, test } from "vitest"
import type { KeeperEvent } from "../bundler-client/src/keeper/events"
import { type FleetEnv, fleetHealth } from "./fleetEnv"
import { fleetWithRedis, keeperOpsOf, queueConfigJson, safesOf, startNode } from "./fleetQueue"
import { captureLogs, startRpcProxy, waitFor } from "./keeperProbes"
import type { RedisServer } from "./redisServer"

let f: FleetEnv
let redis: RedisServer

fleetWithRedis((env, server) => {
  f = env
  redis = server
})

/**
 * What Alto 0.0.20 answered bench:fleet (5,000 Safes, 4 workers) for the 3 operations that were included and then
 * reverted: `callGasLimit` 0x4650 (18,000 gas), its 9,000-gas floor doubled after "Second validation during
 * eth_estimateUserOperationGas led to a failure" (data 0x), returned as a success. A rebalance's execution needs about
 * 230,000: sent with the SDK's 60,000 margin (78,000), each ran out of gas inside the plan (an ERC-20 approve with 3,140
 * gas left) and was charged ~199,000 gas for nothing.
 */
const altoFloorEstimate = "0x4650"

describe("fleet: a bundler's call gas estimate below what the plan's execution needs", () => {
  test("is raised to the execution's own estimate before the send: the operation lands and succeeds (Alto's 18,000-gas answer otherwise reverts it out of gas after inclusion)", async () => {
    const [edge] = (await f.createSafes([fleetHealth.edge])) as [Address]
    const proxy = await startRpcProxy(f.env.devnet.bundlerUrl)
    const estimates: { callGasLimit: bigint }[] = []
    const sent: { callGasLimit: bigint }[] = []
    proxy.state.intercept = async (request, forward) => {
      const sender = (request.params?.[0] as { sender?: string } | undefined)?.sender?.toLowerCase()
      if (sender !== edge.toLowerCase()) return undefined
      if (request.method === "eth_sendUserOperation") {
        sent.push({ callGasLimit: BigInt((request.params?.[0] as { callGasLimit: string }).callGasLimit) })
        return undefined
      }
      if (request.method !== "eth_estimateUserOperationGas") return undefined
      const answer = JSON.parse(await forward()) as { result?: { callGasLimit: string } }
      if (!answer.result) return { body: JSON.stringify(answer) }
      estimates.push({ callGasLimit: BigInt(answer.result.callGasLimit) })
      return { body: JSON.stringify({ ...answer, result: { ...answer.result, callGasLimit: altoFloorEstimate } }) }
    }
    const events: KeeperEvent[] = []
    const { node, events: nodeEvents } = await startNode(f, f.fleetConfig(queueConfigJson(f, redis.url, [edge], { bundlerUrl: proxy.url })))
    try {
      await waitFor("the Safe observed", () => nodeEvents.some((e) => e.type === "observed") || undefined, 40_000)
      const from = await f.shock(0.9)
      await waitFor("the Safe's first operation included", () => nodeEvents.find((e) => e.type === "included") ?? undefined, 60_000)
      events.push(...nodeEvents)
      const [first] = await keeperOpsOf(f, edge, from)
      // The bundler estimated the real execution (about 270,000 here) and the proxy answered 18,000 instead.
      expect(estimates.length).toBeGreaterThan(0)
      expect(estimates[0]?.callGasLimit).toBeGreaterThan(200_000n)
      // Before the fix: sent with 18,000 + the SDK's 60,000 margin, included, and reverted out of gas.
      expect(first?.args.success).toBe(true)
      expect(sent[0]?.callGasLimit).toBeGreaterThan(200_000n)
      const included = events.filter((e): e is KeeperEvent & { type: "included" } => e.type === "included")
      expect(included.map((e) => e.success)).toEqual([true])
      expect(safesOf(events, "sent")).toEqual([getAddress(edge)])
    } finally {
      await node.stop()
      await proxy.stop()
    }
  })
})

describe("fleet: a slow bundler during a shock", () => {
  test("holds up no check: every out-of-band Safe of the shock block is checked before the first send returns, then each is sent once (one worker slot, one send at a time)", async () => {
    const edges = (await f.createSafes([fleetHealth.edge, fleetHealth.edge, fleetHealth.edge])) as Address[]
    const proxy = await startRpcProxy(f.env.devnet.bundlerUrl)
    // Every send waits 3 s at the bundler (a loaded Alto in a crash); estimates and reads are not slowed.
    proxy.state.intercept = async (request) => {
      if (request.method === "eth_sendUserOperation") await new Promise((done) => setTimeout(done, 3_000))
      return undefined
    }
    const config = f.fleetConfig(
      queueConfigJson(f, redis.url, edges, { bundlerUrl: proxy.url, fleet: { sendConcurrency: 1, queue: { redisUrl: redis.url, prefix: `slow${process.pid}`, leaseMs: 1_500, workerConcurrency: 1 } } }),
    )
    const { node, events } = await startNode(f, config)
    try {
      await waitFor("the Safes observed", () => new Set(safesOf(events, "observed")).size === edges.length || undefined, 40_000)
      const from = await f.shock(0.9)
      await waitFor("every Safe sent", () => new Set(safesOf(events, "sent")).size === edges.length || undefined, 90_000)
      // The block in which the keeper first solved the Safes out of band: all three were checked in it.
      const firstPlan = events.find((e) => e.type === "observed" && e.block >= from && e.result?.plan !== undefined) as KeeperEvent & { type: "observed" }
      const scannedAt = events.findIndex((e) => e.type === "scanned" && e.block === firstPlan.block)
      const firstSentAt = events.findIndex((e) => e.type === "sent")
      expect(scannedAt).toBeGreaterThanOrEqual(0)
      // Before: the step holding the one worker slot sent (3 s) before the next Safe was solved, so the block's scan
      // ended after the sends (about 3 x 3 s for 3 Safes).
      expect(scannedAt).toBeLessThan(firstSentAt)
      const observedInBlock = events.filter((e) => e.type === "observed" && e.block === firstPlan.block && e.result?.plan !== undefined)
      expect(new Set(observedInBlock.map((e) => getAddress((e as { safe: Address }).safe)))).toEqual(new Set(edges.map((s) => getAddress(s))))
      expect(safesOf(events, "sent").sort()).toEqual(edges.map((s) => getAddress(s)).sort())
    } finally {
      await node.stop()
      await proxy.stop()
    }
  }, 180_000)
})

/** Per Safe: its keeper events (type@block, a plan marked "+plan") and its info-or-above log lines, in order. */
function timelineOf(safes: readonly Address[], events: readonly KeeperEvent[], lines: readonly { level: number; msg: string; [k: string]: unknown }[]): string {
  return safes
    .map((safe) => {
      const mine = (x: unknown) => typeof x === "string" && getAddress(x) === getAddress(safe)
      const evs = events
        .filter((e) => mine((e as { safe?: unknown }).safe))
        .map((e) => `${e.type}${"kind" in e ? `:${String(e.kind)}` : ""}@${String((e as { block?: bigint }).block)}${e.type === "observed" && e.result?.plan !== undefined ? "+plan" : ""}`)
      const logged = lines.filter((l) => l.level >= 30 && mine(l.safe)).map((l) => `${l.msg.slice(0, 60)}@${String(l.block)}`)
      return `${safe}: events [${evs.slice(-40).join(", ")}] logs [${logged.slice(-20).join(" | ")}]`
    })
    .join("; ")
}

describe("fleet: sends queued behind a slow bundler", () => {
  test("a plan that waited for its send slot while a newer step of its Safe was queued is not sent (planned again on that fresher read): no plan is sent after another Safe's whole send that started after it was solved and ended with a newer step of its Safe queued (one send at a time, 3 s each, 1 s blocks)", async () => {
    const edges = (await f.createSafes([fleetHealth.edge, fleetHealth.edge, fleetHealth.edge])) as Address[]
    const proxy = await startRpcProxy(f.env.devnet.bundlerUrl)
    const prefix = `stale${process.pid}`
    // The node's own store (its newest-step marks are scoped to the keeper's chain, module and key).
    let store: { newestStep(safe: Address): Promise<bigint | undefined> } | undefined
    // Each send at the bundler, by sender: when it arrived (with the chain head then), when the bundler's 3 s ended, and
    // the newest step the fleet had queued of each Safe at that end (the store's record the late-plan rule reads).
    const sends: { safe: string; head: bigint; start: number; end: number; newestAtEnd: Map<string, bigint> }[] = []
    proxy.state.intercept = async (request) => {
      if (request.method !== "eth_sendUserOperation") return undefined
      const sender = (request.params?.[0] as { sender: string }).sender
      const send = { safe: getAddress(sender), head: await f.env.publicClient.getBlockNumber({ cacheTime: 0 }), start: Date.now(), end: Number.POSITIVE_INFINITY, newestAtEnd: new Map<string, bigint>() }
      sends.push(send)
      await new Promise((done) => setTimeout(done, 3_000))
      for (const safe of edges) {
        const newest = await store?.newestStep(safe)
        if (newest !== undefined) send.newestAtEnd.set(getAddress(safe), newest)
      }
      send.end = Date.now()
      return undefined
    }
    const config = f.fleetConfig(
      queueConfigJson(f, redis.url, edges, { bundlerUrl: proxy.url, fleet: { sendConcurrency: 1, queue: { redisUrl: redis.url, prefix, leaseMs: 1_500, workerConcurrency: 1 } } }),
    )
    const logs = captureLogs()
    const { node, events } = await startNode(f, config, { logger: logs.logger })
    store = node.store
    // When each keeper event was emitted, by event (a plan's "observed" event is emitted when it is solved, before its
    // send waits for a slot). Events of the node's start, before this hook, have no time and are never a plan here.
    const emittedAt = new WeakMap<KeeperEvent, number>()
    const push = events.push.bind(events)
    events.push = (...items: KeeperEvent[]) => {
      for (const e of items) emittedAt.set(e, Date.now())
      return push(...items)
    }
    try {
      await waitFor("the Safes observed", () => new Set(safesOf(events, "observed")).size === edges.length || undefined, 40_000)
      await f.shock(0.9)
      await waitFor("every Safe sent", () => new Set(safesOf(events, "sent")).size === edges.length || undefined, 120_000).catch((error: Error) => {
        // What each Safe did meanwhile (a timeout here once in a full clean-clone run, stop 45, not reproduced since).
        throw new Error(`${error.message}; per Safe: ${timelineOf(edges, events, logs.lines)}`)
      })
      // Each send against the plan it carried (the read it was solved on, the intent's sentBlock). Before: the third
      // Safe's plan waited about 6 s on the in-process send queue, behind the two other Safes' whole sends (3 s each),
      // while its Safe's lease kept every later block's step "busy", and left ~7 blocks old: stale amounts, and an intent
      // stamped 7 blocks in the past. The rule: a plan that waited while a newer step of its Safe was queued is dropped
      // when it gets the slot. With one slot, a plan waiting behind another Safe's whole send gets the slot after that
      // send ends; when a newer step of its Safe was queued by then (the store's record at that end: the scans queue one
      // each block, the Safes stay out of band), it must not be sent. A plan merely late (no newer step queued: scans
      // lagging on a loaded machine, review rr17a F2) is sent by design. Measured in time and in the store's record, not
      // in blocks: a plan's own estimate and signature took 4 blocks once on a loaded 2-core machine with no wait at all.
      events.forEach((e, i) => {
        if (e.type !== "sent") return
        const safe = getAddress(e.safe)
        let planned: KeeperEvent | undefined
        events.forEach((o, j) => {
          if (j < i && o.type === "observed" && getAddress(o.safe) === safe && o.block === e.block && o.result?.plan !== undefined) planned = o
        })
        const solvedAt = planned === undefined ? undefined : emittedAt.get(planned)
        expect(solvedAt, `when the plan of ${safe} at ${e.block} was solved`).toBeDefined()
        const arrival = sends.find((a) => a.safe === safe && a.start >= (solvedAt as number))
        expect(arrival, `the send of ${safe}'s plan of block ${e.block} at the bundler`).toBeDefined()
        const behind = sends.filter((o) => o.safe !== safe && o.start >= (solvedAt as number) && o.end <= (arrival?.start ?? 0) && (o.newestAtEnd.get(safe) ?? -1n) > e.block)
        expect(
          behind.map((o) => `${o.safe} (newest step of ${safe} at its end: ${o.newestAtEnd.get(safe)})`),
          `whole sends of another Safe ${safe}'s plan of block ${e.block} waited behind with a newer step of it queued (it reached the bundler at head ${arrival?.head})`,
        ).toEqual([])
      })
      expect(safesOf(events, "sent").sort()).toEqual(edges.map((s) => getAddress(s)).sort())
      // The late-plan rule: a waiting plan is dropped only for a newer step of the same Safe (the Safes stay out of band,
      // so the scans that kept up queued one each block), never for the head's age alone (an overloaded fleet whose
      // scans lag sends its late plans: test/fleet.overload.test.ts).
      const dropped = logs.lines.filter((l) => l.msg.startsWith("plan superseded"))
      expect(dropped.length, "plans dropped while waiting for the send slot").toBeGreaterThan(0)
      for (const d of dropped) expect(Number(d.newer), `dropped plan of ${String(d.safe)} at ${String(d.block)}`).toBeGreaterThan(Number(d.block))
    } finally {
      await node.stop()
      await proxy.stop()
    }
  }, 240_000)
})

describe("fleet: a node stopped with sends queued behind a slow bundler", () => {
  test("stop() waits for the send holding the slot, not for the queued ones (which would each start a 3 s send after the stop was asked): they are not sent", async () => {
    const edges = (await f.createSafes([fleetHealth.edge, fleetHealth.edge, fleetHealth.edge])) as Address[]
    const proxy = await startRpcProxy(f.env.devnet.bundlerUrl)
    let stopAsked: number | undefined
    const lateSends: string[] = []
    proxy.state.intercept = async (request) => {
      if (request.method !== "eth_sendUserOperation") return undefined
      if (stopAsked !== undefined) lateSends.push((request.params?.[0] as { sender: string }).sender)
      await new Promise((done) => setTimeout(done, 3_000))
      return undefined
    }
    const config = f.fleetConfig(
      queueConfigJson(f, redis.url, edges, { bundlerUrl: proxy.url, fleet: { sendConcurrency: 1, queue: { redisUrl: redis.url, prefix: `stop${process.pid}`, leaseMs: 1_500, workerConcurrency: 1 } } }),
    )
    const { node, events } = await startNode(f, config)
    try {
      await waitFor("the Safes observed", () => new Set(safesOf(events, "observed")).size === edges.length || undefined, 40_000)
      const from = await f.shock(0.9)
      // All three solved out of band (their sends queued behind the first).
      await waitFor(
        "the shock's plans",
        () => new Set(events.filter((e) => e.type === "observed" && e.block >= from && e.result?.plan !== undefined).map((e) => (e as { safe: string }).safe)).size === edges.length || undefined,
        40_000,
      )
      stopAsked = Date.now()
      await node.stop()
      const ms = Date.now() - stopAsked
      // Before: the stop waited for every queued send in turn (two more 3 s sends after the one at the bundler).
      // The one holding the send slot when the stop was asked may still reach the bundler; none of the queued ones.
      expect(lateSends.length, "sends reaching the bundler after stop() was asked").toBeLessThanOrEqual(1)
      expect(ms).toBeLessThan(7_000)
    } finally {
      await node.stop()
      await proxy.stop()
    }
  }, 180_000)
})
