import { pino } from "pino"
import { type Address, type Hex, type PublicClient, getAddress } from "viem"
import { describe, expect, test } from "vitest"
import { KeeperMetrics } from "../metrics.js"
import { type DiscoveryCheckpoint, SafeDiscovery } from "./discovery.js"
import { RedisFleetStore, fleetKeys } from "./redisStore.js"

// Review rr16 (issue 16, discovery and "stale state bound to chain / EntryPoint / module / key").
//
// F1: the fleet's discovery checkpoint (`<prefix>:discovery`, written by the leader every 100 blocks and restored by
// every new leader in FleetNode.elect) carries no scope: not the module it was read from, nor the keeper key it was
// folded for, nor the chain. The in-flight records are bound to (chain, EntryPoint, module, keeper key)
// (RedisFleetStore.bind, review rev11), and the README only asks for another `prefix` for "different keeper keys or
// chains"; a redeployed module (the same keeper, the same prefix, `deployment.leverageModule` changed) or a rotated key
// restores the other scope's registry and resumes discovery after ITS block: every Safe that registered with the new
// module (or the new key) before that block is never served, with no alert (an allowlisted one is even reported as
// "never added this keeper's key").
// Fixed (f16c): the key is `<prefix>:discovery:<scope>` and the checkpoint records its scope; SafeDiscovery.restore
// ignores another scope's (discovery then reads from fromBlock).
//
// F2: reorg detection only compares the module logs of the last `min(4, reorgDepth)` blocks (the overlap re-read at
// each head). A reorg deeper than that whose differing logs lie below the overlap is never seen, although the README
// says "the last `reorgDepth` blocks are re-checked and re-read after a reorg" (default 64): a `KeeperAdded` (+
// `PolicySet`) that the winning fork holds 5+ blocks below the new head is never folded in; that Safe is never served.
// Fixed (f16c): one more module-only eth_getLogs per head re-reads the unconfirmed blocks below the overlap.

const K1 = "0x00000000000000000000000000000000000000a1" as Address
const K2 = "0x00000000000000000000000000000000000000a2" as Address
const M1 = "0x00000000000000000000000000000000000000d1" as Address
const M2 = "0x00000000000000000000000000000000000000d2" as Address
const EP = "0x0000000071727De22E5E9d8BAf0edAc6f37da032" as Address
const S = getAddress("0x0000000000000000000000000000000000005afe")
const T = getAddress("0x000000000000000000000000000000000000beef")
const SUB = `0x${"b9".repeat(32)}` as Hex

type FakeLog = { address: Address; eventName: string; args: Record<string, unknown>; blockNumber: bigint; blockHash: Hex; logIndex: number }

/** A fake node holding `logs`: getLogs filters by address and block range (the shape SafeDiscovery reads). */
const nodeOf = (logs: () => FakeLog[]) =>
  ({
    getLogs: async ({ address, fromBlock, toBlock }: { address: Address | Address[]; fromBlock: bigint; toBlock: bigint }) => {
      const addresses = (Array.isArray(address) ? address : [address]).map((a) => a.toLowerCase())
      return logs().filter((l) => addresses.includes(l.address.toLowerCase()) && l.blockNumber >= fromBlock && l.blockNumber <= toBlock)
    },
  }) as unknown as PublicClient

const hashOf = (block: bigint, fork = "a") => `0x${fork.repeat(2)}${block.toString(16).padStart(62, "0")}` as Hex
const keeperAdded = (module: Address, safe: Address, keeper: Address, block: bigint, fork = "a"): FakeLog => ({
  address: module, eventName: "KeeperAdded", args: { safe, keeper, validAfter: 0, validUntil: 2 ** 40 }, blockNumber: block, blockHash: hashOf(block, fork), logIndex: 0,
})
const policySet = (module: Address, safe: Address, block: bigint, fork = "a"): FakeLog => ({
  address: module, eventName: "PolicySet", args: { safe, subAccount: SUB }, blockNumber: block, blockHash: hashOf(block, fork), logIndex: 1,
})

const discoveryOf = (client: PublicClient, module: Address, keeper: Address) =>
  new SafeDiscovery({ client, module, entryPoint: EP, keeper, settings: { fromBlock: 0n, logWindow: 50, reorgDepth: 64 }, logger: pino({ level: "silent" }), metrics: new KeeperMetrics() })

const NOW = 1_000

describe("rr16 F1 (fixed): the discovery checkpoint in Redis is bound to the chain / EntryPoint / module / keeper key it was read for", () => {
  // Old module M1 (K1's Safe T registered at 20); module M2 deployed, Safe S registers with it at block 10.
  const chain = [keeperAdded(M2, S, K1, 10n), policySet(M2, S, 10n), keeperAdded(M1, T, K1, 20n), policySet(M1, T, 20n)]
  const node = nodeOf(() => chain)

  /** What the leader on M1 leaves in `<prefix>:discovery` at block 300 (JSON, as FleetNode.lead writes it). */
  const oldLeaderCheckpoint = async (): Promise<DiscoveryCheckpoint> => {
    const d = discoveryOf(node, M1, K1)
    await d.sync(300n)
    return JSON.parse(JSON.stringify(d.checkpoint())) as DiscoveryCheckpoint
  }

  test("fixed (was: the key had no scope and the checkpoint named neither module nor key): the checkpoint key and content carry the scope; a node on the redeployed module ignores the old one and serves S", async () => {
    const store = new RedisFleetStore({} as never, { prefix: "levpilot", leaseMs: 5_000 })
    store.bind({ chainId: 1, entryPoint: EP, module: M2, keeper: K1 })
    const keys = (store as unknown as { keys: ReturnType<typeof fleetKeys> }).keys
    expect(keys.pending).toContain(M2.toLowerCase())
    expect(store.discoveryKey).toBe(`levpilot:discovery:1:${EP.toLowerCase()}:${M2.toLowerCase()}:${K1.toLowerCase()}`)
    store.bind({ chainId: 1, entryPoint: EP, module: M1, keeper: K1 })
    expect(store.discoveryKey).not.toBe(`levpilot:discovery:1:${EP.toLowerCase()}:${M2.toLowerCase()}:${K1.toLowerCase()}`)

    const checkpoint = await oldLeaderCheckpoint()
    expect(checkpoint.block).toBe("236")
    expect(checkpoint.scope).toEqual({ chainId: undefined, entryPoint: getAddress(EP), module: getAddress(M1), keeper: getAddress(K1) })

    const restored = discoveryOf(node, M2, K1)
    expect(restored.scopeMismatch(checkpoint)).toBe("module")
    expect(restored.restore(checkpoint)).toBe(false)
    for (let head = 301n; head <= 320n; head++) await restored.sync(head)
    expect(restored.served(NOW)).toEqual([S])
    expect(restored.registration(T)).toBeUndefined()
    // The same module and key restore it (the hand-over between leaders still works).
    const same = discoveryOf(node, M1, K1)
    expect(same.restore(checkpoint)).toBe(true)
    expect(same.block).toBe(236n)
  })

  test("fixed (was: the old key's registry restored): a rotated keeper key on the same prefix ignores the old key's checkpoint and serves the Safe that added the new key", async () => {
    const rotation = [keeperAdded(M1, S, K2, 10n), policySet(M1, S, 10n), keeperAdded(M1, T, K1, 20n), policySet(M1, T, 20n)]
    const n = nodeOf(() => rotation)
    const old = discoveryOf(n, M1, K1)
    await old.sync(300n)
    const restored = discoveryOf(n, M1, K2)
    const checkpoint = JSON.parse(JSON.stringify(old.checkpoint())) as DiscoveryCheckpoint
    expect(restored.scopeMismatch(checkpoint)).toBe("keeper")
    expect(restored.restore(checkpoint)).toBe(false)
    for (let head = 301n; head <= 310n; head++) await restored.sync(head)
    expect(restored.served(NOW)).toEqual([S])
    // An unscoped checkpoint (written before checkpoints were scoped) and another chain are not restored either.
    const { scope: _, ...unscoped } = checkpoint
    expect(discoveryOf(n, M1, K1).restore(unscoped)).toBe(false)
    const onChain = (chainId: number) =>
      new SafeDiscovery({ client: n, module: M1, entryPoint: EP, keeper: K1, chainId, settings: { fromBlock: 0n, logWindow: 50, reorgDepth: 64 }, logger: pino({ level: "silent" }), metrics: new KeeperMetrics() })
    const chain1 = onChain(1)
    await chain1.sync(300n)
    expect(onChain(2).scopeMismatch(chain1.checkpoint())).toBe("chainId")
    expect(onChain(1).restore(chain1.checkpoint())).toBe(true)
  })

  test("a checkpoint read for another module (or key, or chain) is not restored: S is served", async () => {
    const restored = discoveryOf(node, M2, K1)
    restored.restore(await oldLeaderCheckpoint())
    await restored.sync(301n)
    expect(restored.served(NOW)).toEqual([S])
  })
})

describe("rr16 F2 (fixed): a reorg deeper than the 4-block overlap is detected (the unconfirmed reorgDepth blocks are re-checked)", () => {
  test("fixed (was: never folded in): a KeeperAdded the winning fork holds 9 blocks below the new head is folded in at the next head, with one extra module-only eth_getLogs per head", async () => {
    let fork = "a"
    const forkA = [keeperAdded(M1, S, K1, 5n), policySet(M1, S, 5n)]
    // The winning fork B replaced blocks 91..101 and holds T's registration at block 92.
    const forkB = [...forkA, keeperAdded(M1, T, K1, 92n, "b"), policySet(M1, T, 92n, "b")]
    const node = nodeOf(() => (fork === "a" ? forkA : forkB))
    const d = discoveryOf(node, M1, K1)
    await d.sync(100n)
    expect(d.served(NOW)).toEqual([S])
    // A head where nothing changed: the overlap read plus the re-check of the 60 unconfirmed blocks below it (37..96),
    // in windows of logWindow = 50 blocks (one request with the default logWindow 2000).
    const calm = await d.sync(100n)
    expect(calm.reorg).toBe(false)
    expect(calm.requests).toBe(1 + Math.ceil(60 / 50))
    fork = "b"
    const moved = await d.sync(101n)
    expect(moved.reorg).toBe(true)
    expect(d.served(NOW)).toEqual([S, T])
    for (let head = 102n; head <= 110n; head++) expect((await d.sync(head)).reorg).toBe(false)
    expect(d.served(NOW)).toEqual([S, T])
    const fresh = discoveryOf(node, M1, K1)
    await fresh.sync(110n)
    expect(fresh.served(NOW)).toEqual([S, T])
  })

  test("the reorg (block hashes of the last reorgDepth blocks changed) is detected and T served", async () => {
    let fork = "a"
    const forkA = [keeperAdded(M1, S, K1, 5n), policySet(M1, S, 5n)]
    const forkB = [...forkA, keeperAdded(M1, T, K1, 92n, "b"), policySet(M1, T, 92n, "b")]
    const d = discoveryOf(nodeOf(() => (fork === "a" ? forkA : forkB)), M1, K1)
    await d.sync(100n)
    fork = "b"
    await d.sync(101n)
    expect(d.served(NOW)).toEqual([S, T])
  })
})
