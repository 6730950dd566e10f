import { describe, expect, test } from "vitest"
import { Rng } from "../risk/rng.js"
import { REPLACEMENT_BUMP_PERCENT, priceUserOperation, raiseToBundlerMinimum, replacementMinimum } from "./fees.js"
import { reservePaymasterCharge } from "./paymasterCharge.js"

// Review rr11e (issue 11 items 2 and 4): the fee decision at its edges, as a property over random fees, caps, previous
// fees and bumps (including fees of 0-3 wei, caps below the market, caps below the previous fees, tip caps above the fee
// cap), checked against the bundler's rule (Alto 0.0.20: new >= old x 110 / 100, rounded down, on both fields) computed
// here independently; and the paymaster reserve of a loan-token paymaster keyed by a checksummed address.

const GWEI = 1_000_000_000n
function draw(rng: Rng): bigint {
  const r = rng.uniform()
  if (r < 0.15) return BigInt(Math.floor(rng.uniform() * 4)) // 0..3 wei
  if (r < 0.3) return 10n ** BigInt(Math.floor(rng.uniform() * 12)) // powers of ten
  return BigInt(Math.floor(rng.uniform() * 500)) * GWEI + BigInt(Math.floor(rng.uniform() * 1e9))
}
const fees = (rng: Rng) => {
  const maxFeePerGas = draw(rng)
  const tip = draw(rng)
  return { maxFeePerGas, maxPriorityFeePerGas: tip > maxFeePerGas ? maxFeePerGas : tip }
}
/** Alto 0.0.20's mempool replacement check, written out. */
const altoReplaces = (old: { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint }, next: { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint }) =>
  next.maxFeePerGas >= (old.maxFeePerGas * 110n) / 100n && next.maxPriorityFeePerGas >= (old.maxPriorityFeePerGas * 110n) / 100n

describe("rr11e: priceUserOperation at the edges (held)", () => {
  test("property over 50,000 draws: never above a cap, tip <= fee, `replaces` exactly Alto's rule, an urgent or unreplaceable resend at the caps, `capped` iff the market is above a cap", () => {
    const rng = new Rng(1105)
    const bad: string[] = []
    let replaced = 0
    let notReplaced = 0
    for (let k = 0; k < 50_000; k++) {
      const market = fees(rng)
      const caps = { maxFeePerGas: draw(rng), maxPriorityFeePerGas: draw(rng) }
      const previous = rng.uniform() < 0.7 ? fees(rng) : undefined
      const urgent = rng.uniform() < 0.3
      const bumpPercent = [0, 10, 10.01, 12.5, 20, 33.3333][Math.floor(rng.uniform() * 6)] as number
      const d = priceUserOperation({ market, caps, previous, bumpPercent, urgent })
      const show = JSON.stringify({ market, caps, previous, urgent, bumpPercent, d }, (_k, v) => (typeof v === "bigint" ? v.toString() : v))
      const f = d.fees
      if (f.maxFeePerGas > caps.maxFeePerGas || f.maxPriorityFeePerGas > caps.maxPriorityFeePerGas) bad.push(`above a cap: ${show}`)
      if (f.maxPriorityFeePerGas > f.maxFeePerGas) bad.push(`tip above fee: ${show}`)
      if (d.capped !== (market.maxFeePerGas > caps.maxFeePerGas || market.maxPriorityFeePerGas > caps.maxPriorityFeePerGas)) bad.push(`capped flag: ${show}`)
      if (previous === undefined) {
        const want = { maxFeePerGas: market.maxFeePerGas < caps.maxFeePerGas ? market.maxFeePerGas : caps.maxFeePerGas }
        if (f.maxFeePerGas !== want.maxFeePerGas) bad.push(`first send not the market clipped: ${show}`)
        continue
      }
      if (d.replaces !== altoReplaces(previous, f)) bad.push(`replaces disagrees with Alto: ${show}`)
      if (d.replaces) replaced++
      else notReplaced++
      // A replacement that cannot clear the rule within the caps, and an urgent one, go out at the caps.
      const atCaps = f.maxFeePerGas === caps.maxFeePerGas && f.maxPriorityFeePerGas === (caps.maxPriorityFeePerGas < caps.maxFeePerGas ? caps.maxPriorityFeePerGas : caps.maxFeePerGas)
      if ((urgent || !d.replaces) && !atCaps) bad.push(`urgent/unreplaceable not at the caps: ${show}`)
      // When the caps allow the rule, the decision replaces.
      const need = replacementMinimum(previous, REPLACEMENT_BUMP_PERCENT)
      const capTip = caps.maxPriorityFeePerGas < caps.maxFeePerGas ? caps.maxPriorityFeePerGas : caps.maxFeePerGas
      if (caps.maxFeePerGas >= need.maxFeePerGas && capTip >= need.maxPriorityFeePerGas && !d.replaces) bad.push(`caps allow the rule, not replaced: ${show}`)
      if (!d.replaces && (d.reason === undefined || !d.reason.includes(String(caps.maxFeePerGas)))) bad.push(`no reason with both numbers: ${show}`)
    }
    expect(replaced).toBeGreaterThan(1_000)
    expect(notReplaced).toBeGreaterThan(1_000)
    expect(bad.slice(0, 5)).toEqual([])
  })

  test("raiseToBundlerMinimum never returns fees above the caps or a tip above the fee", () => {
    const rng = new Rng(77)
    for (let k = 0; k < 20_000; k++) {
      const f = fees(rng)
      const caps = { maxFeePerGas: draw(rng), maxPriorityFeePerGas: draw(rng) }
      const field = rng.uniform() < 0.5 ? ("maxFeePerGas" as const) : ("maxPriorityFeePerGas" as const)
      const r = raiseToBundlerMinimum(f, { field, minimum: draw(rng) }, caps)
      if (r === undefined) continue
      expect(r.maxFeePerGas <= caps.maxFeePerGas && r.maxPriorityFeePerGas <= caps.maxPriorityFeePerGas && r.maxPriorityFeePerGas <= r.maxFeePerGas).toBe(true)
    }
  })
})

describe("rr11e: a loan-token paymaster's reserve (held)", () => {
  test("USDC paymaster named checksummed, 6/8/18 decimals: the bounds and the solver's idle both lowered by the exact charge, never below 0", () => {
    const usdc = "0x00000000000000000000000000000000000000B1"
    for (const decimals of [6, 8, 18]) {
      for (const [balance, charge, left] of [
        [1_000n * 10n ** BigInt(decimals), 1_234_567n, 1_000n * 10n ** BigInt(decimals) - 1_234_567n],
        [5n, 6n, 0n],
        [7n, 7n, 0n],
      ] as const) {
        const snapshot = { bounds: { balances: { [usdc.toLowerCase()]: balance }, maxWithdraw: {}, poolAsset: {}, subAccounts: {} }, input: { idle: { [usdc.toLowerCase()]: Number(balance) / 10 ** decimals } }, decimals: { [usdc.toLowerCase()]: decimals } }
        reservePaymasterCharge(snapshot as never, usdc, charge)
        expect(snapshot.bounds.balances[usdc.toLowerCase()]).toBe(left)
        expect(snapshot.input.idle[usdc.toLowerCase()]).toBe(Number(left) / 10 ** decimals)
        expect(Object.keys(snapshot.input.idle)).toEqual([usdc.toLowerCase()])
      }
    }
  })
})
