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

test("rr11h H4: every read answering: the sub-account has limits, nothing degraded (control)", async () => {
  const ok: DegradedRead[] = []
  const full = await readAaveLimitsBounded(mockAaveClient(answer).client, deployment, chain, SAFE, BLOCK, ok)
  expect(full[SUB.toLowerCase()]?.debt.borrowable).toBe(1_000_000n * 10n ** 6n)
  expect(full[SUB.toLowerCase()]?.unread).toBeUndefined()
  expect(ok).toEqual([])
})

// Fixed (rr11h H4): a sub-account the read could not bound gets no Aave borrow (bound 0) and an `aave-limits` degraded
// read, never "no limit".
test("rr11h H4: a sub-account whose reserve reads partly failed gets no Aave borrow (bound 0) and an aave-limits degraded read", async () => {
  // The aTokens' and debt tokens' totalSupply fail in their batch: no reserve limits.
  const degraded: DegradedRead[] = []
  const partial = await readAaveLimitsBounded(mockAaveClient(answer, { failing: ["totalSupply"] }).client, deployment, chain, SAFE, BLOCK, degraded)
  expect(partial[SUB.toLowerCase()]?.debt.borrowable).toBe(0n)
  expect(degraded).toEqual([expect.objectContaining({ read: "aave-limits", subAccount: SUB.toLowerCase(), detail: "partial" })])
})

test("rr11h H4: a failed stable-debt read under a borrow cap: no Aave borrow (bound 0), degraded", async () => {
  const capped = mockAaveChain({
    reserves: {
      [WETH]: { id: 0, configuration: reserveConfig(8_000n, 18n, 1_000n), decimals: 18, price: 3_000n * 10n ** 8n },
      // A borrow cap of 5,000,000 USDC (bits 80-115, whole tokens): the stable debt counts in its room.
      [USDC]: { id: 1, configuration: reserveConfig(0n, 6n, 1_000n) | (5_000_000n << 80n), decimals: 6, price: 10n ** 8n },
    },
    userConfiguration: (1n << 1n) | (1n << 2n),
    accountData: [30_000n * 10n ** 8n, 15_000n * 10n ** 8n, 9_000n * 10n ** 8n, 8_600n, 8_000n, h(1.72)],
    supplied: { [WETH]: 10n * 10n ** 18n, [USDC]: 10n * 10n ** 6n },
  })
  const degraded: DegradedRead[] = []
  const partial = await readAaveLimitsBounded(mockAaveClient(capped, { failing: ["getSupplyData"] }).client, deployment, chain, SAFE, BLOCK, degraded)
  expect(partial[SUB.toLowerCase()]?.debt.borrowable).toBe(0n)
  expect(degraded).toEqual([expect.objectContaining({ read: "aave-limits", subAccount: SUB.toLowerCase(), detail: "partial" })])
  // Every read answering: the cap leaves ~3,000,000 of room, so the 1,000,000 of liquidity bounds the borrow.
  const ok: DegradedRead[] = []
  const full = await readAaveLimitsBounded(mockAaveClient(capped).client, deployment, chain, SAFE, BLOCK, ok)
  expect(full[SUB.toLowerCase()]?.debt.borrowable).toBe(1_000_000n * 10n ** 6n)
  expect(ok).toEqual([])
})

test("rr11h H4: a failed stable-debt read without a borrow cap is taken as 0 (it bounds nothing): limits kept, nothing degraded", async () => {
  const degraded: DegradedRead[] = []
  const partial = await readAaveLimitsBounded(mockAaveClient(answer, { failing: ["getSupplyData"] }).client, deployment, chain, SAFE, BLOCK, degraded)
  expect(partial[SUB.toLowerCase()]?.debt.borrowable).toBe(1_000_000n * 10n ** 6n)
  expect(partial[SUB.toLowerCase()]?.unread).toBeUndefined()
  // Aave's base figures need the reserve's stable debt known to be 0: not from a failed read.
  expect(partial[SUB.toLowerCase()]?.aaveBase).toBeUndefined()
  expect(degraded).toEqual([])
})
