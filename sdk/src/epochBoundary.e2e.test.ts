import { BaseError, type Hex, formatEther, hexToNumber, parseEther, slice } from "viem"
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts"
import { afterAll, beforeAll, describe, expect, test } from "vitest"
import { waitForReceipt } from "@levpilot/devnet"
import { simOracleAbi } from "@levpilot/devnet/leverage"
import { type LeverageTestEnv, openTestPosition, startLeverageTestEnv, testPolicy } from "@levpilot/devnet/leverageEnv"
import { leverageModuleAbi } from "./abis/leverageModule.js"
import { toKeeperAccount } from "./accounts/toKeeperAccount.js"
import { type ToLeverageSafeAccountReturnType, toLeverageSafeAccount } from "./accounts/toLeverageSafeAccount.js"
import { addKeeper } from "./actions/addKeeper.js"
import { getSubAccountState } from "./actions/getSubAccountState.js"
import { sendRebalance } from "./actions/sendRebalance.js"
import { defaultAutomationConfig, setAutomationConfig } from "./actions/setAutomationConfig.js"
import { setPolicy } from "./actions/setPolicy.js"
import { setSelfPayBudget } from "./actions/setSelfPayBudget.js"
import { setSponsor } from "./actions/setSponsor.js"
import { waitForRebalance } from "./actions/waitForRebalance.js"
import { encodeRebalanceCallData } from "./utils/plan.js"
import { InvalidKeeperAccountParameterError, SelfPayEpochEndingError } from "./errors/keeper.js"

// The self-pay epoch boundary on the devnet (anvil's time follows the wall clock, which is what Alto checks expiry
// against). A Safe with a self-pay budget once had every keeper operation, sponsored ones included, signed with the
// current epoch as validity window: in the last seconds before each boundary (00:00 UTC with daily epochs) Alto refused
// them all ("UserOperation expires too soon") and the keeper could not rescue anything. Here the budget's epoch length
// is picked so that a boundary falls about 40 s ahead, with no clock moved (the oracle stays fresh, Alto's clock and
// the chain's agree).

let env: LeverageTestEnv
let safe: ToLeverageSafeAccountReturnType
let subAccount: Hex
const owner = privateKeyToAccount(generatePrivateKey())
const keeper = privateKeyToAccount(generatePrivateKey())

/** The signed window of a keeper signature (validAfter || validUntil || ECDSA, 6 + 6 + 65 bytes). */
const windowOf = (signature: Hex) => ({ validAfter: hexToNumber(slice(signature, 0, 6)), validUntil: hexToNumber(slice(signature, 6, 12)) })
/** The SelfPayEpochEndingError an SDK call failed with (itself or as a cause viem wrapped), or undefined. */
const epochEndingOf = (error: unknown) =>
  error instanceof BaseError ? (error.walk((e) => e instanceof SelfPayEpochEndingError) as SelfPayEpochEndingError | null) ?? undefined : undefined
const nowSeconds = () => Math.floor(Date.now() / 1000)
const sleepUntil = async (t: number) => {
  const ms = t * 1000 - Date.now()
  if (ms > 0) await new Promise((done) => setTimeout(done, ms))
}

/** The largest epoch length in [600, 86,400] whose next boundary is `from` to `to` seconds after `now`. */
function epochLengthWithBoundaryIn(now: number, from: number, to: number): { epochLength: number; boundary: number } {
  for (let epochLength = 86_400; epochLength >= 600; epochLength--) {
    const boundary = (Math.floor(now / epochLength) + 1) * epochLength
    if (boundary - now >= from && boundary - now <= to) return { epochLength, boundary }
  }
  throw new Error(`no epoch length puts a boundary ${from}-${to} s after ${now}`)
}

const setPrice = async (price: string) => {
  const hash = await env.funder.writeContract({
    address: env.stack.markets.weth.oracle,
    abi: simOracleAbi,
    functionName: "setPrice",
    args: [parseEther(price)],
    account: env.funder.account!,
    chain: env.devnet.chain,
    gas: 3_000_000n,
  })
  await waitForReceipt(env.publicClient, { hash })
}

/** Repay from the USDC pool enough to bring health to 1.45 (a float is fine: the amount is then exact base units). */
const rescuePlan = async () => {
  const [state] = await getSubAccountState(env.publicClient, { safe: safe.address, deployments: env.deployments })
  expect(state?.band).toBe("below")
  const health = Number(formatEther(state!.health))
  const amount = (state!.debt * BigInt(Math.round((1 - health / 1.45) * 1e6))) / 1_000_000n
  return {
    subAccounts: [subAccount],
    actions: [
      { kind: "WithdrawFromPool", subAccount: 0, pool: env.stack.vaults.usdc, amount },
      { kind: "Repay", subAccount: 0, amount },
    ],
  } as const
}

beforeAll(async () => {
  env = await startLeverageTestEnv()
  safe = await toLeverageSafeAccount({ client: env.publicClient, owners: [owner], deployments: env.deployments })
  await env.fund(safe.address)
  const client = env.clientFor(safe, { sponsored: true })
  const sent = async (result: { type: string; userOperationHash?: Hex }) => {
    if (result.type !== "userOperation" || !result.userOperationHash) throw new TypeError("expected a UserOperation")
    expect((await client.waitForUserOperationReceipt({ hash: result.userOperationHash })).success).toBe(true)
  }
  const { stack, deployments } = env
  await setPrice("3000")
  await sent(await setAutomationConfig(client, { config: defaultAutomationConfig, deployments }))
  await sent(await addKeeper(client, { keeper: keeper.address, validFor: 86_400, deployments }))
  await sent(await setSponsor(client, { paymaster: env.devnet.addresses.verifyingPaymaster, deployments }))
  const policy = await setPolicy(client, { policy: testPolicy(stack.markets.weth, [stack.vaults.usdc]), deployments })
  await sent(policy)
  subAccount = policy.subAccount
  await openTestPosition(env, client, safe.address)
})

afterAll(async () => {
  await env?.stop()
})

describe("keeper operations at a self-pay epoch boundary", () => {
  test("toKeeperAccount names a bad epochEndMarginSeconds", async () => {
    await expect(toKeeperAccount({ client: env.publicClient, safe: safe.address, keeper, deployments: env.deployments, epochEndMarginSeconds: -1 })).rejects.toThrow(
      InvalidKeeperAccountParameterError,
    )
  })

  test("3 s before the boundary a sponsored rescue is accepted and lands; a self-paid one is put off to the next epoch, then lands in it", async () => {
    const account = await toKeeperAccount({ client: env.publicClient, safe: safe.address, keeper, deployments: env.deployments })
    const client = env.clientFor(safe, { sponsored: true })
    const { epochLength, boundary } = epochLengthWithBoundaryIn(nowSeconds(), 40, 60)
    const budget = await setSelfPayBudget(client, { maxWeiPerEpoch: parseEther("0.5"), epochLength, deployments: env.deployments })
    if (budget.type !== "userOperation") throw new TypeError("expected a UserOperation")
    expect((await client.waitForUserOperationReceipt({ hash: budget.userOperationHash })).success).toBe(true)
    await setPrice("2700")

    // Inside the 30 s margin: a self-paid operation is not signed (its window would end with the epoch), nothing sent.
    await sleepUntil(boundary - 12)
    expect(nowSeconds(), "the setup took too long to reach the margin before the boundary").toBeLessThan(boundary - 6)
    const nonce = await account.getNonce()
    const selfPaid = await sendRebalance(env.clientFor(account), { plan: await rescuePlan(), deployments: env.deployments }).catch((error: unknown) => error)
    expect(epochEndingOf(selfPaid), String(selfPaid)).toBeInstanceOf(SelfPayEpochEndingError)
    expect(epochEndingOf(selfPaid)?.retryAt).toBe(boundary)
    expect(await account.getNonce()).toBe(nonce)

    // 3 s before the boundary: a sponsored rescue's window is [0, now + 1 h] (the module charges it to no epoch), so the
    // bundler takes it (an epoch-pinned window ending at boundary - 1 is "expires too soon" for Alto) and it lands.
    await sleepUntil(boundary - 3)
    const sponsoredHash = await sendRebalance(env.clientFor(account, { sponsored: true }), { plan: await rescuePlan(), deployments: env.deployments })
    const sponsored = await waitForRebalance(env.clientFor(account, { sponsored: true }), { hash: sponsoredHash })
    expect(sponsored.success).toBe(true)
    const sponsoredOp = await env.clientFor(account, { sponsored: true }).getUserOperation({ hash: sponsoredHash })
    const sponsoredWindow = windowOf(sponsoredOp.userOperation.signature)
    expect(sponsoredWindow.validAfter).toBe(0)
    expect(sponsoredWindow.validUntil).toBeGreaterThanOrEqual(boundary - 3 + 3_600)
    expect(sponsoredWindow.validUntil).toBeLessThanOrEqual(boundary + 3_600 + 5)
    const [rescued] = await getSubAccountState(env.publicClient, { safe: safe.address, deployments: env.deployments })
    expect(rescued?.band).toBe("inside")

    // Past the boundary on the clock but with no block in the new epoch yet (anvil mines on demand): still put off.
    // Checked only when the chain has no block at or after the boundary yet (on a slow machine the sponsored rescue or
    // the price step may have been mined after it).
    await setPrice("2150")
    await sleepUntil(boundary + 1)
    const latest = Number((await env.publicClient.getBlock({ blockTag: "latest" })).timestamp)
    if (latest < boundary) {
      const early = await sendRebalance(env.clientFor(account), { plan: await rescuePlan(), deployments: env.deployments }).catch((error: unknown) => error)
      expect(epochEndingOf(early)?.retryAt, String(early)).toBe(boundary)
    } else console.warn(`epochBoundary: the chain's latest block (${latest}) is past the boundary ${boundary}; the no-block-yet case was not reached`)
    // The chain's first block of the new epoch: the self-paid rescue is signed for the new epoch and is charged to it.
    await env.fund(env.funder.account!.address, 1n)
    const selfPaidHash = await sendRebalance(env.clientFor(account), { plan: await rescuePlan(), deployments: env.deployments })
    expect((await waitForRebalance(env.clientFor(account), { hash: selfPaidHash })).success).toBe(true)
    const selfPaidOp = await env.clientFor(account).getUserOperation({ hash: selfPaidHash })
    expect(windowOf(selfPaidOp.userOperation.signature)).toMatchObject({ validAfter: boundary, validUntil: boundary + epochLength - 1 })
    const charged = await env.publicClient.readContract({ address: env.stack.leverageModule, abi: leverageModuleAbi, functionName: "getSelfPayBudget", args: [safe.address] })
    expect(BigInt(charged.epoch)).toBe(BigInt(boundary / epochLength))
    expect(charged.spentWei > 0n).toBe(true)
    const [after] = await getSubAccountState(env.publicClient, { safe: safe.address, deployments: env.deployments })
    expect(after?.band).toBe("inside")
  }, 180_000)

  test("a self-pay epoch no longer than the signing margin (1 s, 30 s) can never be signed: a named error, not a deferral to retryAt that repeats forever without an alert", async () => {
    const account = await toKeeperAccount({ client: env.publicClient, safe: safe.address, keeper, deployments: env.deployments })
    const client = env.clientFor(safe, { sponsored: true })
    const callData = encodeRebalanceCallData({ keeper: keeper.address, plan: { subAccounts: [subAccount], actions: [{ kind: "Repay", subAccount: 0, amount: 1n }] } })
    const gas = { callGasLimit: 1_000_000n, verificationGasLimit: 300_000n, preVerificationGas: 60_000n, maxFeePerGas: 2_000_000_000n, maxPriorityFeePerGas: 1_000_000_000n }
    for (const epochLength of [1, 30]) {
      const budget = await setSelfPayBudget(client, { maxWeiPerEpoch: parseEther("0.5"), epochLength, deployments: env.deployments })
      if (budget.type !== "userOperation") throw new TypeError("expected a UserOperation")
      expect((await client.waitForUserOperationReceipt({ hash: budget.userOperationHash })).success).toBe(true)
      const operation = await env.clientFor(account).prepareUserOperation({ callData, ...gas })
      const error = await account.signUserOperation(operation).then(
        () => undefined,
        (e: unknown) => e,
      )
      // Before: SelfPayEpochEndingError with retryAt the next epoch's start, at every try (validUntil - now is at most
      // epochLength - 1 < 30): the keeper deferred the Safe's self-paid rescues block after block, no alert ever.
      expect(epochEndingOf(error), `epochLength ${epochLength}: ${String(error)}`).toBeUndefined()
      expect((error as BaseError | undefined)?.name, `epochLength ${epochLength}`).toBe("SelfPayEpochTooShortError")
    }
  })
})
