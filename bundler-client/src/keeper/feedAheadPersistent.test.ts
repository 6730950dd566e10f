import { describe, expect, test, vi } from "vitest"
import { SubAccountOracleError } from "@levpilot/sdk/errors"

vi.mock("@levpilot/sdk/actions", async (importOriginal) => ({ ...(await importOriginal<typeof import("@levpilot/sdk/actions")>()), checkSubAccountOracles: vi.fn() }))
const { checkSubAccountOracles } = await import("@levpilot/sdk/actions")
const { excludeFailingOracles } = await import("./portfolio.js")

// Review rev11s (issue 11 item 6, one broken feed; recent change "feed read-ahead of 60 s tolerated"). A feed whose
// `updatedAt` is up to 60 s after the snapshot's block timestamp is taken for the read race (the node's state already
// holds the next block's update) and the sub-account is planned for. A feed that stays AHEAD of the chain's clock
// (a forged or misconfigured feed stamping `now + 30`, a sequencer with a skewed clock) is no race: the module reverts
// OracleStale (`updatedAt > block.timestamp`) in every block, so every plan listing it is refused at simulation
// (`send-failed` every block, or a re-plan without it each step) and it is never reported as `feed-broken`.
// Expected: tolerated while the chain's clock has not yet reached the update first seen ahead; still ahead once it has,
// the sub-account is left out like any failing feed.

const A = `0x${"aa".repeat(32)}` as const
const B = `0x${"bb".repeat(32)}` as const
const adapter = `0x${"11".repeat(20)}` as const
const stale = (id: `0x${string}`, updatedAt: bigint) => new SubAccountOracleError({ subAccount: id, adapter, check: "OracleStale", args: [id, updatedAt, 3600n] })
const snapshot = (timestamp: bigint) =>
  ({
    blockNumber: timestamp / 12n,
    timestamp: Number(timestamp),
    chain: [{ subAccount: A }, { subAccount: B }],
    unreadable: [],
    input: { subAccounts: [{ state: { id: A } }, { state: { id: B } }] },
    bounds: { balances: {}, maxWithdraw: {}, poolAsset: {}, subAccounts: { [A]: {}, [B]: {} } },
  }) as never
const client = { chain: { id: 1 } } as never
const deployment = {} as never
const T = 1_796_103_840n

// NOT FIXED (rev11s): the obvious fix (exclude a feed still ahead once the chain's clock has reached the first update
// seen ahead) also excludes a healthy feed updated at every block (a crash) read from a node always one block ahead
// (third test below): a false "feed-broken" in the worst minute, worse than the break. A correct rule has to compare
// the lead (updatedAt - timestamp) with the observed block interval (a race leads by at most a block or two; a forged
// stamp by more); left for the owner, with the e2e runs that motivated the 60 s tolerance. Marked `.fails` until then.
describe("a feed ahead of the chain's clock", () => {
  test.fails("stamped now + 30 s at every block: tolerated at first, left out once the chain's clock passed the update first seen ahead", async () => {
    const seen = new Map<string, bigint>()
    const kept: boolean[] = []
    for (let block = 0n; block < 6n; block++) {
      const now = T + 12n * block
      vi.mocked(checkSubAccountOracles).mockResolvedValueOnce({ failing: [stale(A, now + 30n)] } as never)
      const out = (await (excludeFailingOracles as (...args: unknown[]) => Promise<unknown>)(client, snapshot(now), deployment, seen)) as unknown as { chain: { subAccount: string }[] }
      kept.push(out.chain.some((s) => s.subAccount === A))
      // B is never touched.
      expect(out.chain.some((s) => s.subAccount === B)).toBe(true)
    }
    // T+0, T+12, T+24: the chain's clock has not reached T+30 yet; from T+36 on it has and the feed is still ahead.
    expect(kept).toEqual([true, true, true, false, false, false])
  })

  test("the read race (the next block's update seen one block early) is tolerated at every block", async () => {
    const seen = new Map<string, bigint>()
    for (let block = 0n; block < 6n; block++) {
      const now = T + 12n * block
      // Every other block the node answers from the next block's state: updatedAt = now + 12; the next read is at that time.
      vi.mocked(checkSubAccountOracles).mockResolvedValueOnce({ failing: block % 2n === 0n ? [stale(A, now + 12n)] : [] } as never)
      const out = (await (excludeFailingOracles as (...args: unknown[]) => Promise<unknown>)(client, snapshot(now), deployment, seen)) as unknown as { chain: { subAccount: string }[] }
      expect(out.chain.some((s) => s.subAccount === A)).toBe(true)
    }
  })

  test("a feed updated at every block (a crash) read from a node always one block ahead is tolerated at every block", async () => {
    const seen = new Map<string, bigint>()
    for (let block = 0n; block < 6n; block++) {
      const now = T + 12n * block
      vi.mocked(checkSubAccountOracles).mockResolvedValueOnce({ failing: [stale(A, now + 12n)] } as never)
      const out = (await (excludeFailingOracles as (...args: unknown[]) => Promise<unknown>)(client, snapshot(now), deployment, seen)) as { chain: { subAccount: string }[] }
      expect(out.chain.some((s) => s.subAccount === A)).toBe(true)
    }
  })
})
