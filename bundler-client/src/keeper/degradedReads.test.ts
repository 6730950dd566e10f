import { Writable } from "node:stream"
import { pino } from "pino"
import type { Hex } from "viem"
import { describe, expect, test } from "vitest"
import { type DegradedRead, portfolioOf } from "./portfolio.js"
import { newSafeRuntime } from "./runtime.js"
import { keeperCosts } from "./safeStep.js"
import { SAFE, STEP_RISK, USDC, stepHarness, stepSafeState, stepSub } from "./testing.js"

// Review rev11 (issue 11 item 6, "one broken feed must not blind the Safe"): a failed Aave reserve-limits read or a
// failed swap quote was planned around in silence (`.catch(() => undefined)`): a Safe without its swap lane in a crash
// and nobody told. Each must show: one warn line when it appears, a gauge while it lasts, back to 0 when it reads again.

const SUB = `0x${"d0".repeat(32)}` as Hex

function capture() {
  const lines: { level: number; msg: string; read?: string; subAccount?: string; err?: string }[] = []
  const stream = new Writable({
    write(chunk: Buffer, _e, done) {
      for (const l of chunk.toString().split("\n")) if (l.trim()) lines.push(JSON.parse(l))
      done()
    },
  })
  return { lines, logger: pino({ level: "debug" }, stream) }
}

const gauge = (rendered: string, read: string) => {
  const line = rendered.split("\n").find((l) => l.startsWith("levpilot_read_degraded{") && l.includes(`read="${read}"`))
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1))
}

describe("reads planned around are reported, not silent", () => {
  test("a failed swap quote and Aave limits read: one warn each while they last, the gauge counts them, 0 once they read", async () => {
    const { lines, logger } = capture()
    const { step, metrics } = stepHarness(logger)
    const rt = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
    const state = stepSafeState([stepSub(SUB, USDC, 1.3, "inside")])
    const run = async (block: bigint, degraded: DegradedRead[]) => {
      const snapshot = portfolioOf(state as never, { blockNumber: block, timestamp: 1_700_000_000n + block * 12n, risk: STEP_RISK, costs: keeperCosts({ costs: { gasPriceGwei: 1, nativePrice: 3000 } } as never) })
      await step.run(rt, block, { snapshot: { ...snapshot, degraded } })
    }
    const failed: DegradedRead[] = [
      { read: "swap-curve", subAccount: SUB, detail: "sell, fee 500", message: "QuoterV2 reverted" },
      { read: "aave-limits", message: "getReserveData: timeout" },
    ]
    await run(100n, failed)
    await run(101n, failed)
    const warned = lines.filter((l) => l.level === 40 && (l.read === "swap-curve" || l.read === "aave-limits"))
    expect(warned.map((l) => l.read).sort()).toEqual(["aave-limits", "swap-curve"])
    expect(warned.find((l) => l.read === "swap-curve")?.msg).toContain(SUB)
    expect(warned.find((l) => l.read === "aave-limits")?.err).toBe("getReserveData: timeout")
    expect(gauge(metrics.render(), "swap-curve")).toBe(1)
    expect(gauge(metrics.render(), "aave-limits")).toBe(1)

    await run(102n, [])
    expect(gauge(metrics.render(), "swap-curve")).toBe(0)
    expect(gauge(metrics.render(), "aave-limits")).toBe(0)
    // It breaks again: a new warn line.
    await run(103n, failed.slice(0, 1))
    expect(lines.filter((l) => l.level === 40 && l.read === "swap-curve")).toHaveLength(2)
  })
})
