import { describe, expect, it } from "vitest"
import { checkSubAccountOracle } from "./planRules.js"
import { price, rulePolicy, wethSubAccount } from "./rules.testing.js"

// Review rr16g G2 (fixed in rr18), the rule book's side: RebalanceLib._checkOracle's feed price (answer x 10^e) and its
// deviation check are exact on chain now (`_feedPrice`, `_deviates`: 512-bit products), so a far feed price up to
// 2^256 - 1 is `OracleDeviation` with its exact value, where the chain raised Panic 0x11 from about 1.16e73; a feed price
// over 2^256 - 1 is `OracleDecimals` on both sides. modules/test/attacks/Rr16gDecoding.t.sol
// (test_HugeFeedAnswer_OracleDeviationWithExactArgs) pins the same answers on chain, with the same decimals.

const MAX = 2n ** 256n - 1n
const FEED: `0x${string}` = "0x00000000000000000000000000000000000000fe"
const NOW = 1_000_000n
/** The WETH sub-account at 2,400 USD with a feed of 8 decimals (USDC 6, WETH 18: feed price = answer x 1e16). */
const withAnswer = (answer: bigint) => ({
  ...wethSubAccount(1, 10n ** 18n, 2_400n, 1.3, rulePolicy({ priceFeed: FEED })),
  feed: { answer, updatedAt: NOW, decimals: 8, loanDecimals: 6, collateralDecimals: 18 },
})

describe("checkSubAccountOracle: feed prices near 2^256 (review rr16g G2, rr18)", () => {
  const largest = MAX / 10n ** 16n // the largest answer whose feed price fits a uint256

  it("passes the fixture's own answer (2,400e8)", () => {
    expect(checkSubAccountOracle(withAnswer(2_400n * 10n ** 8n), NOW)).toBeUndefined()
  })

  it("refuses a huge answer with OracleDeviation and the exact feed price, up to the largest that fits", () => {
    for (const answer of [12n * 10n ** 56n, 10n ** 60n, largest - 1n, largest]) {
      expect(checkSubAccountOracle(withAnswer(answer), NOW)).toEqual({
        name: "OracleDeviation",
        args: [withAnswer(answer).id, price(2_400n), answer * 10n ** 16n],
      })
    }
  })

  it("refuses a feed price over 2^256 - 1 with OracleDecimals (the feed's decimals), as the chain does", () => {
    for (const answer of [largest + 1n, 2n ** 255n - 1n]) {
      expect(checkSubAccountOracle(withAnswer(answer), NOW)).toEqual({ name: "OracleDecimals", args: [withAnswer(answer).id, 8n] })
    }
  })

  it("refuses 10^e above 77 with OracleDecimals (answer 1, loan decimals 68: e = 78), and 10^77 with OracleDeviation", () => {
    const at = (loanDecimals: number) => ({ ...withAnswer(1n), feed: { answer: 1n, updatedAt: NOW, decimals: 8, loanDecimals, collateralDecimals: 18 } })
    expect(checkSubAccountOracle(at(68), NOW)).toEqual({ name: "OracleDecimals", args: [at(68).id, 8n] })
    expect(checkSubAccountOracle(at(67), NOW)).toEqual({ name: "OracleDeviation", args: [at(67).id, price(2_400n), 10n ** 77n] })
  })
})
