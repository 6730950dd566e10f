import { waitForReceipt } from "@levpilot/devnet"
import { morphoAbi, testTokenAbi } from "@levpilot/devnet/leverage"
import { type Address, type Hex, encodeFunctionData, maxUint256 } from "viem"
import { expect, test } from "vitest"
import type { DemoEnv } from "../bundler-client/src/devnet/env"
import { demoKeeperConfig } from "../bundler-client/src/devnet/keeperConfig"
import type { PriceDriver } from "../bundler-client/src/devnet/scenario"
import { Keeper, type KeeperEvent } from "../bundler-client/src/keeper/keeper"
import { useDemoWorld } from "./demoWorld"
import { collectKeeperEvents, demoProbes, rpc, waitFor } from "./keeperProbes"

/**
 * Review rr11w, held out for issue 11 item 8 (passes today): another borrower takes all but 2,000 USDC of each demo
 * market's free liquidity (1,482,206 USDC before), then prices rise 30 %. The keeper's boost (Borrow + DepositToPool on
 * both sub-accounts) borrows exactly the 2,000 USDC left on each market and lands in one operation (measured 2026-12-03:
 * sent at block 82, landed at 85, both markets at 0 free after); with 40 USDC left it sends nothing.
 */
let env: DemoEnv
let driver: PriceDriver
const { keeperOps } = demoProbes(() => env)
async function tx(from: Address, to: Address, data: Hex) {
  const hash = (await rpc(env.devnet.rpcUrl, "eth_sendTransaction", [{ from, to, data }])) as Hex
  const receipt = await waitForReceipt(env.publicClient, { hash })
  if (receipt.status !== "success") throw new Error(`tx to ${to} reverted`)
}
useDemoWorld({ blockTime: 1, twin: false }, (w) => {
  env = w.env
  driver = w.driver
})

const freeOf = async (id: Hex) => {
  const [supply, , borrow] = await env.publicClient.readContract({ address: env.stack.morpho, abi: morphoAbi, functionName: "market", args: [id] })
  return supply - borrow
}

test("rr11w held out: both markets drained to 2,000 USDC of free liquidity, prices +30 %: each boost borrow is sized to the free liquidity and the operation lands", async () => {
  const LEFT = 2_000_000000n
  const [from] = (await rpc(env.devnet.rpcUrl, "eth_accounts", [])) as Address[]
  const morpho = env.stack.morpho
  for (const asset of ["WETH", "WBTC"] as const) {
    const m = env.markets[asset]
    const amount = (asset === "WETH" ? 10n ** 6n * 10n ** 18n : 10n ** 6n * 10n ** 8n)
    await tx(from!, m.params.collateralToken, encodeFunctionData({ abi: testTokenAbi, functionName: "mint", args: [from!, amount] }))
    await tx(from!, m.params.collateralToken, encodeFunctionData({ abi: testTokenAbi, functionName: "approve", args: [morpho, maxUint256] }))
    await tx(from!, morpho, encodeFunctionData({ abi: morphoAbi, functionName: "supplyCollateral", args: [m.params, amount, from!, "0x"] }))
    const free = await freeOf(m.id)
    await tx(from!, morpho, encodeFunctionData({ abi: morphoAbi, functionName: "borrow", args: [m.params, free - LEFT, 0n, from!, from!] }))
  }
  const { events, onEvent } = collectKeeperEvents()
  const keeper = new Keeper(demoKeeperConfig(env), { chain: env.devnet.chain, onEvent })
  try {
    const start = await driver.set({ WETH: 3900, WBTC: 78000 })
    await keeper.start()
    const done = await waitFor("the boost's inclusion", () => events.find((e): e is Extract<KeeperEvent, { type: "included" }> => e.type === "included"), 60_000)
    expect(done.success).toBe(true)
    const sent = events.filter((e): e is Extract<KeeperEvent, { type: "sent" }> => e.type === "sent")
    const borrows = sent.flatMap((e) => e.plan.actions.filter((a) => a.kind === "Borrow").map((a) => BigInt(a.amount)))
    expect(borrows.length).toBeGreaterThan(0)
    expect(borrows.every((b) => b <= LEFT), borrows.join(",")).toBe(true)
    expect(events.filter((e) => e.type === "alert" && (e.kind === "send-failed" || e.kind === "reverted"))).toEqual([])
    expect(await keeperOps(start)).toHaveLength(1)
  } finally {
    await keeper.stop()
  }
}, 400_000)
