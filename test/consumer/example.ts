// A developer's own project, with @levpilot/sdk and levpilot installed from npm (test/packages.test.ts installs the
// packed tarballs into a fresh project and runs this file there, compiled by tsc --strict; nothing else of the
// repository is available to it). Usage: node example.js <keeper-config.json>
import { readFileSync } from "node:fs"
import { http, createPublicClient, defineChain } from "viem"
import { createBundlerClient, createPaymasterClient } from "viem/account-abstraction"
import { privateKeyToAccount } from "viem/accounts"
import { getSubAccountState, sendRebalance, toKeeperAccount } from "@levpilot/sdk"
import { keeperCosts, parseKeeperConfig, readPortfolio, solveByLoanAsset, toChainPlan } from "levpilot"

const config = parseKeeperConfig(JSON.parse(readFileSync(process.argv[2] as string, "utf8")))
const publicClient = createPublicClient({ transport: http(config.rpcUrl) })
const chain = defineChain({
  id: await publicClient.getChainId(),
  name: "devnet",
  nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
  rpcUrls: { default: { http: [config.rpcUrl] } },
})
const client = createPublicClient({ chain, transport: http(config.rpcUrl), pollingInterval: 100 })
const deployments = { [chain.id]: config.deployment }
const safe = config.safes[0]
if (!safe) throw new Error("the configuration names no Safe")

// Read the Safe: every sub-account's health, leverage and band, as the module sees it.
const state = await getSubAccountState(client, { safe: safe.address, deployments })

// Solve with the keeper's risk engine, then build, sign and send the keeper UserOperation through the bundler and
// the ERC-7677 paymaster (the SDK's one send path: validation, gas headroom, named errors).
const portfolio = await readPortfolio(client, { safe: safe.address, deployment: config.deployment, risk: safe.risk, costs: keeperCosts(config) })
const plan = [...solveByLoanAsset(portfolio.input).values()].find((result) => result.plan)?.plan
if (!plan) throw new Error("nothing to rebalance")
const account = await toKeeperAccount({ client, safe: safe.address, keeper: privateKeyToAccount(config.keeperPrivateKey), deployments })
const bundler = createBundlerClient({
  client,
  transport: http(config.bundlerUrl),
  pollingInterval: 100,
  ...(config.paymasterUrl ? { paymaster: createPaymasterClient({ transport: http(config.paymasterUrl) }) } : {}),
})
const userOperationHash = await sendRebalance(bundler, { account, plan: toChainPlan(plan), deployments })
const receipt = await bundler.waitForUserOperationReceipt({ hash: userOperationHash, timeout: 60_000 })

console.log(
  JSON.stringify({
    sender: account.address,
    healthBefore: state.map((s) => s.health.toString()),
    actions: plan.actions.map((a) => `${a.kind} ${a.amountBase}`),
    userOperationHash,
    success: receipt.success,
    paymaster: receipt.paymaster,
  }),
)
