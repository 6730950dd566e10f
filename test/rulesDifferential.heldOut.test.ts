import { readFileSync } from "node:fs"
import { resolve } from "node:path"
import { checkRebalanceRules } from "@levpilot/sdk/rules"
import { describe, expect, test } from "vitest"
import { type Decoded, toParams } from "../scripts/rules-differential-case.js"

// Held-out differential cases (`npm run test:differential` with another seed), replayed through the TypeScript half
// alone. The fixture is the case as recorded by RulesDifferential.t.sol (bigints as decimal strings) with the module's
// verdict beside it.
const load = (name: string): Decoded =>
  JSON.parse(readFileSync(resolve(import.meta.dirname, "fixtures", name), "utf8"), (_, v) => (typeof v === "string" && /^\d+$/.test(v) ? BigInt(v) : v))

describe("rules differential, held-out seeds", () => {
  test("RULES_DIFF_SEED=77001 case 2303: a swap whose real output is 0 (BuyCollateral of 1 wei USDC) fails at the swap, as on chain", () => {
    // Module: ActionFailed(1, Error("Too little received")): the router paid 0 WETH, below the module's minimum. The
    // recorded output 0 must count as an output of 0, not as "no output recorded" (then the rules assume the minimum).
    const c = load("rules-differential-seed77001-case2303.json")
    expect(c.swapOutputs[1]).toBe(0n)
    expect(c.swapFails[1]).toBe(false)
    const verdict = checkRebalanceRules(toParams(c))
    expect(verdict.ok).toBe(false)
    if (verdict.ok) return
    expect(verdict.error.name).toBe("ActionFailed")
    expect(verdict.error.args[0]).toBe(1n)
  })
})
