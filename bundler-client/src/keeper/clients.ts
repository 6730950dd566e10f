import { createPimlicoClient } from "permissionless/clients/pimlico"
import { type Chain, type PublicClient, createPublicClient, defineChain, http } from "viem"
import { type BundlerClient, createBundlerClient, createPaymasterClient } from "viem/account-abstraction"
import type { LeverageDeployments } from "@levpilot/sdk/deployments"
import type { KeeperConfig } from "./config.js"
import { RpcUnreachableError } from "./errors.js"

/** Fees for a UserOperation, in wei. */
export type UserOperationFees = { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint }

/** The keeper's connections: the chain (reads), the bundler (self-paid sends) and, with a paymaster, a sponsoring bundler. */
export type KeeperClients = {
  publicClient: PublicClient
  /** Bundler client without a paymaster (the Safe pays). */
  bundler: BundlerClient
  /** Bundler client with the configured ERC-7677 paymaster, when `paymasterUrl` is set. */
  sponsoredBundler: BundlerClient | undefined
  /** The bundler's `pimlico_getUserOperationGasPrice` "fast" fees, else the node's `eth_feeHistory` estimate. */
  estimateFees: () => Promise<UserOperationFees>
  /** The configured deployment, keyed by the chain's id (for SDK actions). */
  deployments: LeverageDeployments
}

/**
 * Reads the chain id of the node at `rpcUrl` (`eth_chainId`, viem's default retries).
 *
 * @param rpcUrl - The configuration's `rpcUrl`.
 * @returns The chain id.
 * @throws {RpcUnreachableError} The node did not answer (its cause is viem's error), naming the field `rpcUrl`.
 */
export async function readChainId(rpcUrl: string): Promise<number> {
  try {
    return await createPublicClient({ transport: http(rpcUrl) }).getChainId()
  } catch (error) {
    throw new RpcUnreachableError({ url: rpcUrl, cause: error instanceof Error ? error : undefined })
  }
}

/**
 * Connects to the RPC (its chain id read with `eth_chainId` unless `chain` is given) and creates the bundler clients.
 *
 * @returns {@link KeeperClients}
 * @throws {RpcUnreachableError} Without `chain`, when the node at `rpcUrl` does not answer `eth_chainId`.
 */
export async function connectKeeperClients(config: KeeperConfig, chain?: Chain | undefined): Promise<KeeperClients> {
  if (!chain) {
    const id = await readChainId(config.rpcUrl)
    chain = defineChain({ id, name: `chain ${id}`, nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 }, rpcUrls: { default: { http: [config.rpcUrl] } } })
  }
  const publicClient = createPublicClient({ chain, transport: http(config.rpcUrl, { retryCount: 2, retryDelay: 100 }), pollingInterval: config.pollIntervalMs }) as PublicClient
  const pimlico = createPimlicoClient({ transport: http(config.bundlerUrl, { retryCount: 0 }), entryPoint: { address: config.deployment.entryPoint, version: "0.7" } })
  const estimateFees = async (): Promise<UserOperationFees> => {
    try {
      return (await pimlico.getUserOperationGasPrice()).fast
    } catch {
      const fees = await publicClient.estimateFeesPerGas()
      return { maxFeePerGas: fees.maxFeePerGas, maxPriorityFeePerGas: fees.maxPriorityFeePerGas }
    }
  }
  const base = { client: publicClient, transport: http(config.bundlerUrl, { retryCount: 0, timeout: 10_000 }), userOperation: { estimateFeesPerGas: estimateFees } }
  const sponsoredBundler = config.paymasterUrl
    ? createBundlerClient({
        ...base,
        paymaster: createPaymasterClient({ transport: http(config.paymasterUrl, { retryCount: 0 }) }),
        ...(config.paymasterContext !== undefined ? { paymasterContext: config.paymasterContext } : {}),
      })
    : undefined
  return { publicClient, bundler: createBundlerClient(base), sponsoredBundler, estimateFees, deployments: { [chain.id]: config.deployment } }
}
