import { type Address, BaseError } from "viem"
import { describe, expect, test, vi } from "vitest"
import { readChunk, readLimit } from "./scan.js"
import { safesOf, stateOf } from "./scan.testing.js"

// rr16f held (E3 against a real gas cap): a node whose eth_call gas cap fits `cap` Safes (a larger call fails with a
// non-transient error), 5,000 Safes in 250-Safe chunks for 100 blocks. The grow-back retries a refused size every
// RETRY_REFUSED_AFTER_READS (64) chunks: its cost is about one failed call per 3 blocks;
// the halving grain costs up to a third over the best split (Low, pre-existing).
vi.mock("@levpilot/sdk/actions", async (importOriginal) => ({ ...(await importOriginal<typeof import("@levpilot/sdk/actions")>()), getSafeStates: vi.fn() }))
const { getSafeStates } = await import("@levpilot/sdk/actions")

describe("rr16f held: batch grow-back against a real gas cap", () => {
  for (const cap of [214, 100, 40]) {
    test(`cap ${cap} Safes per call: eth_calls per block within a third of the best split, at most one failed call per 2 blocks`, async () => {
      let calls = 0
      let failed = 0
      vi.mocked(getSafeStates).mockImplementation(async (_c, p) => {
        calls += 1
        if (p.safes.length > cap) {
          failed += 1
          throw new BaseError("execution reverted: out of gas (gas cap)")
        }
        return { blockNumber: 101n, timestamp: 1_000n, safes: p.safes.map((safe) => stateOf(safe)) } as never
      })
      const safes = safesOf(5_000)
      const limit = readLimit()
      const perBlock: number[] = []
      for (let block = 0; block < 100; block++) {
        const before = calls
        for (let i = 0; i < safes.length; i += 250) await readChunk({ request: async () => undefined } as never, { safes: safes.slice(i, i + 250) as Address[], block: 101n, keeper: safes[0] as Address, deployment: {} as never, limit })
        perBlock.push(calls - before)
      }
      const best = 20 * Math.ceil(250 / cap)
      const steady = perBlock.slice(1).reduce((a, b) => a + b, 0) / 99
      console.log(`rr16f gas cap ${cap}`, JSON.stringify({ first: perBlock[0], steadyMean: steady, max: Math.max(...perBlock.slice(1)), best, failedCalls: failed }))
      // Halving gives sizes 250 / 2^k: up to a third over the best split (cap 100: size 63, 4 calls per chunk, best 3).
      expect(steady).toBeLessThanOrEqual((best * 4) / 3 + 1)
      expect(failed / 100).toBeLessThanOrEqual(0.5)
    })
  }
})
