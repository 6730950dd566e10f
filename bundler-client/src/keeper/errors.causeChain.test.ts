import { BaseError } from "viem"
import { describe, expect, test } from "vitest"
import { PaymasterRefusedError, VenueRefusedError } from "@levpilot/sdk/errors"
import { findInCauseChain } from "./errors.js"

// The one cause-chain walk of the keeper (the sender's `has`, the step's `findVenueRefusal`).
describe("findInCauseChain", () => {
  const refusal = new VenueRefusedError({ venue: "morpho-blue", source: "venue", errorName: "INSUFFICIENT_LIQUIDITY", args: {}, reason: "insufficient liquidity", index: 1 })
  test("the error itself, a cause two levels down, none; a plain Error's cause is followed too (f11z)", () => {
    expect(findInCauseChain(refusal, VenueRefusedError)).toBe(refusal)
    const wrapped = new BaseError("outer", { cause: new BaseError("middle", { cause: refusal }) })
    expect(findInCauseChain(wrapped, VenueRefusedError)).toBe(refusal)
    expect(findInCauseChain(wrapped, PaymasterRefusedError)).toBeUndefined()
    expect(findInCauseChain(new Error("plain", { cause: refusal }), VenueRefusedError)).toBe(refusal)
    expect(findInCauseChain(undefined, VenueRefusedError)).toBeUndefined()
  })
})
