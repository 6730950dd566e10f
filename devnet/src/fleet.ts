import { waitForReceipt } from "./receipt.js"
import { join } from "node:path"
import { type Account, type Address, type Chain, type Hex, type PublicClient, type Transport, type WalletClient, keccak256, parseEventLogs, toHex } from "viem"
import type { AutomationConfig, Policy } from "@levpilot/sdk/types"
import { deployArtifact, readArtifact } from "./artifact.js"
import type { DevnetAddresses } from "./deploy.js"
import { DeploymentError } from "./errors.js"
import { type LeverageStackAddresses, forgeOut } from "./leverage.js"

/** forge artifacts of the bulk Safe factory (modules/test/utils/FleetSafeFactory.sol), relative to `out/`. */
export const fleetArtifacts = {
  factory: "FleetSafeFactory.sol/FleetSafeFactory.json",
  setup: "FleetSafeFactory.sol/FleetSafeSetup.json",
} as const

/** One Safe's position, base units: collateral supplied, USDC borrowed, USDC of the loan deposited in the pool. */
export type FleetPosition = { collateral: bigint; debt: bigint; deposit: bigint }

export type CreateFleetSafesParameters = {
  publicClient: PublicClient
  /** Pays for the creation transactions. */
  deployer: WalletClient<Transport, Chain | undefined, Account>
  addresses: DevnetAddresses
  stack: LeverageStackAddresses
  /** Owner of every Safe (threshold 1). */
  owner: Address
  /** The keeper key every Safe registers (`addKeeper(keeper, 0, keeperValidUntil)`). */
  keeper: Address
  keeperValidUntil: number
  /** The policy every Safe sets (a `toPolicy` result), on `market`. */
  policy: Policy
  automation: AutomationConfig
  market: "weth" | "wbtc"
  /** A paymaster every Safe lists as its sponsor (`setSponsor`), so sponsored keeper operations skip the self-pay budget. */
  sponsor?: Address | undefined
  /** Position of Safe `i` (0-based). */
  positions: readonly FleetPosition[]
  /** Salt nonce of the first Safe (the next ones count up); distinct runs on one chain need distinct ranges. */
  firstSaltNonce?: bigint | undefined
  /** Safes per transaction (1.5M gas each is reserved, plus 0.5M: at most 19 under a 30M block gas limit). Default 19. */
  perTransaction?: number | undefined
  out?: string | undefined
}

/**
 * Creates many real Safes fast for tests and benchmarks: a test-only factory (modules/test/utils/FleetSafeFactory.sol)
 * calls the real SafeProxyFactory for Safe v1.4.1 proxies whose `setup` enables the LeverageModule (also the fallback
 * handler), configures automation, registers the keeper and the policy, and opens the position from the Safe itself
 * (collateral from the test token's open mint, Morpho supply and borrow, part of the loan in the ERC-4626 pool).
 * Transactions are sent back to back and then awaited.
 *
 * @returns The Safe addresses, in the order of `positions`.
 */
export async function createFleetSafes(parameters: CreateFleetSafesParameters): Promise<Address[]> {
  const { publicClient, deployer, addresses, stack, owner, keeper, keeperValidUntil, policy, automation, market, positions, sponsor = "0x0000000000000000000000000000000000000000", firstSaltNonce = 1n, perTransaction = 19, out = forgeOut } =
    parameters
  const salt = (name: string): Hex => keccak256(toHex(`levpilot.devnet.fleet.${name}`))
  const setup = await (await deployArtifact({ artifact: join(out, fleetArtifacts.setup), salt: salt("setup"), publicClient, walletClient: deployer })).wait()
  const factory = await (await deployArtifact({ artifact: join(out, fleetArtifacts.factory), salt: salt("factory"), publicClient, walletClient: deployer })).wait()
  const { abi } = readArtifact(join(out, fleetArtifacts.factory))
  const common = {
    module: stack.leverageModule,
    automation,
    keeper,
    keeperValidUntil,
    policy,
    morpho: stack.morpho,
    market: stack.markets[market].params,
    pool: stack.vaults.usdc,
    sponsor,
  }
  const hashes: Hex[] = []
  let nonce = await publicClient.getTransactionCount({ address: deployer.account.address, blockTag: "pending" })
  for (let i = 0; i < positions.length; i += perTransaction) {
    const batch = positions.slice(i, i + perTransaction)
    hashes.push(
      await deployer.writeContract({
        address: factory,
        abi,
        functionName: "create",
        args: [addresses.safeProxyFactory, addresses.safeSingleton, owner, setup, common, firstSaltNonce + BigInt(i), batch],
        gas: 1_500_000n * BigInt(batch.length) + 500_000n,
        nonce: nonce++,
        chain: deployer.chain,
      } as Parameters<typeof deployer.writeContract>[0]),
    )
  }
  const safes: Address[] = []
  for (const hash of hashes) {
    const receipt = await waitForReceipt(publicClient, { hash, timeout: 600_000 })
    if (receipt.status !== "success") throw new DeploymentError("A fleet Safe creation transaction reverted.", { contract: factory, metaMessages: [`Transaction: ${hash}`] })
    for (const log of parseEventLogs({ abi, logs: receipt.logs, eventName: "FleetSafeCreated" })) safes.push((log.args as { safe: Address }).safe)
  }
  if (safes.length !== positions.length) throw new DeploymentError(`Created ${safes.length} fleet Safes, expected ${positions.length}.`, { contract: factory })
  return safes
}
