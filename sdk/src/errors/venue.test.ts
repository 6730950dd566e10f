import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { join, resolve } from "node:path"
import { type Abi, BaseError, type Hex, encodeErrorResult, getAddress, parseAbi, toFunctionSelector } from "viem"
import { describe, expect, test } from "vitest"
import { leverageModuleAbi } from "../abis/leverageModule.js"
import { aaveErrorCodes } from "./aaveErrorCodes.js"
import { getLeverageError, isLeverageError } from "./getLeverageError.js"
import { ActionFailedError } from "./plan.js"
import { VenueRefusedError, aaveAdapterErrorsAbi, aaveFlashRouterErrorsAbi, decodeVenueRevert } from "./venue.js"

const root = resolve(import.meta.dirname, "../../..")
const artifactErrors = (path: string) => (JSON.parse(readFileSync(join(root, path), "utf8")).abi as Abi).filter((x) => x.type === "error")
const signature = (e: { name: string; inputs: readonly { type: string }[] }) => `${e.name}(${e.inputs.map((i) => i.type).join(",")})`

/** A viem error whose cause carries `data`, as a failed eth_call / estimation does. */
const reverted = (data: Hex) => new BaseError("Execution reverted.", { cause: Object.assign(new BaseError("execution reverted"), { data }) })
const actionFailed = (index: number, reason: Hex) => encodeErrorResult({ abi: leverageModuleAbi, errorName: "ActionFailed", args: [BigInt(index), reason] } as never)

describe("the SDK's Aave error tables match the compiled contracts and @aave/core-v3", () => {
  test("every AaveV3Adapter and AaveFlashLoanRouter error of the forge artifacts is in the SDK's ABIs, same selector", () => {
    const ours = new Set([...aaveAdapterErrorsAbi, ...aaveFlashRouterErrorsAbi].map((e) => toFunctionSelector(signature(e))))
    for (const path of ["out/AaveV3Adapter.sol/AaveV3Adapter.json", "out/AaveFlashLoanRouter.sol/AaveFlashLoanRouter.json"])
      for (const e of artifactErrors(path) as unknown as { name: string; inputs: { type: string }[] }[]) {
        if (e.name === "SafeERC20FailedOperation") continue // OpenZeppelin's, not the venue's
        expect(ours.has(toFunctionSelector(signature(e))), `${path}: ${signature(e)}`).toBe(true)
      }
  })

  test("aaveErrorCodes is @aave/core-v3's Errors.sol, every constant", () => {
    const require = createRequire(import.meta.url)
    const dir = resolve(require.resolve("@aave/core-v3/package.json"), "..")
    const src = readFileSync(join(dir, "contracts/protocol/libraries/helpers/Errors.sol"), "utf8")
    const rows = [...src.matchAll(/string public constant (\w+) = '(\d+)';/g)]
    expect(rows.length).toBeGreaterThan(80)
    for (const [, name, code] of rows) expect(aaveErrorCodes[code as string]?.name, code).toBe(name)
    expect(Object.keys(aaveErrorCodes).length).toBe(rows.length)
  })
})

describe("getLeverageError names a venue's refusal (VenueRefusedError)", () => {
  const asset = "0x00000000000000000000000000000000000000c1"
  const safe = "0x0000000000000000000000000000000000005afe"
  test("the flash router's FlashLiquidityShort / FlashRepaymentShort inside ActionFailed(index, ...): the router, the error, its args, the index", () => {
    const short = encodeErrorResult({ abi: aaveFlashRouterErrorsAbi, errorName: "FlashRepaymentShort", args: [safe, 10_005n, 10_000n] })
    const e = getLeverageError(reverted(actionFailed(2, short)))
    expect(e).toBeInstanceOf(VenueRefusedError)
    const v = e as VenueRefusedError
    expect([v.venue, v.source, v.errorName, v.index]).toEqual(["aave-v3", "flash-router", "FlashRepaymentShort", 2])
    expect(v.args).toEqual({ account: getAddress(safe), owed: 10_005n, held: 10_000n })
    expect(v.shortMessage).toMatch(/aave-v3 refused action 2 of the plan: FlashRepaymentShort\(account: 0x0+5[Aa][Ff][Ee], owed: 10005, held: 10000\), raised by its flash-loan router/)
    expect(isLeverageError(v)).toBe(true)
    const liquidity = encodeErrorResult({ abi: aaveFlashRouterErrorsAbi, errorName: "FlashLiquidityShort", args: [asset, 5n, 4n] })
    expect((getLeverageError(reverted(actionFailed(0, liquidity))) as VenueRefusedError).errorName).toBe("FlashLiquidityShort")
  })

  test("Aave's Error(string) code inside ActionFailed: '29' is RESERVE_PAUSED, '28' RESERVE_FROZEN, '51' SUPPLY_CAP_EXCEEDED", () => {
    for (const [code, name] of [["29", "RESERVE_PAUSED"], ["28", "RESERVE_FROZEN"], ["51", "SUPPLY_CAP_EXCEEDED"]] as const) {
      const data = encodeErrorResult({ abi: parseAbi(["error Error(string)"]), errorName: "Error", args: [code] })
      const v = getLeverageError(reverted(actionFailed(1, data))) as VenueRefusedError
      expect(v).toBeInstanceOf(VenueRefusedError)
      expect([v.source, v.errorName, v.code, v.index]).toEqual(["venue", name, code, 1])
      expect(v.shortMessage).toContain(`Aave error ${code} ${name}`)
    }
  })

  test("the adapter's EModeMismatch raised outside an action (the module's read of the sub-account): named, no index", () => {
    const market = `0x${"11".repeat(32)}` as Hex
    const data = encodeErrorResult({ abi: aaveAdapterErrorsAbi, errorName: "EModeMismatch", args: [market, safe, 1, 0n] })
    const v = getLeverageError(reverted(data)) as VenueRefusedError
    expect(v).toBeInstanceOf(VenueRefusedError)
    expect([v.source, v.errorName, v.index]).toEqual(["adapter", "EModeMismatch", undefined])
    expect(v.args).toEqual({ market, account: getAddress(safe), expected: 1, actual: 0n })
  })

  test("what is not a venue's: a string neither Aave's nor a Morpho refusal, or unknown data, is not claimed; a bare Error('29') outside an action is not claimed", () => {
    // ("insufficient liquidity" is Morpho Blue's refusal since the issue 17 close-out: venueMorpho.test.ts.)
    const text = encodeErrorResult({ abi: parseAbi(["error Error(string)"]), errorName: "Error", args: ["ERC20: transfer amount exceeds balance"] })
    expect(getLeverageError(reverted(actionFailed(0, text)))).not.toBeInstanceOf(VenueRefusedError)
    expect(getLeverageError(reverted(actionFailed(0, "0xdeadbeef")))).toBeInstanceOf(ActionFailedError)
    expect(decodeVenueRevert(text)).toBeUndefined()
    const bare = encodeErrorResult({ abi: parseAbi(["error Error(string)"]), errorName: "Error", args: ["29"] })
    expect(getLeverageError(reverted(bare))).not.toBeInstanceOf(VenueRefusedError)
  })
})
