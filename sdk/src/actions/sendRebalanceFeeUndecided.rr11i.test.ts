import { createClient, custom, zeroAddress } from "viem"
import { anvil } from "viem/chains"
import { beforeEach, expect, test, vi } from "vitest"
import { ValueLossExceededError } from "../errors/plan.js"
import { getRebalanceExecutionGas } from "../utils/estimation.js"
import { sendRebalance } from "./sendRebalance.js"
import { validateRebalance } from "./validateRebalance.js"

// Review rr11i H3-b: a plan `validateRebalance` accepts only because its pool fee may stay in the vault (`feeUndecided`,
// review rr11h H3) must never be sent unsimulated. Before the fix sendRebalance ran its execution simulation
// (getRebalanceExecutionGas) only when the caller left `callGasLimit` unset and `callGasMarginBps` above 0, so an SDK
// caller fixing the limit signed and sent a plan the module then refused on chain (gas paid, nonce used).
vi.mock("./validateRebalance.js", async (importOriginal) => ({ ...(await importOriginal<typeof import("./validateRebalance.js")>()), validateRebalance: vi.fn() }))
vi.mock("../utils/estimation.js", async (importOriginal) => ({ ...(await importOriginal<typeof import("../utils/estimation.js")>()), getRebalanceExecutionGas: vi.fn() }))

const SAFE = "0x00000000000000000000000000000000000000a1"
const ENTRY_POINT = "0x0000000071727De22E5E9d8BAf0edAc6f37da032"
const A = `0x${"aa".repeat(32)}` as const
const POOL = "0x00000000000000000000000000000000000000d1" as const
// Every request fails: nothing may reach the bundler or the node before the simulation decides.
const requests: string[] = []
const client = createClient({ chain: anvil, transport: custom({ request: async ({ method }) => { requests.push(method); throw new Error(`no node: ${method}`) } }) })
const account = { kind: "leverageKeeper", safe: SAFE, keeper: zeroAddress, module: zeroAddress, client, entryPoint: { address: ENTRY_POINT, version: "0.7" } } as never
const plan = { subAccounts: [A], actions: [{ kind: "WithdrawFromPool" as const, subAccount: 0, pool: POOL, amount: 3_300_000_000n }, { kind: "Repay" as const, subAccount: 0, amount: 3_300_000_000n }] }
const verdict = (feeUndecided: boolean) => ({ ok: true, healthAfter: [], moved: [], loss: [], ...(feeUndecided ? { feeUndecided: true, paidOut: { name: "ValueLossExceeded", args: [33_000_000n, 3_300_000_000n, 50n] } } : {}) })
const refusal = new ValueLossExceededError({ loss: 33_000_000n, moved: 3_300_000_000n, maxLossBps: 50n })

beforeEach(() => {
  vi.mocked(validateRebalance).mockReset()
  vi.mocked(getRebalanceExecutionGas).mockReset().mockRejectedValue(refusal)
  requests.length = 0
})

test("rr11i H3-b: a feeUndecided plan is simulated before signing although the caller fixed callGasLimit; the module's refusal is thrown", async () => {
  vi.mocked(validateRebalance).mockResolvedValue({ checked: "all", verdict: verdict(true) } as never)
  const error = await sendRebalance(client, { account, plan, callGasLimit: 700_000n, estimationOverride: false }).catch((e: unknown) => e)
  expect(getRebalanceExecutionGas).toHaveBeenCalledTimes(1)
  expect(vi.mocked(getRebalanceExecutionGas).mock.calls[0]?.[1]).toMatchObject({ safe: SAFE, entryPoint: ENTRY_POINT, callGasLimit: 700_000n })
  expect(error).toBe(refusal)
  // Nothing was prepared, signed or sent.
  expect(requests).toEqual([])
})

test("rr11i H3-b: with callGasMarginBps 0 (no limit given) a feeUndecided plan is simulated too", async () => {
  vi.mocked(validateRebalance).mockResolvedValue({ checked: "all", verdict: verdict(true) } as never)
  const error = await sendRebalance(client, { account, plan, callGasMarginBps: 0, estimationOverride: false }).catch((e: unknown) => e)
  expect(getRebalanceExecutionGas).toHaveBeenCalledTimes(1)
  expect(error).toBe(refusal)
  expect(requests).toEqual([])
})

test("rr11i H3-b control: a plan the rule book decided is sent with the caller's callGasLimit unsimulated, as before", async () => {
  vi.mocked(validateRebalance).mockResolvedValue({ checked: "all", verdict: verdict(false) } as never)
  await sendRebalance(client, { account, plan, callGasLimit: 700_000n, estimationOverride: false }).catch(() => undefined)
  expect(getRebalanceExecutionGas).not.toHaveBeenCalled()
})
