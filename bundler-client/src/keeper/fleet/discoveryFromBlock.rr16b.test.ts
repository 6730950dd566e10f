import { pino } from "pino"
import { type Address, type Hex, type PublicClient, getAddress } from "viem"
import { describe, expect, test } from "vitest"
import { KeeperMetrics } from "../metrics.js"
import { type DiscoveryCheckpoint, SafeDiscovery } from "./discovery.js"

// Review rr16b (issue 16, f16c's scoped discovery checkpoint, rr16 F1). D1 (Medium-Low: silent, for good, after a
// configuration change): the checkpoint's scope is chain, EntryPoint, module and keeper key, not `discovery.fromBlock`.
// rr16 noted that a Safe whose `PolicySet` predates `fromBlock` is never served and advised the module's deployment
// block. An operator who follows that advice later (lowers `fromBlock` on the same prefix because a Safe was missing)
// gets the old checkpoint restored (same scope, no log line): discovery resumes after the checkpoint's block and the
// blocks in [new fromBlock, old fromBlock) are never read, so the missing Safe stays missing.
// D2 (Low, devnets): a devnet reset on the same prefix (same chain id 31337, same addresses from a deterministic
// deployment) restores the old chain's checkpoint: the new chain's Safes registered up to the checkpoint's block are
// never read (discovery starts after it), and the old chain's Safes are served.

const K = "0x00000000000000000000000000000000000000a1" as Address
const M = "0x00000000000000000000000000000000000000d1" as Address
const EP = "0x0000000071727De22E5E9d8BAf0edAc6f37da032" as Address
const S = getAddress("0x0000000000000000000000000000000000005afe")
const T = getAddress("0x000000000000000000000000000000000000beef")
const SUB = `0x${"b9".repeat(32)}` as Hex

type FakeLog = { address: Address; eventName: string; args: Record<string, unknown>; blockNumber: bigint; blockHash: Hex; logIndex: number }
const nodeOf = (logs: FakeLog[]) =>
  ({
    getLogs: async ({ address, fromBlock, toBlock }: { address: Address | Address[]; fromBlock: bigint; toBlock: bigint }) => {
      const addresses = (Array.isArray(address) ? address : [address]).map((a) => a.toLowerCase())
      return logs.filter((l) => addresses.includes(l.address.toLowerCase()) && l.blockNumber >= fromBlock && l.blockNumber <= toBlock)
    },
  }) as unknown as PublicClient
const hashOf = (block: bigint, fork: string) => `0x${fork.repeat(2)}${block.toString(16).padStart(62, "0")}` as Hex
const registered = (safe: Address, block: bigint, fork = "a"): FakeLog[] => [
  { address: M, eventName: "KeeperAdded", args: { safe, keeper: K, validAfter: 0, validUntil: 2 ** 40 }, blockNumber: block, blockHash: hashOf(block, fork), logIndex: 0 },
  { address: M, eventName: "PolicySet", args: { safe, subAccount: SUB }, blockNumber: block, blockHash: hashOf(block, fork), logIndex: 1 },
]
const discoveryOf = (client: PublicClient, fromBlock: bigint) =>
  new SafeDiscovery({ client, module: M, entryPoint: EP, keeper: K, chainId: 31337, settings: { fromBlock, logWindow: 50, reorgDepth: 64 }, logger: pino({ level: "silent" }), metrics: new KeeperMetrics() })
const saved = (d: SafeDiscovery) => JSON.parse(JSON.stringify(d.checkpoint())) as DiscoveryCheckpoint

describe("rr16b D1: lowering discovery.fromBlock on the same prefix does not re-read the blocks below the old one", () => {
  // S registered at block 20 (before the first configuration's fromBlock 100), T at 150.
  const node = nodeOf([...registered(S, 20n), ...registered(T, 150n)])
  const run = async () => {
    const first = discoveryOf(node, 100n)
    await first.sync(400n)
    const lowered = discoveryOf(node, 0n)
    const restored = lowered.restore(saved(first))
    await lowered.sync(420n)
    const fresh = discoveryOf(node, 0n)
    await fresh.sync(420n)
    return { restored, served: lowered.served(1_000), fresh: fresh.served(1_000) }
  }

  test("fixed (f16d): the checkpoint (fromBlock 100) is not restored by a node configured with fromBlock 0; S (block 20) is served", async () => {
    const { restored, served, fresh } = await run()
    expect(fresh).toEqual([S, T])
    expect(restored).toBe(false)
    expect(served).toEqual([S, T])
  })

  test("a checkpoint read from a fromBlock at or below the configured one is restored", async () => {
    const node = nodeOf([...registered(S, 20n), ...registered(T, 150n)])
    const first = discoveryOf(node, 0n)
    await first.sync(400n)
    expect(discoveryOf(node, 0n).restore(saved(first))).toBe(true)
    expect(discoveryOf(node, 50n).restore(saved(first))).toBe(true)
    const { fromBlock: _, ...legacy } = saved(first)
    expect(discoveryOf(node, 0n).restore(legacy)).toBe(false)
  })

  test("was FAILS TODAY: a node whose fromBlock is below the checkpoint's discovers the Safes registered in between", async () => {
    const { served } = await run()
    expect(served).toEqual([S, T])
  })
})

describe("rr16b D2 (Low, devnets): a chain reset on the same prefix and chain id restores the old chain's checkpoint", () => {
  const run = async () => {
    const old = discoveryOf(nodeOf(registered(T, 30n, "a")), 0n)
    await old.sync(400n)
    // The reset chain: S registers at block 40 and the head is at 120 (below the old checkpoint's block 336).
    const reset = nodeOf(registered(S, 40n, "b"))
    const d = discoveryOf(reset, 0n)
    const restored = d.restore(saved(old))
    for (let head = 120n; head <= 420n; head += 20n) await d.sync(head)
    return { restored, served: d.served(1_000) }
  }

  test("fixed (f16d): the checkpoint is restored, but the first head below its block starts discovery again from fromBlock: S served, T not", async () => {
    const { restored, served } = await run()
    expect(restored).toBe(true)
    expect(served).toEqual([S])
  })

  test("was FAILS TODAY: a checkpoint ahead of the chain's head (or of another chain's history) is not restored", async () => {
    const { served } = await run()
    expect(served).toEqual([S])
  })
})
