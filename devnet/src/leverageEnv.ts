import { waitForHead, waitForReceipt } from "./receipt.js"
import { createSmartAccountClient } from "permissionless"
import { createPimlicoClient } from "permissionless/clients/pimlico"
import {
  type Address,
  type Hex,
  type PublicClient,
  type WalletClient,
  createPublicClient,
  createWalletClient,
  encodeFunctionData,
  erc20Abi,
  http,
  parseEther,
  parseUnits,
} from "viem"
import { type SmartAccount, createPaymasterClient, waitForUserOperationReceipt } from "viem/account-abstraction"
import { privateKeyToAccount } from "viem/accounts"
import { type Devnet, startDevnet } from "./index.js"
import { type LeverageStackAddresses, deployLeverageStack, leverageDeploymentOf, morphoAbi, testTokenAbi, yieldVaultAbi } from "./leverage.js"
import { type PaymasterServer, createVerifyingPaymasterSigner, startPaymasterServer } from "./paymaster.js"
import type { LeverageDeployment, LeverageDeployments } from "@levpilot/sdk/deployments"
import type { PolicyInput } from "@levpilot/sdk/types"

/** A devnet with the leverage stack deployed, shared by one test file. */
export type LeverageTestEnv = {
  devnet: Devnet
  stack: LeverageStackAddresses
  deployment: LeverageDeployment
  deployments: LeverageDeployments
  publicClient: PublicClient
  funder: WalletClient
  paymaster: PaymasterServer
  /**
   * A SmartAccountClient on the devnet's Alto; `sponsored` adds the shared ERC-7677 paymaster service, `paymasterUrl`
   * another service (e.g. one with ERC-20 payment).
   */
  clientFor: <account extends SmartAccount>(account: account, options?: { sponsored?: boolean; paymasterUrl?: string }) => ReturnType<typeof smartAccountClient<account>>
  /** Sends ETH from the deployer. */
  fund: (to: Address, value?: bigint) => Promise<void>
  /** Mints a test token from the open `mint`. */
  mint: (token: Address, to: Address, amount: bigint) => Promise<void>
  stop: () => Promise<void>
}

function smartAccountClient<account extends SmartAccount>(
  env: Pick<LeverageTestEnv, "devnet" | "publicClient">,
  account: account,
  paymasterUrl: string | undefined,
) {
  const pimlico = createPimlicoClient({ transport: http(env.devnet.bundlerUrl), entryPoint: { address: env.devnet.addresses.entryPoint, version: "0.7" } })
  return createSmartAccountClient({
    account,
    chain: env.devnet.chain,
    client: env.publicClient,
    bundlerTransport: http(env.devnet.bundlerUrl),
    pollingInterval: 100,
    ...(paymasterUrl ? { paymaster: createPaymasterClient({ transport: http(paymasterUrl) }) } : {}),
    userOperation: { estimateFeesPerGas: async () => (await pimlico.getUserOperationGasPrice()).fast },
  }).extend((client) => ({
    // The bundler's receipt, returned once anvil's head has reached its block: reads pinned to the head then see what
    // the operation did (anvil 1.7 can serve a receipt before `latest` moves; see waitForReceipt).
    waitForUserOperationReceipt: async (parameters: Parameters<typeof waitForUserOperationReceipt>[1]) => {
      const receipt = await waitForUserOperationReceipt(client, parameters)
      await waitForHead(env.publicClient, { blockNumber: receipt.receipt.blockNumber, receipt: receipt.receipt })
      return receipt
    },
  }))
}

/**
 * Starts the devnet (anvil, Alto, ERC-7677 paymaster) and deploys the leverage stack.
 *
 * @returns The shared test environment.
 */
export async function startLeverageTestEnv(): Promise<LeverageTestEnv> {
  const devnet = await startDevnet()
  try {
    const publicClient = createPublicClient({ chain: devnet.chain, transport: http(), pollingInterval: 50 }) as PublicClient
    const funder = createWalletClient({ chain: devnet.chain, transport: http(), account: privateKeyToAccount(devnet.keys.deployer), pollingInterval: 50 })
    const stack = await deployLeverageStack({ publicClient, deployer: funder, entryPoint: devnet.addresses.entryPoint })
    const { addresses } = devnet
    const deployment: LeverageDeployment = leverageDeploymentOf(addresses, stack)
    const signer = createVerifyingPaymasterSigner({
      client: publicClient,
      paymaster: addresses.verifyingPaymaster,
      entryPoint: addresses.entryPoint,
      signerPrivateKey: devnet.keys.paymasterSigner,
    })
    const paymaster = await startPaymasterServer({ signer })
    const wait = async (hash: Hex) => {
      const receipt = await waitForReceipt(publicClient, { hash })
      if (receipt.status !== "success") throw new Error(`transaction ${hash} reverted`)
    }
    const env: LeverageTestEnv = {
      devnet,
      stack,
      deployment,
      deployments: { [devnet.chain.id]: deployment },
      publicClient,
      funder,
      paymaster,
      clientFor: (account, options = {}) => smartAccountClient(env, account, options.paymasterUrl ?? (options.sponsored ? paymaster.url : undefined)),
      fund: async (to, value = parseEther("1")) => wait(await funder.sendTransaction({ to, value, account: funder.account!, chain: devnet.chain })),
      mint: async (token, to, amount) =>
        wait(await funder.writeContract({ address: token, abi: testTokenAbi, functionName: "mint", args: [to, amount], account: funder.account!, chain: devnet.chain })),
      stop: async () => {
        await paymaster.stop()
        await devnet.stop()
      },
    }
    return env
  } catch (error) {
    await devnet.stop()
    throw error
  }
}

/**
 * The tests' policy: band [1.2, 1.4, 1.7], 100k per rebalance, 1M and 10 rebalances per day, 20M gas, 0.5% loss per
 * rebalance and 1% of equity per day, the market's SimOracle as second feed (fresh within a day, 1% deviation).
 *
 * @returns A policy input for `setPolicy`.
 */
export function testPolicy(market: { id: Hex; oracle: Address }, pools: readonly Address[]): PolicyInput {
  return {
    market: market.id,
    priceFeed: market.oracle,
    maxOracleAge: 86_400,
    minHealth: parseEther("1.2"),
    targetHealth: parseEther("1.4"),
    maxHealth: parseEther("1.7"),
    maxAmountPerRebalance: parseUnits("100000", 6),
    maxAmountPerEpoch: parseUnits("1000000", 6),
    epochLength: 86_400,
    maxRebalancesPerEpoch: 10,
    maxGasPerEpoch: 20_000_000n,
    maxLossBps: 50,
    pools: [...pools],
  }
}

/**
 * The owner calls that open a leveraged position on `market` (approve and supply `collateral`, borrow `borrow` USDC to
 * the Safe) and park `deposit` USDC in the USDC pool. The Safe must already hold the collateral and the deposit.
 *
 * @returns Calls for a UserOperation batch or a Safe transaction.
 */
export function openPositionCalls({
  stack,
  safe,
  market,
  collateral,
  borrow,
  deposit,
}: {
  stack: LeverageStackAddresses
  safe: Address
  market: "weth" | "wbtc"
  collateral: bigint
  borrow: bigint
  deposit: bigint
}): { to: Address; data: Hex }[] {
  const params = stack.markets[market].params
  return [
    { to: stack.tokens[market], data: encodeFunctionData({ abi: erc20Abi, functionName: "approve", args: [stack.morpho, collateral] }) },
    { to: stack.morpho, data: encodeFunctionData({ abi: morphoAbi, functionName: "supplyCollateral", args: [params, collateral, safe, "0x"] }) },
    { to: stack.morpho, data: encodeFunctionData({ abi: morphoAbi, functionName: "borrow", args: [params, borrow, 0n, safe, safe] }) },
    { to: stack.tokens.usdc, data: encodeFunctionData({ abi: erc20Abi, functionName: "approve", args: [stack.vaults.usdc, deposit] }) },
    { to: stack.vaults.usdc, data: encodeFunctionData({ abi: yieldVaultAbi, functionName: "deposit", args: [deposit, safe] }) },
  ]
}

/**
 * Mints 1 WETH and 1,000 USDC to `safe` and opens the tests' WETH position through `client` (an owner client of the
 * Safe): 1 WETH supplied, 2,000 USDC borrowed, 1,000 USDC parked in the USDC pool. The call gas is fixed: an estimate
 * made in the same second as the market's last update skips Morpho's interest accrual.
 *
 * @throws Error when the UserOperation is included but fails.
 */
export async function openTestPosition(
  env: Pick<LeverageTestEnv, "stack" | "mint">,
  client: { sendUserOperation: (args: { callGasLimit: bigint; calls: { to: Address; data: Hex }[] }) => Promise<Hex>; waitForUserOperationReceipt: (args: { hash: Hex }) => Promise<{ success: boolean }> },
  safe: Address,
): Promise<void> {
  const { stack } = env
  await env.mint(stack.tokens.weth, safe, parseEther("1"))
  await env.mint(stack.tokens.usdc, safe, parseUnits("1000", 6))
  const hash = await client.sendUserOperation({
    callGasLimit: 1_500_000n,
    calls: openPositionCalls({ stack, safe, market: "weth", collateral: parseEther("1"), borrow: parseUnits("2000", 6), deposit: parseUnits("1000", 6) }),
  })
  if (!(await client.waitForUserOperationReceipt({ hash })).success) throw new Error(`the position-opening UserOperation ${hash} failed`)
}
