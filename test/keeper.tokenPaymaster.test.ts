import { waitForReceipt } from "@levpilot/devnet"
import { type Account, type Chain, type Hex, type Transport, type WalletClient, decodeFunctionData, encodeFunctionData, erc20Abi, parseEther, parseUnits } from "viem"
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts"
import { afterAll, beforeAll, describe, expect, test } from "vitest"
import { simOracleAbi } from "@levpilot/devnet/leverage"
import { type LeverageTestEnv, openPositionCalls, startLeverageTestEnv, testPolicy } from "@levpilot/devnet/leverageEnv"
import { type PaymasterServer, createTokenPaymasterService, createVerifyingPaymasterSigner, startPaymasterServer } from "@levpilot/devnet/paymaster"
import { type DeployTokenPaymasterReturnType, deployTokenPaymaster, simOracleFeedAbi, tokenPaymasterAbi } from "@levpilot/devnet/tokenPaymaster"
import { leverageModuleAbi } from "@levpilot/sdk/abis"
import { type ToLeverageSafeAccountReturnType, toLeverageSafeAccount } from "@levpilot/sdk/accounts"
import {
  addKeeper,
  approvePaymasterToken,
  defaultAutomationConfig,
  getPaymasterTokenReserve,
  getSubAccountState,
  setAutomationConfig,
  setPolicy,
  setSelfPayBudget,
} from "@levpilot/sdk/actions"
import { parseKeeperConfig } from "../bundler-client/src/keeper/config"
import { Keeper } from "../bundler-client/src/keeper/keeper"
import { collectKeeperEvents, startRpcProxy } from "./keeperProbes"

/**
 * Issue 11 item 2, the loan token pays the gas: an ERC-20 paymaster charging USDC pre-charges its maximum in validation,
 * before the plan runs. The keeper keeps exactly that charge aside (the one the SDK computes for the prepared operation),
 * not the bound at the Safe's caps (hundreds of USDC here), so a rescue that needs nearly all the idle USDC still lands.
 */
let env: LeverageTestEnv
let tokenPaymaster: DeployTokenPaymasterReturnType
let service: PaymasterServer
let safe: ToLeverageSafeAccountReturnType
const owner = privateKeyToAccount(generatePrivateKey())
const keeperKey = generatePrivateKey()
const keeper = privateKeyToAccount(keeperKey)

const usdcBalance = (address: Hex) => env.publicClient.readContract({ address: env.stack.tokens.usdc, abi: erc20Abi, functionName: "balanceOf", args: [address] })
const allowance = () => env.publicClient.readContract({ address: env.stack.tokens.usdc, abi: erc20Abi, functionName: "allowance", args: [safe.address, tokenPaymaster.address] })

beforeAll(async () => {
  env = await startLeverageTestEnv()
  const { stack, publicClient, deployments } = env
  tokenPaymaster = await deployTokenPaymaster({
    publicClient,
    deployer: env.funder as WalletClient<Transport, Chain | undefined, Account>,
    entryPoint: env.devnet.addresses.entryPoint,
    token: stack.tokens.usdc,
    wrappedNative: stack.tokens.weth,
  })
  service = await startPaymasterServer({
    signer: createVerifyingPaymasterSigner({ client: publicClient, paymaster: env.devnet.addresses.verifyingPaymaster, entryPoint: env.devnet.addresses.entryPoint, signerPrivateKey: env.devnet.keys.paymasterSigner }),
    tokenPaymaster: createTokenPaymasterService({ client: publicClient, paymaster: tokenPaymaster.address, entryPoint: env.devnet.addresses.entryPoint }),
  })
  safe = await toLeverageSafeAccount({ client: publicClient, owners: [owner], deployments })
  const client = env.clientFor(safe, { paymasterUrl: service.url })
  const sent = async (result: { type: string; userOperationHash?: Hex }) => {
    if (result.type !== "userOperation" || !result.userOperationHash) throw new TypeError("expected a UserOperation")
    expect((await client.waitForUserOperationReceipt({ hash: result.userOperationHash })).success).toBe(true)
  }
  await sent(
    await setAutomationConfig(client, {
      config: { ...defaultAutomationConfig, maxPaymasterVerificationGasLimit: 200_000, maxPaymasterPostOpGasLimit: 150_000, requiredPaymaster: tokenPaymaster.address },
      deployments,
    }),
  )
  await sent(await setSelfPayBudget(client, { maxWeiPerEpoch: parseEther("0.5"), epochLength: 2 ** 32 - 1, deployments }))
  await sent(await addKeeper(client, { keeper: keeper.address, validFor: 86_400, deployments }))
  // No pool: the idle USDC is the only thing a rescue can repay with.
  const policy = await setPolicy(client, { policy: testPolicy(stack.markets.weth, []), deployments })
  await sent(policy)
  await sent(await approvePaymasterToken(client, { token: stack.tokens.usdc, paymaster: tokenPaymaster.address, amount: parseUnits("1000", 6) }))
  await env.mint(stack.tokens.weth, safe.address, parseEther("1"))
  // 1 WETH against 2,000 USDC; the borrowed USDC is sent away, the Safe keeps only what a rescue needs (below).
  const hash = await client.sendUserOperation({
    calls: [
      ...openPositionCalls({ stack, safe: safe.address, market: "weth", collateral: parseEther("1"), borrow: parseUnits("2000", 6), deposit: 0n }).slice(0, 3),
      { to: stack.tokens.usdc, data: encodeFunctionData({ abi: erc20Abi, functionName: "transfer", args: [env.funder.account!.address, parseUnits("2000", 6)] }) },
    ],
    callGasLimit: 1_500_000n,
  })
  expect((await client.waitForUserOperationReceipt({ hash })).success).toBe(true)
})

/** The keeper's configuration: paid in USDC through the token paymaster, `overrides` on top. */
const keeperConfig = (overrides: Record<string, unknown> = {}) =>
  parseKeeperConfig(
    {
      rpcUrl: env.devnet.rpcUrl,
      bundlerUrl: env.devnet.bundlerUrl,
      paymasterUrl: service.url,
      paymasterContext: { token: env.stack.tokens.usdc },
      keeperPrivateKey: keeperKey,
      deployment: { entryPoint: env.deployment.entryPoint, leverageModule: env.deployment.leverageModule, morphoBlueAdapter: env.deployment.adapters.morphoBlue },
      safes: [safe.address],
      risk: { tolerance: 0.01, horizon: 3_600, sigma: 0.8, mode: "threshold" },
      allowSelfPay: false,
      pollIntervalMs: 100,
      retry: { baseMs: 250, maxMs: 2_000 },
      logLevel: "silent",
      ...overrides,
    },
    { source: "test" },
  )

afterAll(async () => {
  await service?.stop()
  await env?.stop()
})

describe("keeper with an ERC-20 paymaster charging the loan token", () => {
  test("keeps exactly the paymaster's pre-charge aside (not the bound at the Safe's caps) and the rescue needing nearly all idle USDC lands", async () => {
    const { stack, publicClient, deployments } = env
    // WETH at 2,700: health 2,700 x 0.86 / 2,000 = 1.161 < 1.2. Landing zone [1.261, 1.55]; the target 1.4 needs a
    // 341 USDC repayment, the zone's low edge 158.
    const priceHash = await env.funder.writeContract({ address: stack.markets.weth.oracle, abi: simOracleAbi, functionName: "setPrice", args: [parseEther("2700")], account: env.funder.account!, chain: env.devnet.chain, gas: 3_000_000n })
    await waitForReceipt(publicClient, { hash: priceHash })
    const [state] = await getSubAccountState(publicClient, { safe: safe.address, deployments })
    expect(state?.band).toBe("below")
    // 250 USDC idle: enough for the landing zone, not for the target, so the plan spends all the idle USDC it may.
    await env.mint(stack.tokens.usdc, safe.address, parseUnits("250", 6) - (await usdcBalance(safe.address)))
    const idle = await usdcBalance(safe.address)
    expect(idle).toBe(parseUnits("250", 6))
    // The bound at the Safe's caps is far above what remains above the landing zone's 158 USDC.
    const bound = await getPaymasterTokenReserve(publicClient, { safe: safe.address, deployments })
    expect(bound?.reserve).toBeGreaterThan(idle - parseUnits("158", 6))

    const { events, onEvent } = collectKeeperEvents()
    const k = new Keeper(keeperConfig(), { chain: env.devnet.chain, onEvent })
    await k.init()
    const allowanceBefore = await allowance()
    await k.runOnce()
    expect(await k.settle(60_000)).toEqual([])
    expect(events.filter((e) => e.type === "alert")).toEqual([])
    const sent = events.filter((e) => e.type === "sent")
    expect(sent).toHaveLength(1)
    const included = events.find((e) => e.type === "included")
    expect(included?.type === "included" && included.success).toBe(true)

    // What the plan repaid leaves exactly the paymaster's pre-charge of the operation it sent.
    const plan = sent[0]?.type === "sent" ? sent[0].plan : undefined
    const repaid = plan?.actions.find((a) => a.kind === "Repay")?.amount ?? 0n
    const preCharge = allowanceBefore - (await allowance())
    expect(preCharge).toBeGreaterThan(0n)
    const bundled = await env.clientFor(safe).getUserOperation({ hash: sent[0]?.type === "sent" ? sent[0].userOpHash : "0x" })
    const exact = await getPaymasterTokenReserve(publicClient, { safe: safe.address, paymaster: tokenPaymaster.address, userOperation: bundled.userOperation })
    expect(exact?.reserve).toBe(preCharge)
    // Kept aside: the pre-charge plus the default 10 % room for the paymaster's price to fall before inclusion (the
    // charge of the last prepared operation, which may differ from the sent one's by a few gas units of calldata).
    const margined = await getPaymasterTokenReserve(publicClient, { safe: safe.address, paymaster: tokenPaymaster.address, userOperation: bundled.userOperation, priceMarginBps: 1_000 })
    expect(idle - repaid).toBeGreaterThanOrEqual(margined?.reserve ?? 0n)
    expect(idle - repaid).toBeLessThan(((margined?.reserve ?? 0n) * 101n) / 100n)
    const call = decodeFunctionData({ abi: leverageModuleAbi, data: bundled.userOperation.callData })
    expect(call.functionName).toBe("executeRebalance")
    const [after] = await getSubAccountState(publicClient, { safe: safe.address, deployments })
    expect(after?.band).toBe("inside")
    console.info(`token paymaster: pre-charge ${preCharge}, kept aside ${idle - repaid}, bound at the caps ${bound?.reserve} (USDC base units)`)
  })
  test("a paymaster price refresh between the keeper's read and inclusion (the token 5 % cheaper) still lands: the keeper keeps a margin over the pre-charge", async () => {
    const { stack, publicClient, deployments } = env
    const write = async (address: Hex, abi: typeof simOracleAbi | typeof simOracleFeedAbi | typeof tokenPaymasterAbi, functionName: string, args: readonly unknown[]) => {
      const hash = await env.funder.writeContract({ address, abi, functionName, args, account: env.funder.account!, chain: env.devnet.chain, gas: 3_000_000n } as never)
      expect((await waitForReceipt(publicClient, { hash })).status).toBe("success")
    }
    // Below the band again: WETH at 2,400 against the debt left by the rescue above.
    await write(stack.markets.weth.oracle, simOracleAbi, "setPrice", [parseEther("2400")])
    const [state] = await getSubAccountState(publicClient, { safe: safe.address, deployments })
    expect(state?.band).toBe("below")
    await env.mint(stack.tokens.usdc, safe.address, parseUnits("200", 6) - (await usdcBalance(safe.address)))
    const priceBefore = await publicClient.readContract({ address: tokenPaymaster.address, abi: tokenPaymasterAbi, functionName: "cachedPrice" })

    // The bundler behind a proxy: when the keeper's operation is sent, another party first moves ETH from 3,000 to
    // 3,150 USD and refreshes the paymaster's cached price (any operation's postOp does this; `updateCachedPrice(true)`
    // is public). USDC is then 5 % cheaper in wei, and the paymaster pre-charges 5 % more USDC than the keeper read.
    const proxy = await startRpcProxy(env.devnet.bundlerUrl)
    let refreshed = false
    proxy.state.intercept = async (request, forward) => {
      if (request.method !== "eth_sendUserOperation" || refreshed) return undefined
      refreshed = true
      const { timestamp } = await publicClient.getBlock({ blockTag: "latest" })
      await write(tokenPaymaster.feeds.native, simOracleFeedAbi, "setFeed", [315_000_000_000n, timestamp, 8])
      await write(tokenPaymaster.address, tokenPaymasterAbi, "updateCachedPrice", [true])
      return { body: await forward() }
    }
    try {
      const { events, onEvent } = collectKeeperEvents()
      const k = new Keeper(keeperConfig({ bundlerUrl: proxy.url }), { chain: env.devnet.chain, onEvent })
      await k.init()
      await k.runOnce()
      expect(await k.settle(60_000)).toEqual([])
      expect(refreshed).toBe(true)
      const priceAfter = await publicClient.readContract({ address: tokenPaymaster.address, abi: tokenPaymasterAbi, functionName: "cachedPrice" })
      expect((priceAfter * 1_000n) / priceBefore).toBe(952n)
      expect(events.filter((e) => e.type === "alert")).toEqual([])
      const included = events.filter((e) => e.type === "included")
      expect(included).toHaveLength(1)
      expect(included[0]?.type === "included" && included[0].success).toBe(true)
      const [after] = await getSubAccountState(publicClient, { safe: safe.address, deployments })
      expect(after?.band).toBe("inside")
    } finally {
      await proxy.stop()
    }
  })
})
