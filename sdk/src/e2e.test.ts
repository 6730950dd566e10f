import { type Hex, encodeFunctionData, erc20Abi, parseEther, parseUnits } from "viem"
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts"
import { afterAll, beforeAll, describe, expect, test } from "vitest"
import { morphoAbi, simOracleAbi, yieldVaultAbi } from "../../test/devnet/leverage.js"
import { toKeeperAccount } from "./accounts/toKeeperAccount.js"
import { type ToLeverageSafeAccountReturnType, toLeverageSafeAccount } from "./accounts/toLeverageSafeAccount.js"
import { addKeeper } from "./actions/addKeeper.js"
import { getSubAccountState } from "./actions/getSubAccountState.js"
import { sendRebalance } from "./actions/sendRebalance.js"
import { defaultAutomationConfig, setAutomationConfig } from "./actions/setAutomationConfig.js"
import { setPolicy } from "./actions/setPolicy.js"
import { type LeverageTestEnv, startLeverageTestEnv } from "./_test/devnet.js"

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

    const { stack } = env
    const set = await setPolicy(client, {
      policy: {
        market: stack.markets.weth.id,
        minHealth: parseEther("1.2"),
        targetHealth: parseEther("1.4"),
        maxHealth: parseEther("1.7"),
        maxAmountPerRebalance: parseUnits("100000", 6),
        maxAmountPerEpoch: parseUnits("1000000", 6),
        epochLength: 86_400,
        maxRebalancesPerEpoch: 10,
        maxGasPerEpoch: 20_000_000n,
        maxLossBps: 50,
        pools: [stack.vaults.usdc],
      },
      deployments: env.deployments,
    })
    if (set.type !== "userOperation") throw new TypeError("expected a UserOperation")
    expect((await client.waitForUserOperationReceipt({ hash: set.userOperationHash })).success).toBe(true)
    subAccount = set.subAccount

    await env.mint(stack.tokens.weth, safe.address, parseEther("1"))
    await env.mint(stack.tokens.usdc, safe.address, parseUnits("1000", 6))
    const params = stack.markets.weth.params
    const hash = await client.sendUserOperation({
      calls: [
        { to: stack.tokens.weth, data: encodeFunctionData({ abi: erc20Abi, functionName: "approve", args: [stack.morpho, parseEther("1")] }) },
        { to: stack.morpho, data: encodeFunctionData({ abi: morphoAbi, functionName: "supplyCollateral", args: [params, parseEther("1"), safe.address, "0x"] }) },
        {
          to: stack.morpho,
          data: encodeFunctionData({ abi: morphoAbi, functionName: "borrow", args: [params, parseUnits("2000", 6), 0n, safe.address, safe.address] }),
        },
        { to: stack.tokens.usdc, data: encodeFunctionData({ abi: erc20Abi, functionName: "approve", args: [stack.vaults.usdc, parseUnits("1000", 6)] }) },
        { to: stack.vaults.usdc, data: encodeFunctionData({ abi: yieldVaultAbi, functionName: "deposit", args: [parseUnits("1000", 6), safe.address] }) },
      ],
    })
    expect((await client.waitForUserOperationReceipt({ hash })).success).toBe(true)
    const [state] = await getSubAccountState(env.publicClient, { safe: safe.address, deployments: env.deployments })
    expect(state?.subAccount).toBe(subAccount)
    expect(state?.debt).toBe(parseUnits("2000", 6))
    expect(state?.band).toBe("inside")
  })

  test("rebalances through a sponsored keeper UserOperation after a price drop", async () => {
    await env.funder.writeContract({
      address: env.stack.markets.weth.oracle,
      abi: simOracleAbi,
      functionName: "setPrice",
      args: [parseEther("2700")],
      account: env.funder.account!,
      chain: env.devnet.chain,
    })
    const [before] = await getSubAccountState(env.publicClient, { safe: safe.address, deployments: env.deployments })
    expect(before?.band).toBe("below")

    const account = await toKeeperAccount({ client: env.publicClient, safe: safe.address, keeper, deployments: env.deployments })
    const keeperClient = env.clientFor(account, { sponsored: true })
    const amount = parseUnits("350", 6)
    const hash = await sendRebalance(keeperClient, {
      plan: {
        subAccounts: [subAccount],
        actions: [
          { kind: "WithdrawFromPool", subAccount: 0, pool: env.stack.vaults.usdc, amount },
          { kind: "Repay", subAccount: 0, amount },
        ],
      },
      deployments: env.deployments,
    })
    const receipt = await keeperClient.waitForUserOperationReceipt({ hash })
    expect(receipt.success).toBe(true)
    expect(receipt.paymaster?.toLowerCase()).toBe(env.devnet.addresses.verifyingPaymaster.toLowerCase())
    const [after] = await getSubAccountState(env.publicClient, { safe: safe.address, deployments: env.deployments })
    expect(after?.band).toBe("inside")
    expect(after?.debt).toBe(parseUnits("1650", 6))
  })
})
