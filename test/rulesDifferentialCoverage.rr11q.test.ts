import { readFileSync } from "node:fs"
import { resolve } from "node:path"
import { expect, test } from "vitest"

// Review rr11q Q3 (issue 11 "one rule book": "same verdict and same named rule every time, over thousands of cases").
// What CI's gate compares, read from the sources that set it (no forge run here):
// - `npm test` runs `npm run test:differential` with no RULES_DIFF_CASES, so RulesDifferential.t.sol's default count,
//   and the "every named error reached" assertion applies only from 1,000 cases. Run today (seed 0x5eed, 300 cases):
//   `mismatches 0 of 300; ... missing SwapRoundTrip,PoolAssetMismatch,SwapAdapterRevert,IdleInflow,
//   HealthOutsideLandingZone,EpochAmountCapExceeded`: 6 of the 34 named rules are never compared by CI, and the run
//   passes. (The 3,000-case `test:differential:deep` reaches them all, in about a minute on this 2-core machine, but nothing runs it.)
// - The differential world has no Aave v3 venue (every Aave rule of the book: minBorrowHealth from the account's
//   liquidation threshold, the shared account key, collateral held, e-mode) and no accepted case whose loan token is not
//   USDC (6 decimals; item 1's wstETH/WETH loop lends an 18-decimal token): those classes are never generated.
const root = resolve(import.meta.dirname, "..")
const pkg = JSON.parse(readFileSync(resolve(root, "package.json"), "utf8")) as { scripts: Record<string, string> }
const sol = readFileSync(resolve(root, "modules/test/differential/RulesDifferential.t.sol"), "utf8")
const ci = readFileSync(resolve(root, ".ci/run"), "utf8")

/** Cases CI's `npm test` runs through the differential: RULES_DIFF_CASES in the script, else the forge test's default. */
function ciCases(): number {
  expect(ci).toMatch(/^npm test$/m)
  expect(pkg.scripts.test).toContain("npm run test:differential")
  const set = /RULES_DIFF_CASES=(\d+)/.exec(pkg.scripts["test:differential"] ?? "")
  if (set) return Number(set[1])
  const fallback = /vm\.envOr\("RULES_DIFF_CASES", uint256\((\d+)\)\)/.exec(sol)
  return Number(fallback?.[1])
}
/** The count from which the forge test asserts every named error was reached. */
const gate = Number(/if \(n >= (\d+)\) \{\s*assertTrue\(vm\.contains\(string\(report\), "missing none"\)/.exec(sol)?.[1])

test("rr11q Q3 fixed (cases): CI's differential run compares at least the count from which every named rule must be reached", () => {
  // 1,000 until issue 13's in-band kinds joined the case mix (1,000 cases then missed SubAccountUnchanged at the default seed).
  expect(gate).toBe(1500)
  expect(ciCases()).toBeGreaterThanOrEqual(gate)
})

test("rr11q Q3 observed today (world): the differential world has no Aave v3 venue", () => {
  expect(/Aave/i.test(sol)).toBe(false)
})

test.skip("rr11q Q3 FAILS TODAY (world): the differential generates Aave v3 sub-accounts", () => {
  expect(/AaveV3Adapter/.test(sol)).toBe(true)
})
