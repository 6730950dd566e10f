import { waitForReceipt } from "@levpilot/devnet"
import { type Address, type Hex, createWalletClient, encodeFunctionData, http, parseAbi, parseEther, parseUnits } from "viem"
import { privateKeyToAccount } from "viem/accounts"
import { leverageModuleAbi } from "@levpilot/sdk/abis"
import { defaultAutomationConfig } from "@levpilot/sdk/actions"
import { toPolicy } from "@levpilot/sdk/utils"
import { createFleetSafes } from "@levpilot/devnet/fleet"
import { type DemoEnv, type StartDemoEnvParameters, demoPolicy, startDemoEnv } from "../bundler-client/src/devnet/env"
import { demoKeeperConfigJson } from "../bundler-client/src/devnet/keeperConfig"
import { PriceDriver } from "../bundler-client/src/devnet/scenario"
import { rpc as bundlerRpc } from "./keeperProbes"
import { parseKeeperConfig } from "../bundler-client/src/keeper/config"

const safeAbi = parseAbi([
  "function execTransaction(address to, uint256 value, bytes data, uint8 operation, uint256 safeTxGas, uint256 baseGas, uint256 gasPrice, address gasToken, address refundReceiver, bytes signatures) payable returns (bool)",
])

/** Health of a fleet Safe at the start price (WETH 3000, LLTV 0.86), band [1.25, 1.45, 1.8]. */
export const fleetHealth = { calm: 1.6, edge: 1.33 } as const

/**
 * The fleet tests' world: the demo devnet (anvil, Alto, the ERC-7677 paymaster, the leverage stack, the demo keeper's
 * managed Safe) plus fleet Safes made in bulk (`createFleetSafes`), owned by the demo owner key, registered with the
 * demo keeper key, one WETH sub-account each with 10 WETH and the debt for the given health, 5,000 USDC in the pool.
 */
export async function startFleetEnv(options: { blockTime?: number; alto?: StartDemoEnvParameters["alto"] } = {}) {
  const env = await startDemoEnv({ blockTime: options.blockTime ?? 0, twin: false, alto: options.alto })
  const driver = new PriceDriver(env)
  const owner = privateKeyToAccount(env.keys.owner)
  const ownerWallet = createWalletClient({ chain: env.devnet.chain, transport: http(env.devnet.rpcUrl), account: owner })
  const keeper = privateKeyToAccount(env.keys.keeper).address
  let salt = 1_000n
  let prices = { WETH: 3000, WBTC: 60000 }
  const policy = toPolicy(demoPolicy(env.markets.WETH, env.stack.vaults.usdc, env.settings), env.deployment)

  /** Creates `healths.length` Safes (health at the current price; the keeper key `keeper`, valid until `validUntil`). */
  const createSafes = async (healths: readonly number[], options: { keeper?: Address; validUntil?: number } = {}): Promise<Address[]> => {
    const now = Number((await env.publicClient.getBlock()).timestamp)
    const positions = healths.map((h) => ({ collateral: parseEther("10"), debt: parseUnits(((10 * prices.WETH * 0.86) / h).toFixed(6), 6), deposit: parseUnits("5000", 6) }))
    const safes = await createFleetSafes({
      publicClient: env.publicClient,
      deployer: env.deployer,
      addresses: env.devnet.addresses,
      stack: env.stack,
      owner: owner.address,
      keeper: options.keeper ?? keeper,
      keeperValidUntil: options.validUntil ?? now + 30 * 86_400,
      policy,
      automation: { ...defaultAutomationConfig, paused: false, requiredPaymaster: "0x0000000000000000000000000000000000000000", keyGeneration: 0 },
      market: "weth",
    sponsor: env.devnet.addresses.verifyingPaymaster,
      positions,
      firstSaltNonce: salt,
    })
    salt += BigInt(healths.length)
    return safes
  }

  /** The Safe calls the module on itself (owner lane, a Safe transaction signed by the owner as its sender). */
  const asSafe = async (safe: Address, data: Hex): Promise<bigint> => {
    const signature = `0x${owner.address.slice(2).toLowerCase().padStart(64, "0")}${"0".repeat(64)}01` as Hex
    const hash = await ownerWallet.writeContract({ address: safe, abi: safeAbi, functionName: "execTransaction", args: [safe, 0n, data, 0, 0n, 0n, 0n, "0x0000000000000000000000000000000000000000", "0x0000000000000000000000000000000000000000", signature], gas: 500_000n })
    const receipt = await waitForReceipt(env.publicClient, { hash })
    if (receipt.status !== "success") throw new Error(`owner call on ${safe} reverted`)
    return receipt.blockNumber
  }
  const moduleCall = (functionName: "revokeKeeper" | "setPaused" | "addKeeper" | "removePolicy", args: readonly unknown[]) =>
    encodeFunctionData({ abi: leverageModuleAbi, functionName, args } as Parameters<typeof encodeFunctionData>[0])

  /** A fleet keeper configuration (JSON): the demo's plus discovery from block 0. */
  const fleetConfigJson = (overrides: Record<string, unknown> = {}) =>
    demoKeeperConfigJson(env, { safes: [], discovery: { fromBlock: 0, logWindow: 50 }, risk: { tolerance: 0.01, horizon: 3_600, sigma: 0.8, mode: "threshold" }, ...overrides })
  /** {@link fleetConfigJson}, validated. */
  const fleetConfig = (overrides: Record<string, unknown> = {}) => parseKeeperConfig(fleetConfigJson(overrides), { source: "fleet test" })

  /** Multiplies the WETH price (and WBTC) by `factor`; resolves with the block it landed in. */
  const shock = (factor: number) => {
    prices = { WETH: prices.WETH * factor, WBTC: prices.WBTC * factor }
    return driver.set(prices)
  }

  return { env, driver, owner, keeper, createSafes, asSafe, moduleCall, fleetConfig, fleetConfigJson, shock, stop: () => env.stop() }
}

export type FleetEnv = Awaited<ReturnType<typeof startFleetEnv>>

/** A JSON-RPC call to `url` (here the bundler's `debug_bundler_*` methods); its `result` (test/keeperProbes.ts `rpc`, which throws on a JSON-RPC error). */
export { rpc as bundlerRpc } from "./keeperProbes"

/** `startFleetEnv()` with the devnet's Alto in manual bundling mode: operations stay in its mempool until bundled by hand. */
export async function startManualBundlingFleetEnv(): Promise<FleetEnv> {
  const f = await startFleetEnv()
  await bundlerRpc(f.env.devnet.bundlerUrl, "debug_bundler_setBundlingMode", ["manual"])
  return f
}

export type { DemoEnv }
