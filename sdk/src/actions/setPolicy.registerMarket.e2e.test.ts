import Safe from "@safe-global/protocol-kit"
import { type Address, type Hex, decodeEventLog, parseEther } from "viem"
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts"
import { afterAll, beforeAll, describe, expect, test } from "vitest"
import { waitForReceipt } from "@levpilot/devnet"
import { morphoAbi, morphoMarketId } from "@levpilot/devnet/leverage"
import { type LeverageTestEnv, startLeverageTestEnv, testPolicy } from "@levpilot/devnet/leverageEnv"
import { morphoBlueAdapterAbi } from "../abis/morphoBlueAdapter.js"
import { toLeverageSafeAccount } from "../accounts/toLeverageSafeAccount.js"
import { installLeverageModule } from "./installLeverageModule.js"
import { setPolicy } from "./setPolicy.js"

// Issue 15 (g15c): setPolicy registers an unregistered Morpho market's params at the adapter in the owner's batch,
// and only then (a second setPolicy on the same market sends no registration).
let env: LeverageTestEnv
const owner = privateKeyToAccount(generatePrivateKey())

beforeAll(async () => {
  env = await startLeverageTestEnv()
})

afterAll(async () => {
  await env?.stop()
})

/** The MarketRegistered events of a receipt's logs emitted by the Morpho adapter. */
function registrations(logs: readonly { address: string; data: Hex; topics: readonly Hex[] }[], adapter: string): Hex[] {
  return logs
    .filter((log) => log.address.toLowerCase() === adapter.toLowerCase())
    .flatMap((log) => {
      try {
        const event = decodeEventLog({ abi: morphoBlueAdapterAbi, data: log.data, topics: log.topics as [Hex, ...Hex[]] })
        return event.eventName === "MarketRegistered" ? [(event.args as { market: Hex }).market] : []
      } catch {
        return []
      }
    })
}

describe("setPolicy on a Morpho market without a params copy", () => {
  test("registers it in the same UserOperation, and a second setPolicy sends no registration", async () => {
    const { stack, publicClient } = env
    const adapter = stack.morphoBlueAdapter
    // A market the devnet did not create (so not registered): the WETH market's params with the WBTC market's oracle.
    const params = { ...stack.markets.weth.params, oracle: stack.markets.wbtc.oracle }
    const market = morphoMarketId(params)
    const created = await env.funder.writeContract({ address: stack.morpho, abi: morphoAbi, functionName: "createMarket", args: [params], chain: null, account: env.funder.account! })
    await waitForReceipt(publicClient, { hash: created })
    const pointer = await publicClient.readContract({ address: adapter, abi: morphoBlueAdapterAbi, functionName: "paramsPointer", args: [market] })
    expect((await publicClient.getCode({ address: pointer })) ?? "0x").toBe("0x")

    const safe = await toLeverageSafeAccount({ client: publicClient, owners: [owner], deployments: env.deployments })
    await env.fund(safe.address, parseEther("1"))
    const client = env.clientFor(safe)
    const policy = { ...testPolicy({ id: market, oracle: params.oracle }, [stack.vaults.usdc]), minHealth: parseEther("1.2") }

    const first = await setPolicy(client, { policy, deployments: env.deployments })
    if (first.type !== "userOperation") throw new TypeError("expected a UserOperation")
    const firstReceipt = await client.waitForUserOperationReceipt({ hash: first.userOperationHash, timeout: 60_000 })
    expect(firstReceipt.success).toBe(true)
    expect(registrations(firstReceipt.logs, adapter)).toEqual([market])
    const code = (await publicClient.getCode({ address: pointer })) ?? "0x"
    expect((code.length - 2) / 2).toBe(0xa1)
    expect(first.registersMarket).toBe(true)

    const second = await setPolicy(client, { policy: { ...policy, targetHealth: parseEther("1.45") }, deployments: env.deployments })
    if (second.type !== "userOperation") throw new TypeError("expected a UserOperation")
    const secondReceipt = await client.waitForUserOperationReceipt({ hash: second.userOperationHash, timeout: 60_000 })
    expect(secondReceipt.success).toBe(true)
    expect(second.registersMarket).toBe(false)
    expect(registrations(secondReceipt.logs, adapter)).toEqual([])
  })

  test("sends nothing to register for a market the devnet registered", async () => {
    const { stack, publicClient } = env
    const safe = await toLeverageSafeAccount({ client: publicClient, owners: [privateKeyToAccount(generatePrivateKey())], deployments: env.deployments })
    await env.fund(safe.address, parseEther("1"))
    const client = env.clientFor(safe)
    const set = await setPolicy(client, { policy: testPolicy(stack.markets.weth, [stack.vaults.usdc]), deployments: env.deployments })
    if (set.type !== "userOperation") throw new TypeError("expected a UserOperation")
    const receipt = await client.waitForUserOperationReceipt({ hash: set.userOperationHash, timeout: 60_000 })
    expect(receipt.success).toBe(true)
    expect(set.registersMarket).toBe(false)
    expect(registrations(receipt.logs, stack.morphoBlueAdapter)).toEqual([])
  })

  test("registers it in the same Safe transaction (protocol-kit MultiSend), once", async () => {
    const { stack, publicClient } = env
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
      predictedSafe: { safeAccountConfig: { owners: [privateKeyToAccount(ownerKey).address], threshold: 1 }, safeDeploymentConfig: { saltNonce: "15", safeVersion: "1.4.1" } },
      contractNetworks,
    })
    const deployment = await predicted.createSafeDeploymentTransaction()
    const hash = await env.funder.sendTransaction({
      account: privateKeyToAccount(ownerKey),
      chain,
      to: deployment.to as Address,
      data: deployment.data as Hex,
      value: BigInt(deployment.value),
    })
    await waitForReceipt(publicClient, { hash })
    const protocolKit = await Safe.init({ provider: rpcUrl, signer: ownerKey, safeAddress: await predicted.getAddress(), contractNetworks })
    await installLeverageModule(publicClient, { protocolKit, deployments: env.deployments })

    // Another market the devnet did not create: the WBTC market's params with the WETH market's oracle.
    const params = { ...stack.markets.wbtc.params, oracle: stack.markets.weth.oracle }
    const market = morphoMarketId(params)
    const created = await env.funder.writeContract({ address: stack.morpho, abi: morphoAbi, functionName: "createMarket", args: [params], chain: null, account: env.funder.account! })
    await waitForReceipt(publicClient, { hash: created })
    const policy = testPolicy({ id: market, oracle: params.oracle }, [stack.vaults.usdc])

    const first = await setPolicy(publicClient, { protocolKit, policy, deployments: env.deployments })
    if (first.type !== "safeTransaction" || !first.transactionHash) throw new TypeError("expected an executed Safe transaction")
    const firstReceipt = await waitForReceipt(publicClient, { hash: first.transactionHash })
    expect(registrations(firstReceipt.logs, stack.morphoBlueAdapter)).toEqual([market])
    expect(first.registersMarket).toBe(true)

    const second = await setPolicy(publicClient, { protocolKit, policy: { ...policy, targetHealth: parseEther("1.45") }, deployments: env.deployments })
    if (second.type !== "safeTransaction" || !second.transactionHash) throw new TypeError("expected an executed Safe transaction")
    const secondReceipt = await waitForReceipt(publicClient, { hash: second.transactionHash })
    expect(secondReceipt.status).toBe("success")
    expect(registrations(secondReceipt.logs, stack.morphoBlueAdapter)).toEqual([])
    expect(second.registersMarket).toBe(false)
  })
})
