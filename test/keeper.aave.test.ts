import { type Address, erc20Abi, getAddress, parseAbi, parseEventLogs } from "viem"
import { privateKeyToAccount } from "viem/accounts"
import { describe, expect, test } from "vitest"
import { getSafeStates, getSubAccountState } from "@levpilot/sdk/actions"
import { collateralValue, flashPremium } from "@levpilot/sdk/rules"
import { aavePoolAbi } from "@levpilot/devnet/aave"
import type { DemoEnv } from "../bundler-client/src/devnet/env"
import { demoKeeperConfig } from "../bundler-client/src/devnet/keeperConfig"
import type { PriceDriver } from "../bundler-client/src/devnet/scenario"
import { readAaveLimits } from "../bundler-client/src/keeper/aaveLimits"
import { portfolioOf } from "../bundler-client/src/keeper/portfolio"
import { keeperCosts } from "../bundler-client/src/keeper/safeStep"
import { useAaveKeeperWorld } from "./aaveKeeperWorld"
import { jsonLines, levpilot, parseMetrics } from "./cliRun"
import { demoProbes, waitFor } from "./keeperProbes"

/*
 * Issue 17, item 2: `levpilot keeper` (the real CLI, a child process) on a Safe whose sub-accounts are two Morpho Blue
 * markets and an Aave v3 account under one module (the `levpilot start` world with Aave, anvil + Alto + the ERC-7677
 * paymaster). The config names the Aave adapter (`deployment.aaveV3Adapter`); every per-sub-account metric carries a
 * `venue` label (morpho-blue / aave-v3), the Aave account's health gauge is Aave's own health factor, the send log names
 * each sub-account's venue, and a price shock that takes the Aave account below its band is rescued by one operation.
 *
 * The Aave account has no buffer here (`aaveSwapProtection`: the USDC it borrowed was spent, its policy allows swaps and
 * no pool), so its rescue is the keeper's Aave swap lane: RepayWithCallback { WithdrawCollateral, SellCollateral }
 * EndCallback through the adapter's flash-loan router, the sale paying back the repayment plus the pool's flash premium
 * (the Morpho accounts keep their yUSDC buffer).
 */

let env: DemoEnv
let driver: PriceDriver
let configPath: string
const { keeperOps, keeperNonce } = demoProbes(() => env)
useAaveKeeperWorld("levpilot-aave-", (w) => ({ env, driver, configPath } = w))

const aaveHealthFactor = async (safe: Address) => {
  const aave = env.aave as NonNullable<DemoEnv["aave"]>
  const [, , , , , hf] = await env.publicClient.readContract({ address: aave.pool, abi: aavePoolAbi, functionName: "getUserAccountData", args: [safe] })
  return Number(hf) / 1e18
}

describe("levpilot keeper on a Safe with an Aave v3 sub-account", () => {
  test("metrics name the venue per sub-account; the Aave account's health gauge is its health factor", async () => {
    const run = levpilot(["keeper", "--config", configPath, "--dry-run"])
    try {
      const started = await waitFor("the keeper's start log", () => jsonLines(run.stdout()).find((l) => l.msg === "keeper started"), 120_000)
      const url = started.metrics as string
      const safe = env.managed.address
      const aaveId = (env.managed.subAccounts.Aave as string).toLowerCase()
      const morphoIds = [env.managed.subAccounts.WETH, env.managed.subAccounts.WBTC].map((s) => s.toLowerCase())
      const m = await waitFor("health gauges of all three sub-accounts", async () => {
        const samples = parseMetrics(await (await fetch(url)).text()).filter((s) => s.name === "levpilot_health" && s.labels.safe === safe)
        return samples.length === 3 ? samples : undefined
      }, 60_000)
      const venueOf = (id: string) => m.find((s) => s.labels.sub_account?.toLowerCase() === id)?.labels.venue
      expect(venueOf(aaveId)).toBe("aave-v3")
      for (const id of morphoIds) expect(venueOf(id)).toBe("morpho-blue")
      const gauge = m.find((s) => s.labels.sub_account?.toLowerCase() === aaveId)?.value as number
      expect(gauge).toBeCloseTo(await aaveHealthFactor(safe), 4)
      const sigma = parseMetrics(await (await fetch(url)).text()).find((s) => s.name === "levpilot_sigma" && s.labels.sub_account?.toLowerCase() === aaveId)
      expect(sigma?.labels.venue).toBe("aave-v3")
    } finally {
      run.child.kill("SIGTERM")
      await run.exited
    }
  }, 240_000)

  test("the fleet's batched read carries the Aave account's reserve limits and repayable debt (the debt reserve's variable debt)", async () => {
    const safe = env.managed.address
    const aave = env.aave as NonNullable<DemoEnv["aave"]>
    const aaveId = (env.managed.subAccounts.Aave as string).toLowerCase()
    const keeper = privateKeyToAccount(env.keys.keeper).address
    // 1 s blocks: every read below is pinned to the lens's block (the variable debt grows each block, and with it the LTV room).
    const { blockNumber, timestamp, safes } = await getSafeStates(env.publicClient, { safes: [safe], keeper, deployments: env.deployments })
    const state = safes[0]
    if (state === undefined || state.error) throw new Error("the managed Safe is unreadable")
    const sub = state.subAccounts.find((s) => s.subAccount.toLowerCase() === aaveId)
    if (sub === undefined) throw new Error("no Aave sub-account in the batched read")
    const limits = await readAaveLimits(env.publicClient, env.deployment, state.subAccounts, safe, blockNumber)
    // Only the Aave sub-account is read, and what a repayment clears is the Safe's variable debt of the loan reserve.
    expect(Object.keys(limits)).toEqual([aaveId])
    const reserve = await env.publicClient.readContract({ address: aave.pool, abi: aavePoolAbi, functionName: "getReserveData", args: [sub.loanToken], blockNumber })
    const variableDebt = await env.publicClient.readContract({ address: reserve.variableDebtTokenAddress, abi: erc20Abi, functionName: "balanceOf", args: [safe], blockNumber })
    expect(variableDebt).toBeGreaterThan(0n)
    expect(limits[aaveId]?.repayableDebt).toBe(variableDebt)
    const config = demoKeeperConfig(env)
    const { risk } = config
    const costs = keeperCosts(config)
    const snapshot = portfolioOf(state, { blockNumber, timestamp, risk, costs, aaveLimits: limits })
    const input = snapshot.input.subAccounts.find((s) => s.state.id === aaveId)
    // What Aave lends the account against its LTV (issue 17 rev17e break 2): availableBorrowsBase at Aave's price of the
    // loan token, less the accrual margin, rounded down: the room before the plan, its own field next to the reserve's
    // borrowable (rev17f: a borrow is bounded by the room at the borrow, which a plan's earlier supply raises).
    const [, totalDebtBase, availableBorrowsBase] = await env.publicClient.readContract({ address: aave.pool, abi: parseAbi(["function getUserAccountData(address) view returns (uint256, uint256, uint256, uint256, uint256, uint256)"]), functionName: "getUserAccountData", args: [safe], blockNumber })
    const provider = await env.publicClient.readContract({ address: aave.pool, abi: parseAbi(["function ADDRESSES_PROVIDER() view returns (address)"]), functionName: "ADDRESSES_PROVIDER" })
    const oracle = await env.publicClient.readContract({ address: provider, abi: parseAbi(["function getPriceOracle() view returns (address)"]), functionName: "getPriceOracle" })
    const loanPrice = await env.publicClient.readContract({ address: oracle, abi: parseAbi(["function getAssetPrice(address) view returns (uint256)"]), functionName: "getAssetPrice", args: [sub.loanToken], blockNumber })
    const loanDecimals = await env.publicClient.readContract({ address: sub.loanToken, abi: erc20Abi, functionName: "decimals" })
    const keep = (totalDebtBase + 9_999n) / 10_000n + 1n
    const ltvRoom = availableBorrowsBase > keep ? ((availableBorrowsBase - keep) * 10n ** BigInt(loanDecimals)) / loanPrice : 0n
    expect(limits[aaveId]?.ltvBorrowable).toBe(ltvRoom)
    const debtBorrowable = limits[aaveId]?.debt.borrowable as bigint
    expect(input?.state.borrowable).toBe(Number(debtBorrowable) / 10 ** (input?.state.loanDecimals ?? 0))
    expect(snapshot.bounds.subAccounts[aaveId]?.borrowable).toBe(debtBorrowable)
    expect(input?.state.ltvBorrowable).toBe(Number(ltvRoom) / 10 ** (input?.state.loanDecimals ?? 0))
    expect(snapshot.bounds.subAccounts[aaveId]?.ltvBorrowable).toBe(ltvRoom)
    // One debt reserve: a repayment clears the whole debt (no repayableDebt); below it (a second debt reserve), it is set.
    expect(input?.state.repayableDebt).toBeUndefined()
    const split = { [aaveId]: { ...(limits[aaveId] as NonNullable<(typeof limits)[string]>), repayableDebt: sub.debt / 3n } }
    const twoReserves = portfolioOf(state, { blockNumber, timestamp, risk, costs, aaveLimits: split })
    const withSplit = twoReserves.input.subAccounts.find((s) => s.state.id === aaveId)
    expect(withSplit?.state.repayableDebt).toBe(Number(sub.debt / 3n) / 10 ** (withSplit?.state.loanDecimals ?? 0))
  }, 60_000)

  test("keeper --once rescues the Aave account (no idle funds, no pool) after a price shock by a flash-funded swap deleverage, in one sponsored operation whose log names each sub-account's venue; the Safe loses the swap's shortfall plus the premium", async () => {
    const safe = env.managed.address
    const aave = env.aave as NonNullable<DemoEnv["aave"]>
    const usdc = env.stack.tokens.usdc
    const weth = env.stack.tokens.weth
    const [usdcReserve, wethReserve] = await Promise.all([usdc, weth].map((asset) => env.publicClient.readContract({ address: aave.pool, abi: aavePoolAbi, functionName: "getReserveData", args: [asset] })))
    const balance = (token: Address, blockNumber?: bigint) => env.publicClient.readContract({ address: token, abi: erc20Abi, functionName: "balanceOf", args: [safe], blockNumber })
    const aaveId = (env.managed.subAccounts.Aave as string).toLowerCase()
    // No buffer: the Safe holds no idle USDC and its Aave policy lists no pool.
    expect(await balance(usdc)).toBe(0n)
    await env.setBlockTime(0)
    const from = await env.publicClient.getBlockNumber({ cacheTime: 0 })
    // -20 % on WETH: the Aave account (health factor 1.45 at the start) and the WETH market fall below the band (1.25).
    await driver.set({ WETH: 3000 * 0.8 })
    await env.setBlockTime(1)
    expect(await aaveHealthFactor(safe)).toBeLessThan(env.settings.band.min)
    const nonceBefore = await keeperNonce()
    const run = levpilot(["keeper", "--config", configPath, "--once", "--timeout", "90"])
    const code = await run.exited
    expect(code, `${run.stdout()}\n${run.stderr()}`).toBe(0)
    const sent = jsonLines(run.stdout()).filter((l) => l.msg === "rebalance sent")
    expect(sent).toHaveLength(1)
    const subAccounts = (sent[0] as { subAccounts: { id: string; venue: string }[] }).subAccounts
    expect(subAccounts.find((s) => s.id.toLowerCase() === env.managed.subAccounts.Aave?.toLowerCase())?.venue).toBe("aave-v3")
    expect(subAccounts.find((s) => s.id.toLowerCase() === env.managed.subAccounts.WETH.toLowerCase())?.venue).toBe("morpho-blue")
    const ops = await keeperOps(from)
    expect(ops).toHaveLength(1)
    expect(ops[0]?.args.success).toBe(true)
    expect(getAddress(ops[0]?.args.paymaster as string)).toBe(env.devnet.addresses.verifyingPaymaster)
    expect(await keeperNonce()).toBe(nonceBefore + 1n)
    // Aave's own health factor is back inside the band, and the module agrees.
    expect(await aaveHealthFactor(safe)).toBeGreaterThanOrEqual(env.settings.band.min)
    const states = await getSubAccountState(env.publicClient, { safe, deployments: env.deployments })
    const after = states.find((s) => s.subAccount.toLowerCase() === aaveId)
    expect(after?.band).toBe("inside")
    // The Aave rescue was flash-funded: one FlashLoan of USDC by the router, its premium Aave's percentMul of the
    // amount at the pool's FLASHLOAN_PREMIUM_TOTAL, and the amount is what the Safe's variable debt fell by.
    const receipt = await env.publicClient.getTransactionReceipt({ hash: ops[0]?.transactionHash as `0x${string}` })
    const flashes = parseEventLogs({
      abi: parseAbi(["event FlashLoan(address indexed target, address initiator, address indexed asset, uint256 amount, uint8 interestRateMode, uint256 premium, uint16 indexed referralCode)"]),
      logs: receipt.logs.filter((l) => getAddress(l.address) === getAddress(aave.pool)),
    })
    expect(flashes).toHaveLength(1)
    const flash = flashes[0]?.args as { asset: Address; amount: bigint; premium: bigint }
    expect(getAddress(flash.asset)).toBe(getAddress(usdc))
    const premiumBps = await env.publicClient.readContract({ address: aave.pool, abi: parseAbi(["function FLASHLOAN_PREMIUM_TOTAL() view returns (uint128)"]), functionName: "FLASHLOAN_PREMIUM_TOTAL" })
    expect(premiumBps).toBe(5n)
    expect(flash.premium).toBe(flashPremium(flash.amount, premiumBps))
    // Read in the block before the operation's and in its block (1 s blocks: the keeper run spans many, and the variable
    // debt grows in each): one block of interest and Aave's scaled-balance rounding, a few base units.
    const landed = ops[0]?.blockNumber as bigint
    const [debtBefore, aWethBefore] = await Promise.all([balance(usdcReserve?.variableDebtTokenAddress as Address, landed - 1n), balance(wethReserve?.aTokenAddress as Address, landed - 1n)])
    const [debtAfter, aWethAfter, idleAfter] = await Promise.all([balance(usdcReserve?.variableDebtTokenAddress as Address, landed), balance(wethReserve?.aTokenAddress as Address, landed), balance(usdc, landed)])
    expect(Number(debtBefore - debtAfter - flash.amount)).toBeLessThanOrEqual(5)
    expect(Number(debtBefore - debtAfter - flash.amount)).toBeGreaterThanOrEqual(-5)
    // What the sale brought beyond the repayment and its premium stays idle; the WETH sold left the Aave account.
    const sold = aWethBefore - aWethAfter
    expect(sold).toBeGreaterThan(0n)
    const swapOut = idleAfter + flash.amount + flash.premium
    const soldValue = collateralValue(sold, after?.price as bigint)
    // The Safe's loss: the sold collateral's oracle value less what came back (repaid debt + idle USDC), i.e. the
    // swap's shortfall (within maxSlippageBps less the premium) plus the premium.
    const loss = soldValue - (flash.amount + idleAfter)
    const shortfall = soldValue - swapOut
    expect(shortfall).toBeGreaterThan(0n)
    expect(loss).toBeGreaterThan(flash.premium)
    expect(shortfall * 10_000n).toBeLessThanOrEqual(soldValue * BigInt(env.settings.maxSlippageBps - 5))
    expect(loss * 10_000n).toBeLessThanOrEqual(soldValue * 50n) // maxLossBps
  }, 240_000)
})
