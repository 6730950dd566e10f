import { type Chain, createPublicClient, createTestClient, createWalletClient, defineChain, http, parseEther } from "viem"
import { privateKeyToAccount } from "viem/accounts"
import { type AltoInstance, type StartAltoParameters, startAlto } from "./alto.js"
import { type AnvilInstance, type StartAnvilParameters, startAnvil } from "./anvil.js"
import { type DevnetAddresses, deployDevnetContracts } from "./deploy.js"
import { devnetExecutorKeys, devnetKeys } from "./keys.js"

export type StartDevnetParameters = {
  /** Seconds between blocks once everything is deployed; `undefined` (default) automines. `npm start` uses 1. */
  blockTime?: number | undefined
  /** Start Alto (default true). */
  bundler?: boolean | undefined
  /**
   * Alto options other than the node URL; `ignoreVerifyingPaymaster` adds the devnet's VerifyingPaymaster to
   * `ignoredPaymasters` (its address is known only once deployed).
   */
  alto?: (Omit<StartAltoParameters, "rpcUrl"> & { ignoreVerifyingPaymaster?: boolean | undefined }) | undefined
  /** EntryPoint deposit of the VerifyingPaymaster, in wei. */
  paymasterDeposit?: bigint | undefined
  /** anvil options other than the block time, e.g. `{ extraArgs: ["--code-size-limit", "65536"] }`. */
  anvil?: Omit<StartAnvilParameters, "blockTime"> | undefined
}

export type Devnet = {
  rpcUrl: string
  /** Alto's URL; empty when started with `bundler: false`. */
  bundlerUrl: string
  /** viem chain for 31337 whose RPC URL is this devnet's anvil. */
  chain: Chain
  addresses: DevnetAddresses
  /** The well-known anvil keys and what each is used for (loopback only). */
  keys: typeof devnetKeys
  anvil: AnvilInstance
  alto: AltoInstance | undefined
  /** Milliseconds `startDevnet` took. */
  startupMs: number
  stop: () => Promise<void>
}

/**
 * Starts a complete local ERC-4337 stack: anvil (free loopback port, chain id 31337), the
 * canonical EntryPoint v0.7, Safe v1.4.1, safe-4337 v0.3.0, a funded VerifyingPaymaster and
 * the Alto bundler. Each call gets its own ports, so parallel test workers do not collide.
 *
 * @param parameters - {@link StartDevnetParameters}
 * @returns The running devnet: {@link Devnet}
 * @example
 * const devnet = await startDevnet()
 * const publicClient = createPublicClient({ chain: devnet.chain, transport: http() })
 * await devnet.stop()
 */
export async function startDevnet(parameters: StartDevnetParameters = {}): Promise<Devnet> {
  const started = Date.now()
  const { blockTime, bundler = true, alto: altoOptions = {}, paymasterDeposit, anvil: anvilOptions = {} } = parameters
  const anvil = await startAnvil(anvilOptions)
  let alto: AltoInstance | undefined
  try {
    const chain = defineChain({
      id: anvil.chainId,
      name: "Leverage autopilot devnet",
      nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
      rpcUrls: { default: { http: [anvil.rpcUrl] } },
      testnet: true,
    })
    const transport = http(anvil.rpcUrl)
    const publicClient = createPublicClient({ chain, transport, pollingInterval: 50 })
    const wallet = (key: `0x${string}`) =>
      createWalletClient({ chain, transport, account: privateKeyToAccount(key), pollingInterval: 50 })
    const addresses = await deployDevnetContracts({
      publicClient,
      deployer: wallet(devnetKeys.deployer),
      paymasterOwner: wallet(devnetKeys.paymasterOwner),
      verifyingSigner: privateKeyToAccount(devnetKeys.paymasterSigner).address,
      paymasterDeposit,
    })
    if (bundler) {
      // An executor with less than 1 ETH (anvil funds only its first 10 accounts) gets 10,000 ETH.
      const executorKeys = altoOptions.executorPrivateKeys ?? devnetExecutorKeys(altoOptions.executors ?? 1)
      for (const { address } of executorKeys.map((key) => privateKeyToAccount(key)))
        if ((await publicClient.getBalance({ address })) < parseEther("1"))
          await createTestClient({ chain, transport, mode: "anvil" }).setBalance({ address, value: parseEther("10000") })
      const { ignoreVerifyingPaymaster, ...altoParameters } = altoOptions
      alto = await startAlto({
        blockTimeMs: blockTime === undefined ? 500 : blockTime * 1_000,
        ...altoParameters,
        ignoredPaymasters: [...(altoParameters.ignoredPaymasters ?? []), ...(ignoreVerifyingPaymaster ? [addresses.verifyingPaymaster] : [])],
        rpcUrl: anvil.rpcUrl,
        entryPoints: [addresses.entryPoint],
        executorPrivateKeys: executorKeys,
      })
    }
    if (blockTime !== undefined)
      await createTestClient({ chain, transport, mode: "anvil" }).setIntervalMining({ interval: blockTime })
    const bundlerUrl = alto?.bundlerUrl ?? ""
    return {
      rpcUrl: anvil.rpcUrl,
      bundlerUrl,
      chain,
      addresses,
      keys: devnetKeys,
      anvil,
      alto,
      startupMs: Date.now() - started,
      stop: async () => {
        await alto?.stop()
        await anvil.stop()
      },
    }
  } catch (error) {
    await alto?.stop()
    await anvil.stop()
    throw error
  }
}

export type { DevnetAddresses } from "./deploy.js"
export { type SpawnedProcess, getFreePort, spawnManaged } from "./process.js"
export { readSettled, waitForHead, waitForReceipt } from "./receipt.js"
