import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { join, resolve } from "node:path"
import { BaseError, type Hex, encodeErrorResult, parseAbi } from "viem"
import { describe, expect, test } from "vitest"
import { leverageModuleAbi } from "../abis/leverageModule.js"
import * as errors from "./index.js"
import { getLeverageError } from "./getLeverageError.js"
import { ActionFailedError } from "./plan.js"
import { VenueRefusedError, decodeVenueRevert } from "./venue.js"

// Issue 17 close-out: Morpho Blue reverts with `Error(string)` reasons from its ErrorsLib ("insufficient liquidity",
// "insufficient collateral", "market not created", ...). Raised inside an action (`ActionFailed(index, reason)`, as a
// bundler's simulation or the estimation returns it), it is a venue refusal like Aave's: VenueRefusedError naming
// morpho-blue and the ErrorsLib constant, so the keeper alerts `venue-refused` and plans again without that sub-account.

const stringError = (text: string) => encodeErrorResult({ abi: parseAbi(["error Error(string)"]), errorName: "Error", args: [text] })
const actionFailed = (index: number, reason: Hex) => encodeErrorResult({ abi: leverageModuleAbi, errorName: "ActionFailed", args: [BigInt(index), reason] } as never)
const reverted = (data: Hex) => new BaseError("Execution reverted.", { cause: Object.assign(new BaseError("execution reverted"), { data }) })
/** ErrorsLib.sol of the installed @morpho-org/morpho-blue: constant name -> reason string. */
function errorsLib(): Map<string, string> {
  const require = createRequire(import.meta.url)
  const dir = resolve(require.resolve("@morpho-org/morpho-blue/package.json"), "..")
  const src = readFileSync(join(dir, "src/libraries/ErrorsLib.sol"), "utf8")
  return new Map([...src.matchAll(/string internal constant (\w+) = "([^"]+)";/g)].map(([, name, text]) => [name as string, text as string]))
}

describe("Morpho Blue's ErrorsLib reasons are named (VenueRefusedError, venue morpho-blue)", () => {
  test("the SDK's table is @morpho-org/morpho-blue's ErrorsLib.sol, every constant, same string", () => {
    const lib = errorsLib()
    expect(lib.size).toBeGreaterThan(20)
    const table = (errors as unknown as { morphoBlueErrors?: Readonly<Record<string, { name: string }>> }).morphoBlueErrors
    expect(table, "morphoBlueErrors exported").toBeDefined()
    for (const [name, text] of lib) expect(table?.[text]?.name, text).toBe(name)
    expect(Object.keys(table ?? {}).length).toBe(lib.size)
  })

  test("inside ActionFailed: insufficient liquidity, insufficient collateral, market not created are refusals of morpho-blue at that index", () => {
    const lib = errorsLib()
    for (const [name, index] of [["INSUFFICIENT_LIQUIDITY", 2], ["INSUFFICIENT_COLLATERAL", 0], ["MARKET_NOT_CREATED", 1]] as const) {
      const text = lib.get(name) as string
      const e = getLeverageError(reverted(actionFailed(index, stringError(text))))
      expect(e, text).toBeInstanceOf(VenueRefusedError)
      const v = e as VenueRefusedError
      expect([v.venue, v.source, v.errorName, v.index, v.args]).toEqual(["morpho-blue", "venue", name, index, {}])
      expect(v.shortMessage).toContain(`Morpho Blue "${text}" (${name})`)
      expect(decodeVenueRevert(stringError(text))).toMatchObject({ venue: "morpho-blue", errorName: name })
    }
  })

  test("inside a repay callback (ActionFailed around ActionFailed): the inner Morpho refusal, the inner index", () => {
    const inner = actionFailed(3, stringError("insufficient collateral"))
    const v = getLeverageError(reverted(actionFailed(1, inner))) as VenueRefusedError
    expect(v).toBeInstanceOf(VenueRefusedError)
    expect([v.venue, v.errorName, v.index]).toEqual(["morpho-blue", "INSUFFICIENT_COLLATERAL", 3])
  })

  test("not claimed: the Safe's own token transfer failing (a swap paid short: transferFrom reverted), other strings, a bare reason outside an action", () => {
    for (const text of ["transferFrom reverted", "transfer reverted", "Too little received", "STF"]) {
      expect(getLeverageError(reverted(actionFailed(0, stringError(text)))), text).not.toBeInstanceOf(VenueRefusedError)
      expect(decodeVenueRevert(stringError(text)), text).toBeUndefined()
    }
    expect(getLeverageError(reverted(stringError("insufficient liquidity")))).not.toBeInstanceOf(VenueRefusedError)
    expect(getLeverageError(reverted(actionFailed(0, "0xdeadbeef")))).toBeInstanceOf(ActionFailedError)
  })
})
