import { BaseError, ContractFunctionExecutionError, ContractFunctionRevertedError, encodeErrorResult, parseAbi } from "viem"
import { describe, expect, test, vi } from "vitest"
import { venueAdapterAbi } from "@levpilot/sdk/abis"
import { LeverageModuleRevertedError } from "@levpilot/sdk/errors"
import { ARITHMETIC_PANIC_ALERT_ATTEMPTS, arithmeticPanicOf } from "./sender.js"
import { senderHarness } from "./testing.js"

vi.mock("@levpilot/sdk/actions", async (importOriginal) => ({ ...(await importOriginal<typeof import("@levpilot/sdk/actions")>()), sendRebalance: vi.fn() }))
const { sendRebalance } = await import("@levpilot/sdk/actions")

// bench:fleet (5,000 Safes, anvil with 12 s interval mining) alerted send-failed for 6 out-of-band Safes at the price
// shock: Morpho Blue's `block.timestamp - lastUpdate` underflowed (Panic 0x11) in the SDK's send-time `marketState` read
// and in Alto's simulation of the operation. anvil answers an eth_call at the latest block (by tag or by number) that
// runs while the next block is being mined with the next block's state (Morpho's `lastUpdate` = that block's
// timestamp) under the latest block's header (its earlier timestamp). The next block's read is consistent again, so
// one such refusal is planned again at the next block; only ARITHMETIC_PANIC_ALERT_ATTEMPTS refused attempts in a row
// (a real overflow, not a read race) is a send-failed alert.

const panicData = (code: bigint) => encodeErrorResult({ abi: parseAbi(["error Panic(uint256)"]), errorName: "Panic", args: [code] })
/** What viem throws for the SDK's send-time `marketState` read that reverted with `Panic(code)`. */
const marketStatePanic = (code = 0x11n) =>
  new ContractFunctionExecutionError(new ContractFunctionRevertedError({ abi: venueAdapterAbi, data: panicData(code), functionName: "marketState" }), {
    abi: venueAdapterAbi,
    functionName: "marketState",
    args: [],
  })
/** What the SDK throws when the bundler's simulation of the operation reverted with `Panic(code)` in the module. */
const simulationPanic = (code = 0x11n) =>
  new LeverageModuleRevertedError({ errorName: "Panic", args: [code], cause: new BaseError(`UserOperation reverted during simulation with reason: ${panicData(code)}`) })
const plan = { subAccounts: [], actions: [] } as never

describe("arithmeticPanicOf", () => {
  test("finds Panic(0x11) in viem's decoded revert, the SDK's module error, or raw revert data; not another panic code or error", () => {
    expect(arithmeticPanicOf(marketStatePanic())).toBe(true)
    expect(arithmeticPanicOf(new BaseError("validation failed", { cause: marketStatePanic() }))).toBe(true)
    expect(arithmeticPanicOf(simulationPanic())).toBe(true)
    expect(arithmeticPanicOf(new BaseError("send failed", { details: `execution reverted: ${panicData(0x11n)}` }))).toBe(true)
    expect(arithmeticPanicOf(marketStatePanic(0x12n))).toBe(false)
    expect(arithmeticPanicOf(simulationPanic(0x01n))).toBe(false)
    expect(arithmeticPanicOf(new Error("bundler said no"))).toBe(false)
  })
})

describe("RebalanceSender: the send-time read or the simulation reverts with an arithmetic panic (Panic 0x11)", () => {
  for (const [name, error] of [["the SDK's marketState read", marketStatePanic], ["the bundler's simulation", simulationPanic]] as const) {
    test(`${name}, once: not thrown (no send-failed alert), no backoff, planned again at the next block`, async () => {
      const { sender, rt, events, metrics } = senderHarness({ setPending: async () => undefined, nonces: [5n] })
      vi.mocked(sendRebalance).mockRejectedValue(error())
      await sender.send(rt, 100n, plan, undefined)
      expect(events.filter((e) => e.type === "alert")).toEqual([])
      expect(rt.backoffUntil).toBe(0)
      expect(metrics.render()).toMatch(/levpilot_sends_deferred_total\{[^}]*reason="arithmetic-panic"[^}]*\} 1/)
    })
  }

  test(`${ARITHMETIC_PANIC_ALERT_ATTEMPTS} attempts in a row (two in one block count once): one send-failed alert naming the panic, with backoff`, async () => {
    const { sender, rt, events } = senderHarness({ setPending: async () => undefined, nonces: [5n, 5n, 5n, 5n, 5n] })
    vi.mocked(sendRebalance).mockRejectedValue(marketStatePanic())
    await sender.send(rt, 100n, plan, undefined)
    await sender.send(rt, 100n, plan, undefined)
    expect(events.filter((e) => e.type === "alert")).toEqual([])
    for (let k = 1; k < ARITHMETIC_PANIC_ALERT_ATTEMPTS; k++) await sender.send(rt, 100n + 4n * BigInt(k), plan, undefined)
    const alerts = events.filter((e) => e.type === "alert")
    expect(alerts).toHaveLength(1)
    expect(alerts[0]).toMatchObject({ kind: "send-failed", block: 100n + 4n * BigInt(ARITHMETIC_PANIC_ALERT_ATTEMPTS - 1) })
    expect((alerts[0] as { message: string }).message).toMatch(/underflow or overflow/)
    expect(rt.backoffUntil).toBeGreaterThan(0)
  })

  test("two refused sends several blocks apart (a loaded fleet steps a Safe every few blocks) are two attempts, not a run of blocks: no alert", async () => {
    // bench:fleet 5,000 x 4 (load 11-16): 16 send-failed alerts for Safes whose sends met the race twice, 2+ blocks apart.
    const { sender, rt, events } = senderHarness({ setPending: async () => undefined, nonces: [5n, 5n, 5n] })
    vi.mocked(sendRebalance).mockRejectedValue(marketStatePanic())
    for (let k = 0; k < ARITHMETIC_PANIC_ALERT_ATTEMPTS - 1; k++) await sender.send(rt, 100n + 5n * BigInt(k), plan, undefined)
    expect(events.filter((e) => e.type === "alert")).toEqual([])
  })

  test("a successful send in between restarts the count", async () => {
    const { sender, rt, events } = senderHarness({ setPending: async () => undefined, nonces: [5n, 5n, 6n, 6n, 6n] })
    // Each refused send is tried again once in its step (after the head moved): two refusals per block.
    vi.mocked(sendRebalance)
      .mockRejectedValueOnce(marketStatePanic())
      .mockRejectedValueOnce(marketStatePanic())
      .mockRejectedValueOnce(simulationPanic())
      .mockRejectedValueOnce(simulationPanic())
      .mockResolvedValueOnce("0x01" as never)
      .mockRejectedValue(simulationPanic())
    for (let b = 100n; b < 105n; b++) await sender.send(rt, b, plan, undefined)
    expect(events.filter((e) => e.type === "alert")).toEqual([])
  })

  test("another panic code (division by zero, 0x12) is thrown at once, as before", async () => {
    const { sender, rt } = senderHarness({ setPending: async () => undefined, nonces: [5n] })
    vi.mocked(sendRebalance).mockRejectedValue(marketStatePanic(0x12n))
    const error = await sender.send(rt, 100n, plan, undefined).then(() => undefined, (e: unknown) => e)
    expect(error).toBeInstanceOf(BaseError)
    const reverted = (error as BaseError).walk((e) => e instanceof ContractFunctionRevertedError) as ContractFunctionRevertedError | null
    expect(reverted?.reason).toMatch(/division or modulo by zero/i)
  })
})
