import { type Address, http, parseUnits } from "viem"
import { createBundlerClient, createPaymasterClient } from "viem/account-abstraction"
import { privateKeyToAccount } from "viem/accounts"
import { toKeeperAccount } from "@levpilot/sdk/accounts"
import { sendRebalance } from "@levpilot/sdk/actions"
import { UserOperationInFlightError } from "@levpilot/sdk/errors"
import type { Plan } from "@levpilot/sdk/types"
import { getSubAccountId } from "@levpilot/sdk/utils"
import { afterAll, beforeAll, describe, expect, test } from "vitest"
import { priceUserOperation, replacementMinimum } from "../bundler-client/src/keeper/fees"
import { type FleetEnv, bundlerRpc as rpc, fleetHealth, startManualBundlingFleetEnv } from "./fleetEnv"

/*
 * Issue 11 item 4: the keeper's same-nonce replacement rule against the real bundler (Alto 0.0.20, the devnet's). Its
 * source (mempool.add) takes a replacement when both fees are >= old x 110n / 100n, rounded down; the keeper judges
 * with `replacementMinimum` (the same) and bumps rounded up. Here an operation is held in Alto's mempool (manual
 * bundling) and replaced at the same nonce: a wei under the rounded-down minimum is refused, exactly at it accepted, and
 * `priceUserOperation` with the Safe's caps at that minimum says it replaces.
 */
let f: FleetEnv

beforeAll(async () => {
  f = await startManualBundlingFleetEnv()
})

afterAll(async () => {
  await f?.stop()
})

describe("Alto's same-nonce replacement rule", () => {
  test("a wei under old x 110 / 100 (rounded down) is refused, exactly at it replaces, and the keeper's pricing agrees", async () => {
    const { env } = f
    const [safe] = (await f.createSafes([fleetHealth.edge])) as [Address]
    await f.shock(0.9)
    const deployments = { [env.devnet.chain.id]: env.deployment }
    const subAccount = getSubAccountId({ adapter: env.stack.morphoBlueAdapter, market: env.markets.WETH.id })
    const amount = parseUnits("3400", 6)
    const plan: Plan = { subAccounts: [subAccount], actions: [{ kind: "WithdrawFromPool", subAccount: 0, pool: env.stack.vaults.usdc, amount }, { kind: "Repay", subAccount: 0, amount }] }
    const bundler = createBundlerClient({
      client: env.publicClient,
      account: await toKeeperAccount({ client: env.publicClient, safe, keeper: privateKeyToAccount(env.keys.keeper), deployments }),
      transport: http(env.devnet.bundlerUrl),
      paymaster: createPaymasterClient({ transport: http(env.paymaster.url) }),
    })
    const nonce = await bundler.account.getNonce()
    // x 1.1 is not an integer: 11,000,000,001.1 and 1,100,000,001.1 (Alto asks ...001, a rounded-up rule ...002).
    const first = { maxFeePerGas: 10_000_000_001n, maxPriorityFeePerGas: 1_000_000_001n }
    await sendRebalance(bundler, { plan, deployments, nonce, ...first })
    const need = replacementMinimum(first)
    expect(need).toEqual({ maxFeePerGas: 11_000_000_001n, maxPriorityFeePerGas: 1_100_000_001n })
    const under = await sendRebalance(bundler, { plan, deployments, nonce, ...need, maxFeePerGas: need.maxFeePerGas - 1n }).then(
      () => undefined,
      (e: unknown) => e,
    )
    // Alto: "AA25 invalid account nonce: User operation already present in mempool, bump the gas price by minimum 10%".
    expect(under).toBeInstanceOf(UserOperationInFlightError)
    const replaced = await sendRebalance(bundler, { plan, deployments, nonce, ...need })
    expect(replaced).toMatch(/^0x[0-9a-f]{64}$/)
    const mempool = (await rpc(env.devnet.bundlerUrl, "debug_bundler_dumpMempool", [env.deployment.entryPoint])) as { maxFeePerGas: string }[]
    expect(mempool.map((op) => BigInt(op.maxFeePerGas))).toEqual([need.maxFeePerGas])
    // The keeper, with the Safe's caps at exactly that minimum, prices the same replacement and calls it one.
    const d = priceUserOperation({ market: first, caps: need, previous: first, bumpPercent: 20 })
    expect(d).toMatchObject({ fees: need, replaces: true })
  })
})
