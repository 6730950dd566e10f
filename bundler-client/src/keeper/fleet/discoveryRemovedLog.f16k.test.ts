import { pino } from "pino"
import { type Address, type Hex, type PublicClient, getAddress } from "viem"
import { describe, expect, test } from "vitest"
import type { KeeperConfig } from "../config.js"
import { KeeperMetrics } from "../metrics.js"
import { SafeSource } from "./source.js"

// f16k (review rr16g G2): a re-read lacking logs already read is ignored only while their block is still the chain's;
// a reorg that replaced the block (its registration gone) still drops the Safe at once.
const MODULE = "0x00000000000000000000000000000000000000d1" as Address
const EP = "0x0000000071727De22E5E9d8BAf0edAc6f37da032" as Address
const KEEPER = "0x00000000000000000000000000000000000000a1" as Address
const NEW = getAddress("0x000000000000000000000000000000000000c0de")
const SUB = `0x${"b9".repeat(32)}` as Hex
const hash = (n: bigint, fork: string) => `0x${fork.repeat(8)}${n.toString(16).padStart(56, "0")}` as Hex

describe("f16k: a registration removed by a reorg is dropped", () => {
  test.each([true, false])("block 200 replaced at head 203 (pinned read by hash answers: %s): listed 200-202, dropped from 203", async (pinnedAnswers) => {
    let head = 0n
    const fork = (n: bigint) => (n === 200n && head >= 203n ? "b" : "a")
    const logsOf = (n: bigint) =>
      n === 200n
        ? [
            { address: MODULE, eventName: "KeeperAdded", args: { safe: NEW, keeper: KEEPER, validAfter: 0, validUntil: 2 ** 40 }, blockNumber: n, blockHash: hash(n, "a"), logIndex: 0 },
            { address: MODULE, eventName: "PolicySet", args: { safe: NEW, subAccount: SUB }, blockNumber: n, blockHash: hash(n, "a"), logIndex: 1 },
          ]
        : []
    const client = {
      getLogs: async ({ fromBlock, toBlock, blockHash }: { fromBlock: bigint; toBlock: bigint; blockHash?: Hex }) => {
        // A node that keeps the logs of a block off the chain (by hash), or one that refuses it.
        if (blockHash !== undefined) {
          if (!pinnedAnswers) throw new Error("unknown block")
          return logsOf(BigInt(`0x${blockHash.slice(10)}`))
        }
        const out = []
        for (let n = fromBlock; n <= toBlock; n++) if (fork(n) === "a") out.push(...logsOf(n))
        return out
      },
      getBlock: async ({ blockNumber }: { blockNumber: bigint }) => ({ number: blockNumber, hash: hash(blockNumber, fork(blockNumber)) }),
    } as unknown as PublicClient
    const source = new SafeSource({
      config: { discovery: { fromBlock: 0n, logWindow: 500, reorgDepth: 64 }, deployment: { leverageModule: MODULE, entryPoint: EP }, allowlist: undefined, safes: [] } as unknown as KeeperConfig,
      client,
      keeper: KEEPER,
      logger: pino({ level: "silent" }),
      metrics: new KeeperMetrics(),
    })
    const listed: bigint[] = []
    for (head = 195n; head <= 210n; head++) {
      const { safes } = await source.at({ number: head, hash: hash(head, "a"), timestamp: 1_000n + head * 12n, seenAt: 0 } as never, [])
      if (safes.includes(NEW)) listed.push(head)
    }
    expect(listed).toEqual([200n, 201n, 202n])
  })
})
