import { parseGwei } from "viem"
import { describe, expect, test } from "vitest"
import { priceUserOperation } from "./fees.js"

// Review rev11 (issue 11 item 4, "alert with both numbers when the cap is below the market"): `capped` raises the
// keeper's `gas-cap-below-market` alert ("the market's fees are above the Safe's caps: maxFeePerGas <market> wei > cap
// <cap> wei"). A resend of an operation already at the caps (an urgent one repriced there earlier) while the market is
// far BELOW the caps was flagged `capped`: the alert then tells the operator the market is above the caps with numbers
// that say otherwise (10 gwei > cap 50 gwei), in the minute they decide whether to raise the caps.

const gwei = (x: number) => parseGwei(String(x))
const caps = { maxFeePerGas: gwei(50), maxPriorityFeePerGas: gwei(2) }

describe("capped means the market is above a cap, nothing else", () => {
  test("a non-urgent resend of an operation at the caps, market far below them: at the caps, not replacing, not capped", () => {
    const d = priceUserOperation({ market: { maxFeePerGas: gwei(10), maxPriorityFeePerGas: gwei(0.5) }, caps, previous: caps, bumpPercent: 20 })
    expect(d.fees).toEqual(caps)
    expect(d.replaces).toBe(false)
    expect(d.capped).toBe(false)
  })

  test("the same resend with the market above the caps is capped", () => {
    const d = priceUserOperation({ market: { maxFeePerGas: gwei(80), maxPriorityFeePerGas: gwei(3) }, caps, previous: caps, bumpPercent: 20 })
    expect(d.capped).toBe(true)
  })
})
