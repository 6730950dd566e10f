import { type Address, createPublicClient, custom, encodeErrorResult, parseAbi, zeroAddress } from "viem"
import { anvil } from "viem/chains"
import { describe, expect, test } from "vitest"
import { PaymasterChargeUnknownError } from "../errors/paymaster.js"
import { assertPlanSurvivesPaymasterCharge } from "./sendRebalance.js"

const SAFE = "0x00000000000000000000000000000000000000a1"
const USDC = "0x00000000000000000000000000000000000000b1"
const WETH = "0x00000000000000000000000000000000000000c1"
const PAYMASTER = "0x00000000000000000000000000000000000000d1"

/**
 * A node where the paymaster is not the sample TokenPaymaster: every `eth_call` to it reverts (no `cachedPrice`, no
 * `tokenPaymasterConfig`), as a contract without those functions does.
 */
const reader = createPublicClient({
  chain: anvil,
  transport: custom({
    async request({ method }) {
      if (method === "eth_chainId") return "0x7a69"
      if (method === "eth_call") {
        const data = encodeErrorResult({ abi: parseAbi(["error Error(string)"]), errorName: "Error", args: ["no such function"] })
        throw Object.assign(new Error("execution reverted"), { code: 3, data })
      }
      throw new Error(`unexpected ${method}`)
    },
  }),
})

const userOperation = {
  sender: SAFE,
  nonce: 0n,
  callData: "0x",
  callGasLimit: 500_000n,
  verificationGasLimit: 300_000n,
  preVerificationGas: 60_000n,
  maxFeePerGas: 10n ** 9n,
  maxPriorityFeePerGas: 10n ** 6n,
  paymaster: PAYMASTER,
  paymasterVerificationGasLimit: 100_000n,
  paymasterPostOpGasLimit: 50_000n,
  paymasterData: "0x",
  signature: "0x",
} as never

const input = (balances: Record<string, bigint>) => ({ plan: { subAccounts: [], actions: [] }, subAccounts: [], pools: [], balances, swapAdapter: zeroAddress, timestamp: 0n, gasUsed: 0n }) as never
const deployments = { [anvil.id]: { leverageModule: zeroAddress as Address } } as never

describe("a token paymaster whose pre-charge cannot be read", () => {
  test("a plan moving the paid token is refused with PaymasterChargeUnknownError (nothing is silently reserved)", async () => {
    const error = await assertPlanSurvivesPaymasterCharge(reader, { token: USDC, safe: SAFE, userOperation, input: input({ [USDC]: 1_000_000_000n }), deployments }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(PaymasterChargeUnknownError)
    expect((error as PaymasterChargeUnknownError).paymaster).toBe(PAYMASTER)
    expect((error as PaymasterChargeUnknownError).token).toBe(USDC)
    expect((error as PaymasterChargeUnknownError).shortMessage).toBe(`The pre-charge of paymaster ${PAYMASTER} in ${USDC} cannot be read, and the plan moves ${USDC}.`)
  })

  test("a plan that does not move the paid token is not affected by the charge", async () => {
    await expect(assertPlanSurvivesPaymasterCharge(reader, { token: USDC, safe: SAFE, userOperation, input: input({ [WETH]: 10n ** 18n }), deployments })).resolves.toBeUndefined()
  })
})
