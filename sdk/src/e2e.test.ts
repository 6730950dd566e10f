import { type Hex, parseAbi, parseEther, parseUnits } from "viem"
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts"
import { afterAll, beforeAll, describe, expect, test } from "vitest"
import { readSettled, waitForReceipt } from "@levpilot/devnet"
import { simOracleAbi } from "@levpilot/devnet/leverage"
import { toKeeperAccount } from "./accounts/toKeeperAccount.js"
import { type ToLeverageSafeAccountReturnType, toLeverageSafeAccount } from "./accounts/toLeverageSafeAccount.js"
import { addKeeper } from "./actions/addKeeper.js"
import { getSubAccountState } from "./actions/getSubAccountState.js"
import { getSafeStates } from "./actions/getSafeStates.js"
import { sendRebalance } from "./actions/sendRebalance.js"
import { defaultAutomationConfig, setAutomationConfig } from "./actions/setAutomationConfig.js"
import { setPolicy } from "./actions/setPolicy.js"
import { setSponsor } from "./actions/setSponsor.js"
import { type LeverageTestEnv, openTestPosition, startLeverageTestEnv, testPolicy } from "@levpilot/devnet/leverageEnv"
import { leverageModuleAbi } from "./abis/leverageModule.js"
import { waitForRebalance } from "./actions/waitForRebalance.js"
import { createLeverageSafe } from "./actions/createLeverageSafe.js"
import { revokeKeeper } from "./actions/revokeKeeper.js"
import { validateRebalance } from "./actions/validateRebalance.js"
import { UnknownChainError } from "./errors/deployments.js"
import { GasFieldAboveCapError, InvalidRebalanceOverrideError, KeeperKeyExpiredError, KeeperNotAuthorizedError, SelfPayBudgetExceededError } from "./errors/keeper.js"
import { PaymasterRefusedError } from "./errors/paymaster.js"
import { HealthOutOfBandError, NoTriggerError, PoolNotAllowedError, PoolNotUsedError } from "./errors/plan.js"
import { InvalidHealthBandError, PoolAssetMismatchError, UnknownMarketError, UnknownSubAccountError } from "./errors/policy.js"
import { getSafeOperationHash, packSafeOperationSignature } from "./utils/safeOperation.js"
import { toPackedUserOperation } from "viem/account-abstraction"
import { createPublicClient, createTestClient, http, keccak256, toHex, zeroAddress } from "viem"
import { venueAdapterAbi } from "./abis/venueAdapter.js"
import { SubAccountReadError } from "./errors/read.js"

/**
 * Debt equals `expected` plus the interest Morpho's AdaptiveCurveIrm accrued in the seconds between the two reads
 * (rounded up): never less, and at most 1e-5 of it more (16% APR, the curve's top, over half a minute).
 */
function expectDebt(debt: bigint | undefined, expected: bigint) {
  expect(debt).toBeDefined()
  expect(debt! >= expected, `debt ${debt} below ${expected}`).toBe(true)
  expect(debt! - expected <= expected / 100_000n + 1n, `debt ${debt} more than interest above ${expected}`).toBe(true)
}

let env: LeverageTestEnv
let safe: ToLeverageSafeAccountReturnType
const owner = privateKeyToAccount(generatePrivateKey())
const keeper = privateKeyToAccount(generatePrivateKey())

beforeAll(async () => {
  env = await startLeverageTestEnv()
  safe = await toLeverageSafeAccount({ client: env.publicClient, owners: [owner], deployments: env.deployments })
  await env.fund(safe.address)
})

afterAll(async () => {
  await env?.stop()
})

describe("a Safe created by the SDK", () => {
  let subAccount: Hex

  test("deploys with the module through its first owner UserOperation and configures automation", async () => {
    const client = env.clientFor(safe)
    const configured = await setAutomationConfig(client, { config: defaultAutomationConfig, deployments: env.deployments })
    if (configured.type !== "userOperation") throw new TypeError("expected a UserOperation")
    const receipt = await client.waitForUserOperationReceipt({ hash: configured.userOperationHash })
    expect(receipt.success).toBe(true)
    const modules = await env.publicClient.readContract({
      address: safe.address,
      abi: [{ type: "function", name: "isModuleEnabled", stateMutability: "view", inputs: [{ type: "address" }], outputs: [{ type: "bool" }] }],
      functionName: "isModuleEnabled",
      args: [env.stack.leverageModule],
    })
    expect(modules).toBe(true)

    const added = await addKeeper(client, { keeper: keeper.address, validFor: 86_400, deployments: env.deployments })
    if (added.type !== "userOperation") throw new TypeError("expected a UserOperation")
    expect((await client.waitForUserOperationReceipt({ hash: added.userOperationHash })).success).toBe(true)

    // The devnet's verifying paymaster charges the Safe nothing: listed, its keeper operations cost the Safe nothing.
    const sponsor = await setSponsor(client, { paymaster: env.devnet.addresses.verifyingPaymaster, deployments: env.deployments })
    if (sponsor.type !== "userOperation") throw new TypeError("expected a UserOperation")
    expect((await client.waitForUserOperationReceipt({ hash: sponsor.userOperationHash })).success).toBe(true)

    const { stack } = env
    const set = await setPolicy(client, {
      policy: testPolicy(stack.markets.weth, [stack.vaults.usdc]),
      deployments: env.deployments,
    })
    if (set.type !== "userOperation") throw new TypeError("expected a UserOperation")
    expect((await client.waitForUserOperationReceipt({ hash: set.userOperationHash })).success).toBe(true)
    subAccount = set.subAccount
    // No feed bounds given: the SimOracle exposes no aggregator clamp, so they are 1/100 and 100 times its answer.
    const [, answer] = await env.publicClient.readContract({
      address: stack.markets.weth.oracle,
      abi: parseAbi(["function latestRoundData() view returns (uint80, int256, uint256, uint256, uint80)"]),
      functionName: "latestRoundData",
    })
    expect(answer > 0n).toBe(true)
    expect(set.policy.minFeedAnswer).toBe(answer / 100n)
    expect(set.policy.maxFeedAnswer).toBe(answer * 100n)

    await openTestPosition(env, client, safe.address)
    const [state] = await getSubAccountState(env.publicClient, { safe: safe.address, deployments: env.deployments })
    expect(state?.subAccount).toBe(subAccount)
    expectDebt(state?.debt, parseUnits("2000", 6))
    expect(state?.band).toBe("inside")
  })

  test("rebalances through a sponsored keeper UserOperation after a price drop", async () => {
    const priceHash = await env.funder.writeContract({
      address: env.stack.markets.weth.oracle,
      abi: simOracleAbi,
      functionName: "setPrice",
      args: [parseEther("2700")],
      account: env.funder.account!,
      chain: env.devnet.chain,
    })
    const priced = await waitForReceipt(env.publicClient, { hash: priceHash })
    const [before] = await readSettled(() => getSubAccountState(env.publicClient, { safe: safe.address, deployments: env.deployments, blockNumber: priced.blockNumber }), ([s]) => s?.band === "below")
    expect(before?.band).toBe("below")

    const account = await toKeeperAccount({ client: env.publicClient, safe: safe.address, keeper, deployments: env.deployments })
    const keeperClient = env.clientFor(account, { sponsored: true })
    const amount = parseUnits("350", 6)
    const plan = {
      subAccounts: [subAccount],
      actions: [
        { kind: "WithdrawFromPool", subAccount: 0, pool: env.stack.vaults.usdc, amount },
        { kind: "Repay", subAccount: 0, amount },
      ],
    } as const
    await expect(sendRebalance(keeperClient, { plan, callGasLimit: -1n, deployments: env.deployments })).rejects.toThrow(InvalidRebalanceOverrideError)
    await expect(sendRebalance(keeperClient, { plan, callGasLimit: 6_000_000n, deployments: env.deployments })).rejects.toThrow(GasFieldAboveCapError)
    // The keeper fixes nonce, fees and call gas (as for a resend of a stuck op); the rest is filled and estimated.
    const nonce = await account.getNonce()
    const fees = await env.publicClient.estimateFeesPerGas()
    const overrides = { nonce, maxFeePerGas: fees.maxFeePerGas * 2n, maxPriorityFeePerGas: fees.maxPriorityFeePerGas + 1n, callGasLimit: 1_500_000n }
    const hash = await sendRebalance(keeperClient, { plan, ...overrides, deployments: env.deployments })
    const receipt = await waitForRebalance(keeperClient, { hash })
    expect(receipt.success).toBe(true)
    const sent = await keeperClient.getUserOperation({ hash })
    expect({
      nonce: sent.userOperation.nonce,
      maxFeePerGas: sent.userOperation.maxFeePerGas,
      maxPriorityFeePerGas: sent.userOperation.maxPriorityFeePerGas,
      callGasLimit: sent.userOperation.callGasLimit,
    }).toEqual(overrides)
    expect(receipt.paymaster?.toLowerCase()).toBe(env.devnet.addresses.verifyingPaymaster.toLowerCase())
    const [after] = await getSubAccountState(env.publicClient, { safe: safe.address, deployments: env.deployments })
    expect(after?.band).toBe("inside")
    expectDebt(after?.debt, before!.debt - amount)
  })
})

describe("named errors before anything is sent", () => {
  const basePolicy = () => ({
    market: env.stack.markets.weth.id,
    priceFeed: env.stack.markets.weth.oracle,
    maxOracleAge: 3_600,
    minHealth: parseEther("1.2"),
    targetHealth: parseEther("1.4"),
    maxHealth: parseEther("1.7"),
    maxAmountPerRebalance: parseUnits("100000", 6),
    maxAmountPerEpoch: parseUnits("1000000", 6),
    epochLength: 86_400,
    maxRebalancesPerEpoch: 10,
    maxGasPerEpoch: 20_000_000n,
    maxLossBps: 50,
  })

  test("rejects an unknown chain without addresses", async () => {
    await expect(toLeverageSafeAccount({ client: env.publicClient, owners: [owner] })).rejects.toThrow(UnknownChainError)
    await expect(setPolicy(env.clientFor(safe), { policy: basePolicy() })).rejects.toThrow(UnknownChainError)
  })

  test("rejects a policy the module would reject", async () => {
    const client = env.clientFor(safe)
    const blockBefore = await env.publicClient.getBlockNumber({ cacheTime: 0 })
    await expect(
      setPolicy(client, { policy: { ...basePolicy(), minHealth: parseEther("1.5") }, deployments: env.deployments }),
    ).rejects.toThrow(InvalidHealthBandError)
    await expect(
      setPolicy(client, { policy: { ...basePolicy(), market: keccak256(toHex("no such market")) }, deployments: env.deployments }),
    ).rejects.toThrow(UnknownMarketError)
    await expect(
      setPolicy(client, { policy: { ...basePolicy(), pools: [env.stack.vaults.usdc, env.stack.tokens.weth] }, deployments: env.deployments }),
    ).rejects.toThrow()
    const mismatch = await setPolicy(client, {
      policy: { ...basePolicy(), market: env.stack.markets.wbtc.id, pools: [env.stack.vaults.weth] },
      deployments: env.deployments,
    }).catch((error: unknown) => error)
    expect(mismatch).toBeInstanceOf(PoolAssetMismatchError)
    expect(await env.publicClient.getBlockNumber({ cacheTime: 0 })).toBe(blockBefore)
  })

  test("rejects a plan touching a pool outside the policy, after the trigger as the module checks them", async () => {
    const account = await toKeeperAccount({ client: env.publicClient, safe: safe.address, keeper, deployments: env.deployments })
    const [state] = await getSubAccountState(env.publicClient, { safe: safe.address, deployments: env.deployments })
    expect(state?.band).toBe("inside")
    const plan = {
      subAccounts: [state!.subAccount],
      actions: [{ kind: "WithdrawFromPool", subAccount: 0, pool: env.stack.vaults.weth, amount: 1n } as const],
    }
    // The module loads (trigger) before it vets the actions: in band, the first error is NoTrigger. Below the band
    // the same plan is PoolNotAllowed (the rule-book test below).
    await expect(sendRebalance(env.clientFor(account), { plan, deployments: env.deployments })).rejects.toThrow(NoTriggerError)
  })

  test("rejects a plan when every sub-account is inside its band", async () => {
    const account = await toKeeperAccount({ client: env.publicClient, safe: safe.address, keeper, deployments: env.deployments })
    const [state] = await getSubAccountState(env.publicClient, { safe: safe.address, deployments: env.deployments })
    expect(state?.band).toBe("inside")
    const plan = { subAccounts: [state!.subAccount], actions: [{ kind: "Repay", subAccount: 0, amount: 1n } as const] }
    await expect(validateRebalance(env.clientFor(account), { plan, deployments: env.deployments })).rejects.toThrow(NoTriggerError)
  })

  test("rejects an expired keeper key and an unknown key", async () => {
    const [state] = await getSubAccountState(env.publicClient, { safe: safe.address, deployments: env.deployments })
    const plan = { subAccounts: [state!.subAccount], actions: [{ kind: "Repay", subAccount: 0, amount: 1n } as const] }
    const client = env.clientFor(safe)
    const shortLived = privateKeyToAccount(generatePrivateKey())
    const added = await addKeeper(client, { keeper: shortLived.address, validFor: 5, deployments: env.deployments })
    if (added.type !== "userOperation") throw new TypeError("expected a UserOperation")
    await client.waitForUserOperationReceipt({ hash: added.userOperationHash })
    await env.publicClient.request({ method: "evm_increaseTime" as never, params: [60] as never })
    await env.publicClient.request({ method: "evm_mine" as never, params: [] as never })
    const expired = await toKeeperAccount({ client: env.publicClient, safe: safe.address, keeper: shortLived, deployments: env.deployments })
    await expect(sendRebalance(env.clientFor(expired), { plan, deployments: env.deployments })).rejects.toThrow(KeeperKeyExpiredError)
    await expect(addKeeper(client, { keeper: shortLived.address, validUntil: 1, deployments: env.deployments })).rejects.toThrow(KeeperKeyExpiredError)

    const stranger = await toKeeperAccount({ client: env.publicClient, safe: safe.address, keeper: privateKeyToAccount(generatePrivateKey()), deployments: env.deployments })
    await expect(sendRebalance(env.clientFor(stranger), { plan, deployments: env.deployments })).rejects.toThrow(KeeperNotAuthorizedError)
  })

  test("without the estimation override, the bundler's estimate reaches execution and the module's revert is decoded into a named error", async () => {
    const priceHash = await env.funder.writeContract({
      address: env.stack.markets.weth.oracle,
      abi: simOracleAbi,
      functionName: "setPrice",
      args: [parseEther("2000")],
      account: env.funder.account!,
      chain: env.devnet.chain,
    })
    const priced = await waitForReceipt(env.publicClient, { hash: priceHash })
    const [state] = await readSettled(() => getSubAccountState(env.publicClient, { safe: safe.address, deployments: env.deployments, blockNumber: priced.blockNumber }), ([s]) => s?.band === "below")
    expect(state?.band).toBe("below")
    const account = await toKeeperAccount({ client: env.publicClient, safe: safe.address, keeper, deployments: env.deployments })
    const plan = { subAccounts: [state!.subAccount], actions: [{ kind: "Repay", subAccount: 0, amount: 1n } as const] }
    const error = await sendRebalance(env.clientFor(account), { plan, estimationOverride: false, validate: false, deployments: env.deployments }).catch((e: unknown) => e)
    // The module enforces gas caps only on correctly signed operations, so the bundler's placeholder-signature
    // estimate passes validation and the simulated execution reports why the plan fails.
    expect(error).toBeInstanceOf(HealthOutOfBandError)
  })

  test("reports a paymaster refusal as PaymasterRefusedError and sends nothing", async () => {
    const [state] = await getSubAccountState(env.publicClient, { safe: safe.address, deployments: env.deployments })
    const account = await toKeeperAccount({ client: env.publicClient, safe: safe.address, keeper, deployments: env.deployments })
    // A plan the module accepts (one it refuses is refused by validateRebalance before the paymaster is asked).
    const plan = {
      subAccounts: [state!.subAccount],
      actions: [
        { kind: "WithdrawFromPool", subAccount: 0, pool: env.stack.vaults.usdc, amount: parseUnits("400", 6) },
        { kind: "Repay", subAccount: 0, amount: parseUnits("400", 6) },
      ] as const,
    }
    const nonce = await account.getNonce()
    env.paymaster.setSponsoring(false)
    try {
      const error = await sendRebalance(env.clientFor(account, { sponsored: true }), { plan, paymasterContext: { token: env.stack.tokens.usdc }, deployments: env.deployments }).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(PaymasterRefusedError)
      expect((error as PaymasterRefusedError).reason).toMatch(/sponsorship is disabled/)
    } finally {
      env.paymaster.setSponsoring(true)
    }
    expect(await account.getNonce()).toBe(nonce)
  })

  test("decodes an execution revert from simulation, and refuses to sign an unsponsored operation without a self-pay budget", async () => {
    const [state] = await getSubAccountState(env.publicClient, { safe: safe.address, deployments: env.deployments })
    const account = await toKeeperAccount({ client: env.publicClient, safe: safe.address, keeper, deployments: env.deployments })
    const plan = {
      subAccounts: [state!.subAccount],
      actions: [
        { kind: "WithdrawFromPool", subAccount: 0, pool: env.stack.vaults.usdc, amount: parseUnits("150", 6) },
        { kind: "Repay", subAccount: 0, amount: parseUnits("150", 6) },
      ] as const,
    }
    const nonce = await account.getNonce()
    await expect(sendRebalance(env.clientFor(account), { plan, validate: false, deployments: env.deployments })).rejects.toThrow(HealthOutOfBandError)
    // Lands in the landing zone (1,650 debt at 2,000: 1.04 -> 1.38), so the simulation passes and the signing check fires.
    const inBand = {
      ...plan,
      actions: [
        { kind: "WithdrawFromPool", subAccount: 0, pool: env.stack.vaults.usdc, amount: parseUnits("400", 6) },
        { kind: "Repay", subAccount: 0, amount: parseUnits("400", 6) },
      ] as const,
    }
    await expect(sendRebalance(env.clientFor(account), { plan: inBand, deployments: env.deployments })).rejects.toThrow(SelfPayBudgetExceededError)
    expect(await account.getNonce()).toBe(nonce)
  })

  test("validateRebalance judges with the module's rule book: what the module refuses after its run is refused before sending, with the same named error as the simulation", async () => {
    const [state] = await getSubAccountState(env.publicClient, { safe: safe.address, deployments: env.deployments })
    const account = await toKeeperAccount({ client: env.publicClient, safe: safe.address, keeper, deployments: env.deployments })
    const methods: string[] = []
    const counting = createPublicClient({
      chain: env.devnet.chain,
      transport: http(env.devnet.rpcUrl, {
        onFetchRequest: async (request) => {
          const body = JSON.parse(await request.clone().text()) as { method: string } | { method: string }[]
          for (const item of Array.isArray(body) ? body : [body]) methods.push(item.method)
        },
      }),
    })
    const check = (withdraw: bigint, repay: bigint) =>
      validateRebalance(counting, {
        safe: safe.address,
        keeper: keeper.address,
        deployments: env.deployments,
        plan: {
          subAccounts: [state!.subAccount],
          actions: [
            { kind: "WithdrawFromPool", subAccount: 0, pool: env.stack.vaults.usdc, amount: withdraw },
            { kind: "Repay", subAccount: 0, amount: repay },
          ],
        },
      })
    // 150 USDC leaves health below the band; 500 withdrawn for a 400 repayment leaves 100 idle: both are refused on
    // the state read (eth_call only), as the simulation refuses them.
    const short = await check(parseUnits("150", 6), parseUnits("150", 6)).catch((e: unknown) => e)
    expect(short).toBeInstanceOf(HealthOutOfBandError)
    expect((short as HealthOutOfBandError).health).toBeLessThan(parseEther("1.2"))
    await expect(check(parseUnits("500", 6), parseUnits("400", 6))).rejects.toThrow(PoolNotUsedError)
    const outside = validateRebalance(counting, {
      safe: safe.address,
      keeper: keeper.address,
      deployments: env.deployments,
      plan: { subAccounts: [state!.subAccount], actions: [{ kind: "WithdrawFromPool", subAccount: 0, pool: env.stack.vaults.weth, amount: 1n }, { kind: "Repay", subAccount: 0, amount: 1n }] },
    })
    await expect(outside).rejects.toThrow(PoolNotAllowedError)
    expect(methods.filter((method) => method !== "eth_call" && method !== "eth_chainId" && method !== "eth_getBlockByNumber")).toEqual([])
    const simulated = await sendRebalance(env.clientFor(account), {
      plan: { subAccounts: [state!.subAccount], actions: [{ kind: "WithdrawFromPool", subAccount: 0, pool: env.stack.vaults.usdc, amount: parseUnits("500", 6) }, { kind: "Repay", subAccount: 0, amount: parseUnits("400", 6) }] },
      validate: false,
      deployments: env.deployments,
    }).catch((e: unknown) => e)
    expect(simulated).toBeInstanceOf(PoolNotUsedError)
    // The landing plan is judged whole (no swap to quote), with the health the module will compute.
    const landing = await check(parseUnits("400", 6), parseUnits("400", 6))
    expect(landing.checked).toBe("all")
    const after = landing.verdict?.subAccounts[0]?.healthAfter ?? 0n
    expect(after > parseEther("1.3") && after < parseEther("1.45"), `health after ${after}`).toBe(true)
  })

  test("revokes a keeper, whose next plan is refused before sending", async () => {
    const client = env.clientFor(safe)
    const revoked = await revokeKeeper(client, { keeper: keeper.address, deployments: env.deployments })
    if (revoked.type !== "userOperation") throw new TypeError("expected a UserOperation")
    expect((await client.waitForUserOperationReceipt({ hash: revoked.userOperationHash })).success).toBe(true)
    const [state] = await getSubAccountState(env.publicClient, { safe: safe.address, deployments: env.deployments })
    const account = await toKeeperAccount({ client: env.publicClient, safe: safe.address, keeper, deployments: env.deployments })
    const plan = { subAccounts: [state!.subAccount], actions: [{ kind: "Repay", subAccount: 0, amount: 1n } as const] }
    await expect(sendRebalance(env.clientFor(account), { plan, deployments: env.deployments })).rejects.toThrow(KeeperNotAuthorizedError)
  })
})

describe("hashing and deployment", () => {
  test("computes the same SafeOp hash as the module's getOperationHash", async () => {
    const userOperation = {
      sender: safe.address,
      nonce: 123n,
      factory: env.deployment.safe.proxyFactory,
      factoryData: "0x1234" as const,
      callData: "0xdeadbeef" as const,
      callGasLimit: 500_000n,
      verificationGasLimit: 300_000n,
      preVerificationGas: 60_000n,
      maxFeePerGas: 2_000_000_000n,
      maxPriorityFeePerGas: 1_000_000_000n,
      paymaster: env.devnet.addresses.verifyingPaymaster,
      paymasterVerificationGasLimit: 100_000n,
      paymasterPostOpGasLimit: 5_000n,
      paymasterData: "0xabcdef" as const,
    }
    const validAfter = 1_700_000_000
    const validUntil = 1_800_000_000
    const signature = packSafeOperationSignature({ validAfter, validUntil, signature: "0x" })
    const onChain = await env.publicClient.readContract({
      address: env.stack.leverageModule,
      abi: leverageModuleAbi,
      functionName: "getOperationHash",
      args: [toPackedUserOperation({ ...userOperation, signature })],
    })
    const local = getSafeOperationHash({
      userOperation,
      chainId: env.devnet.chain.id,
      module: env.stack.leverageModule,
      entryPoint: env.devnet.addresses.entryPoint,
      validAfter,
      validUntil,
    })
    expect(local).toBe(onChain)
    const withoutPaymaster = { ...userOperation, factory: undefined, factoryData: undefined, paymaster: undefined, paymasterData: undefined, paymasterVerificationGasLimit: undefined, paymasterPostOpGasLimit: undefined }
    expect(
      getSafeOperationHash({ userOperation: withoutPaymaster, chainId: env.devnet.chain.id, module: env.stack.leverageModule, entryPoint: env.devnet.addresses.entryPoint }),
    ).toBe(
      await env.publicClient.readContract({
        address: env.stack.leverageModule,
        abi: leverageModuleAbi,
        functionName: "getOperationHash",
        args: [toPackedUserOperation({ ...withoutPaymaster, signature: packSafeOperationSignature({ signature: "0x" }) })],
      }),
    )
  })

  test("deploys a Safe with the module through the proxy factory at the account's address", async () => {
    const other = privateKeyToAccount(generatePrivateKey())
    const { address, transactionHash } = await createLeverageSafe(env.funder as never, {
      publicClient: env.publicClient,
      owners: [other],
      deployments: env.deployments,
    })
    expect(transactionHash).toBeDefined()
    const account = await toLeverageSafeAccount({ client: env.publicClient, owners: [other], deployments: env.deployments })
    expect(address).toBe(account.address)
    const handler = await env.publicClient.getStorageAt({
      address,
      slot: "0x6c9a6c4a39284e37ed1cf53d337577d14212a4870fb976a4366c693b939918d5",
    })
    expect(handler?.toLowerCase()).toBe(`0x${"0".repeat(24)}${env.stack.leverageModule.slice(2).toLowerCase()}`)
    expect(zeroAddress).not.toBe(address)
  })
})

describe("reading every sub-account", () => {
  test("reads policies, usage and market states of every sub-account in one eth_call, equal to direct reads", async () => {
    const { stack } = env
    const client = env.clientFor(safe)
    const set = await setPolicy(client, {
      policy: {
        market: stack.markets.wbtc.id,
        priceFeed: stack.markets.wbtc.oracle,
        maxOracleAge: 86_400,
        minHealth: parseEther("1.3"),
        targetHealth: parseEther("1.5"),
        maxHealth: parseEther("1.8"),
        maxAmountPerRebalance: parseUnits("50000", 6),
        maxAmountPerEpoch: parseUnits("500000", 6),
        epochLength: 86_400,
        maxRebalancesPerEpoch: 5,
        maxGasPerEpoch: 10_000_000n,
        maxLossBps: 30,
        pools: [stack.vaults.usdc],
      },
      deployments: env.deployments,
    })
    if (set.type !== "userOperation") throw new TypeError("expected a UserOperation")
    expect((await client.waitForUserOperationReceipt({ hash: set.userOperationHash })).success).toBe(true)

    const methods: string[] = []
    const counting = createPublicClient({
      chain: env.devnet.chain,
      transport: http(env.devnet.rpcUrl, {
        onFetchRequest: async (request) => {
          const body = JSON.parse(await request.clone().text()) as { method: string } | { method: string }[]
          for (const item of Array.isArray(body) ? body : [body]) methods.push(item.method)
        },
      }),
    })
    const states = await getSubAccountState(counting, { safe: safe.address, deployments: env.deployments })
    expect(methods.filter((method) => method === "eth_call")).toHaveLength(1)
    expect(methods.filter((method) => method !== "eth_call" && method !== "eth_chainId")).toEqual([])

    const ids = await env.publicClient.readContract({ address: stack.leverageModule, abi: leverageModuleAbi, functionName: "getSubAccounts", args: [safe.address] })
    expect(states.map((state) => state.subAccount)).toEqual(ids)
    expect(ids).toContain(set.subAccount)
    for (const state of states) {
      const policy = await env.publicClient.readContract({ address: stack.leverageModule, abi: leverageModuleAbi, functionName: "getPolicy", args: [safe.address, state.subAccount] })
      expect(state.policy).toEqual(policy)
      const [collateral, debt] = await env.publicClient.readContract({
        address: policy.adapter,
        abi: venueAdapterAbi,
        functionName: "position",
        args: [policy.market, safe.address],
      })
      expect([state.collateral, state.debt]).toEqual([collateral, debt])
    }
    const only = await getSubAccountState(env.publicClient, { safe: safe.address, subAccounts: [set.subAccount], deployments: env.deployments })
    expect(only.map((state) => state.subAccount)).toEqual([set.subAccount])
    expect(only[0]?.policy.minHealth).toBe(parseEther("1.3"))
  })

  test("names an unknown sub-account and an adapter that reverts", async () => {
    const unknown = keccak256(toHex("no such sub-account"))
    await expect(getSubAccountState(env.publicClient, { safe: safe.address, subAccounts: [unknown], deployments: env.deployments })).rejects.toThrow(
      UnknownSubAccountError,
    )
    const oracle = env.stack.markets.wbtc.oracle
    const code = await env.publicClient.getCode({ address: oracle })
    const test = createTestClient({ chain: env.devnet.chain, mode: "anvil", transport: http(env.devnet.rpcUrl) })
    await test.setCode({ address: oracle, bytecode: "0x5f5ffd" })
    try {
      const error = await getSubAccountState(env.publicClient, { safe: safe.address, deployments: env.deployments }).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(SubAccountReadError)
      expect((error as SubAccountReadError).adapter).toBe(env.stack.morphoBlueAdapter)
      // The batched read (fleet mode) keeps the Safe: its readable sub-account in `subAccounts`, the broken one in `unreadable`.
      const [read] = (await getSafeStates(env.publicClient, { safes: [safe.address], keeper: zeroAddress, deployments: env.deployments })).safes
      expect(read?.error).toBeUndefined()
      expect(read?.subAccounts).toHaveLength(1)
      expect(read?.unreadable?.map((e) => [e.constructor, e.adapter])).toEqual([[SubAccountReadError, env.stack.morphoBlueAdapter]])
      expect(read?.subAccounts?.[0]?.subAccount).not.toBe(read?.unreadable?.[0]?.subAccount)
    } finally {
      await test.setCode({ address: oracle, bytecode: code! })
    }
    expect(await getSubAccountState(env.publicClient, { safe: safe.address, deployments: env.deployments })).toHaveLength(2)
  })
})

describe("call gas headroom for interest accrual", () => {
  // The estimate runs in the block that last touched the market (no interest to accrue); the operation lands ten
  // minutes later (within the paymaster signature's validity), where Morpho first calls the IRM and writes the market. Mining is paused so the two blocks are chosen.
  const accrueAbi = parseAbi([
    "struct MarketParams { address loanToken; address collateralToken; address oracle; address irm; uint256 lltv; }",
    "function accrueInterest(MarketParams marketParams)",
  ])

  const keeper = privateKeyToAccount(generatePrivateKey())
  beforeAll(async () => {
    const added = await addKeeper(env.clientFor(safe), { keeper: keeper.address, validFor: 30 * 86_400, deployments: env.deployments })
    if (added.type !== "userOperation") throw new TypeError("expected a UserOperation")
    expect((await env.clientFor(safe).waitForUserOperationReceipt({ hash: added.userOperationHash })).success).toBe(true)
  })

  async function rebalanceAfterAGap(price: bigint, amount: bigint, callGasMarginBps: number | undefined) {
    const { stack } = env
    const anvil = createTestClient({ chain: env.devnet.chain, mode: "anvil", transport: http(env.devnet.rpcUrl) })
    const send = async (request: Parameters<typeof env.funder.writeContract>[0]) => {
      const hash = await env.funder.writeContract({ ...request, gas: 500_000n } as never)
      await anvil.mine({ blocks: 1 })
      expect((await waitForReceipt(env.publicClient, { hash })).status).toBe("success")
    }
    await anvil.setIntervalMining({ interval: 0 })
    try {
      await send({ address: stack.markets.weth.oracle, abi: simOracleAbi, functionName: "setPrice", args: [price], account: env.funder.account!, chain: env.devnet.chain })
      await send({ address: stack.morpho, abi: accrueAbi, functionName: "accrueInterest", args: [stack.markets.weth.params], account: env.funder.account!, chain: env.devnet.chain })
      const [state] = await getSubAccountState(env.publicClient, { safe: safe.address, deployments: env.deployments })
      expect(state?.band).toBe("below")
      const account = await toKeeperAccount({ client: env.publicClient, safe: safe.address, keeper, deployments: env.deployments })
      const keeperClient = env.clientFor(account, { sponsored: true })
      const plan = {
        subAccounts: [state!.subAccount],
        actions: [
          { kind: "WithdrawFromPool", subAccount: 0, pool: stack.vaults.usdc, amount },
          { kind: "Repay", subAccount: 0, amount },
        ],
      } as const
      const hash = await sendRebalance(keeperClient, { plan, callGasMarginBps, deployments: env.deployments })
      const latest = await env.publicClient.getBlock()
      await anvil.setNextBlockTimestamp({ timestamp: latest.timestamp + 600n })
      await anvil.setIntervalMining({ interval: 1 })
      const receipt = await keeperClient.waitForUserOperationReceipt({ hash, timeout: 30_000 })
      const { userOperation } = await keeperClient.getUserOperation({ hash })
      return { receipt, callGasLimit: userOperation.callGasLimit }
    } finally {
      await anvil.setIntervalMining({ interval: 1 })
    }
  }

  test("the bundler's bare estimate runs out of gas when interest accrues first; the default headroom does not", async () => {
    // Both land in the landing zone [1.3, 1.55] from ~1,650 of debt: 1.15 -> 1.35 and 1.12 -> 1.37.
    const bare = await rebalanceAfterAGap(parseEther("2200"), parseUnits("250", 6), 0)
    // Included and paid for, but the execution ran out of gas (no revert data): nothing moved.
    expect(bare.receipt.success).toBe(false)
    expect(bare.receipt.reason ?? "0x").toBe("0x")
    const padded = await rebalanceAfterAGap(parseEther("2150"), parseUnits("300", 6), undefined)
    expect(padded.receipt.success).toBe(true)
    expect(padded.callGasLimit - bare.callGasLimit).toBeGreaterThanOrEqual(60_000n - 20_000n)
    const [after] = await getSubAccountState(env.publicClient, { safe: safe.address, deployments: env.deployments })
    expect(after?.band).toBe("inside")
  })
})
