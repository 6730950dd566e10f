import { waitForReceipt } from "@levpilot/devnet"
import { type Address, type Hex, http, parseUnits } from "viem"
import { createBundlerClient, createPaymasterClient, entryPoint07Abi, formatUserOperation, toPackedUserOperation } from "viem/account-abstraction"
import { privateKeyToAccount } from "viem/accounts"
import { type AltoInstance, startAlto } from "@levpilot/devnet/alto"
import { toKeeperAccount } from "@levpilot/sdk/accounts"
import { sendRebalance } from "@levpilot/sdk/actions"
import { PendingOperationFailedError } from "@levpilot/sdk/errors"
import type { Plan } from "@levpilot/sdk/types"
import { getSubAccountId } from "@levpilot/sdk/utils"
import { afterAll, beforeAll, describe, expect, test } from "vitest"
import { type FleetEnv, bundlerRpc as rpc, fleetHealth, startManualBundlingFleetEnv } from "./fleetEnv"

/*
 * Alto 0.0.20 simulates, ahead of each operation it estimates or validates, every operation in its mempool with the
 * same paymaster. One of them that is no longer valid (here: it landed through another bundler, so its nonce is used)
 * fails every other Safe's sponsored operation: with AA25, which read as "this Safe's operation is already in flight"
 * and held the Safe for `resubmitAfterBlocks`, or with an empty revert ("reverted during simulation with reason: 0x")
 * when the failure does not decode. The fleet bench saw both after a shock: 9 of 39 rejected sends were "0x".
 */
let f: FleetEnv
let ignoring: AltoInstance | undefined

beforeAll(async () => {
  f = await startManualBundlingFleetEnv()
  // A second Alto on the same chain that skips the VerifyingPaymaster's pending operations, as the fleet bench runs it.
  ignoring = await startAlto({
    rpcUrl: f.env.devnet.rpcUrl,
    entryPoints: [f.env.deployment.entryPoint],
    ignoredPaymasters: [f.env.devnet.addresses.verifyingPaymaster],
    bundleMode: "manual",
  })
})

afterAll(async () => {
  await ignoring?.stop()
  await f?.stop()
})

describe("Alto's pending operations of one paymaster", () => {
  test("an invalid pending operation of the VerifyingPaymaster fails other Safes' sends with PendingOperationFailedError (not 'in flight'); with --ignored-paymasters they are accepted", async () => {
    const { env } = f
    const [a, b, c, d] = await f.createSafes([fleetHealth.edge, fleetHealth.edge, fleetHealth.edge, fleetHealth.edge])
    await f.shock(0.9)
    const deployments = { [env.devnet.chain.id]: env.deployment }
    const subAccount = getSubAccountId({ adapter: env.stack.morphoBlueAdapter, market: env.markets.WETH.id })
    const amount = parseUnits("3400", 6)
    // Health 1.33 -> 1.197 after the shock; 3,400 USDC from the pool repaid lands it in the band.
    const plan: Plan = { subAccounts: [subAccount], actions: [{ kind: "WithdrawFromPool", subAccount: 0, pool: env.stack.vaults.usdc, amount }, { kind: "Repay", subAccount: 0, amount }] }
    const bundlerOf = async (safe: Address, bundlerUrl: string) =>
      createBundlerClient({
        client: env.publicClient,
        account: await toKeeperAccount({ client: env.publicClient, safe, keeper: privateKeyToAccount(env.keys.keeper), deployments }),
        transport: http(bundlerUrl),
        paymaster: createPaymasterClient({ transport: http(env.paymaster.url) }),
      })
    /** Sends `safe`'s plan to the bundler, then lands the same operation through another sender: Alto still holds it. */
    const pendThenLandElsewhere = async (safe: Address, bundlerUrl: string) => {
      await sendRebalance(await bundlerOf(safe, bundlerUrl), { plan, deployments })
      const [pending] = (await rpc(bundlerUrl, "debug_bundler_dumpMempool", [env.deployment.entryPoint])) as Parameters<typeof formatUserOperation>[0][]
      if (!pending) throw new Error("the operation is not in the bundler's mempool")
      const hash = await env.deployer.writeContract({
        address: env.deployment.entryPoint,
        abi: entryPoint07Abi,
        functionName: "handleOps",
        args: [[toPackedUserOperation(formatUserOperation(pending))], env.deployer.account.address],
        gas: 3_000_000n,
      })
      expect((await waitForReceipt(env.publicClient, { hash })).status).toBe("success")
      expect((await rpc(bundlerUrl, "debug_bundler_dumpMempool", [env.deployment.entryPoint])) as unknown[]).toHaveLength(1)
    }

    await pendThenLandElsewhere(a as Address, env.devnet.bundlerUrl)
    const error = await sendRebalance(await bundlerOf(b as Address, env.devnet.bundlerUrl), { plan, deployments }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(PendingOperationFailedError)
    expect((error as PendingOperationFailedError).details).toMatch(/AA25 invalid account nonce/)
    expect((error as PendingOperationFailedError).nonce).toBe(await (await bundlerOf(b as Address, env.devnet.bundlerUrl)).account.getNonce())

    const url = (ignoring as AltoInstance).bundlerUrl
    await pendThenLandElsewhere(c as Address, url)
    const accepted = await sendRebalance(await bundlerOf(d as Address, url), { plan, deployments })
    expect(accepted).toMatch(/^0x[0-9a-f]{64}$/)
    expect(((await rpc(url, "debug_bundler_dumpMempool", [env.deployment.entryPoint])) as { sender: Hex }[]).map((op) => op.sender)).toContain(d)
  })
})
