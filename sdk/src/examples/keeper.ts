// example:start
import { createSmartAccountClient } from "permissionless"
import { type Address, type Hex, type LocalAccount, type PublicClient, http } from "viem"
import type { LeverageDeployments } from "@levpilot/sdk/deployments"
import { createPaymasterClient } from "viem/account-abstraction"
import { toKeeperAccount } from "@levpilot/sdk/accounts"
import { leverageActions } from "@levpilot/sdk/decorators"

export async function rebalance({ publicClient, bundlerUrl, paymasterUrl, safe, keeper, subAccount, pool, amount, deployments }: {
  publicClient: PublicClient
  bundlerUrl: string
  paymasterUrl: string
  safe: Address
  keeper: LocalAccount
  subAccount: Hex
  pool: Address
  amount: bigint
  deployments: LeverageDeployments
}) {
  // The keeper's smart account: sender = the Safe, signer = the session key, its own nonce key (keeper address).
  const account = await toKeeperAccount({ client: publicClient, safe, keeper, deployments })
  const client = createSmartAccountClient({
    account,
    client: publicClient,
    bundlerTransport: http(bundlerUrl),
    paymaster: createPaymasterClient({ transport: http(paymasterUrl) }), // any ERC-7677 service
    pollingInterval: 100,
  }).extend(leverageActions({ deployments }))

  // Checked against the chain first (key, pause, pools, boost, cooldown, trigger), then sent through the bundler.
  const hash = await client.sendRebalance({
    plan: {
      subAccounts: [subAccount],
      actions: [
        { kind: "WithdrawFromPool", subAccount: 0, pool, amount },
        { kind: "Repay", subAccount: 0, amount },
      ],
    },
  })
  return client.waitForRebalance({ hash })
}
// example:end
