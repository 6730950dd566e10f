import { Redis } from "ioredis"
import { afterAll, beforeAll, describe, expect, test } from "vitest"
import { startRedisServer } from "./redisServer"
import type { KeeperStateScope, PendingOperation } from "../bundler-client/src/keeper/stateFile"
import { RedisFleetStore } from "../bundler-client/src/keeper/fleet/redisStore"

// Review rev11 (issue 11 item 9, "state bound to chain, EntryPoint, module and keeper key"): the embedded keeper's state
// file keys every record by that scope (SECURITY row "a persisted record from another chain..."), but the fleet's Redis
// store keyed records by Safe alone under one prefix ("levpilot" by default). A node of another chain, module or keeper
// key on the same Redis read another scope's record as its own: the tracker compared it with its own chain's nonce
// (`nonce-mismatch`, the record deleted under the other node), or resubmitted a nonce its key cannot sign.

const SAFE = "0x0000000000000000000000000000000000005afe"
const record: PendingOperation = {
  userOpHash: `0x${"ab".repeat(32)}`, nonce: ((1n << 64n) | 7n).toString(), sentBlock: "100", sentAt: 0, maxFeePerGas: "1", maxPriorityFeePerGas: "1",
  sponsored: true, attempts: 1, triggerBlock: "100", triggerAt: 0,
}
const scope: KeeperStateScope = { chainId: 1, entryPoint: "0x0000000071727De22E5E9d8BAf0edAc6f37da032", module: "0x00000000000000000000000000000000000000aa", keeper: "0x00000000000000000000000000000000000000b1" }

describe("the fleet's Redis store is bound to the keeper's scope", () => {
  let server: Awaited<ReturnType<typeof startRedisServer>>
  const clients: Redis[] = []
  const storeOf = () => {
    const redis = new Redis(server.url, { maxRetriesPerRequest: 1 })
    clients.push(redis)
    return new RedisFleetStore(redis, { prefix: "levpilot", leaseMs: 5_000 })
  }
  beforeAll(async () => {
    server = await startRedisServer()
  })
  afterAll(async () => {
    for (const c of clients) c.disconnect()
    await server?.stop()
  })

  test("a record written under one chain, module or keeper key is not another scope's, and its Safe is not pending there", async () => {
    const a = storeOf()
    a.bind(scope)
    expect(await a.acquire(SAFE)).toBe(true)
    await a.setPending(SAFE, record)
    const others: KeeperStateScope[] = [{ ...scope, chainId: 8453 }, { ...scope, module: "0x00000000000000000000000000000000000000cc" }, { ...scope, keeper: "0x00000000000000000000000000000000000000dd" }]
    for (const other of others) {
      const b = storeOf()
      b.bind(other)
      expect(await b.pending(SAFE)).toBeUndefined()
      expect(await b.pendingSafes()).toEqual([])
    }
    // The same scope (a restart, another node of the same fleet) reads it.
    const same = storeOf()
    same.bind(scope)
    expect(await same.pending(SAFE)).toEqual(record)
    await a.release(SAFE)
  })
})
