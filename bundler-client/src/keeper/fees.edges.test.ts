import { parseGwei } from "viem"
import { describe, expect, test, vi } from "vitest"
import { REPLACEMENT_BUMP_PERCENT, priceUserOperation } from "./fees.js"
import type { PendingOperation } from "./stateFile.js"
import { senderHarness } from "./testing.js"

vi.mock("@levpilot/sdk/actions", async (importOriginal) => ({ ...(await importOriginal<typeof import("@levpilot/sdk/actions")>()), sendRebalance: vi.fn() }))
const { sendRebalance } = await import("@levpilot/sdk/actions")

// Issue 11 item 4 (gas spikes), at its edges: caps below, at and above the market, a priority fee above its cap, a stuck
// operation's bump landing on the cap, same-nonce replacements judged by the bundler's exact rule, a zero and a huge
// base fee, a bundler with a minimum gas price. The bundler's rules are Alto's (@pimlico/alto 0.0.20, the devnet's):
// - mempool.add: an operation of the same sender and nonce replaces the one in the mempool only if BOTH
//   `maxPriorityFeePerGas >= old x 110n / 100n` and `maxFeePerGas >= old x 110n / 100n` (`scaleBigIntByPercent`: bigint
//   division, rounded DOWN); else "AA25 ... already present in mempool, bump the gas price by minimum 10%".
// - rpcHandler.preMempoolChecks: both fees at least its lowest valid prices (`getLowestValidGasPrices`), else
//   "maxFeePerGas must be at least <lowest>".

type Fees = { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint }
const gwei = (x: number | string) => parseGwei(String(x))
/** Alto's replacement rule, as its source computes it (rounded down). */
const altoReplaces = (next: Fees, old: Fees) =>
  next.maxFeePerGas >= (old.maxFeePerGas * BigInt(100 + REPLACEMENT_BUMP_PERCENT)) / 100n && next.maxPriorityFeePerGas >= (old.maxPriorityFeePerGas * BigInt(100 + REPLACEMENT_BUMP_PERCENT)) / 100n
/** Alto's pre-mempool check: both fees at least its lowest valid gas prices. */
const altoAdmits = (fees: Fees, lowest: Fees) => fees.maxFeePerGas >= lowest.maxFeePerGas && fees.maxPriorityFeePerGas >= lowest.maxPriorityFeePerGas
const caps: Fees = { maxFeePerGas: gwei(50), maxPriorityFeePerGas: gwei(2) }

const pendingAt = (nonce: bigint, fees: Fees, sentBlock = 90n): PendingOperation => ({
  userOpHash: `0x${"11".repeat(32)}`,
  nonce: `${nonce}`,
  sentBlock: `${sentBlock}`,
  firstSentBlock: `${sentBlock}`,
  sentAt: 0,
  maxFeePerGas: `${fees.maxFeePerGas}`,
  maxPriorityFeePerGas: `${fees.maxPriorityFeePerGas}`,
  sponsored: true,
  attempts: 1,
  triggerBlock: `${sentBlock}`,
  triggerAt: 0,
})
const PLAN = { subAccounts: [], actions: [] } as never

describe("fee edges: priceUserOperation", () => {
  test("1. the cap exactly at the market is not 'below the market': the market's fees as they are, not capped", () => {
    expect(priceUserOperation({ market: caps, caps, bumpPercent: 20 })).toEqual({ fees: caps, capped: false, replaces: false })
    // One wei above a cap is.
    expect(priceUserOperation({ market: { ...caps, maxFeePerGas: caps.maxFeePerGas + 1n }, caps, bumpPercent: 20 }).capped).toBe(true)
  })

  test("2. a priority fee above its cap (max fee below its own): only the tip is lowered, and it is capped", () => {
    const d = priceUserOperation({ market: { maxFeePerGas: gwei(20), maxPriorityFeePerGas: gwei(7) }, caps, bumpPercent: 20 })
    expect(d).toEqual({ fees: { maxFeePerGas: gwei(20), maxPriorityFeePerGas: caps.maxPriorityFeePerGas }, capped: true, replaces: false })
  })

  test("3. a priority fee above the max fee cap is held to the max fee (EIP-1559: tip <= max fee)", () => {
    const d = priceUserOperation({ market: { maxFeePerGas: gwei(80), maxPriorityFeePerGas: gwei(70) }, caps: { maxFeePerGas: gwei(5), maxPriorityFeePerGas: gwei(60) }, bumpPercent: 20 })
    expect(d.fees).toEqual({ maxFeePerGas: gwei(5), maxPriorityFeePerGas: gwei(5) })
  })

  test("4. a stuck operation's 20% bump landing exactly on the caps: at the caps, a replacement the bundler takes", () => {
    const previous = { maxFeePerGas: (caps.maxFeePerGas * 100n) / 120n, maxPriorityFeePerGas: (caps.maxPriorityFeePerGas * 100n) / 120n }
    // 50 gwei / 1.2 is not an integer: the bump (rounded up) lands on the caps, not a wei above.
    const d = priceUserOperation({ market: { maxFeePerGas: gwei(10), maxPriorityFeePerGas: gwei(1) }, caps, previous, bumpPercent: 20 })
    expect(d).toEqual({ fees: caps, capped: false, replaces: true })
    expect(altoReplaces(d.fees, previous)).toBe(true)
  })

  test("5. a replacement where +10% rounded up is a wei above the cap but Alto's rule (rounded down) is met at the cap: it replaces", () => {
    // 45,454,545,455 x 110 / 100 = 50,000,000,000.5: Alto asks 50,000,000,000 (the cap), a rounded-up rule 50,000,000,001.
    const previous = { maxFeePerGas: 45_454_545_455n, maxPriorityFeePerGas: gwei(1) }
    expect(altoReplaces(caps, previous)).toBe(true)
    const d = priceUserOperation({ market: { maxFeePerGas: gwei(30), maxPriorityFeePerGas: gwei(1) }, caps, previous, bumpPercent: 20 })
    // The max fee at its cap (the rounded-up bump would be a wei above it), the tip bumped by the keeper's 20%.
    expect(d.fees).toEqual({ maxFeePerGas: caps.maxFeePerGas, maxPriorityFeePerGas: gwei(1.2) })
    expect(d.replaces).toBe(true)
  })

  test("6. a replacement whose tip cannot rise 10% within its cap is blocked (the max fee has room): the reason names the tip's numbers", () => {
    const previous = { maxFeePerGas: gwei(10), maxPriorityFeePerGas: caps.maxPriorityFeePerGas }
    const d = priceUserOperation({ market: { maxFeePerGas: gwei(10), maxPriorityFeePerGas: gwei(1) }, caps, previous, bumpPercent: 20, urgent: true })
    expect(d.replaces).toBe(false)
    expect(altoReplaces(d.fees, previous)).toBe(false)
    expect(d.reason).toContain(`maxPriorityFeePerGas >= ${(caps.maxPriorityFeePerGas * 110n) / 100n}`)
    expect(d.reason).toContain(`${caps.maxPriorityFeePerGas}`)
  })

  test("7. a zero base fee: the market's tip is the max fee; a replacement of a 0/0 operation at 0/0 is one Alto takes (0 >= 0)", () => {
    const market = { maxFeePerGas: gwei(1), maxPriorityFeePerGas: gwei(1) }
    expect(priceUserOperation({ market, caps, bumpPercent: 20 })).toEqual({ fees: market, capped: false, replaces: false })
    const zero = { maxFeePerGas: 0n, maxPriorityFeePerGas: 0n }
    const d = priceUserOperation({ market: zero, caps, previous: zero, bumpPercent: 20 })
    expect(d).toEqual({ fees: zero, capped: false, replaces: true })
    expect(altoReplaces(d.fees, zero)).toBe(true)
  })

  test("8. a huge base fee (1e30 wei per gas, past any real chain): clipped to the caps exactly, no overflow", () => {
    const market = { maxFeePerGas: 10n ** 30n, maxPriorityFeePerGas: 10n ** 28n }
    expect(priceUserOperation({ market, caps, bumpPercent: 20 })).toEqual({ fees: caps, capped: true, replaces: false })
    const d = priceUserOperation({ market, caps, previous: { maxFeePerGas: gwei(40), maxPriorityFeePerGas: gwei(1) }, bumpPercent: 20 })
    expect(d).toEqual({ fees: caps, capped: true, replaces: true })
  })

  test("9. a bundler with a minimum gas price: its 'fast' fees (at least the minimum) within the caps are admitted; caps below the minimum are capped", () => {
    const lowest = { maxFeePerGas: gwei(60), maxPriorityFeePerGas: gwei(1) }
    const fast = { maxFeePerGas: gwei(66), maxPriorityFeePerGas: gwei(1.5) }
    const roomy = { maxFeePerGas: gwei(100), maxPriorityFeePerGas: gwei(3) }
    const d = priceUserOperation({ market: fast, caps: roomy, bumpPercent: 20 })
    expect(altoAdmits(d.fees, lowest)).toBe(true)
    // The Safe's 50 gwei cap is below the bundler's 60 gwei minimum: every send would be refused; capped raises the alert.
    const low = priceUserOperation({ market: fast, caps, bumpPercent: 20 })
    expect(low.capped).toBe(true)
    expect(altoAdmits(low.fees, lowest)).toBe(false)
  })

  test("10. random replacements against Alto's exact rule: 'replaces' iff Alto takes the fees sent; blocked only when no fees within the caps would do", () => {
    let seed = 0xfee5
    const rnd = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31), seed / 2 ** 31)
    const stats = { replaces: 0, blocked: 0, boundary: 0 }
    for (let i = 0; i < 3_000; i++) {
      const c = { maxFeePerGas: BigInt(Math.floor(1 + rnd() * 1e11)), maxPriorityFeePerGas: BigInt(Math.floor(rnd() * 5e9)) }
      // Previous fees near the caps / 1.1 (the boundary), at the caps, or anywhere below them.
      const r = rnd()
      const near = (cap: bigint) => (cap * 100n) / 110n + BigInt(Math.floor(rnd() * 3)) - 1n
      const previous =
        r < 0.35
          ? { maxFeePerGas: near(c.maxFeePerGas), maxPriorityFeePerGas: near(c.maxPriorityFeePerGas) }
          : r < 0.5
            ? c
            : { maxFeePerGas: (c.maxFeePerGas * BigInt(Math.floor(rnd() * 1_000))) / 1_000n, maxPriorityFeePerGas: (c.maxPriorityFeePerGas * BigInt(Math.floor(rnd() * 1_000))) / 1_000n }
      if (previous.maxFeePerGas < 0n) previous.maxFeePerGas = 0n
      if (previous.maxPriorityFeePerGas < 0n) previous.maxPriorityFeePerGas = 0n
      if (previous.maxPriorityFeePerGas > previous.maxFeePerGas) previous.maxPriorityFeePerGas = previous.maxFeePerGas
      const market = { maxFeePerGas: BigInt(Math.floor(rnd() * 1.5e11)), maxPriorityFeePerGas: BigInt(Math.floor(rnd() * 6e9)) }
      const d = priceUserOperation({ market, caps: c, previous, bumpPercent: 10 + Math.floor(rnd() * 40), urgent: rnd() < 0.3 })
      const best = { maxFeePerGas: c.maxFeePerGas, maxPriorityFeePerGas: c.maxPriorityFeePerGas < c.maxFeePerGas ? c.maxPriorityFeePerGas : c.maxFeePerGas }
      expect(d.fees.maxFeePerGas <= c.maxFeePerGas && d.fees.maxPriorityFeePerGas <= c.maxPriorityFeePerGas && d.fees.maxPriorityFeePerGas <= d.fees.maxFeePerGas).toBe(true)
      expect(d.replaces, JSON.stringify({ c, previous, market, d }, (_, v) => (typeof v === "bigint" ? `${v}` : v))).toBe(altoReplaces(d.fees, previous))
      if (d.replaces) stats.replaces++
      else {
        stats.blocked++
        expect(altoReplaces(best, previous)).toBe(false)
      }
      const ceilNeed = (x: bigint) => (x * 110n + 99n) / 100n
      if (altoReplaces(best, previous) && (best.maxFeePerGas < ceilNeed(previous.maxFeePerGas) || best.maxPriorityFeePerGas < ceilNeed(previous.maxPriorityFeePerGas))) stats.boundary++
    }
    expect(stats.replaces).toBeGreaterThan(1_000)
    expect(stats.blocked).toBeGreaterThan(300)
    expect(stats.boundary).toBeGreaterThan(20)
  })
})

describe("fee edges: the sender's alerts", () => {
  test("11. the cap below the market: one gas-cap-below-market alert naming the market's and the cap's numbers of the field that is above", async () => {
    const market = { maxFeePerGas: gwei(20), maxPriorityFeePerGas: gwei(7) }
    const { sender, rt, events } = senderHarness({ setPending: async () => undefined, nonces: [5n], caps, market: () => market })
    vi.mocked(sendRebalance).mockResolvedValue(`0x${"22".repeat(32)}`)
    await sender.send(rt, 100n, PLAN, undefined)
    const alerts = events.filter((e) => e.type === "alert")
    expect(alerts.map((e) => e.type === "alert" && e.kind)).toEqual(["gas-cap-below-market"])
    const message = alerts[0]?.type === "alert" ? alerts[0].message : ""
    expect(message).toContain(`maxPriorityFeePerGas ${market.maxPriorityFeePerGas} wei > cap ${caps.maxPriorityFeePerGas} wei`)
    // The max fee is below its cap: the alert does not say it is above.
    expect(message).not.toContain(`maxFeePerGas ${market.maxFeePerGas} wei > cap`)
    // Both fields above their caps: both named.
    const both = senderHarness({ setPending: async () => undefined, nonces: [5n], caps, market: () => ({ maxFeePerGas: gwei(300), maxPriorityFeePerGas: gwei(9) }) })
    await both.sender.send(both.rt, 100n, PLAN, undefined)
    const text = both.events.find((e) => e.type === "alert")
    expect(text?.type === "alert" && text.message).toContain(`maxFeePerGas ${gwei(300)} wei > cap ${caps.maxFeePerGas} wei and maxPriorityFeePerGas ${gwei(9)} wei > cap ${caps.maxPriorityFeePerGas} wei`)
  })

  test("12. a replacement blocked by the caps: one replacement-blocked alert per operation (not every block), naming what the rule needs and the caps", async () => {
    const { sender, rt, events, metrics } = senderHarness({ setPending: async () => undefined, nonces: [5n], caps, market: () => ({ maxFeePerGas: gwei(30), maxPriorityFeePerGas: gwei(1) }) })
    vi.mocked(sendRebalance).mockResolvedValue(`0x${"22".repeat(32)}`)
    // The operation in flight is already at the caps (an urgent one repriced there): no resend can outbid it.
    for (const block of [100n, 101n, 102n]) await sender.send(rt, block, PLAN, pendingAt(5n, caps), undefined, true)
    const blocked = events.filter((e) => e.type === "alert" && e.kind === "replacement-blocked")
    expect(blocked).toHaveLength(1)
    const message = blocked[0]?.type === "alert" ? blocked[0].message : ""
    expect(message).toContain(`${(caps.maxFeePerGas * 110n) / 100n}`)
    expect(message).toContain(`${caps.maxFeePerGas}`)
    expect(message).toContain("nonce 5")
    expect(metrics.render()).toMatch(/levpilot_failures_total\{[^}]*kind="replacement-blocked"[^}]*\} 1/)
    // The next operation (nonce 6) blocked again is a new alert.
    await sender.send(rt, 103n, PLAN, pendingAt(6n, caps), undefined, true)
    expect(events.filter((e) => e.type === "alert" && e.kind === "replacement-blocked")).toHaveLength(2)
  })

  test("13. a replacement that clears the rule raises no replacement-blocked alert, and the fees sent are ones Alto takes", async () => {
    const { sender, rt, events } = senderHarness({ setPending: async () => undefined, nonces: [5n], caps, market: () => ({ maxFeePerGas: gwei(30), maxPriorityFeePerGas: gwei(1) }) })
    vi.mocked(sendRebalance).mockClear().mockResolvedValue(`0x${"22".repeat(32)}`)
    const previous = { maxFeePerGas: 45_454_545_455n, maxPriorityFeePerGas: gwei(1) }
    await sender.send(rt, 100n, PLAN, pendingAt(5n, previous), undefined, true)
    expect(events.filter((e) => e.type === "alert")).toEqual([])
    const sent = vi.mocked(sendRebalance).mock.calls[0]?.[1] as unknown as Fees
    expect(altoReplaces({ maxFeePerGas: sent.maxFeePerGas, maxPriorityFeePerGas: sent.maxPriorityFeePerGas }, previous)).toBe(true)
  })
})
