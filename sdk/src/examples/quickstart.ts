// example:start
import { createSmartAccountClient } from "permissionless"
import { type Address, type Hex, type LocalAccount, type PublicClient, http, parseEther, parseUnits } from "viem"
import type { LeverageDeployments } from "@levpilot/sdk/deployments"
import { toLeverageSafeAccount } from "@levpilot/sdk/accounts"
import { defaultAutomationConfig } from "@levpilot/sdk/actions"
import { leverageActions } from "@levpilot/sdk/decorators"

export async function quickstart({ publicClient, bundlerUrl, owner, keeper, sponsor, market, priceFeed, pool, deployments }: {
  publicClient: PublicClient
  bundlerUrl: string
  owner: LocalAccount
  keeper: Address
  sponsor: Address
  market: Hex
  priceFeed: Address
  pool: Address
  deployments: LeverageDeployments
}) {
  // A new Safe 1.4.1 whose 4337 module and fallback handler is the LeverageModule (deployed by its first UserOperation).
  const account = await toLeverageSafeAccount({ client: publicClient, owners: [owner], deployments })
  const safe = createSmartAccountClient({ account, client: publicClient, bundlerTransport: http(bundlerUrl), pollingInterval: 100 })
    .extend(leverageActions({ deployments }))

  // Owner UserOperations: gas caps for keeper operations, a keeper session key, the paymaster that sponsors keeper
  // operations (any other payer is charged to a self-pay budget, none here), a policy for one Morpho market.
  const wait = async (sent: { type: string; userOperationHash?: Hex }) =>
    sent.userOperationHash && (await safe.waitForUserOperationReceipt({ hash: sent.userOperationHash }))
  await wait(await safe.setAutomationConfig({ config: defaultAutomationConfig }))
  await wait(await safe.addKeeper({ keeper, validFor: 30 * 24 * 3600 }))
  await wait(await safe.setSponsor({ paymaster: sponsor }))
  const { subAccount, ...sent } = await safe.setPolicy({
    policy: {
      market,
      minHealth: parseEther("1.2"),
      targetHealth: parseEther("1.4"),
      maxHealth: parseEther("1.7"),
      maxAmountPerRebalance: parseUnits("100000", 6),
      maxAmountPerEpoch: parseUnits("1000000", 6),
      epochLength: 24 * 3600,
      maxRebalancesPerEpoch: 10,
      maxGasPerEpoch: 20_000_000n,
      maxLossBps: 50, // per rebalance, of what it moves
      maxEpochLossBps: 100, // per day, of the position's equity
      priceFeed, // Chainlink-style second source: fresh, in bounds, within 1% of the market oracle
      maxOracleAge: 3600,
      pools: [pool],
    },
  })
  await wait(sent)

  // Every sub-account with health, LTV, leverage, liquidation price and distance to liquidation.
  const [state] = await safe.getSubAccountState()
  return { safe: account.address, subAccount, state }
}
// example:end
