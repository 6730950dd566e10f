import { readFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { encodeFunctionData, erc20Abi, parseEther, parseUnits } from "viem"
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts"
import { afterAll, beforeAll, describe, expect, test } from "vitest"
import { waitForReceipt } from "@levpilot/devnet"
import { morphoAbi, simOracleAbi, yieldVaultAbi } from "@levpilot/devnet/leverage"
import { type LeverageTestEnv, startLeverageTestEnv } from "@levpilot/devnet/leverageEnv"
import { toLeverageSafeAccount } from "../accounts/toLeverageSafeAccount.js"
import { rebalance } from "./keeper.js"
import { quickstart } from "./quickstart.js"

const here = dirname(fileURLToPath(import.meta.url))
const exampleBody = (file: string) => {
  const source = readFileSync(join(here, file), "utf8")
  return source.slice(source.indexOf("// example:start\n") + "// example:start\n".length, source.indexOf("// example:end")).trim()
}

let env: LeverageTestEnv
beforeAll(async () => {
  env = await startLeverageTestEnv()
})
afterAll(async () => {
  await env?.stop()
})

describe("sdk/README.md", () => {
  test("shows the examples verbatim", () => {
    const readme = readFileSync(join(here, "../../README.md"), "utf8")
    expect(readme).toContain(exampleBody("quickstart.ts"))
    expect(readme).toContain(exampleBody("keeper.ts"))
  })

  test("runs the owner quickstart and the keeper example on anvil with Alto and an ERC-7677 paymaster", async () => {
    const { stack, deployments, publicClient } = env
    const owner = privateKeyToAccount(generatePrivateKey())
    const keeper = privateKeyToAccount(generatePrivateKey())
    const counterfactual = await toLeverageSafeAccount({ client: publicClient, owners: [owner], deployments })
    await env.fund(counterfactual.address)

    const { safe, subAccount, state } = await quickstart({
      publicClient,
      bundlerUrl: env.devnet.bundlerUrl,
      owner,
      keeper: keeper.address,
      sponsor: env.devnet.addresses.verifyingPaymaster,
      market: stack.markets.weth.id,
      priceFeed: stack.markets.weth.oracle,
      pool: stack.vaults.usdc,
      deployments,
    })
    expect(safe).toBe(counterfactual.address)
    expect(state).toMatchObject({ subAccount, collateral: 0n, debt: 0n, band: "above" })

    await env.mint(stack.tokens.weth, safe, parseEther("1"))
    await env.mint(stack.tokens.usdc, safe, parseUnits("1000", 6))
    const client = env.clientFor(counterfactual)
    const params = stack.markets.weth.params
    // The set-up's own owner operation (not a README example): a fixed call gas limit well above its ~256k use, so the
    // bundler's tight estimate (~280k) is not what the test measures (CI stop 30: this op reverted once, cause unknown);
    // a failure names the EntryPoint's revert reason.
    const hash = await client.sendUserOperation({
      callGasLimit: 1_000_000n,
      calls: [
        { to: stack.tokens.weth, data: encodeFunctionData({ abi: erc20Abi, functionName: "approve", args: [stack.morpho, parseEther("1")] }) },
        { to: stack.morpho, data: encodeFunctionData({ abi: morphoAbi, functionName: "supplyCollateral", args: [params, parseEther("1"), safe, "0x"] }) },
        { to: stack.morpho, data: encodeFunctionData({ abi: morphoAbi, functionName: "borrow", args: [params, parseUnits("2000", 6), 0n, safe, safe] }) },
        { to: stack.tokens.usdc, data: encodeFunctionData({ abi: erc20Abi, functionName: "approve", args: [stack.vaults.usdc, parseUnits("1000", 6)] }) },
        { to: stack.vaults.usdc, data: encodeFunctionData({ abi: yieldVaultAbi, functionName: "deposit", args: [parseUnits("1000", 6), safe] }) },
      ],
    })
    const setUp = await client.waitForUserOperationReceipt({ hash })
    expect(setUp.success, `the set-up operation reverted: ${setUp.reason ?? "no reason given"}`).toBe(true)
    const priceHash = await env.funder.writeContract({
      address: stack.markets.weth.oracle,
      abi: simOracleAbi,
      functionName: "setPrice",
      args: [parseEther("2700")],
      account: env.funder.account!,
      chain: env.devnet.chain,
    })
    await waitForReceipt(publicClient, { hash: priceHash })

    const receipt = await rebalance({
      publicClient,
      bundlerUrl: env.devnet.bundlerUrl,
      paymasterUrl: env.paymaster.url,
      safe,
      keeper,
      subAccount,
      pool: stack.vaults.usdc,
      amount: parseUnits("350", 6),
      deployments,
    })
    expect(receipt.success).toBe(true)
    expect(receipt.paymaster?.toLowerCase()).toBe(env.devnet.addresses.verifyingPaymaster.toLowerCase())
  })
})
