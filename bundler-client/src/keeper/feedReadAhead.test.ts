import { SubAccountOracleError } from "@levpilot/sdk/errors"
import { describe, expect, test } from "vitest"
import { FEED_READ_AHEAD_SECONDS, isFeedReadAhead } from "./portfolio.js"

const id = `0x${"ab".repeat(32)}` as const
const adapter = `0x${"11".repeat(20)}` as const
const stale = (updatedAt: bigint) => new SubAccountOracleError({ subAccount: id, adapter, check: "OracleStale", args: [id, updatedAt, 3600n] })

describe("a feed read one block ahead of the snapshot (the node's latest state already holds the next block's update)", () => {
  const timestamp = 1_796_103_850n
  test("an updatedAt a few seconds after the snapshot's timestamp is the read race, not a broken feed", () => {
    expect(isFeedReadAhead(stale(timestamp + 1n), timestamp)).toBe(true)
    expect(isFeedReadAhead(stale(timestamp + FEED_READ_AHEAD_SECONDS), timestamp)).toBe(true)
  })
  test("further ahead, an old feed, or another check stays a failure", () => {
    expect(isFeedReadAhead(stale(timestamp + FEED_READ_AHEAD_SECONDS + 1n), timestamp)).toBe(false)
    expect(isFeedReadAhead(stale(timestamp - 3601n), timestamp)).toBe(false)
    expect(isFeedReadAhead(stale(timestamp), timestamp)).toBe(false)
    // Judged against the latest header read again: the race's update is at most one block past it.
    expect(isFeedReadAhead(stale(timestamp + 30n), timestamp, timestamp + 20n)).toBe(true)
    expect(isFeedReadAhead(stale(timestamp + 30n), timestamp, timestamp + 17n)).toBe(false)
    const zero = new SubAccountOracleError({ subAccount: id, adapter, check: "OraclePriceZero", args: [id] })
    expect(isFeedReadAhead(zero, timestamp)).toBe(false)
  })
})
