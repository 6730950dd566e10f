import { type Hex, parseAbi, parseEther } from "viem"
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts"
import { afterAll, beforeAll, describe, expect, test } from "vitest"
import { type LeverageTestEnv, startLeverageTestEnv, testPolicy } from "@levpilot/devnet/leverageEnv"
import { type ToLeverageSafeAccountReturnType, toLeverageSafeAccount } from "./accounts/toLeverageSafeAccount.js"
import { getStopLoss } from "./actions/getStopLoss.js"
import { defaultAutomationConfig, setAutomationConfig } from "./actions/setAutomationConfig.js"
import { setPolicy } from "./actions/setPolicy.js"
import { setStopLoss } from "./actions/setStopLoss.js"

// Review rr13s (docs/reviews/issue13-rr13s.md): the stop-loss setter on the devnet the SDK and `npm start` deploy
// (LeverageModule linked by devnet/src/artifact.ts linkLibraries against RebalanceLib and the new OwnerControlsLib).

let env: LeverageTestEnv
let safe: ToLeverageSafeAccountReturnType
const owner = privateKeyToAccount(generatePrivateKey())
const priceAbi = parseAbi(["function price() view returns (uint256)"])

beforeAll(async () => {
  env = await startLeverageTestEnv()
  safe = await toLeverageSafeAccount({ client: env.publicClient, owners: [owner], deployments: env.deployments })
  await env.fund(safe.address)
}, 240_000)

afterAll(async () => {
  await env?.stop()
})

async function policyOn(market: "weth" | "wbtc"): Promise<Hex> {
  const client = env.clientFor(safe)
  const set = await setPolicy(client, { policy: testPolicy(env.stack.markets[market], [env.stack.vaults.usdc]), deployments: env.deployments })
  if (set.type !== "userOperation") throw new TypeError("expected a UserOperation")
  expect((await client.waitForUserOperationReceipt({ hash: set.userOperationHash })).success).toBe(true)
  return set.subAccount
}

describe("rr13s: setStopLoss on the devnet deployment", () => {
  test("the linked OwnerControlsLib stores a WETH/USDC stop (setPolicy's pool check runs there too) and getStopLoss reads it back", async () => {
    const client = env.clientFor(safe)
    const configured = await setAutomationConfig(client, { config: defaultAutomationConfig, deployments: env.deployments })
    if (configured.type !== "userOperation") throw new TypeError("expected a UserOperation")
    expect((await client.waitForUserOperationReceipt({ hash: configured.userOperationHash })).success).toBe(true)
    const subAccount = await policyOn("weth")
    const price = await env.publicClient.readContract({ address: env.stack.markets.weth.oracle, abi: priceAbi, functionName: "price" })
    const stop = { stopPrice: (price * 9n) / 10n, exitHealth: parseEther("3") }
    const sent = await setStopLoss(client, { subAccount, ...stop, deployments: env.deployments })
    if (sent.type !== "userOperation") throw new TypeError("expected a UserOperation")
    expect((await client.waitForUserOperationReceipt({ hash: sent.userOperationHash })).success).toBe(true)
    expect(await getStopLoss(env.publicClient, { safe: safe.address, subAccount, deployments: env.deployments })).toEqual(stop)
  }, 240_000)

  // rr13s S1 on the devnet's own WBTC/USDC market (60,000 USDC): its 1e36-scaled price is 6e38 > 2^128 - 1, so the
  // SDK refuses every stop above 34,028 USDC per WBTC ("stopPrice") and the module's uint128 could not hold it.
  test("rr13s S1 (fixed on f13g, uint192 stopPrice): the owner sets a WBTC/USDC stop 10% under the devnet price", async () => {
    const client = env.clientFor(safe)
    const subAccount = await policyOn("wbtc")
    const price = await env.publicClient.readContract({ address: env.stack.markets.wbtc.oracle, abi: priceAbi, functionName: "price" })
    expect(price > 2n ** 128n - 1n).toBe(true)
    const stop = { stopPrice: (price * 9n) / 10n, exitHealth: parseEther("3") }
    const sent = await setStopLoss(client, { subAccount, ...stop, deployments: env.deployments })
    if (sent.type !== "userOperation") throw new TypeError("expected a UserOperation")
    expect((await client.waitForUserOperationReceipt({ hash: sent.userOperationHash })).success).toBe(true)
    expect(await getStopLoss(env.publicClient, { safe: safe.address, subAccount, deployments: env.deployments })).toEqual(stop)
  }, 240_000)
})
