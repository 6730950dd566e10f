import type { Hex } from "viem"
import { describe, expect, test } from "vitest"
import { scriptedPolls } from "./head.testing.js"

// f16f (review rr16c S1): a block replaced without the head moving back (a same-number reorg) is a new head, so the
// fleet reads its Safes again on the new block (its jobs carry the new hash; the old block's are refused by the node).

const h = (fork: string, n: number): Hex => `0x${fork.repeat(8)}${n.toString(16).padStart(56, "0")}`

describe("HeadPoller: heads carry their hash; a same-number head with another hash is reported", () => {
  test("polls answering 100/a, 100/a, 100/b, 101/b report 100/a, 100/b (a reorg), 101/b", async () => {
    const answers = [
      { number: 100n, hash: h("a", 100), timestamp: 1_200n },
      { number: 100n, hash: h("a", 100), timestamp: 1_200n },
      { number: 100n, hash: h("b", 100), timestamp: 1_200n },
      { number: 101n, hash: h("b", 101), timestamp: 1_212n },
    ]
    const { seen, reorgs, polls } = await scriptedPolls(answers)
    expect(seen.map((s) => `${s.number}/${s.hash.slice(2, 3)}`)).toEqual(["100/a", "100/b", "101/b"])
    expect(reorgs).toEqual([{ type: "reorg", from: 100n, to: 100n }])
    expect(polls).toBeGreaterThanOrEqual(answers.length)
  })
})
