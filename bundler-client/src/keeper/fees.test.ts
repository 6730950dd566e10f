import { describe, expect, test } from "vitest"
import { REPLACEMENT_BUMP_PERCENT, priceUserOperation } from "./fees.js"

const gwei = (n: number) => BigInt(Math.round(n * 1e9))
const caps = { maxFeePerGas: gwei(50), maxPriorityFeePerGas: gwei(2) }

// The bundler's rule as Alto applies it (mempool.ts): both fields >= old x 110 / 100.
const clearsRule = (next: { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint }, old: { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint }) =>
  next.maxFeePerGas >= (old.maxFeePerGas * BigInt(100 + REPLACEMENT_BUMP_PERCENT)) / 100n &&
  next.maxPriorityFeePerGas >= (old.maxPriorityFeePerGas * BigInt(100 + REPLACEMENT_BUMP_PERCENT)) / 100n

describe("priceUserOperation", () => {
  test("below the caps the market's fees are used as they are", () => {
    const market = { maxFeePerGas: gwei(20), maxPriorityFeePerGas: gwei(1) }
    expect(priceUserOperation({ market, caps, bumpPercent: 20 })).toEqual({ fees: market, capped: false, replaces: false })
  })

  test("in a spike both fields are clipped to the Safe's caps (never above: the module would reject the signature)", () => {
    const market = { maxFeePerGas: gwei(400), maxPriorityFeePerGas: gwei(30) }
    const d = priceUserOperation({ market, caps, bumpPercent: 20 })
    expect(d).toEqual({ fees: caps, capped: true, replaces: false })
  })

  test("the priority fee never exceeds the max fee, even when its own cap is higher", () => {
    const d = priceUserOperation({ market: { maxFeePerGas: gwei(5), maxPriorityFeePerGas: gwei(9) }, caps: { maxFeePerGas: gwei(3), maxPriorityFeePerGas: gwei(10) }, bumpPercent: 20 })
    expect(d.fees).toEqual({ maxFeePerGas: gwei(3), maxPriorityFeePerGas: gwei(3) })
  })

  test("a replacement raises both fields by at least the bundler's rule, also when the market fell (random cases)", () => {
    let seed = 7
    const rnd = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31), seed / 2 ** 31)
    let sent = 0
    for (let i = 0; i < 2_000; i++) {
      const c = { maxFeePerGas: gwei(1 + rnd() * 500), maxPriorityFeePerGas: gwei(0.01 + rnd() * 20) }
      // A previous operation was within the caps (the keeper never signs above them).
      const previous = { maxFeePerGas: (c.maxFeePerGas * BigInt(Math.floor(rnd() * 1_000))) / 1_000n + 1n, maxPriorityFeePerGas: 0n }
      previous.maxPriorityFeePerGas = ((c.maxPriorityFeePerGas < previous.maxFeePerGas ? c.maxPriorityFeePerGas : previous.maxFeePerGas) * BigInt(Math.floor(rnd() * 1_000))) / 1_000n
      const market = { maxFeePerGas: gwei(rnd() * 600), maxPriorityFeePerGas: gwei(rnd() * 25) }
      const bumpPercent = 10 + Math.floor(rnd() * 100)
      const d = priceUserOperation({ market, caps: c, previous, bumpPercent, urgent: rnd() < 0.3 })
      expect(d.fees.maxFeePerGas).toBeLessThanOrEqual(c.maxFeePerGas)
      expect(d.fees.maxPriorityFeePerGas).toBeLessThanOrEqual(c.maxPriorityFeePerGas)
      if (!d.replaces) {
        // Only when no pair within the caps can clear the rule; then it goes out at the caps.
        const best = { maxFeePerGas: c.maxFeePerGas, maxPriorityFeePerGas: c.maxPriorityFeePerGas < c.maxFeePerGas ? c.maxPriorityFeePerGas : c.maxFeePerGas }
        expect(clearsRule(best, previous)).toBe(false)
        expect(d.fees).toEqual(best)
        continue
      }
      sent++
      expect(clearsRule(d.fees, previous)).toBe(true)
      expect(d.fees.maxFeePerGas).toBeLessThanOrEqual(c.maxFeePerGas)
      expect(d.fees.maxPriorityFeePerGas).toBeLessThanOrEqual(c.maxPriorityFeePerGas)
      expect(d.fees.maxPriorityFeePerGas).toBeLessThanOrEqual(d.fees.maxFeePerGas)
    }
    expect(sent).toBeGreaterThan(500)
  })

  test("a 20% bump that would overshoot the cap is clipped to it (and still replaces)", () => {
    const previous = { maxFeePerGas: gwei(44), maxPriorityFeePerGas: gwei(1.8) }
    const d = priceUserOperation({ market: { maxFeePerGas: gwei(30), maxPriorityFeePerGas: gwei(1) }, caps, previous, bumpPercent: 20 })
    expect(d).toEqual({ fees: caps, capped: false, replaces: true })
  })

  test("a stuck deleverage is repriced straight to the caps; a non-urgent one by the keeper's bump", () => {
    const previous = { maxFeePerGas: gwei(10), maxPriorityFeePerGas: gwei(0.5) }
    const market = { maxFeePerGas: gwei(10), maxPriorityFeePerGas: gwei(0.5) }
    expect(priceUserOperation({ market, caps, previous, bumpPercent: 20, urgent: true })).toEqual({ fees: caps, capped: false, replaces: true })
    expect(priceUserOperation({ market, caps, previous, bumpPercent: 20 })).toEqual({ fees: { maxFeePerGas: gwei(12), maxPriorityFeePerGas: gwei(0.6) }, capped: false, replaces: true })
  })

  test("an operation already at the caps is resent at the caps, flagged as not replacing (the bundler takes it only if it dropped the first)", () => {
    const d = priceUserOperation({ market: { maxFeePerGas: gwei(300), maxPriorityFeePerGas: gwei(9) }, caps, previous: caps, bumpPercent: 20, urgent: true })
    expect(d.fees).toEqual(caps)
    expect(d.replaces).toBe(false)
    expect(d.capped).toBe(true)
    expect(d.reason).toContain(`${caps.maxFeePerGas}`)
  })
})
