import { BaseError } from "viem"
import { describe, expect, test } from "vitest"
import { PaymasterRefusedError, VenueRefusedError } from "@levpilot/sdk/errors"
import { findInCauseChain, isUnusableAnswer, safeWideFailureOf, someInCauseChain } from "./errors.js"

// f11z: one cause-chain walk (viem's BaseError causes and a plain Error's `cause` alike, bounded, cycle-safe) under
// findInCauseChain, safeWideFailureOf's text matching and isUnusableAnswer (review: two hand-rolled walks beside it).
describe("someInCauseChain", () => {
  const refusal = new VenueRefusedError({ venue: "morpho-blue", source: "venue", errorName: "INSUFFICIENT_LIQUIDITY", args: {}, reason: "insufficient liquidity", index: 1 })

  test("a plain Error.cause link is followed, at the top of the chain and below a viem BaseError", () => {
    const plainTop = new Error("wrapped by a plain Error", { cause: new Error("and again", { cause: refusal }) })
    expect(findInCauseChain(plainTop, VenueRefusedError)).toBe(refusal)
    expect(someInCauseChain(plainTop, (e) => e === refusal)).toBe(true)
    const below = new BaseError("outer", { cause: new Error("plain middle", { cause: refusal }) })
    expect(findInCauseChain(below, VenueRefusedError)).toBe(refusal)
    // The three users: a named Safe-wide error, a bundler text, a garbage answer, each behind a plain Error.
    const paymaster = new PaymasterRefusedError({ reason: "sponsor cap reached" })
    expect(safeWideFailureOf(new Error("send failed", { cause: paymaster }))?.cause).toBe("paymaster")
    expect(safeWideFailureOf(new Error("send failed", { cause: new Error("estimate", { cause: new BaseError("UserOperation reverted", { details: "AA21 didn't pay prefund" }) }) }))?.cause).toBe("gas")
    expect(isUnusableAnswer(new Error("send failed", { cause: new BaseError("decode", { cause: new TypeError("Cannot mix BigInt and other types") }) }))).toBe(true)
    expect(isUnusableAnswer(new Error("send failed", { cause: new Error("AA23 reverted") }))).toBe(false)
  })

  test("a cycle in the chain ends (each link visited once); a long chain is bounded", () => {
    const a = new BaseError("a")
    const b = new Error("b", { cause: a })
    ;(a as { cause?: unknown }).cause = b
    const seen: unknown[] = []
    expect(someInCauseChain(a, (e) => (seen.push(e), false))).toBe(false)
    expect(seen).toEqual([a, b])
    expect(findInCauseChain(a, VenueRefusedError)).toBeUndefined()
    expect(safeWideFailureOf(a)).toBeUndefined()
    expect(isUnusableAnswer(a)).toBe(false)
    let long: Error = refusal
    for (let i = 0; i < 10_000; i++) long = new Error(`level ${i}`, { cause: long })
    let visits = 0
    expect(someInCauseChain(long, () => (visits++, false))).toBe(false)
    expect(visits).toBeLessThanOrEqual(64)
    expect(someInCauseChain(undefined, (e) => e instanceof Error)).toBe(false)
  })
})
