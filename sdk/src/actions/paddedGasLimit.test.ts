import { describe, expect, test } from "vitest"
import { paddedGasLimit } from "./sendRebalance.js"

describe("paddedGasLimit (the keeper's call and verification gas limits)", () => {
  test("adds the pad when it fits under the Safe's cap", () => {
    expect(paddedGasLimit(400_000n, 60_000n, 1_000_000n)).toBe(460_000n)
    expect(paddedGasLimit(940_000n, 60_000n, 1_000_000n)).toBe(1_000_000n)
  })

  test("an estimate within the pad of the cap is signed at the cap, not refused (GasFieldAboveCap)", () => {
    // The issue-11 review's input: the self-pay verification padding (60k) on an estimate 950k under a 1M cap.
    expect(paddedGasLimit(950_000n, 60_000n, 1_000_000n)).toBe(1_000_000n)
    expect(paddedGasLimit(1_000_000n, 60_000n, 1_000_000n)).toBe(1_000_000n)
  })

  test("an estimate already above the cap is kept, so the module names the field", () => {
    expect(paddedGasLimit(1_200_000n, 60_000n, 1_000_000n)).toBe(1_200_000n)
  })

  test("no pad: the estimate itself", () => {
    expect(paddedGasLimit(123_456n, 0n, 1_000_000n)).toBe(123_456n)
  })
})
