import {
  type Account,
  type Address,
  type Chain,
  type Hex,
  type Transport,
  type WalletClient,
  encodeErrorResult,
  erc20Abi,
  parseAbi,
  parseEther,
  parseEventLogs,
  parseUnits,
  zeroAddress,
} from "viem"
import { type SmartAccount, entryPoint07Abi } from "viem/account-abstraction"
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts"
import { afterAll, beforeAll, describe, expect, test } from "vitest"
import { readSettled, waitForReceipt } from "@levpilot/devnet"
import { simOracleAbi } from "@levpilot/devnet/leverage"
import {
  type PaymasterServer,
  createTokenPaymasterService,
  createVerifyingPaymasterSigner,
  startPaymasterServer,
} from "@levpilot/devnet/paymaster"
import { type DeployTokenPaymasterReturnType, deployTokenPaymaster, simOracleFeedAbi, tokenPaymasterAbi } from "@levpilot/devnet/tokenPaymaster"
import { type LeverageTestEnv, openPositionCalls, startLeverageTestEnv, testPolicy } from "@levpilot/devnet/leverageEnv"
import { toKeeperAccount } from "../accounts/toKeeperAccount.js"
import { type ToLeverageSafeAccountReturnType, toLeverageSafeAccount } from "../accounts/toLeverageSafeAccount.js"
import { leverageModuleAbi } from "../abis/leverageModule.js"
import { leverageActions } from "../decorators/leverage.js"
import { decodePaymasterRevert } from "../errors/getLeverageError.js"
import { InvalidPaymasterError, InvalidPaymasterTokenError, PaymasterRefusedError, PaymasterValidationFailedError } from "../errors/paymaster.js"
import type { Plan } from "../types/leverage.js"
import { addKeeper } from "./addKeeper.js"
import { approvePaymasterToken } from "./approvePaymasterToken.js"
import { getSubAccountState } from "./getSubAccountState.js"
import { getPaymasterTokenReserve } from "./getPaymasterTokenReserve.js"
import { sendRebalance } from "./sendRebalance.js"
import { defaultAutomationConfig, setAutomationConfig } from "./setAutomationConfig.js"
import { setPolicy } from "./setPolicy.js"
import { setSelfPayBudget } from "./setSelfPayBudget.js"
import { waitForRebalance } from "./waitForRebalance.js"

let env: LeverageTestEnv
let tokenPaymaster: DeployTokenPaymasterReturnType
let service: PaymasterServer
let safe: ToLeverageSafeAccountReturnType
let subAccount: Hex
const owner = privateKeyToAccount(generatePrivateKey())
const keeper = privateKeyToAccount(generatePrivateKey())

/** A SmartAccountClient on Alto whose ERC-7677 paymaster is the service with ERC-20 payment. */
const clientFor = <account extends SmartAccount>(account: account) => env.clientFor(account, { paymasterUrl: service.url })

const keeperClient = async () => clientFor(await toKeeperAccount({ client: env.publicClient, safe: safe.address, keeper, deployments: env.deployments }))

const plan = (amount: bigint): Plan => ({
  subAccounts: [subAccount],
  actions: [
    { kind: "WithdrawFromPool", subAccount: 0, pool: env.stack.vaults.usdc, amount },
    { kind: "Repay", subAccount: 0, amount },
  ],
})

const usdcBalance = (address: Address) => env.publicClient.readContract({ address: env.stack.tokens.usdc, abi: erc20Abi, functionName: "balanceOf", args: [address] })
const allowance = () =>
  env.publicClient.readContract({ address: env.stack.tokens.usdc, abi: erc20Abi, functionName: "allowance", args: [safe.address, tokenPaymaster.address] })
const deposit = (address: Address) => env.publicClient.readContract({ address: env.devnet.addresses.entryPoint, abi: entryPoint07Abi, functionName: "balanceOf", args: [address] })

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
    signer: createVerifyingPaymasterSigner({
      client: publicClient,
      paymaster: env.devnet.addresses.verifyingPaymaster,
      entryPoint: env.devnet.addresses.entryPoint,
      signerPrivateKey: env.devnet.keys.paymasterSigner,
    }),
    tokenPaymaster: createTokenPaymasterService({ client: publicClient, paymaster: tokenPaymaster.address, entryPoint: env.devnet.addresses.entryPoint }),
  })

  // The owner side, sponsored by the VerifyingPaymaster (no context): automation pinned to the token paymaster, with
  // room for its postOp, a keeper, a policy and a position that a price drop pushes below the band.
  safe = await toLeverageSafeAccount({ client: publicClient, owners: [owner], deployments })
  const client = clientFor(safe)
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
  // An ERC-20 paymaster bills the Safe: its operations are charged to the self-pay budget like paymaster-less ones.
  // One epoch for the whole test: a later test moves the chain an hour ahead of the bundler's clock, and an unsponsored
  // keeper operation signs the current epoch as its window; with daily epochs, in the hour before midnight UTC the
  // chain's epoch starts after the bundler's "now" and Alto refuses the operation as not yet valid.
  await sent(await setSelfPayBudget(client, { maxWeiPerEpoch: parseEther("0.5"), epochLength: 2 ** 32 - 1, deployments }))
  await sent(await addKeeper(client, { keeper: keeper.address, validFor: 86_400, deployments }))
  const policy = await setPolicy(client, {
    policy: testPolicy(stack.markets.weth, [stack.vaults.usdc]),
    deployments,
  })
  await sent(policy)
  subAccount = policy.subAccount

  await env.mint(stack.tokens.weth, safe.address, parseEther("1"))
  // 1000 USDC go to the pool, 500 stay in the Safe to pay gas with.
  await env.mint(stack.tokens.usdc, safe.address, parseUnits("1500", 6))
  const hash = await client.sendUserOperation({
    calls: openPositionCalls({ stack, safe: safe.address, market: "weth", collateral: parseEther("1"), borrow: parseUnits("2000", 6), deposit: parseUnits("1000", 6) }),
    // Fixed: an estimate in the block of Morpho's last update misses the timestamp write of the next block.
    callGasLimit: 1_500_000n,
  })
  expect((await client.waitForUserOperationReceipt({ hash })).success).toBe(true)
  const priceHash = await env.funder.writeContract({
    address: stack.markets.weth.oracle,
    abi: simOracleAbi,
    functionName: "setPrice",
    args: [parseEther("2700")],
    account: env.funder.account!,
    chain: env.devnet.chain,
    gas: 3_000_000n,
  })
  const priced = await waitForReceipt(publicClient, { hash: priceHash })
  const [state] = await readSettled(() => getSubAccountState(publicClient, { safe: safe.address, deployments, blockNumber: priced.blockNumber }), ([s]) => s?.band === "below")
  expect(state?.band).toBe("below")
})

afterAll(async () => {
  await service?.stop()
  await env?.stop()
})

describe("ERC-20 payment through the sample TokenPaymaster", () => {
  test("refuses an unknown token in the context with PaymasterRefusedError and sends nothing", async () => {
    const client = await keeperClient()
    const nonce = await client.account.getNonce()
    const error = await sendRebalance(client, { plan: plan(parseUnits("350", 6)), paymasterContext: { token: env.stack.tokens.wbtc }, deployments: env.deployments }).catch(
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(PaymasterRefusedError)
    expect((error as PaymasterRefusedError).reason).toMatch(/unsupported token/)
    expect(await client.account.getNonce()).toBe(nonce)
  })

  test("without the Safe's allowance the paymaster's validation fails (AA33): PaymasterValidationFailedError, nonce unchanged", async () => {
    const client = await keeperClient()
    const nonce = await client.account.getNonce()
    expect(await allowance()).toBe(0n)
    const error = await sendRebalance(client, { plan: plan(parseUnits("350", 6)), paymasterContext: { token: env.stack.tokens.usdc }, deployments: env.deployments }).catch(
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(PaymasterValidationFailedError)
    expect((error as PaymasterValidationFailedError).reason).toMatch(new RegExp(`^ERC20InsufficientAllowance\\(spender: ${tokenPaymaster.address}, allowance: 0, needed: [1-9]\\d*\\)$`))
    expect((error as PaymasterValidationFailedError).message).toMatch(/has not approved the token paymaster/)
    expect(await client.account.getNonce()).toBe(nonce)
  })

  test("approvePaymasterToken refuses a zero token or paymaster before sending", async () => {
    const client = clientFor(safe)
    await expect(approvePaymasterToken(client, { token: zeroAddress, paymaster: tokenPaymaster.address, amount: 1n })).rejects.toThrow(InvalidPaymasterTokenError)
    await expect(approvePaymasterToken(client, { token: env.stack.tokens.usdc, paymaster: zeroAddress, amount: 1n })).rejects.toThrow(InvalidPaymasterError)
    await expect(approvePaymasterToken(client, { token: env.stack.tokens.usdc, paymaster: safe.address, amount: 1n })).rejects.toThrow(InvalidPaymasterError)
  })

  test("after approvePaymasterToken, a keeper rebalance paid in USDC is included; the Safe pays exactly the paymaster's token charge", async () => {
    const { publicClient, stack, deployments } = env
    // Through the decorator; sponsored by the VerifyingPaymaster (no context), since the allowance does not exist yet.
    const ownerClient = clientFor(safe).extend(leverageActions({ deployments }))
    const approved = await ownerClient.approvePaymasterToken({ token: stack.tokens.usdc, paymaster: tokenPaymaster.address, amount: parseUnits("100", 6) })
    if (approved.type !== "userOperation") throw new TypeError("expected a UserOperation")
    expect((await ownerClient.waitForUserOperationReceipt({ hash: approved.userOperationHash })).success).toBe(true)
    expect(await allowance()).toBe(parseUnits("100", 6))

    const before = {
      usdc: await usdcBalance(safe.address),
      eth: await publicClient.getBalance({ address: safe.address }),
      safeDeposit: await deposit(safe.address),
      paymasterDeposit: await deposit(tokenPaymaster.address),
      paymasterUsdc: await usdcBalance(tokenPaymaster.address),
    }
    const [stateBefore] = await getSubAccountState(publicClient, { safe: safe.address, deployments })
    // What a keeper keeps aside when the loan token pays the gas: the most the paymaster can pull in validation.
    const reserve = await getPaymasterTokenReserve(publicClient, { safe: safe.address, deployments })
    expect(reserve?.paymaster.toLowerCase()).toBe(tokenPaymaster.address.toLowerCase())
    const allowanceBefore = await allowance()
    const client = await keeperClient()
    const hash = await sendRebalance(client, { plan: plan(parseUnits("350", 6)), paymasterContext: { token: stack.tokens.usdc }, deployments })
    const receipt = await waitForRebalance(client, { hash })
    expect(receipt.success).toBe(true)
    expect(receipt.paymaster?.toLowerCase()).toBe(tokenPaymaster.address.toLowerCase())

    const [sponsored] = parseEventLogs({ abi: tokenPaymasterAbi, eventName: "UserOperationSponsored", logs: receipt.logs })
    if (!sponsored) throw new Error("no UserOperationSponsored event")
    const { actualTokenCharge, actualGasCost: postOpGasCost, actualTokenPriceWithMarkup } = sponsored.args
    expect(sponsored.args.user.toLowerCase()).toBe(safe.address.toLowerCase())
    // The charge is the gas cost passed to postOp plus refundPostopCost gas at the operation's gas price, in tokens.
    const gasPrice = receipt.actualGasCost / receipt.actualGasUsed
    const expectedCharge = ((postOpGasCost + BigInt(tokenPaymaster.config.refundPostopCost) * gasPrice) * 10n ** 26n) / actualTokenPriceWithMarkup
    expect(actualTokenCharge).toBe(expectedCharge)
    expect(actualTokenPriceWithMarkup).toBe((tokenPaymaster.cachedPrice * 10n ** 26n) / tokenPaymaster.config.priceMarkup)

    const after = {
      usdc: await usdcBalance(safe.address),
      eth: await publicClient.getBalance({ address: safe.address }),
      safeDeposit: await deposit(safe.address),
      paymasterDeposit: await deposit(tokenPaymaster.address),
      paymasterUsdc: await usdcBalance(tokenPaymaster.address),
    }
    expect(before.usdc - after.usdc).toBe(actualTokenCharge)
    // The pre-charge (taken in validation, before the plan runs; the allowance pays it) never exceeds the reserve.
    const preCharge = allowanceBefore - (await allowance())
    expect(preCharge).toBeGreaterThan(actualTokenCharge)
    expect(preCharge).toBeLessThanOrEqual(reserve?.reserve ?? 0n)
    console.info(`token paymaster: pre-charge ${preCharge}, reserve ${reserve?.reserve} USDC base units`)
    // The allowance pays the pre-charge (maximum cost); the refund goes to the balance, not back to the allowance.
    expect(await allowance()).toBeLessThan(parseUnits("100", 6) - actualTokenCharge)
    expect(after.paymasterUsdc - before.paymasterUsdc).toBe(actualTokenCharge)
    expect(before.paymasterDeposit - after.paymasterDeposit).toBe(receipt.actualGasCost)
    expect(after.eth).toBe(before.eth)
    expect(after.safeDeposit).toBe(before.safeDeposit)
    // What the paymaster may bill is bounded: the operation was charged to the Safe's self-pay budget (maximum cost).
    const budget = await publicClient.readContract({ address: stack.leverageModule, abi: leverageModuleAbi, functionName: "getSelfPayBudget", args: [safe.address] })
    const { userOperation } = await client.getUserOperation({ hash })
    // The pre-charge is exactly what getPaymasterTokenReserve computes for the operation (the keeper keeps this aside).
    const exact = await getPaymasterTokenReserve(publicClient, { safe: safe.address, paymaster: tokenPaymaster.address, userOperation })
    expect(exact?.reserve).toBe(preCharge)
    const maxGas =
      userOperation.verificationGasLimit +
      userOperation.callGasLimit +
      userOperation.preVerificationGas +
      (userOperation.paymasterVerificationGasLimit ?? 0n) +
      (userOperation.paymasterPostOpGasLimit ?? 0n)
    expect(budget.spentWei).toBe(maxGas * userOperation.maxFeePerGas)

    const [state] = await getSubAccountState(publicClient, { safe: safe.address, deployments })
    expect(state?.band).toBe("inside")
    // 350 USDC repaid, less whatever interest accrued since the read before (if the market's IRM charges any).
    const repaid = (stateBefore?.debt ?? 0n) - (state?.debt ?? 0n)
    expect(repaid).toBeLessThanOrEqual(parseUnits("350", 6))
    expect(repaid).toBeGreaterThan(parseUnits("349.99", 6))
    console.info(
      `token-paid keeper op: ${actualTokenCharge} USDC base units (${Number(actualTokenCharge) / 1e6} USDC), ` +
        `EntryPoint actualGasCost ${receipt.actualGasCost} wei for ${receipt.actualGasUsed} gas at ${gasPrice} wei/gas ` +
        `(postOp saw ${postOpGasCost} wei), price with markup ${actualTokenPriceWithMarkup}`,
    )
  })

  test("an hour later, postOp refreshes the paymaster's cached price from the feeds and charges at the new price", async () => {
    const { publicClient, stack, deployments } = env
    const testClient = publicClient as unknown as { request: (args: { method: string; params: unknown[] }) => Promise<unknown> }
    await testClient.request({ method: "evm_increaseTime", params: [tokenPaymaster.oracleConfig.cacheTimeToLive + 1] })
    await testClient.request({ method: "evm_mine", params: [] })
    const { timestamp } = await publicClient.getBlock({ blockTag: "latest" })
    const send = async (address: Address, abi: typeof simOracleAbi | typeof simOracleFeedAbi, functionName: string, args: readonly unknown[]) => {
      const hash = await env.funder.writeContract({ address, abi, functionName, args, account: env.funder.account!, chain: env.devnet.chain, gas: 3_000_000n } as never)
      expect((await waitForReceipt(publicClient, { hash })).status).toBe("success")
    }
    // ETH at 2500 USD instead of 3000 (a 20 % move, above the 10 % update threshold), and WETH collateral down to
    // 2300 USDC, below the band again.
    await send(tokenPaymaster.feeds.native, simOracleFeedAbi, "setFeed", [250_000_000_000n, timestamp, 8])
    await send(stack.markets.weth.oracle, simOracleAbi, "setPrice", [parseEther("2300")])
    const [below] = await getSubAccountState(publicClient, { safe: safe.address, deployments })
    expect(below?.band).toBe("below")

    const usdcBefore = await usdcBalance(safe.address)
    const client = await keeperClient()
    const receipt = await waitForRebalance(client, {
      hash: await sendRebalance(client, { plan: plan(parseUnits("240", 6)), paymasterContext: { token: stack.tokens.usdc }, deployments }),
    })
    expect(receipt.success).toBe(true)
    const [updated] = parseEventLogs({ abi: tokenPaymasterAbi, eventName: "TokenPriceUpdated", logs: receipt.logs })
    const [sponsored] = parseEventLogs({ abi: tokenPaymasterAbi, eventName: "UserOperationSponsored", logs: receipt.logs })
    if (!updated || !sponsored) throw new Error("missing TokenPaymaster events")
    expect(updated.args.previousPrice).toBe(tokenPaymaster.cachedPrice)
    // Wei per USDC base unit, scaled by 1e26: 1e26 * 1e18 / (2500 * 1e6).
    expect(updated.args.currentPrice).toBe((10n ** 26n * 10n ** 18n) / (2500n * 10n ** 6n))
    expect(sponsored.args.actualTokenPriceWithMarkup).toBe((updated.args.currentPrice * 10n ** 26n) / tokenPaymaster.config.priceMarkup)
    expect(usdcBefore - (await usdcBalance(safe.address))).toBe(sponsored.args.actualTokenCharge)
    const [after] = await getSubAccountState(publicClient, { safe: safe.address, deployments })
    expect(after?.band).toBe("inside")
  })
})

describe("decodePaymasterRevert", () => {
  test("reads revert strings and ERC-20 errors a paymaster's validation bubbles up", () => {
    const abi = parseAbi(["error Error(string)", "error ERC20InsufficientBalance(address sender, uint256 balance, uint256 needed)"])
    expect(decodePaymasterRevert(encodeErrorResult({ abi, errorName: "Error", args: ["TPM: postOpGasLimit too low"] }))).toBe("TPM: postOpGasLimit too low")
    expect(decodePaymasterRevert(encodeErrorResult({ abi, errorName: "ERC20InsufficientBalance", args: [zeroAddress, 1n, 2n] }))).toBe(
      `ERC20InsufficientBalance(sender: ${zeroAddress}, balance: 1, needed: 2)`,
    )
    expect(decodePaymasterRevert("0xdeadbeef")).toBeUndefined()
  })
})
