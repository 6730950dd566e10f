import { decodeFunctionData, encodeAbiParameters, keccak256, parseEther, zeroAddress } from "viem"
import { describe, expect, test } from "vitest"
import { leverageModuleAbi } from "../abis/leverageModule.js"
import { ActionNotAllowedError, DuplicateSubAccountError, MalformedPlanError } from "../errors/plan.js"
import { InvalidHealthBandError, InvalidPolicyParameterError, TooManyPoolsError } from "../errors/policy.js"
import { getLeverageError, decodeModuleError } from "../errors/getLeverageError.js"
import { encodeRebalanceCallData, getSubAccountId } from "./plan.js"
import { assertPolicyBounds, toPolicy } from "./policy.js"
import { BaseError, encodeErrorResult } from "viem"
import { GasFieldAboveCapError } from "../errors/keeper.js"

const keeper = "0x000000000000000000000000000000000000bEEF"
const pool = "0x000000000000000000000000000000000000d00d"
const id = keccak256("0x01")

describe("encodeRebalanceCallData", () => {
  test("encodes the canonical layout PlanLib accepts", () => {
    const data = encodeRebalanceCallData({
      keeper,
      plan: { subAccounts: [id], actions: [{ kind: "WithdrawFromPool", subAccount: 0, pool, amount: 5n }, { kind: "Repay", subAccount: 0, amount: 5n }] },
    })
    const words = data.slice(10).match(/.{64}/g) ?? []
    expect(BigInt(`0x${words[1]}`)).toBe(0x40n)
    expect(BigInt(`0x${words[2]}`)).toBe(0x40n)
    expect(BigInt(`0x${words[3]}`)).toBe(0x60n + 32n)
    expect((data.length - 10) / 2).toBe(160 + 32 + 32 + 128 * 2)
    const { args } = decodeFunctionData({ abi: leverageModuleAbi, data })
    expect(args).toMatchInlineSnapshot(`
      [
        "0x000000000000000000000000000000000000bEEF",
        {
          "actions": [
            {
              "amount": 5n,
              "kind": 0,
              "pool": "0x000000000000000000000000000000000000D00d",
              "subAccount": 0,
            },
            {
              "amount": 5n,
              "kind": 5,
              "pool": "0x0000000000000000000000000000000000000000",
              "subAccount": 0,
            },
          ],
          "subAccounts": [
            "0x5fe7f977e71dba2ea1a68e21057beebb9be2ac30c6410aa38d4f3fbe41dcffd2",
          ],
        },
      ]
    `)
  })

  test("rejects malformed plans before encoding", () => {
    expect(() => encodeRebalanceCallData({ keeper, plan: { subAccounts: [], actions: [] } })).toThrow(MalformedPlanError)
    expect(() => encodeRebalanceCallData({ keeper, plan: { subAccounts: [id, id], actions: [{ kind: "Repay", subAccount: 0, amount: 1n }] } })).toThrow(
      DuplicateSubAccountError,
    )
    expect(() => encodeRebalanceCallData({ keeper, plan: { subAccounts: [id], actions: [{ kind: "Repay", subAccount: 1, amount: 1n }] } })).toThrow(
      MalformedPlanError,
    )
    expect(() => encodeRebalanceCallData({ keeper, plan: { subAccounts: [id], actions: [{ kind: "Repay", subAccount: 0, amount: 0n }] } })).toThrow(
      ActionNotAllowedError,
    )
  })

  test("computes sub-account ids as keccak256(abi.encode(adapter, market))", () => {
    expect(getSubAccountId({ adapter: keeper, market: id })).toBe(keccak256(encodeAbiParameters([{ type: "address" }, { type: "bytes32" }], [keeper, id])))
  })
})

describe("policy checks", () => {
  const policy = toPolicy(
    {
      market: id,
      minHealth: parseEther("1.2"),
      targetHealth: parseEther("1.4"),
      maxHealth: parseEther("1.7"),
      maxAmountPerRebalance: 1n,
      maxAmountPerEpoch: 1n,
      epochLength: 1,
      maxRebalancesPerEpoch: 1,
      maxGasPerEpoch: 1n,
      maxLossBps: 50,
    },
    { adapters: { morphoBlue: keeper } },
  )

  test("mirrors the module's band and parameter rules", () => {
    expect(() => assertPolicyBounds(policy)).not.toThrow()
    expect(() => assertPolicyBounds({ ...policy, minHealth: parseEther("0.9") })).toThrow(InvalidHealthBandError)
    expect(() => assertPolicyBounds({ ...policy, minHealth: parseEther("1.7") })).toThrow(InvalidHealthBandError)
    expect(() => assertPolicyBounds({ ...policy, maxLossBps: 10_001 })).toThrow(InvalidPolicyParameterError)
    expect(() => assertPolicyBounds({ ...policy, epochLength: 0 })).toThrow(InvalidPolicyParameterError)
    expect(() => assertPolicyBounds({ ...policy, priceFeed: pool })).toThrow(InvalidPolicyParameterError)
    expect(() => assertPolicyBounds({ ...policy, pools: Array.from({ length: 9 }, (_, i) => `0x${(i + 1).toString(16).padStart(40, "0")}` as const) })).toThrow(
      TooManyPoolsError,
    )
    expect(policy.pools).toEqual([])
    expect(policy.priceFeed).toBe(zeroAddress)
  })
})

describe("error decoding", () => {
  test("turns a module revert inside a bundler error into its named error", () => {
    const data = encodeErrorResult({ abi: leverageModuleAbi, errorName: "GasFieldAboveCap", args: [1, 6_000_000n, 5_000_000n] })
    expect(decodeModuleError(data)?.errorName).toBe("GasFieldAboveCap")
    const bundlerError = new BaseError("RPC Request failed.", { details: `UserOperation reverted during simulation with reason: AA23 reverted ${data}` })
    const named = getLeverageError(bundlerError)
    expect(named).toBeInstanceOf(GasFieldAboveCapError)
    expect((named as GasFieldAboveCapError).field).toBe("callGasLimit")
    expect((named as GasFieldAboveCapError).cause).toBe(bundlerError)
  })
})
