import { parseGwei } from "viem"
import { describe, expect, test } from "vitest"
import { priceUserOperation, replacementMinimum } from "./fees.js"

// Review rev11s (issue 11 item 4, "a stuck op's bump ... a same-nonce resend must raise both fees by at least the
// bundler's replacement rule"). The configuration accepts any `feeBumpPercent` from 10 to 500 (not only integers:
// `feeBumpPercent: 12.5` passes parseKeeperConfig). A replacement priced with a fractional bump must still be priced,
// at least `previous x (100 + bump)%` per field, never a RangeError from `BigInt(112.5)` (the resend of every stuck
// operation would then fail as `send-failed`, and a stuck deleverage would never be repriced).

const gwei = (x: number) => parseGwei(String(x))
const caps = { maxFeePerGas: gwei(500), maxPriorityFeePerGas: gwei(50) }
const previous = { maxFeePerGas: gwei(40), maxPriorityFeePerGas: gwei(2) }
const market = { maxFeePerGas: gwei(30), maxPriorityFeePerGas: gwei(1) }

describe("a replacement priced with a fractional feeBumpPercent", () => {
  for (const bumpPercent of [12.5, 10.01, 33.3333, 499.9]) {
    test(`bump ${bumpPercent}%: priced, both fields >= previous x (100 + bump)% (rounded up), replaces`, () => {
      const d = priceUserOperation({ market, caps, previous, bumpPercent })
      // previous x (100 + bump) / 100, rounded up, computed on exact rationals (bump as a decimal string).
      const [int, frac = ""] = String(bumpPercent).split(".")
      const scale = 10n ** BigInt(frac.length)
      const bumpScaled = BigInt(int as string) * scale + BigInt(frac === "" ? "0" : frac)
      const atLeast = (v: bigint) => (v * (100n * scale + bumpScaled) + 100n * scale - 1n) / (100n * scale)
      const want = { maxFeePerGas: atLeast(previous.maxFeePerGas), maxPriorityFeePerGas: atLeast(previous.maxPriorityFeePerGas) }
      const capped = { maxFeePerGas: want.maxFeePerGas < caps.maxFeePerGas ? want.maxFeePerGas : caps.maxFeePerGas, maxPriorityFeePerGas: want.maxPriorityFeePerGas < caps.maxPriorityFeePerGas ? want.maxPriorityFeePerGas : caps.maxPriorityFeePerGas }
      expect(d.fees.maxFeePerGas).toBeGreaterThanOrEqual(capped.maxFeePerGas)
      expect(d.fees.maxPriorityFeePerGas).toBeGreaterThanOrEqual(capped.maxPriorityFeePerGas)
      // Not more than a wei over the exact bump (no hidden over-payment).
      expect(d.fees.maxFeePerGas - capped.maxFeePerGas).toBeLessThanOrEqual(1n)
      const need = replacementMinimum(previous)
      expect(d.replaces).toBe(d.fees.maxFeePerGas >= need.maxFeePerGas && d.fees.maxPriorityFeePerGas >= need.maxPriorityFeePerGas)
    })
  }
})
