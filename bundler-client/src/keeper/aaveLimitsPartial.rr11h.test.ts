import { expect, test } from "vitest"
import type { DegradedRead } from "./portfolio.js"
import { readAaveLimitsBounded } from "./portfolio.js"
import { SAFE, SUB, USDC, WETH, chain, deployment, mockAaveChain, mockAaveClient, reserveConfig } from "./aaveMockChain.testing.js"
import { h } from "./testing.js"

// Review rr11h H4 (G2's fix, the failure it does not see): readAaveLimitsBounded falls back (latest, then "lend
// nothing") only when readAaveLimits THROWS. readAaveLimits swallows partial failures itself: a reserve whose
// balance-round reads do not all answer (here the stable debt token's `getSupplyData`; Aave v3.3+ pools return the
// provider's `MOCK_STABLE_DEBT` address there, documented as answering zero to "the required view methods": whether a
// live one answers getSupplyData is NOT verified in this review) gets no limits, and
// a sub-account whose reserve has none is LEFT OUT of the result ("no limit known"). That result is returned as a
// success: no `aave-limits` degraded read, and the sub-account's borrow has no bound at all (portfolioOf / chainBoundsOf:
// unknown = no limit), in the fleet and in readPortfolio alike — G2's symptom (a donor borrowing 51,424 against a
// reserve lending 1,000), every block, silently.
const answer = mockAaveChain({
  reserves: {
    [WETH]: { id: 0, configuration: reserveConfig(8_000n, 18n, 1_000n), decimals: 18, price: 3_000n * 10n ** 8n },
    [USDC]: { id: 1, configuration: reserveConfig(0n, 6n, 1_000n), decimals: 6, price: 10n ** 8n },
  },
  userConfiguration: (1n << 1n) | (1n << 2n),
  accountData: [30_000n * 10n ** 8n, 15_000n * 10n ** 8n, 9_000n * 10n ** 8n, 8_600n, 8_000n, h(1.72)],
  supplied: { [WETH]: 10n * 10n ** 18n, [USDC]: 10n * 10n ** 6n },
})
const BLOCK = 1_234n

test("rr11h H4 observed today: one reserve read failing inside the batch: readAaveLimitsBounded returns no limits for the sub-account, nothing degraded", async () => {
  // Control: every read answers: the sub-account has limits (a borrow bound).
  const ok: DegradedRead[] = []
  const full = await readAaveLimitsBounded(mockAaveClient(answer).client, deployment, chain, SAFE, BLOCK, ok)
  expect(full[SUB.toLowerCase()]?.debt.borrowable).toBeTypeOf("bigint")
  expect(ok).toEqual([])
  // getSupplyData fails in its batch: the sub-account is left out, reported as a clean read.
  const degraded: DegradedRead[] = []
  const partial = await readAaveLimitsBounded(mockAaveClient(answer, { failing: ["getSupplyData"] }).client, deployment, chain, SAFE, BLOCK, degraded)
  expect(partial[SUB.toLowerCase()]).toBeUndefined()
  expect(degraded).toEqual([])
})

// FAILS TODAY (rr11h H4): a sub-account the read could not bound is bounded as the all-failed case is (debt.borrowable
// 0: no Aave borrow) and recorded degraded (`aave-limits`); or a missing stable supply is taken as 0 when the reserve
// has no stable debt (v3.2+), so the reserve keeps its limits.
test.skip("rr11h H4: a sub-account whose reserve reads partly failed gets no Aave borrow (bound 0) and an aave-limits degraded read", async () => {
  const degraded: DegradedRead[] = []
  const partial = await readAaveLimitsBounded(mockAaveClient(answer, { failing: ["getSupplyData"] }).client, deployment, chain, SAFE, BLOCK, degraded)
  expect(partial[SUB.toLowerCase()]?.debt.borrowable).toBe(0n)
  expect(degraded).toEqual([expect.objectContaining({ read: "aave-limits" })])
})
