import type { Hex } from "viem"
import { describe, expect, test } from "vitest"
import { scriptedPolls } from "./head.testing.js"

// f16k (review rr16g G1): a lower head whose number is not in the hash memory is a reorg only on evidence: its parent
// is not the block seen one number below. A head above the highest seen whose parent is not the block seen there is a
// reorg too (reported, dispatched as the chain moves on).

const h = (fork: string, n: number): Hex => `0x${fork.repeat(8)}${n.toString(16).padStart(56, "0")}`
const b = (fork: string, n: number, parentFork = fork) => ({ number: BigInt(n), hash: h(fork, n), parentHash: h(parentFork, n - 1), timestamp: BigInt(1_200 + 12 * n) })

describe("f16k: ancestry decides a lower head of unknown hash", () => {
  test("a restart at 110 with a backend answering 100 (parent = 99, unknown): ignored, nothing dispatched, no reorg", async () => {
    const { seen, reorgs } = await scriptedPolls([b("a", 110), b("a", 100), b("a", 111), b("a", 101), b("a", 112)])
    expect(seen.map((s) => Number(s.number))).toEqual([110, 111, 112])
    expect(reorgs).toEqual([])
  })
  test("a lower head of unknown hash whose parent is not the block seen below it: a reorg, at once", async () => {
    // 110 and 111 seen (a); 112 missed; the node answers 111 on fork b over parent 110/b: another ancestry at 110 (known).
    const { seen, reorgs } = await scriptedPolls([b("a", 110), b("a", 111), b("a", 113, "a"), b("b", 112, "b")])
    expect(seen.map((s) => `${s.number}/${s.hash.slice(2, 3)}`)).toEqual(["110/a", "111/a", "113/a", "112/b"])
    expect(reorgs).toEqual([{ type: "reorg", from: 113n, to: 112n }])
  })
  test("a lower head of unknown hash whose parent is the block seen below it: a lagging backend, ignored", async () => {
    const { seen, reorgs } = await scriptedPolls([b("a", 110), b("a", 111), b("a", 113), b("a", 112), b("a", 114)])
    expect(seen.map((s) => Number(s.number))).toEqual([110, 111, 113, 114])
    expect(reorgs).toEqual([])
  })
  test("a head above the highest seen whose parent is not the block seen there: a reorg reported, the head dispatched", async () => {
    const { seen, reorgs } = await scriptedPolls([b("a", 110), b("a", 111), b("b", 112, "b"), b("b", 113)])
    expect(seen.map((s) => `${s.number}/${s.hash.slice(2, 3)}`)).toEqual(["110/a", "111/a", "112/b", "113/b"])
    expect(reorgs).toEqual([{ type: "reorg", from: 111n, to: 112n }])
  })
})

describe("f16k: a dispatched head that does not move up is marked moved (the fleet's shared head may go back only then)", () => {
  test("heads above the last: not moved; a proven reorg: moved", async () => {
    const { seen } = await scriptedPolls([b("a", 110), b("a", 111), b("a", 100), b("b", 111, "b"), b("b", 112)])
    expect(seen.map((s) => `${s.number}/${s.hash.slice(2, 3)}/${s.moved === true}`)).toEqual(["110/a/false", "111/a/false", "111/b/true", "112/b/false"])
  })
})
