import Safe from "@safe-global/protocol-kit"
import { type Address, BaseError, parseAbi, parseEther, parseUnits } from "viem"
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts"
import { afterAll, beforeAll, describe, expect, test } from "vitest"
import { readSettled, waitForReceipt } from "@levpilot/devnet"
import { simOracleAbi } from "@levpilot/devnet/leverage"
import { type LeverageTestEnv, openPositionCalls, startLeverageTestEnv, testPolicy } from "@levpilot/devnet/leverageEnv"
import { toKeeperAccount } from "../accounts/toKeeperAccount.js"
import { leverageModuleAbi } from "../abis/leverageModule.js"
import { leverageActions } from "../decorators/leverage.js"
import { getKeeperNonceKey } from "../constants/keeper.js"
import { getLeverageError } from "../errors/getLeverageError.js"
import { KeeperNonceKeyInvalidError } from "../errors/keeper.js"
import { encodeRebalanceCallData } from "../utils/plan.js"
import { uninstallLeverageModule } from "./uninstallLeverageModule.js"
import { addKeeper } from "./addKeeper.js"
import { getSubAccountState } from "./getSubAccountState.js"
import { installLeverageModule } from "./installLeverageModule.js"
import { defaultAutomationConfig, setAutomationConfig } from "./setAutomationConfig.js"
import { setPolicy } from "./setPolicy.js"
import { setSelfPayBudget } from "./setSelfPayBudget.js"

let env: LeverageTestEnv
let protocolKit: Safe
let safe: Address
const keeper = privateKeyToAccount(generatePrivateKey())

beforeAll(async () => {
  env = await startLeverageTestEnv()
  const { addresses, chain, keys, rpcUrl } = env.devnet
  const ownerKey = keys.spare[1]
  const contractNetworks = {
    [String(chain.id)]: {
      safeSingletonAddress: addresses.safeSingleton,
      safeProxyFactoryAddress: addresses.safeProxyFactory,
      multiSendAddress: addresses.multiSend,
      multiSendCallOnlyAddress: addresses.multiSendCallOnly,
      fallbackHandlerAddress: addresses.compatibilityFallbackHandler,
      signMessageLibAddress: addresses.signMessageLib,
      createCallAddress: addresses.createCall,
      simulateTxAccessorAddress: addresses.createCall,
    },
  }
  const predicted = await Safe.init({
    provider: rpcUrl,
    signer: ownerKey,
    predictedSafe: {
      safeAccountConfig: { owners: [privateKeyToAccount(ownerKey).address], threshold: 1 },
      safeDeploymentConfig: { saltNonce: "7", safeVersion: "1.4.1" },
    },
    contractNetworks,
  })
  const deployment = await predicted.createSafeDeploymentTransaction()
  const owner = privateKeyToAccount(ownerKey)
  const hash = await env.funder.sendTransaction({
    account: owner,
    chain,
    to: deployment.to as Address,
    data: deployment.data as `0x${string}`,
    value: BigInt(deployment.value),
  })
  await waitForReceipt(env.publicClient, { hash })
  safe = (await predicted.getAddress()) as Address
  protocolKit = await Safe.init({ provider: rpcUrl, signer: ownerKey, safeAddress: safe, contractNetworks })
})

afterAll(async () => {
  await env?.stop()
})

describe("an existing Safe made with protocol-kit", () => {
  test("installs the module (enableModule + setFallbackHandler) with one Safe transaction", async () => {
    expect(await protocolKit.isModuleEnabled(env.stack.leverageModule)).toBe(false)
    const result = await installLeverageModule(env.publicClient, { protocolKit, deployments: env.deployments })
    expect(result.installed).toBe("done")
    expect(await protocolKit.isModuleEnabled(env.stack.leverageModule)).toBe(true)
    expect((await protocolKit.getFallbackHandler()).toLowerCase()).toBe(env.stack.leverageModule.toLowerCase())
    expect((await installLeverageModule(env.publicClient, { protocolKit, deployments: env.deployments })).installed).toBe("already")
  })

  test("configures automation and a self-pay budget with Safe transactions and is rebalanced by an unsponsored keeper UserOperation", async () => {
    const { stack, deployments, publicClient } = env
    await setAutomationConfig(publicClient, { protocolKit, config: defaultAutomationConfig, deployments })
    await setSelfPayBudget(publicClient, { protocolKit, maxWeiPerEpoch: parseEther("0.05"), epochLength: 86_400, deployments })
    const added = await addKeeper(publicClient, { protocolKit, keeper: keeper.address, validFor: 3_600, deployments })
    expect(added.type).toBe("safeTransaction")
    const { subAccount } = await setPolicy(publicClient, {
      protocolKit,
      policy: testPolicy(stack.markets.wbtc, [stack.vaults.usdc]),
      deployments,
    })

    await env.mint(stack.tokens.wbtc, safe, 10n ** 8n)
    await env.mint(stack.tokens.usdc, safe, parseUnits("20000", 6))
    const tx = await protocolKit.createTransaction({
      transactions: openPositionCalls({ stack, safe, market: "wbtc", collateral: 10n ** 8n, borrow: parseUnits("40000", 6), deposit: parseUnits("20000", 6) }).map(
        (call) => ({ ...call, value: "0" }),
      ),
    })
    const executed = await protocolKit.executeTransaction(await protocolKit.signTransaction(tx))
    await waitForReceipt(publicClient, { hash: executed.hash as `0x${string}` })
    await env.fund(safe)
    const priceHash = await env.funder.writeContract({
      address: stack.markets.wbtc.oracle,
      abi: simOracleAbi,
      functionName: "setPrice",
      args: [parseEther("54000")],
      account: env.funder.account!,
      chain: env.devnet.chain,
    })
    const priced = await waitForReceipt(publicClient, { hash: priceHash })

    const account = await toKeeperAccount({ client: publicClient, safe, keeper, deployments })
    const keeperClient = env.clientFor(account).extend(leverageActions({ deployments }))
    // Read at the price move's block: anvil under load can report as latest the block before the one just mined (CI
    // stop 29: a `latest` read still showed the old price for 10 s), and read again until it shows the move (a clean clone, 2026-12-04: a read
    // pinned to that block, after waitForReceipt, still saw the old price).
    // A clean clone (stop 65) saw the pinned read keep the old price for the whole 30 s: from the second read on, the
    // latest block is read too (nothing else moves this Safe's position or the price before the rebalance below).
    let reads = 0
    const [before] = await readSettled(
      async () => {
        const pinned = await keeperClient.getSubAccountState({ blockNumber: priced.blockNumber })
        return reads++ === 0 || pinned[0]?.band === "below" ? pinned : keeperClient.getSubAccountState()
      },
      ([s]) => s?.band === "below",
      { timeout: 60_000 },
    )
    expect(before?.band).toBe("below")
    const amount = parseUnits("7000", 6)
    const hash = await keeperClient.sendRebalance({
      plan: { subAccounts: [subAccount], actions: [{ kind: "WithdrawFromPool", subAccount: 0, pool: stack.vaults.usdc, amount }, { kind: "Repay", subAccount: 0, amount }] },
    })
    const receipt = await keeperClient.waitForUserOperationReceipt({ hash })
    expect(receipt.success).toBe(true)
    expect(receipt.paymaster).toBeUndefined()
    const budget = await publicClient.readContract({ address: stack.leverageModule, abi: leverageModuleAbi, functionName: "getSelfPayBudget", args: [safe] })
    expect(budget.spentWei > 0n).toBe(true)
    const [after] = await keeperClient.getSubAccountState({ blockNumber: receipt.receipt.blockNumber })
    expect(after?.band).toBe("inside")
    // before.debt - amount, plus interest accrued between the reads (AdaptiveCurveIrm; at most 1e-5 of it over seconds)
    expect(after!.debt >= before!.debt - amount).toBe(true)
    expect(after!.debt - (before!.debt - amount) <= (before!.debt - amount) / 100_000n + 1n).toBe(true)
    const owners = await publicClient.readContract({ address: safe, abi: parseAbi(["function getOwners() view returns (address[])"]), functionName: "getOwners" })
    expect(owners).toHaveLength(1)
    expect(await getSubAccountState(publicClient, { safe, deployments })).toHaveLength(1)
  })

  test("uninstalls with every keeper key revoked: a re-install brings no key back and an operation signed before never runs", async () => {
    const { stack, deployments, publicClient } = env
    const module = stack.leverageModule
    const [subAccount] = await publicClient.readContract({ address: module, abi: leverageModuleAbi, functionName: "getSubAccounts", args: [safe] })
    const account = await toKeeperAccount({ client: publicClient, safe, keeper, deployments })
    const keeperClient = env.clientFor(account)
    const amount = parseUnits("100", 6)
    const callData = encodeRebalanceCallData({
      keeper: keeper.address,
      plan: { subAccounts: [subAccount!], actions: [{ kind: "WithdrawFromPool", subAccount: 0, pool: stack.vaults.usdc, amount }, { kind: "Repay", subAccount: 0, amount }] },
    })
    const gas = { callGasLimit: 2_000_000n, verificationGasLimit: 500_000n, preVerificationGas: 100_000n, maxFeePerGas: 10_000_000_000n, maxPriorityFeePerGas: 1_000_000_000n }
    const queued = await keeperClient.prepareUserOperation({ callData, ...gas })
    const signature = await account.signUserOperation(queued)
    const registered = await publicClient.readContract({ address: module, abi: leverageModuleAbi, functionName: "getKeeper", args: [safe, keeper.address] })
    // The SDK's formula is the module's.
    expect(queued.nonce >> 64n).toBe(getKeeperNonceKey({ keeper: keeper.address, keyGeneration: 0, salt: registered.salt }))
    expect(queued.nonce >> 64n).toBe(await publicClient.readContract({ address: module, abi: leverageModuleAbi, functionName: "keeperNonceKey", args: [safe, keeper.address] }))

    const removed = await uninstallLeverageModule(publicClient, { protocolKit, deployments })
    expect(removed).toMatchObject({ type: "safeTransaction", keyGeneration: 1, disabledModule: true, clearedFallbackHandler: true })
    expect(await protocolKit.isModuleEnabled(module)).toBe(false)
    expect((await installLeverageModule(publicClient, { protocolKit, deployments })).installed).toBe("done")
    const key = await publicClient.readContract({ address: module, abi: leverageModuleAbi, functionName: "getKeeper", args: [safe, keeper.address] })
    expect(key.active).toBe(false)
    // Even with the same address registered again, what it signed before the uninstall stays dead.
    await addKeeper(publicClient, { protocolKit, keeper: keeper.address, validFor: 3_600, deployments })
    const sent = keeperClient.sendUserOperation({ ...queued, signature } as Parameters<typeof keeperClient.sendUserOperation>[0])
    const error = await sent.then(() => undefined, (e: unknown) => e)
    expect(error).toBeInstanceOf(BaseError)
    expect(getLeverageError(error)).toBeInstanceOf(KeeperNonceKeyInvalidError)
    const again = await publicClient.readContract({ address: module, abi: leverageModuleAbi, functionName: "getKeeper", args: [safe, keeper.address] })
    expect(again.salt).not.toBe(registered.salt)
    expect((getLeverageError(error) as KeeperNonceKeyInvalidError).expected).toBe(getKeeperNonceKey({ keeper: keeper.address, keyGeneration: 1, salt: again.salt }))
  })
})
