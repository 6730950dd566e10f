import { describe, expect, test } from "vitest"
import { HASH_BLOCKS } from "./head.js"
import { regular, scriptedPolls, simulateBackends } from "./head.testing.js"

describe("rr16f F1: a backend more than HASH_BLOCKS behind (syncing or stuck) behind a round-robin RPC", () => {
  test("control: a backend a block behind: 0 reorgs", async () => {
    const r = await simulateBackends({ timestamps: regular(400), arrival: 400, lagMs: [0, 13_000], warmUp: 200 })
    console.log("rr16f F1 control", JSON.stringify(r))
    expect(r.reorgsPerBlock).toBeLessThan(0.1)
  })
  test("rr16f F1 (was FAILS TODAY, fixed f16j): a backend 150 blocks behind makes every alternation a reorg and a pass at a 150-block-old head", async () => {
    const r = await simulateBackends({ timestamps: regular(400), arrival: 400, lagMs: [0, (HASH_BLOCKS + 22) * 12_000 + 1_000], warmUp: 200 })
    console.log("rr16f F1", JSON.stringify(r))
    expect(r.reorgsPerBlock).toBeLessThan(0.1)
    expect(r.passesPerBlock).toBeLessThanOrEqual(2)
  })
})

describe("rr16f held: a genuine rollback to a seen ancestor (A101 orphaned, head back to A100, then B101 on it)", () => {
  test("the seen ancestor is ignored, B101 is dispatched as a reorg one block later", async () => {
    const h = (fork: string, n: number) => `0x${fork.repeat(8)}${n.toString(16).padStart(56, "0")}`
    const b = (fork: string, n: number) => ({ number: BigInt(n), hash: h(fork, n), timestamp: BigInt(1_200 + 12 * (n - 100)) })
    const answers = [b("a", 100), b("a", 101), b("a", 100), b("a", 100), b("b", 101), b("b", 102)]
    const polled = await scriptedPolls(answers)
    const { reorgs, polls } = polled
    const seen = polled.seen.map((head) => `${head.number}/${head.hash.slice(2, 3)}`)
    expect(seen).toEqual(["100/a", "101/a", "101/b", "102/b"])
    expect(reorgs).toEqual([{ type: "reorg", from: 101n, to: 101n }])
  })
})
