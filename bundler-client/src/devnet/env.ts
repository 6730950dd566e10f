import { createSmartAccountClient } from "permissionless"
import { createPimlicoClient } from "permissionless/clients/pimlico"
import {
  type Address,
  type Chain,
  type Hex,
  type PublicClient,
  type Transport,
  type WalletClient,
  type Account,
  createPublicClient,
  createTestClient,
  createWalletClient,
  encodeFunctionData,
  erc20Abi,
  erc4626Abi,
  http,
  maxUint256,
  parseEther,
  parseUnits,
} from "viem"
import { createPaymasterClient } from "viem/account-abstraction"
import { privateKeyToAccount } from "viem/accounts"
import { leverageModuleAbi } from "@levpilot/sdk/abis"
import { toLeverageSafeAccount } from "@levpilot/sdk/accounts"
import { defaultAutomationConfig } from "@levpilot/sdk/actions"
import type { LeverageDeployment, LeverageDeployments } from "@levpilot/sdk/deployments"
import type { PolicyInput } from "@levpilot/sdk/types"
import { getSubAccountId } from "@levpilot/sdk/utils"
import { assertPolicyBounds, toPolicy } from "@levpilot/sdk/utils"
import { type Devnet, type StartDevnetParameters, startDevnet, waitForReceipt } from "@levpilot/devnet"
import { type DevnetMarket, type LeverageStackAddresses, deployLeverageStack, leverageDeploymentOf, morphoAbi, testTokenAbi } from "@levpilot/devnet/leverage"
import { type PaymasterServer, createVerifyingPaymasterSigner, startPaymasterServer } from "@levpilot/devnet/paymaster"
import { type UniswapStackAddresses, deployUniswapStack } from "@levpilot/devnet/uniswap"
import { type AaveStackAddresses, aavePoolAbi, aaveReserveParameters, deployAaveStack, deployCrossVenueModule } from "@levpilot/devnet/aave"

/** The collateral assets of the demo, each with its own Morpho Blue market and SimOracle. */
export const demoAssets = ["WETH", "WBTC"] as const
export type DemoAsset = (typeof demoAssets)[number]

/** Starting prices (USDC per whole token). */
export const demoStartPrices: Record<DemoAsset, number> = { WETH: 3000, WBTC: 60000 }

/** The venue of a sub-account, as the keeper names it in its logs, metrics and alerts. */
export type DemoVenue = "morpho-blue" | "aave-v3"

/** A demo sub-account's key: the Morpho Blue market by collateral asset, or the Aave v3 account ("Aave"). */
export type DemoPositionKey = DemoAsset | "Aave"

/** One sub-account of the demo Safes: its key, collateral asset (USDC debt), venue and display name. */
export type DemoPosition = {
  key: DemoPositionKey
  asset: DemoAsset
  venue: DemoVenue
  /** e.g. "Morpho Blue WETH/USDC", "Aave v3 WETH/USDC". */
  name: string
}

/**
 * The demo's sub-accounts: a Morpho Blue market per collateral asset, and with `aave` the Safe's Aave v3 account
 * (WETH collateral, USDC variable debt).
 *
 * @returns The positions in display order.
 */
export function demoPositionsOf(aave: boolean): DemoPosition[] {
  const morpho = demoAssets.map((asset): DemoPosition => ({ key: asset, asset, venue: "morpho-blue", name: `Morpho Blue ${asset}/USDC` }))
  return aave ? [...morpho, { key: "Aave", asset: "WETH", venue: "aave-v3", name: "Aave v3 WETH/USDC" }] : morpho
}

/** One demo Safe and its positions. */
export type DemoSafe = {
  label: "managed" | "twin"
  address: Address
  /**
   * Sub-account id per demo position (the same ids for both Safes: id = (adapter, market)): per collateral asset its
   * Morpho Blue market, and `Aave` its Aave v3 account when the demo has one.
   */
  subAccounts: Record<DemoAsset, Hex> & { Aave?: Hex | undefined }
}

/** Demo-wide settings; every field has a default that makes the crash take the twin into liquidation. */
export type DemoSettings = {
  /** Collateral per sub-account, in USDC value at the start price. Default 30,000. */
  collateralValue: number
  /** Starting health of every position. Default 1.45. */
  startHealth: number
  /** Policy band of the managed Safe. */
  band: { min: number; target: number; max: number }
  /** Let the keeper raise leverage above the band (Borrow + DepositToPool). Default true. */
  boostAllowed: boolean
  /**
   * Issue 13: the managed Safe's policies opt into the module's in-band rescue (`rescueBelowTarget`: due inside the band
   * below the target). Off by default, as the SDK's `toPolicy`: an owner opts in (an autopilot-mode keeper then plans
   * in-band rescues below the band rule's health; the demo's keeper runs in threshold mode, which never does). Default
   * false.
   */
  rescueBelowTarget: boolean
  /** Require the ERC-7677 paymaster on chain (then self-pay is impossible). Default false. */
  requirePaymaster: boolean
  /** Cooldown between rebalances of a sub-account, seconds. Default 0. */
  cooldown: number
  /** ETH per day keeper operations may charge the Safe when not sponsored (on-chain self-pay budget). Default 0.1. */
  selfPayBudgetEth: number
  /** Utilisation the markets' other borrowers hold (0..1), so the AdaptiveCurveIrm's borrow APR is realistic. Default 0.85. */
  marketUtilization: number
  /**
   * Swap protection (issue 12): both Safes spend the USDC borrowed on their Morpho Blue markets elsewhere (no idle loan
   * token, no pool position for them), the devnet gets Uniswap v3 pools that an arbitrageur keeps on the oracle prices,
   * the managed Safe's Morpho policies allow swaps (`maxSlippageBps`) and no pool, and the keeper deleverages them by
   * selling collateral inside Morpho's repay callback. With `aave`, the Aave account keeps its buffer (the USDC borrowed
   * on Aave in the yUSDC vault, the only pool its policy allows) unless `aaveSwapProtection`. Default false (the
   * buffer-funded demo).
   */
  swapProtection: boolean
  /** maxSlippageBps of the managed Safe's policies with swap protection. Default 50. */
  maxSlippageBps: number
  /**
   * Uniswap fee tiers (of the swap adapter's 500 and 3000) the keeper quotes and may split a rescue's sale across; the
   * price driver's arbitrageur keeps every pool of these tiers on the oracle. Default [500].
   */
  swapFeeTiers: number[]
  /** USDC depth of each devnet Uniswap pool (`deployUniswapStack`'s defaults when unset): a thin pool for tests. */
  uniswapDepth?: Partial<Record<keyof UniswapStackAddresses["pools"], bigint>> | undefined
  /**
   * Issue 17: deploy Aave v3 (the real protocol from `@aave/core-v3`) and give both Safes a third sub-account, an Aave
   * account (`collateralValue` of WETH, USDC debt at `startHealth` by Aave's health factor), managed by one module
   * deployed with both venue adapters. `levpilot start` turns it on (not with `--no-aave` or `--swap`). Default false.
   */
  aave: boolean
  /**
   * Issue 17 (the Aave swap lane): with `aave`, the Aave account spends the USDC it borrowed (no buffer share) and its
   * policy allows swaps (`maxSlippageBps`, no pool), so the keeper rescues it by a swap deleverage through the Aave
   * adapter's flash-loan router (the pool's flash premium paid by the Safe); the devnet gets Uniswap v3 pools even
   * without `swapProtection` (the Morpho accounts then keep their buffer). Default false: the Aave account keeps its
   * yUSDC buffer (the `levpilot start` demo).
   */
  aaveSwapProtection?: boolean | undefined
  /**
   * Issue 13: the owner's stop-loss on the managed Safe's Morpho sub-accounts (module `setStopLoss`, docs/stop-loss-exit.md),
   * per asset: the stop price in USDC per token (converted to the venue's 1e36-scaled base-unit price) and the exit
   * health. Default none.
   */
  stopLoss?: Partial<Record<DemoAsset, { price: number; exitHealth: number }>> | undefined
}

export const defaultDemoSettings: DemoSettings = {
  collateralValue: 30_000,
  startHealth: 1.45,
  band: { min: 1.25, target: 1.45, max: 1.8 },
  boostAllowed: true,
  rescueBelowTarget: false,
  requirePaymaster: false,
  cooldown: 0,
  selfPayBudgetEth: 0.1,
  marketUtilization: 0.85,
  swapProtection: false,
  maxSlippageBps: 50,
  swapFeeTiers: [500],
  aave: false,
}

/** Key roles of the demo on top of the devnet's (anvil spare keys, loopback only). */
export type DemoKeys = { owner: Hex; keeper: Hex; priceDriver: Hex; liquidator: Hex }

/** Everything a demo run, test or benchmark needs. */
export type DemoEnv = {
  devnet: Devnet
  stack: LeverageStackAddresses
  deployment: LeverageDeployment
  deployments: LeverageDeployments
  publicClient: PublicClient
  deployer: WalletClient<Transport, Chain, Account>
  paymaster: PaymasterServer
  keys: DemoKeys
  managed: DemoSafe
  twin: DemoSafe
  markets: Record<DemoAsset, DevnetMarket>
  /** The sub-accounts of both Safes ({@link demoPositionsOf}). */
  positions: DemoPosition[]
  /** The Aave v3 stack when `settings.aave`. */
  aave?: AaveStackAddresses | undefined
  /** Uniswap v3 pools (0.05% and 0.3% per market) when `settings.swapProtection`. */
  uniswap?: UniswapStackAddresses | undefined
  settings: DemoSettings
  /** Switch anvil to interval mining (seconds) or back to automine (0). */
  setBlockTime: (seconds: number) => Promise<void>
  stop: () => Promise<void>
}

export type StartDemoEnvParameters = {
  /** Seconds between blocks after set-up; 0 keeps automine. Default 1. */
  blockTime?: number | undefined
  settings?: Partial<DemoSettings> | undefined
  /** Create the unmanaged twin as well. Default true. */
  twin?: boolean | undefined
  /** Alto options (e.g. `executors`, `extraArgs`); the block time follows `blockTime`. */
  alto?: StartDevnetParameters["alto"]
}

/** Liquidation threshold of the devnet's Aave WETH reserve (outside e-mode), as a fraction. */
const aaveReserveThreshold = aaveReserveParameters.weth.liquidationThreshold / 10_000

const toWad = (x: number) => parseEther(x.toFixed(12))

/**
 * The managed Safe's policy for one demo market (USDC loan, the asset's SimOracle as the second price feed).
 *
 * @returns The policy input for `toPolicy`.
 */
export function demoPolicy(market: Pick<DevnetMarket, "id" | "oracle">, pool: Address, settings: DemoSettings): PolicyInput {
  return {
    market: market.id,
    minHealth: toWad(settings.band.min),
    targetHealth: toWad(settings.band.target),
    maxHealth: toWad(settings.band.max),
    maxAmountPerRebalance: parseUnits("1000000", 6),
    maxAmountPerEpoch: parseUnits("100000000", 6),
    epochLength: 86_400,
    maxRebalancesPerEpoch: 10_000,
    maxGasPerEpoch: 10n ** 12n,
    maxLossBps: 50,
    // A swap deleverage sells several times the equity: its fee and impact, in bps of equity, are that multiple.
    maxEpochLossBps: settings.swapProtection ? 400 : 100,
    cooldown: settings.cooldown,
    boostAllowed: settings.boostAllowed,
    rescueBelowTarget: settings.rescueBelowTarget,
    maxSlippageBps: settings.swapProtection ? settings.maxSlippageBps : 0,
    priceFeed: market.oracle,
    maxOracleAge: 3_600,
    maxOracleDeviationBps: 100,
    pools: settings.swapProtection ? [] : [pool],
  }
}

/**
 * Starts the demo world on a fresh devnet: anvil + Alto + the ERC-7677 paymaster, the leverage stack
 * (Morpho Blue, adapter, module, tokens, SimOracles, WETH/USDC and WBTC/USDC markets, ERC-4626 vaults), a
 * managed Safe with two leveraged sub-accounts and a USDC yield-pool position, automation configured and the
 * keeper registered, and an identical unmanaged twin. Set-up runs on automine, then anvil switches to
 * interval mining (`blockTime`).
 *
 * @param parameters - {@link StartDemoEnvParameters}
 * @returns The running environment; call `stop()` to end every process.
 */
export async function startDemoEnv(parameters: StartDemoEnvParameters = {}): Promise<DemoEnv> {
  const { blockTime = 1, twin: withTwin = true } = parameters
  const settings: DemoSettings = { ...defaultDemoSettings, ...parameters.settings, band: { ...defaultDemoSettings.band, ...parameters.settings?.band } }
  const devnet = await startDevnet({
    alto: { blockTimeMs: blockTime > 0 ? blockTime * 1_000 : 500, ...parameters.alto },
  })
  let paymaster: PaymasterServer | undefined
  try {
    const transport = http(devnet.rpcUrl)
    const publicClient = createPublicClient({ chain: devnet.chain, transport, pollingInterval: 100 }) as PublicClient
    const deployer = createWalletClient({ chain: devnet.chain, transport, account: privateKeyToAccount(devnet.keys.deployer), pollingInterval: 50 })
    const [priceDriver, liquidator, keeper, owner] = devnet.keys.spare
    const keys: DemoKeys = { owner, keeper, priceDriver, liquidator }
    const stack = await deployLeverageStack({
      publicClient,
      deployer,
      entryPoint: devnet.addresses.entryPoint,
      prices: { weth: parseEther(String(demoStartPrices.WETH)), wbtc: parseEther(String(demoStartPrices.WBTC)) },
      utilization: settings.marketUtilization,
    })
    const { addresses } = devnet
    const uniswap = settings.swapProtection || (settings.aave && settings.aaveSwapProtection === true) ? await deployUniswapStack({ publicClient, deployer, stack, depth: settings.uniswapDepth }) : undefined
    // With swaps, the SDK's validateRebalance quotes every swap of a plan on this QuoterV2 before sending.
    let deployment: LeverageDeployment = { ...leverageDeploymentOf(addresses, stack), ...(uniswap !== undefined ? { swapQuoter: uniswap.quoterV2 } : {}) }
    let aave: AaveStackAddresses | undefined
    if (settings.aave) {
      aave = await deployAaveStack({ publicClient, deployer, tokens: stack.tokens, priceSources: { weth: stack.markets.weth.oracle, wbtc: stack.markets.wbtc.oracle } })
      // One module over both venues: its adapters are fixed at deployment.
      const leverageModule = await deployCrossVenueModule({ publicClient, deployer, entryPoint: addresses.entryPoint, stack, aave })
      deployment = { ...deployment, leverageModule, adapters: { morphoBlue: stack.morphoBlueAdapter, aaveV3: aave.adapter } }
    }
    const deployments: LeverageDeployments = { [devnet.chain.id]: deployment }
    const signer = createVerifyingPaymasterSigner({
      client: publicClient,
      paymaster: addresses.verifyingPaymaster,
      entryPoint: addresses.entryPoint,
      signerPrivateKey: devnet.keys.paymasterSigner,
    })
    const pm = await startPaymasterServer({ signer })
    paymaster = pm
    const markets: Record<DemoAsset, DevnetMarket> = { WETH: stack.markets.weth, WBTC: stack.markets.wbtc }
    const collateralToken: Record<DemoAsset, { address: Address; decimals: number }> = {
      WETH: { address: stack.tokens.weth, decimals: 18 },
      WBTC: { address: stack.tokens.wbtc, decimals: 8 },
    }

    const wait = async (hash: Hex) => {
      const receipt = await waitForReceipt(publicClient, { hash })
      if (receipt.status !== "success") throw new Error(`demo set-up transaction ${hash} reverted`)
    }
    const write = async (address: Address, abi: typeof testTokenAbi | typeof morphoAbi | typeof aavePoolAbi, functionName: string, args: readonly unknown[]) =>
      // Fixed gas: an estimate against the latest block can miss a first write in the next one (Morpho and Aave accrue
      // interest and store the new timestamp), and the real transaction then runs out of gas.
      wait(await deployer.writeContract({ address, abi, functionName, args, gas: 3_000_000n } as Parameters<typeof deployer.writeContract>[0]))

    const pimlico = createPimlicoClient({ transport: http(devnet.bundlerUrl), entryPoint: { address: addresses.entryPoint, version: "0.7" } })
    const createSafe = async (label: DemoSafe["label"], saltNonce: bigint, managed: boolean): Promise<DemoSafe> => {
      const account = await toLeverageSafeAccount({ client: publicClient, owners: [privateKeyToAccount(owner)], saltNonce, deployments })
      const safe = account.address
      await wait(await deployer.sendTransaction({ to: safe, value: parseEther("1") }))
      const calls: { to: Address; data: Hex }[] = []
      const subAccounts = {} as DemoSafe["subAccounts"]
      let borrowed = 0n
      let borrowedOnAave = 0n
      for (const asset of demoAssets) {
        const market = markets[asset]
        const token = collateralToken[asset]
        const collateral = parseUnits((settings.collateralValue / demoStartPrices[asset]).toFixed(token.decimals), token.decimals)
        const debt = parseUnits(((settings.collateralValue * 0.86) / settings.startHealth).toFixed(6), 6)
        await write(token.address, testTokenAbi, "mint", [deployer.account.address, collateral])
        await write(token.address, testTokenAbi, "approve", [stack.morpho, maxUint256])
        await write(stack.morpho, morphoAbi, "supplyCollateral", [market.params, collateral, safe, "0x"])
        calls.push({ to: stack.morpho, data: encodeFunctionData({ abi: morphoAbi, functionName: "borrow", args: [market.params, debt, 0n, safe, safe] }) })
        borrowed += debt
        subAccounts[asset] = getSubAccountId({ adapter: stack.morphoBlueAdapter, market: market.id })
      }
      if (aave) {
        // The Aave account: WETH supplied on the Safe's behalf, USDC borrowed by the Safe at the same starting health
        // (Aave's health factor: collateral value x liquidation threshold / debt).
        const collateral = parseEther((settings.collateralValue / demoStartPrices.WETH).toFixed(18))
        const threshold = aaveReserveThreshold
        const debt = parseUnits(((settings.collateralValue * threshold) / settings.startHealth).toFixed(6), 6)
        await write(stack.tokens.weth, testTokenAbi, "mint", [deployer.account.address, collateral])
        await write(stack.tokens.weth, testTokenAbi, "approve", [aave.pool, maxUint256])
        await write(aave.pool, aavePoolAbi, "supply", [stack.tokens.weth, collateral, safe, 0])
        calls.push({ to: aave.pool, data: encodeFunctionData({ abi: aavePoolAbi, functionName: "borrow", args: [stack.tokens.usdc, debt, 2n, 0, safe] }) })
        borrowedOnAave = debt
        subAccounts.Aave = getSubAccountId({ adapter: aave.adapter, market: aave.markets.wethUsdc })
      }
      // With swap protection the USDC borrowed on Morpho is spent elsewhere (the trader's looped exposure: no idle
      // funds); the rest goes into the yUSDC vault as the buffer.
      const aaveSwaps = settings.aaveSwapProtection === true
      const spent = (settings.swapProtection ? borrowed : 0n) + (aaveSwaps ? borrowedOnAave : 0n)
      const buffer = borrowed + borrowedOnAave - spent
      if (spent > 0n) calls.push({ to: stack.tokens.usdc, data: encodeFunctionData({ abi: erc20Abi, functionName: "transfer", args: [deployer.account.address, spent] }) })
      if (buffer > 0n) {
        calls.push({ to: stack.tokens.usdc, data: encodeFunctionData({ abi: erc20Abi, functionName: "approve", args: [stack.vaults.usdc, buffer] }) })
        calls.push({ to: stack.vaults.usdc, data: encodeFunctionData({ abi: erc4626Abi, functionName: "deposit", args: [buffer, safe] }) })
      }
      if (managed) {
        const config = { ...defaultAutomationConfig, paused: false, requiredPaymaster: settings.requirePaymaster ? addresses.verifyingPaymaster : ("0x0000000000000000000000000000000000000000" as Address), keyGeneration: 0 }
        calls.push({ to: safe, data: encodeFunctionData({ abi: leverageModuleAbi, functionName: "setAutomationConfig", args: [config] }) })
        calls.push({ to: safe, data: encodeFunctionData({ abi: leverageModuleAbi, functionName: "setSelfPayBudget", args: [parseEther(String(settings.selfPayBudgetEth)), 86_400] }) })
        // The devnet's verifying paymaster charges the Safe nothing: listed, its operations are not charged to the budget.
        calls.push({ to: safe, data: encodeFunctionData({ abi: leverageModuleAbi, functionName: "setSponsor", args: [addresses.verifyingPaymaster, true] }) })
        const now = Number((await publicClient.getBlock()).timestamp)
        calls.push({ to: safe, data: encodeFunctionData({ abi: leverageModuleAbi, functionName: "addKeeper", args: [privateKeyToAccount(keeper).address, 0, now + 30 * 86_400] }) })
        const inputs = demoAssets.map((asset) => demoPolicy(markets[asset], stack.vaults.usdc, settings))
        // The Aave account keeps its buffer unless `aaveSwapProtection` (then swaps, through the adapter's flash router).
        if (aave) inputs.push({ ...demoPolicy({ id: aave.markets.wethUsdc, oracle: markets.WETH.oracle }, stack.vaults.usdc, { ...settings, swapProtection: aaveSwaps }), adapter: aave.adapter })
        for (const input of inputs) {
          const policy = toPolicy(input, deployment)
          assertPolicyBounds(policy, { safe, module: deployment.leverageModule })
          calls.push({ to: safe, data: encodeFunctionData({ abi: leverageModuleAbi, functionName: "setPolicy", args: [policy] }) })
        }
        for (const asset of demoAssets) {
          const stop = settings.stopLoss?.[asset]
          if (stop === undefined) continue
          // USDC (6 decimals) per token, 1e36-scaled over base units: price x 10^(36 + 6 - token decimals).
          const stopPrice = parseUnits(stop.price.toFixed(6), 36 + 6 - collateralToken[asset].decimals)
          calls.push({ to: safe, data: encodeFunctionData({ abi: leverageModuleAbi, functionName: "setStopLoss", args: [subAccounts[asset], stopPrice, toWad(stop.exitHealth)] }) })
        }
      }
      const client = createSmartAccountClient({
        account,
        chain: devnet.chain,
        client: publicClient,
        bundlerTransport: http(devnet.bundlerUrl),
        pollingInterval: 100,
        paymaster: createPaymasterClient({ transport: http(pm.url) }),
        userOperation: { estimateFeesPerGas: async () => (await pimlico.getUserOperationGasPrice()).fast },
      })
      // A fixed execution gas limit: bundler estimates of this batch (Safe deployment, two Morpho borrows, vault
      // deposit, module configuration) were occasionally a little short and the set-up then failed at random.
      const hash = await client.sendUserOperation({ calls, callGasLimit: 3_000_000n })
      const receipt = await client.waitForUserOperationReceipt({ hash })
      if (!receipt.success) throw new Error(`demo set-up UserOperation of the ${label} Safe failed (${hash}), gas used ${receipt.actualGasUsed}`)
      return { label, address: safe, subAccounts }
    }

    const managed = await createSafe("managed", 1n, true)
    const twin = withTwin ? await createSafe("twin", 2n, false) : { label: "twin" as const, address: managed.address, subAccounts: managed.subAccounts }
    await write(stack.tokens.usdc, testTokenAbi, "mint", [privateKeyToAccount(liquidator).address, parseUnits("100000000", 6)])
    await wait(await deployer.sendTransaction({ to: privateKeyToAccount(priceDriver).address, value: parseEther("10") }))

    const testClient = createTestClient({ chain: devnet.chain, transport, mode: "anvil" })
    const setBlockTime = async (seconds: number) => {
      if (seconds > 0) await testClient.setIntervalMining({ interval: seconds })
      else {
        await testClient.setIntervalMining({ interval: 0 })
        await testClient.setAutomine(true)
      }
    }
    if (blockTime > 0) await setBlockTime(blockTime)
    return {
      devnet,
      stack,
      deployment,
      deployments,
      publicClient,
      deployer,
      paymaster: pm,
      keys,
      managed,
      twin,
      markets,
      positions: demoPositionsOf(aave !== undefined),
      aave,
      uniswap,
      settings,
      setBlockTime,
      stop: async () => {
        await pm.stop()
        await devnet.stop()
      },
    }
  } catch (error) {
    await paymaster?.stop()
    await devnet.stop()
    throw error
  }
}
