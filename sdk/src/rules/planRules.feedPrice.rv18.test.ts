import { describe, expect, it } from "vitest"
import { checkSubAccountOracle } from "./planRules.js"
import { rulePolicy, wethSubAccount } from "./rules.testing.js"

// Review rv18 I1 (docs/reviews/issue15-rv18.md), the rule book's side: since rr18 the chain's deviation check is exact
// (`RebalanceLib._deviates`), so where the old checked form overflowed only because feedPrice x maxOracleDeviationBps
// does not fit a uint256, a venue price within the bound is accepted on chain (it raised Panic 0x11 before rr18). The
// rule book (BigInt, exact) accepts the same inputs: modules/test/attacks/Rv18Review.t.sol
// (test_I1_NearHugeFeedPrice_WasPanic_NowAccepted, test_I1_AgreeingHugeFeed_EndsAsWithoutAFeed) pins the chain's side.

const MAX = 2n ** 256n - 1n
const FEED: `0x${string}` = "0x00000000000000000000000000000000000000fe"
const NOW = 1_000_000n

/** The WETH sub-account with the venue price `venuePrice` and a fresh 8-decimal feed answering `answer` (feed price = answer x 1e16). */
const at = (venuePrice: bigint, answer: bigint, maxOracleDeviationBps: number) => {
  const sub = wethSubAccount(1, 10n ** 18n, 2_400n, 1.3, rulePolicy({ priceFeed: FEED, maxOracleDeviationBps }))
  return {
    ...sub,
    state: { ...sub.state, price: venuePrice },
    feed: { answer, updatedAt: NOW, decimals: 8, loanDecimals: 6, collateralDecimals: 18 },
  }
}

describe("checkSubAccountOracle: feed prices whose feedPrice x maxOracleDeviationBps exceeds 2^256 (review rv18 I1)", () => {
  for (const bps of [100, 5_000, 10_000]) {
    it(`accepts a venue price within ${bps} bps of such a feed price, refuses one unit beyond`, () => {
      const answer = MAX / BigInt(bps) / 10n ** 16n + 1n
      const feedPrice = answer * 10n ** 16n
      expect(feedPrice * BigInt(bps) > MAX).toBe(true) // the pre-rr18 chain raised Panic 0x11 here
      const allowed = (feedPrice * BigInt(bps)) / 10_000n
      // (at 10,000 bps feedPrice - allowed is 0: OraclePriceZero on both sides, not a deviation)
      for (const venue of [feedPrice, feedPrice - allowed, feedPrice + allowed].filter((p) => p > 0n)) {
        expect(checkSubAccountOracle(at(venue, answer, bps), NOW)).toBeUndefined()
      }
      const far = at(feedPrice + allowed + 1n, answer, bps)
      expect(checkSubAccountOracle(far, NOW)).toEqual({ name: "OracleDeviation", args: [far.id, feedPrice + allowed + 1n, feedPrice] })
    })
  }
})
