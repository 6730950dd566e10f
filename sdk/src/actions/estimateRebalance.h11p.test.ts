import { createClient, custom, zeroAddress } from "viem"
import { prepareUserOperation, sendUserOperation } from "viem/account-abstraction"
import { anvil } from "viem/chains"
import { readContract } from "viem/actions"
import { beforeEach, expect, test, vi } from "vitest"
import { GasFieldAboveCapError } from "../errors/keeper.js"
import { getRebalanceExecutionGas } from "../utils/estimation.js"
import { estimateRebalance, sendRebalance } from "./sendRebalance.js"

// h11p (issue 11, reviews rr11x X2 / rr11y Y3): the estimate-only mode of the SDK's one send path. `estimateRebalance`
// runs `sendRebalance`'s build (the bundler's estimate, the call gas headroom checked against the execution, prepare,
// sign with the caps check) and never calls eth_sendUserOperation. The bundler, the node reads and the execution check
// are mocked; the account is a keeper account whose signer runs the cap check as `toKeeperAccount`'s does.
vi.mock("viem/account-abstraction", async (importOriginal) => {
  const actual = await importOriginal<typeof import("viem/account-abstraction")>()
  return {
    ...actual,
    estimateUserOperationGas: vi.fn(async () => ({ callGasLimit: 2_000_000n, verificationGasLimit: 200_000n, preVerificationGas: 50_000n })),
    prepareUserOperation: vi.fn(async (_client: unknown, args: Record<string, unknown>) => ({ ...args, sender: SAFE, nonce: 7n, maxFeePerGas: 10n, maxPriorityFeePerGas: 1n, signature: "0x" })),
    sendUserOperation: vi.fn(async () => `0x${"ab".repeat(32)}`),
  }
})
vi.mock("viem/actions", async (importOriginal) => ({ ...(await importOriginal<typeof import("viem/actions")>()), readContract: vi.fn() }))
vi.mock("../utils/estimation.js", async (importOriginal) => ({ ...(await importOriginal<typeof import("../utils/estimation.js")>()), getRebalanceExecutionGas: vi.fn() }))

const SAFE = "0x00000000000000000000000000000000000000a1"
const ENTRY_POINT = "0x0000000071727De22E5E9d8BAf0edAc6f37da032"
const A = `0x${"aa".repeat(32)}` as const
const POOL = "0x00000000000000000000000000000000000000d1" as const
const requests: string[] = []
const client = createClient({ chain: anvil, transport: custom({ request: async ({ method }) => { requests.push(method); return "0x" } }) })
const plan = { subAccounts: [A], actions: [{ kind: "WithdrawFromPool" as const, subAccount: 0, pool: POOL, amount: 3_300_000_000n }, { kind: "Repay" as const, subAccount: 0, amount: 3_300_000_000n }] }
// The signer's automation check (toKeeperAccount's `assertWithinAutomationConfig`) on the call gas cap only.
const keeperAccount = (cap: bigint) =>
  ({
    kind: "leverageKeeper",
    safe: SAFE,
    keeper: zeroAddress,
    module: zeroAddress,
    client,
    entryPoint: { address: ENTRY_POINT, version: "0.7" },
    signUserOperation: vi.fn(async (op: { callGasLimit: bigint }) => {
      if (op.callGasLimit > cap) throw new GasFieldAboveCapError({ field: "callGasLimit", value: op.callGasLimit, cap })
      return `0x${"5a".repeat(65)}`
    }),
  }) as never
const config = (cap: bigint) => ({ maxCallGasLimit: cap, maxVerificationGasLimit: 1_000_000n })

beforeEach(() => {
  vi.mocked(sendUserOperation).mockClear()
  vi.mocked(prepareUserOperation).mockClear()
  vi.mocked(readContract).mockReset()
  // The execution needs no more than the padded limit.
  vi.mocked(getRebalanceExecutionGas).mockReset().mockResolvedValue(0n)
  requests.length = 0
})

test("h11p: estimateRebalance builds, pads and signs the operation as sendRebalance does, and sends nothing", async () => {
  vi.mocked(readContract).mockResolvedValue(config(3_000_000n) as never)
  const estimated = await estimateRebalance(client, { account: keeperAccount(3_000_000n), plan, validate: false, estimationOverride: false })
  expect(sendUserOperation).not.toHaveBeenCalled()
  expect(requests).not.toContain("eth_sendUserOperation")
  // The SDK's headroom: 10% of 2,000,000 (above the 60,000 floor), within the 3,000,000 cap.
  expect(estimated.userOperation.callGasLimit).toBe(2_200_000n)
  expect(estimated.bundlerEstimate).toEqual({ callGasLimit: 2_000_000n, verificationGasLimit: 200_000n, preVerificationGas: 50_000n })
  expect(estimated.userOperation.signature).toBe(`0x${"5a".repeat(65)}`)
  // The same build sent: the operation handed to eth_sendUserOperation is the one estimated.
  await sendRebalance(client, { account: keeperAccount(3_000_000n), plan, validate: false, estimationOverride: false }).catch(() => undefined)
  expect(sendUserOperation).toHaveBeenCalledTimes(1)
  expect(vi.mocked(sendUserOperation).mock.calls[0]?.[1]).toMatchObject({ callGasLimit: 2_200_000n, signature: estimated.userOperation.signature })
})

test("h11p: an estimate above the Safe's call gas cap is thrown as GasFieldAboveCapError with the plan's own estimate, nothing sent", async () => {
  vi.mocked(readContract).mockResolvedValue(config(1_500_000n) as never)
  const error = await estimateRebalance(client, { account: keeperAccount(1_500_000n), plan, validate: false, estimationOverride: false }).catch((e: unknown) => e)
  expect(error).toBeInstanceOf(GasFieldAboveCapError)
  expect(error).toMatchObject({ field: "callGasLimit", value: 2_000_000n, cap: 1_500_000n })
  expect(sendUserOperation).not.toHaveBeenCalled()
})
