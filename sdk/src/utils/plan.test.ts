import { decodeFunctionData, encodeAbiParameters, keccak256, parseEther, zeroAddress, zeroHash } from "viem"
import { describe, expect, test } from "vitest"
import { leverageModuleAbi } from "../abis/leverageModule.js"
import { ActionNotAllowedError, DuplicateSubAccountError, MalformedPlanError } from "../errors/plan.js"
import { InvalidHealthBandError, InvalidPolicyParameterError, MissingPriceFeedError, TooManyPoolsError } from "../errors/policy.js"
import { HealthOutsideLandingZoneError, ValueLossExceededError } from "../errors/plan.js"
import { PolicyStoreFailedError } from "../errors/policy.js"
import { KeeperNonceKeyInvalidError } from "../errors/keeper.js"
import { getKeeperNonceKey } from "../constants/keeper.js"
import { malformedPlanReasons, MIN_BAND_GAP } from "../constants/module.js"
import { getLeverageError, decodeModuleError } from "../errors/getLeverageError.js"
import { assertPlanShape, encodeRebalanceCallData, getSubAccountId, routeToPoolField } from "./plan.js"
import {
  ActionFailedError,
  CallbackRefusedError,
  EpochLossBudgetExceededError,
  SlippageExceededError,
} from "../errors/plan.js"
import {
  ACTION_KINDS,
  MALFORMED_DIRTY_POOL,
  MALFORMED_EMPTY_CALLBACK,
  MALFORMED_NESTED_CALLBACK,
  MALFORMED_UNCLOSED_CALLBACK,
  MALFORMED_UNOPENED_CALLBACK,
  MAX_SLIPPAGE_BPS,
} from "../constants/module.js"
import { type PlanAction, actionKinds } from "../types/leverage.js"
import { completeFeedBounds } from "../actions/setPolicy.js"
import { assertPolicyBounds, toPolicy } from "./policy.js"
import { BaseError, encodeErrorResult } from "viem"
import { GasFieldAboveCapError } from "../errors/keeper.js"

const keeper = "0x000000000000000000000000000000000000bEEF"
const pool = "0x000000000000000000000000000000000000d00d" as const
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

  const open = { allowNoPriceFeed: true }

  test("mirrors the module's band and parameter rules", () => {
    expect(() => assertPolicyBounds(policy, open)).not.toThrow()
    expect(() => assertPolicyBounds({ ...policy, minHealth: parseEther("0.9") }, open)).toThrow(InvalidHealthBandError)
    expect(() => assertPolicyBounds({ ...policy, minHealth: parseEther("1.7") }, open)).toThrow(InvalidHealthBandError)
    expect(() => assertPolicyBounds({ ...policy, maxLossBps: 10_001 }, open)).toThrow(InvalidPolicyParameterError)
    expect(() => assertPolicyBounds({ ...policy, epochLength: 0 }, open)).toThrow(InvalidPolicyParameterError)
    expect(() => assertPolicyBounds({ ...policy, priceFeed: pool }, open)).toThrow(InvalidPolicyParameterError)
    expect(() => assertPolicyBounds({ ...policy, pools: Array.from({ length: 9 }, (_, i) => `0x${(i + 1).toString(16).padStart(40, "0")}` as const) }, open)).toThrow(
      TooManyPoolsError,
    )
    expect(policy.pools).toEqual([])
    expect(policy.priceFeed).toBe(zeroAddress)
  })

  test("fills each feed bound the policy leaves out, never leaving one at 0 (setPolicy)", () => {
    const defaults = { minFeedAnswer: 30n, maxFeedAnswer: 300_000n }
    expect(completeFeedBounds({}, defaults)).toEqual(defaults)
    expect(completeFeedBounds({ minFeedAnswer: 100n }, defaults)).toEqual({ minFeedAnswer: 100n, maxFeedAnswer: 300_000n })
    expect(completeFeedBounds({ maxFeedAnswer: 9_000n }, defaults)).toEqual({ minFeedAnswer: 30n, maxFeedAnswer: 9_000n })
    expect(completeFeedBounds({ minFeedAnswer: 1n, maxFeedAnswer: 0n }, defaults)).toEqual({ minFeedAnswer: 1n, maxFeedAnswer: 0n })
    expect(() => completeFeedBounds({ minFeedAnswer: 300_000n }, defaults)).toThrow(/minFeedAnswer.*default ceiling 300000/s)
    expect(() => completeFeedBounds({ maxFeedAnswer: 30n }, defaults)).toThrow(/maxFeedAnswer.*default floor 30/s)
    // A feed answering nothing positive gives no defaults: a missing bound is an error, never a silent "no bound".
    const none = { minFeedAnswer: 0n, maxFeedAnswer: 0n }
    expect(() => completeFeedBounds({}, none)).toThrow(/minFeedAnswer.*answers nothing positive/s)
    expect(() => completeFeedBounds({ minFeedAnswer: 5n }, none)).toThrow(/maxFeedAnswer.*answers nothing positive/s)
    expect(completeFeedBounds({ minFeedAnswer: 5n, maxFeedAnswer: 50n }, none)).toEqual({ minFeedAnswer: 5n, maxFeedAnswer: 50n })
  })

  test("needs room between the target and each band edge (MIN_BAND_GAP, generated from ConstantsLib)", () => {
    expect(MIN_BAND_GAP).toBe(parseEther("0.01"))
    expect(() => assertPolicyBounds({ ...policy, targetHealth: policy.minHealth + MIN_BAND_GAP - 1n }, open)).toThrow(InvalidHealthBandError)
    expect(() => assertPolicyBounds({ ...policy, targetHealth: policy.maxHealth - MIN_BAND_GAP + 1n }, open)).toThrow(InvalidHealthBandError)
    expect(() => assertPolicyBounds({ ...policy, targetHealth: policy.minHealth + MIN_BAND_GAP }, open)).not.toThrow()
  })

  test("bounds the epoch loss budget and the feed's answer range", () => {
    expect(policy.maxEpochLossBps).toBe(100)
    expect(() => assertPolicyBounds({ ...policy, maxEpochLossBps: 10_001 }, open)).toThrow(InvalidPolicyParameterError)
    expect(() => assertPolicyBounds({ ...policy, minFeedAnswer: 1n }, open)).toThrow(InvalidPolicyParameterError)
    const fed = { ...policy, priceFeed: pool, maxOracleAge: 3600 }
    expect(() => assertPolicyBounds({ ...fed, minFeedAnswer: 5n, maxFeedAnswer: 5n })).toThrow(InvalidPolicyParameterError)
    expect(() => assertPolicyBounds({ ...fed, minFeedAnswer: 5n, maxFeedAnswer: 0n })).not.toThrow()
  })

  test("requires a second price feed unless the caller opts out", () => {
    expect(() => assertPolicyBounds(policy)).toThrow(MissingPriceFeedError)
    expect(() => assertPolicyBounds(policy, open)).not.toThrow()
    const fed = toPolicy({ market: id, minHealth: policy.minHealth, targetHealth: policy.targetHealth, maxHealth: policy.maxHealth, maxAmountPerRebalance: 1n, maxAmountPerEpoch: 1n, epochLength: 1, maxRebalancesPerEpoch: 1, maxGasPerEpoch: 1n, maxLossBps: 50, priceFeed: pool, maxOracleAge: 60 }, { adapters: { morphoBlue: keeper } })
    expect(fed.maxOracleDeviationBps).toBe(100)
    expect(() => assertPolicyBounds(fed)).not.toThrow()
  })
})

describe("keeper nonce keys", () => {
  test("are 192-bit hashes that change with the key generation and with every registration's salt", () => {
    const base = getKeeperNonceKey({ keeper, keyGeneration: 0, salt: 1n })
    expect(base).not.toBe(0n)
    expect(base < 1n << 192n).toBe(true)
    expect(getKeeperNonceKey({ keeper, keyGeneration: 1, salt: 1n })).not.toBe(base)
    expect(getKeeperNonceKey({ keeper, keyGeneration: 0, salt: 3n })).not.toBe(base)
    expect(getKeeperNonceKey({ keeper: zeroAddress, keyGeneration: 0, salt: 1n })).not.toBe(base)
    // The old, predictable format is gone: nothing can be signed for a registration before it happens.
    expect(base).not.toBe(BigInt(keeper))
  })
})

describe("error decoding", () => {
  test("reason codes and texts come from ConstantsLib", () => {
    expect(malformedPlanReasons[6]).toBe("calldata length does not match the plan")
    expect(new MalformedPlanError({ reason: 6 }).shortMessage).toContain("calldata length does not match the plan")
  })

  test("every new module error has a named class", () => {
    const cases = [
      [encodeErrorResult({ abi: leverageModuleAbi, errorName: "KeeperNonceKeyInvalid", args: [0n, 5n] }), KeeperNonceKeyInvalidError],
      [encodeErrorResult({ abi: leverageModuleAbi, errorName: "ValueLossExceeded", args: [3n, 100n, 50n] }), ValueLossExceededError],
      [encodeErrorResult({ abi: leverageModuleAbi, errorName: "HealthOutsideLandingZone", args: [id, 1n, 2n, 3n] }), HealthOutsideLandingZoneError],
      [encodeErrorResult({ abi: leverageModuleAbi, errorName: "PolicyStoreFailed" }), PolicyStoreFailedError],
    ] as const
    for (const [data, type] of cases) expect(getLeverageError(new BaseError("x", { details: `reverted ${data}` }))).toBeInstanceOf(type)
    const unmapped = leverageModuleAbi
      .filter((item) => item.type === "error")
      .map((item) => item.name)
      .filter((name) => getLeverageError(new BaseError("x", { details: `reverted ${encodeErrorResult({ abi: leverageModuleAbi, errorName: name, args: argsFor(name) as never })}` })).name === "LeverageModuleRevertedError")
    // Only deployment and caller errors a keeper or owner action never meets keep the generic LeverageModuleRevertedError.
    expect(unmapped.sort()).toEqual([
      "DuplicateAdapter",
      "ExecutionFailed",
      "InvalidCaller",
      "InvalidEntryPoint",
      "InvalidSwapAdapter",
      "UnsupportedEntryPoint",
      "UnsupportedExecutionFunction",
    ])
  })

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

/** Zero arguments of the right types for a module error. */
function argsFor(name: string): readonly unknown[] {
  const item = leverageModuleAbi.find((entry) => entry.type === "error" && entry.name === name) as { inputs: readonly { type: string }[] }
  return item.inputs.map(({ type }) =>
    type === "address" ? zeroAddress : type === "bytes32" ? id : type === "bytes" ? "0x" : type.startsWith("bytes") ? `0x${"00".repeat(Number(type.slice(5)))}` : type === "bool" ? false : type.startsWith("int") || type.startsWith("uint") ? (Number.parseInt(type.replace(/\D/g, "") || "256") <= 48 ? 0 : 0n) : 0n,
  )
}

describe("swap and callback plans", () => {
  const route = "0x00000000000000000000000000000000000000000000000000000000000001f4" as const // one pool at 0.05%
  const deleverage = {
    subAccounts: [id],
    actions: [
      { kind: "RepayWithCallback", subAccount: 0, amount: 12_000_000_000n },
      { kind: "WithdrawCollateral", subAccount: 0, amount: parseEther("5") },
      { kind: "SellCollateral", subAccount: 0, route, amount: parseEther("5") },
      { kind: "EndCallback", subAccount: 0, amount: 0n },
    ],
  } as const

  test("encodes kinds in ABI order and the route word in the pool field", () => {
    const data = encodeRebalanceCallData({ keeper, plan: deleverage })
    const { args } = decodeFunctionData({ abi: leverageModuleAbi, data })
    const actions = (args[1] as { actions: readonly { kind: number; pool: string; amount: bigint }[] }).actions
    expect(actions.map((a) => a.kind)).toEqual([8, 3, 6, 10])
    expect(actions[2]?.pool.toLowerCase()).toBe("0x00000000000000000000000000000000000001f4")
    expect(actions[3]?.amount).toBe(0n)
    expect(Number(ACTION_KINDS)).toBe(actionKinds.length)
  })

  test("refuses what PlanLib refuses: nested, unopened, unclosed and empty callbacks, routes wider than 160 bits", () => {
    const [open, inner, sell, close] = deleverage.actions
    const reason = (actions: readonly PlanAction[]) => {
      try {
        assertPlanShape({ subAccounts: [id], actions })
      } catch (error) {
        return (error as MalformedPlanError).reason
      }
      return undefined
    }
    expect(reason([open, open, inner, close])).toBe(MALFORMED_NESTED_CALLBACK)
    expect(reason([inner, close])).toBe(MALFORMED_UNOPENED_CALLBACK)
    expect(reason([open, inner])).toBe(MALFORMED_UNCLOSED_CALLBACK)
    expect(reason([open, close])).toBe(MALFORMED_EMPTY_CALLBACK)
    expect(reason([open, inner, { ...sell, route: `0x1${"0".repeat(40)}` }, close])).toBe(MALFORMED_DIRTY_POOL)
    expect(reason(deleverage.actions)).toBeUndefined()
    expect(() => assertPlanShape({ subAccounts: [id], actions: [open, inner, { ...close, amount: 1n } as never] })).toThrow(ActionNotAllowedError)
    expect(() => assertPlanShape({ subAccounts: [id], actions: [{ ...sell, route: zeroHash }] })).toThrow(ActionNotAllowedError)
    expect(routeToPoolField(route)).toBe("0x00000000000000000000000000000000000001f4")
  })

  test("bounds maxSlippageBps by MAX_SLIPPAGE_BPS (generated from ConstantsLib), 0 by default", () => {
    const policy = toPolicy(
      { market: id, minHealth: parseEther("1.2"), targetHealth: parseEther("1.4"), maxHealth: parseEther("1.7"), maxAmountPerRebalance: 1n, maxAmountPerEpoch: 1n, epochLength: 1, maxRebalancesPerEpoch: 1, maxGasPerEpoch: 1n, maxLossBps: 50 },
      { adapters: { morphoBlue: keeper } },
    )
    expect(policy.maxSlippageBps).toBe(0)
    expect(MAX_SLIPPAGE_BPS).toBe(1000n)
    expect(() => assertPolicyBounds({ ...policy, maxSlippageBps: 1000 }, { allowNoPriceFeed: true })).not.toThrow()
    expect(() => assertPolicyBounds({ ...policy, maxSlippageBps: 1001 }, { allowNoPriceFeed: true })).toThrow(InvalidPolicyParameterError)
  })

  test("names the swap lane's errors, also when a callback action wraps them in ActionFailed", () => {
    const usdc = "0x00000000000000000000000000000000000000aa" as const
    const slippage = encodeErrorResult({ abi: leverageModuleAbi, errorName: "SlippageExceeded", args: [2n, usdc, 90n, 100n] })
    const wrapped = encodeErrorResult({ abi: leverageModuleAbi, errorName: "ActionFailed", args: [0n, slippage] })
    const named = getLeverageError(new BaseError("x", { details: `reverted ${wrapped}` }))
    expect(named).toBeInstanceOf(SlippageExceededError)
    expect((named as SlippageExceededError).minAmountOut).toBe(100n)
    expect((named as SlippageExceededError).index).toBe(2)
    const outside = encodeErrorResult({ abi: leverageModuleAbi, errorName: "CallbackOutsideRebalance", args: [keeper] })
    const refused = getLeverageError(new BaseError("x", { details: `reverted ${outside}` }))
    expect(refused).toBeInstanceOf(CallbackRefusedError)
    expect((refused as CallbackRefusedError).refusal).toBe("CallbackOutsideRebalance")
    const venue = encodeErrorResult({ abi: leverageModuleAbi, errorName: "CallbackFromUntouchedVenue", args: [pool] })
    expect((getLeverageError(new BaseError("x", { details: `reverted ${venue}` })) as CallbackRefusedError).refusal).toBe("CallbackFromUntouchedVenue")
    const budget = encodeErrorResult({ abi: leverageModuleAbi, errorName: "EpochLossBudgetExceeded", args: [id, 2n, 1n] })
    expect(getLeverageError(new BaseError("x", { details: `reverted ${budget}` }))).toBeInstanceOf(EpochLossBudgetExceededError)
    // A venue's own revert inside ActionFailed stays an ActionFailedError.
    const venueRevert = encodeErrorResult({ abi: leverageModuleAbi, errorName: "ActionFailed", args: [1n, "0x08c379a0"] })
    expect(getLeverageError(new BaseError("x", { details: `reverted ${venueRevert}` }))).toBeInstanceOf(ActionFailedError)
  })
})
