import { it } from "vitest"
import { resolveBacktestConfig, TRADERS } from "./config.js"
import { runBacktest } from "./engine.js"
import { calm, fuzzPath, lcg, minutePath } from "./paths.testing.js"
const T0 = 1_700_000_000
const NO_IDLE = resolveBacktestConfig(TRADERS["no-idle"])
const NO_IDLE_AMOUNT = resolveBacktestConfig({ swap: { repayment: "amount" } }, NO_IDLE)
function cutAndGap(seed: number, cut: number, gap: number) {
  const p = Array.from(fuzzPath(seed, T0).prices.ETH as Float64Array)
  return minutePath([...p.slice(0, cut + 1), ...calm(240, (p[cut] as number) * (1 + gap), lcg(seed), 0.0002)], T0)
}
it("b53", () => {
  for (const [seed, cut, gap] of [[719, 1203, -0.2596], [730, 2451, -0.139], [977, 2441, -0.1597], [842, 3038, -0.1479], [808, 820, -0.2805]] as const) {
    const p = cutAndGap(seed, cut, gap)
    for (const cfg of [NO_IDLE_AMOUNT, NO_IDLE]) {
      const t = runBacktest(p, cfg, "threshold"), a = runBacktest(p, cfg, "autopilot")
      console.log(seed, cfg === NO_IDLE ? "mode" : "amount", "T", t.liquidations, t.minHealth.toFixed(4), "A", a.liquidations, a.minHealth.toFixed(4))
    }
  }
})
import type { BacktestEvent } from "./engine.js"
it("bk51", () => {
  const r = lcg(7)
  const prices: number[] = calm(360, 3000, r)
  for (const [f, m] of [[0.3, 5], [-0.25, 3], [-0.18, 240]] as const) prices.push(...calm(m, (prices.at(-1) as number) * (1 + f), r))
  const p = minutePath(prices, T0)
  const cfgA = resolveBacktestConfig({ swap: { repayment: "amount" } }, NO_IDLE)
  for (const keeper of [{}, { boostFloor: false }]) {
    for (const s of ["threshold", "autopilot"] as const) {
      const ev: BacktestEvent[] = []
      const res = runBacktest(p, resolveBacktestConfig({ keeper }, cfgA), s, { trace: (e) => ev.push(e) })
      console.log("bk51", JSON.stringify(keeper), s, res.liquidations, res.minHealth.toFixed(4), ev.filter((e) => e.kind === "rebalance" || e.kind === "swap").map((e) => Math.round((e.time - T0) / 60) + ":" + e.detail.slice(0, 50)).filter((x) => Number(x.split(":")[0]) >= 355).join(" | "))
    }
  }
})
