import {
  type Address,
  type Hex,
  type PublicClient,
  createPublicClient,
  createWalletClient,
  decodeFunctionData,
  encodeFunctionData,
  http,
  maxUint256,
  parseAbi,
  parseEther,
  parseUnits,
} from "viem"
import { privateKeyToAccount } from "viem/accounts"
import { afterAll, beforeAll, describe, expect, test } from "vitest"
import { SwapQuoteError } from "levpilot/swap"
import {
  encodeUniswapRoute,
  maxAmountInWithinSlippage,
  quoteExactInput,
  quotePriceImpact,
} from "levpilot/swap"
import { type Devnet, startDevnet, waitForReceipt } from "@levpilot/devnet"
import type { Plan } from "@levpilot/sdk/types"
import { readSwapCurve, settleSwapAmounts, settleSwapPlan } from "../bundler-client/src/keeper/portfolio"
import { clampPlanToChainBounds } from "../bundler-client/src/keeper/chainBounds"
import { swapPlanTake } from "../bundler-client/src/solver/swapDeleverage"
import { type LeverageStackAddresses, deployLeverageStack, simOracleAbi, testTokenAbi } from "@levpilot/devnet/leverage"
import {
  type UniswapStackAddresses,
  alignPoolToPrice,
  deployUniswapStack,
  feeTiers,
  oraclePriceFromSqrtPriceX96,
  sqrtPriceX96FromOraclePrice,
  uniswapPoolAbi,
} from "@levpilot/devnet/uniswap"

const swapAdapterAbi = parseAbi([
  "struct SwapRequest { address tokenIn; address tokenOut; uint256 amountIn; uint256 minAmountOut; address account; bytes32 route; }",
  "struct VenueCall { address target; bytes data; address approveToken; uint256 approveAmount; }",
  "function encodeSwap(SwapRequest request) view returns (VenueCall call)",
  "function encodeRoute(uint24 fee, uint8 hub, uint24 hubFee) pure returns (bytes32 route)",
  "function hubs() view returns (address[])",
  "function router() view returns (address)",
])
// Uniswap v3-periphery SwapRouter's two exact-input entry points (ISwapRouter).
const swapRouterAbi = parseAbi([
  "struct ExactInputSingleParams { address tokenIn; address tokenOut; uint24 fee; address recipient; uint256 deadline; uint256 amountIn; uint256 amountOutMinimum; uint160 sqrtPriceLimitX96; }",
  "struct ExactInputParams { bytes path; address recipient; uint256 deadline; uint256 amountIn; uint256 amountOutMinimum; }",
  "function exactInputSingle(ExactInputSingleParams params) payable returns (uint256 amountOut)",
  "function exactInput(ExactInputParams params) payable returns (uint256 amountOut)",
])

let devnet: Devnet
let publicClient: PublicClient
let stack: LeverageStackAddresses
let uniswap: UniswapStackAddresses

const wallet = (key: Hex) => createWalletClient({ chain: devnet.chain, transport: http(devnet.rpcUrl), account: privateKeyToAccount(key) })
const oraclePrice = (oracle: Address) => publicClient.readContract({ address: oracle, abi: simOracleAbi, functionName: "price" })
const balanceOf = (token: Address, account: Address) => publicClient.readContract({ address: token, abi: testTokenAbi, functionName: "balanceOf", args: [account] })

beforeAll(async () => {
  devnet = await startDevnet({ bundler: false })
  publicClient = createPublicClient({ chain: devnet.chain, transport: http(devnet.rpcUrl, { batch: true }), pollingInterval: 50 })
  const deployer = wallet(devnet.keys.deployer)
  stack = await deployLeverageStack({ publicClient, deployer, entryPoint: devnet.addresses.entryPoint })
  uniswap = await deployUniswapStack({ publicClient, deployer, stack })
})

afterAll(async () => {
  await devnet?.stop()
})

describe("Uniswap v3 on the devnet", () => {
  test("creates every pool exactly at its oracle price, with liquidity", async () => {
    for (const pool of Object.values(uniswap.pools)) {
      const [[sqrtPriceX96], token0, liquidity, price] = await Promise.all([
        publicClient.readContract({ address: pool.address, abi: uniswapPoolAbi, functionName: "slot0" }),
        publicClient.readContract({ address: pool.address, abi: uniswapPoolAbi, functionName: "token0" }),
        publicClient.readContract({ address: pool.address, abi: uniswapPoolAbi, functionName: "liquidity" }),
        oraclePrice(pool.oracle),
      ])
      const collateralIsToken0 = token0 === pool.collateral
      expect(sqrtPriceX96).toBe(sqrtPriceX96FromOraclePrice(price, collateralIsToken0))
      const back = oraclePriceFromSqrtPriceX96(sqrtPriceX96, collateralIsToken0)
      expect(back <= price && (price - back) * 10n ** 12n <= price, `price ${back} vs oracle ${price}`).toBe(true)
      expect(liquidity).toBeGreaterThan(0n)
    }
  })

  test("deploying the stack again changes nothing", async () => {
    const again = await deployUniswapStack({ publicClient, deployer: wallet(devnet.keys.deployer), stack })
    expect(again).toEqual(uniswap)
  })

  test("a swap encoded by the module's swap adapter pays exactly QuoterV2's quote into the account", async () => {
    const trader = wallet(devnet.keys.spare[1])
    const account = trader.account.address
    const { weth, usdc, wbtc } = stack.tokens
    const cases = [
      { tokenIn: weth, tokenOut: usdc, amountIn: parseEther("10"), route: { fee: feeTiers.low } },
      { tokenIn: wbtc, tokenOut: weth, amountIn: parseUnits("1", 8), route: { fee: feeTiers.low, hub: { token: usdc, index: 1 }, hubFee: feeTiers.medium } },
    ] as const
    for (const { tokenIn, tokenOut, amountIn, route } of cases) {
      const routeWord = encodeUniswapRoute(route)
      const onChainRoute = await publicClient.readContract({
        address: uniswap.swapAdapter,
        abi: swapAdapterAbi,
        functionName: "encodeRoute",
        args: [route.fee, "hub" in route ? route.hub.index : 0, "hubFee" in route ? route.hubFee : 0],
      })
      expect(routeWord).toBe(onChainRoute)
      if ("hub" in route) expect((await publicClient.readContract({ address: uniswap.swapAdapter, abi: swapAdapterAbi, functionName: "hubs" }))[route.hub.index - 1]).toBe(route.hub.token)

      await waitForReceipt(publicClient, { hash: await trader.writeContract({ address: tokenIn, abi: testTokenAbi, functionName: "mint", args: [account, amountIn] }) })
      const quote = await quoteExactInput(publicClient, { quoter: uniswap.quoterV2, tokenIn, tokenOut, route, amountIn })
      const call = await publicClient.readContract({
        address: uniswap.swapAdapter,
        abi: swapAdapterAbi,
        functionName: "encodeSwap",
        args: [{ tokenIn, tokenOut, amountIn, minAmountOut: quote.amountOut, account, route: routeWord }],
      })
      expect(call.target).toBe(uniswap.swapRouter)
      expect(call.approveToken).toBe(tokenIn)
      expect(call.approveAmount).toBe(amountIn)
      const before = await balanceOf(tokenOut, account)
      await waitForReceipt(publicClient, {
        hash: await trader.writeContract({ address: tokenIn, abi: testTokenAbi, functionName: "approve", args: [call.target, call.approveAmount] }),
      })
      // The adapter's deadline is the block it encoded in (the module encodes and swaps in one transaction). Here the
      // read and the swap are two transactions, so the deadline is checked, then moved out of the way of a slow machine.
      const { timestamp } = await publicClient.getBlock({ blockTag: "latest" })
      const decoded = decodeFunctionData({ abi: swapRouterAbi, data: call.data })
      const params = decoded.args[0]
      expect(params.recipient).toBe(account)
      expect(params.amountIn).toBe(amountIn)
      expect(params.amountOutMinimum).toBe(quote.amountOut)
      expect(params.deadline >= timestamp - 60n && params.deadline <= timestamp + 60n, `deadline ${params.deadline} vs block ${timestamp}`).toBe(true)
      const data =
        decoded.functionName === "exactInputSingle"
          ? encodeFunctionData({ abi: swapRouterAbi, functionName: "exactInputSingle", args: [{ ...decoded.args[0], deadline: maxUint256 }] })
          : encodeFunctionData({ abi: swapRouterAbi, functionName: "exactInput", args: [{ ...decoded.args[0], deadline: maxUint256 }] })
      // Fixed gas: the pool writes an oracle observation when time has passed since the estimate's block.
      const receipt = await waitForReceipt(publicClient, { hash: await trader.sendTransaction({ to: call.target, data, gas: 1_000_000n }) })
      expect(receipt.status).toBe("success")
      expect((await balanceOf(tokenOut, account)) - before).toBe(quote.amountOut)
      expect(await balanceOf(tokenIn, account)).toBe(0n)
    }
  })

  test("route words match the adapter's encodeRoute on random inputs", async () => {
    let seed = 12345
    const next = (max: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31
      return 1 + (seed % max)
    }
    for (let i = 0; i < 24; i++) {
      const fee = next(2 ** 24 - 1)
      const route = i % 3 === 0 ? { fee } : { fee, hub: { token: stack.tokens.usdc, index: next(255) }, hubFee: next(2 ** 24 - 1) }
      const onChain = await publicClient.readContract({
        address: uniswap.swapAdapter,
        abi: swapAdapterAbi,
        functionName: "encodeRoute",
        args: [route.fee, route.hub?.index ?? 0, route.hubFee ?? 0],
      })
      expect(encodeUniswapRoute(route)).toBe(onChain)
    }
  })

  test("price impact grows with the size of the swap", async () => {
    const { weth, usdc } = stack.tokens
    // The swaps above moved both WETH pools; the arbitrageur puts them back on the oracle first.
    for (const pool of [uniswap.pools.wethLow, uniswap.pools.wethMedium])
      await alignPoolToPrice({ publicClient, arbitrageur: wallet(devnet.keys.spare[0]), uniswap, pool })
    const oracle = { price: await oraclePrice(stack.markets.weth.oracle), collateral: weth }
    const sizes = [1n, 10n, 100n, 250n, 500n].map((n) => n * 10n ** 18n)
    const rows = []
    for (const fee of [feeTiers.low, feeTiers.medium]) {
      const curve = await quotePriceImpact(publicClient, { quoter: uniswap.quoterV2, tokenIn: weth, tokenOut: usdc, route: { fee }, sizes, oracle })
      for (let i = 0; i < curve.length; i++) {
        const point = curve[i]!
        rows.push({ fee, wethIn: Number(sizes[i]! / 10n ** 18n), usdcOut: Number(point.amountOut / 10n ** 6n), shortfallBps: point.shortfallBps.toFixed(2), impactBps: point.impactBps.toFixed(2) })
        expect(point.amountOut).toBeLessThan(point.fairAmountOut)
        expect(point.shortfallBps).toBeGreaterThanOrEqual(point.feeBps - 0.01)
        if (i > 0) expect(point.shortfallBps).toBeGreaterThan(curve[i - 1]!.shortfallBps)
      }
    }
    console.table(rows)
  })

  test("alignPoolToPrice moves the pool exactly onto the oracle after a move", async () => {
    const priceDriver = wallet(devnet.keys.spare[0])
    const pool = uniswap.pools.wethLow
    for (const usd of ["2400", "3300"]) {
      const before = await oraclePrice(pool.oracle)
      const receipt = await waitForReceipt(publicClient, {
        hash: await priceDriver.writeContract({ address: pool.oracle, abi: simOracleAbi, functionName: "setPrice", args: [parseEther(usd)] }),
      })
      expect(receipt.status).toBe("success")
      // The price the update wrote, read at the update's own block: a loaded node can answer "latest" from the state
      // before that block for seconds (stop 38's clean-clone CI read 2,400 for 5 s after the receipt of 3,300).
      const price = await publicClient.readContract({ address: pool.oracle, abi: simOracleAbi, functionName: "price", blockNumber: receipt.blockNumber })
      expect(price).toBe((parseEther(usd) * 10n ** 24n) / 10n ** 18n)
      expect(price).not.toBe(before)
      // alignPoolToPrice reads the pool at "latest": wait (up to 60 s) until the head's state has the update.
      for (let i = 0; i < 600 && (await oraclePrice(pool.oracle)) !== price; i++) await new Promise((r) => setTimeout(r, 100))
      expect(await oraclePrice(pool.oracle)).toBe(price)
      const token0 = await publicClient.readContract({ address: pool.address, abi: uniswapPoolAbi, functionName: "token0" })
      const moved = await alignPoolToPrice({ publicClient, arbitrageur: priceDriver, uniswap, pool, price })
      expect(moved.amountIn).toBeGreaterThan(0n)
      expect(moved.amountOut).toBeGreaterThan(0n)
      expect(moved.sqrtPriceX96).toBe(sqrtPriceX96FromOraclePrice(price, token0 === pool.collateral))
      const [sqrtPriceX96] = await publicClient.readContract({ address: pool.address, abi: uniswapPoolAbi, functionName: "slot0" })
      expect(sqrtPriceX96).toBe(moved.sqrtPriceX96)
      const [point] = await quotePriceImpact(publicClient, {
        quoter: uniswap.quoterV2,
        tokenIn: pool.collateral,
        tokenOut: pool.loan,
        route: { fee: pool.fee },
        sizes: [10n ** 17n],
        oracle: { price, collateral: pool.collateral },
      })
      // Only the widest range covers a 20% move, so even 0.1 WETH moves the price a little.
      expect(point!.impactBps).toBeGreaterThanOrEqual(0)
      expect(point!.impactBps).toBeLessThan(1)
    }
    const again = await alignPoolToPrice({ publicClient, arbitrageur: priceDriver, uniswap, pool })
    expect(again.amountIn).toBe(0n)
  })

  test("maxAmountInWithinSlippage finds the largest sell within the bound", async () => {
    const { weth, usdc } = stack.tokens
    const oracle = { price: await oraclePrice(stack.markets.weth.oracle), collateral: weth }
    const base = { quoter: uniswap.quoterV2, tokenIn: weth, tokenOut: usdc, route: { fee: feeTiers.low }, oracle, upperBound: parseEther("5000") }
    const found = await maxAmountInWithinSlippage(publicClient, { ...base, maxSlippageBps: 30 })
    expect(found.amountIn).toBeGreaterThan(parseEther("10"))
    expect(found.amountIn).toBeLessThan(parseEther("5000"))
    expect(found.point!.shortfallBps).toBeLessThanOrEqual(30)
    const [above] = await quotePriceImpact(publicClient, { ...base, sizes: [(found.amountIn * 1_002n) / 1_000n] })
    expect(above!.shortfallBps).toBeGreaterThan(30)
    expect(found.quotes).toBeLessThan(40)

    const none = await maxAmountInWithinSlippage(publicClient, { ...base, route: { fee: feeTiers.medium }, maxSlippageBps: 20 })
    expect(none).toEqual({ amountIn: 0n, point: undefined, quotes: 0 })
    const all = await maxAmountInWithinSlippage(publicClient, { ...base, upperBound: parseEther("1"), maxSlippageBps: 30 })
    expect(all.amountIn).toBe(parseEther("1"))
  })

  test("settleSwapAmounts sets what the venue collects to each swap's exact quote less 2 bp, never above the plan", async () => {
    const { weth, usdc } = stack.tokens
    const tokens = [{ collateral: weth, loan: usdc }]
    const route = encodeUniswapRoute({ fee: 500 })
    const quote = async (tokenIn: Address, tokenOut: Address, amountIn: bigint) => (await quoteExactInput(publicClient, { quoter: uniswap.quoterV2, tokenIn, tokenOut, route: { fee: 500 }, amountIn })).amountOut
    const less2bp = (x: bigint) => (x * 999_800n) / 1_000_000n
    const settle = (actions: Plan["actions"]) => settleSwapAmounts(publicClient, { subAccounts: [`0x${"ab".repeat(32)}`], actions }, { quoter: uniswap.quoterV2, tokens })
    const sold = parseEther("5")
    const usdcIn = parseUnits("20000", 6)
    const big = 10n ** 30n
    // Swap deleverage: the repayment Morpho pulls at the end of the callback.
    const deleverage = await settle([
      { kind: "RepayWithCallback", subAccount: 0, amount: big },
      { kind: "WithdrawCollateral", subAccount: 0, amount: sold },
      { kind: "SellCollateral", subAccount: 0, route, amount: sold },
      { kind: "EndCallback", subAccount: 0, amount: 0n },
    ])
    expect(deleverage.actions[0]?.amount).toBe(less2bp(await quote(weth, usdc, sold)))
    // One-pass boost: the supply after the purchase.
    const onePassBoost = (supply: bigint) =>
      settle([
        { kind: "Borrow", subAccount: 0, amount: usdcIn },
        { kind: "BuyCollateral", subAccount: 0, route, amount: usdcIn },
        { kind: "SupplyCollateral", subAccount: 0, amount: supply },
      ])
    const onePass = await onePassBoost(big)
    expect(onePass.actions[2]?.amount).toBe(less2bp(await quote(usdc, weth, usdcIn)))
    expect(onePass.actions[0]?.amount).toBe(usdcIn)
    // Flash-looped boost: the collateral Morpho credits first and collects at the end of the callback.
    const flash = await settle([
      { kind: "SupplyCollateralWithCallback", subAccount: 0, amount: big },
      { kind: "Borrow", subAccount: 0, amount: usdcIn },
      { kind: "BuyCollateral", subAccount: 0, route, amount: usdcIn },
      { kind: "EndCallback", subAccount: 0, amount: 0n },
    ])
    expect(flash.actions[0]?.amount).toBe(less2bp(await quote(usdc, weth, usdcIn)))
    // Never raised: a planned supply below the quote stays.
    const small = await onePassBoost(1n)
    expect(small.actions[2]?.amount).toBe(1n)
  })

  test("settleSwapAmounts keeps the Safe's own loan token in a split sale's repayment and lowers it only by what each pool now pays short", async () => {
    const { weth, usdc } = stack.tokens
    const tokens = [{ collateral: weth, loan: usdc }]
    const quote = async (fee: number, amountIn: bigint) => (await quoteExactInput(publicClient, { quoter: uniswap.quoterV2, tokenIn: weth, tokenOut: usdc, route: { fee }, amountIn })).amountOut
    const less2bp = (x: bigint) => (x * 999_800n) / 1_000_000n
    const [low, medium] = [parseEther("2"), parseEther("3")]
    const [q1, q2] = [await quote(500, low), await quote(3000, medium)]
    // The solver expected 100 USDC more than the 0.05% pool now pays and 100 USDC less than the 0.3% pool pays.
    const [e1, e2] = [q1 + 100_000_000n, q2 - 100_000_000n]
    const prefunded = parseUnits("1500", 6)
    const planned = prefunded + less2bp(e1) + less2bp(e2)
    const actions: Plan["actions"] = [
      { kind: "RepayWithCallback", subAccount: 0, amount: planned },
      { kind: "WithdrawCollateral", subAccount: 0, amount: low + medium },
      { kind: "SellCollateral", subAccount: 0, route: encodeUniswapRoute({ fee: 500 }), amount: low },
      { kind: "SellCollateral", subAccount: 0, route: encodeUniswapRoute({ fee: 3000 }), amount: medium },
      { kind: "EndCallback", subAccount: 0, amount: 0n },
    ]
    const settled = await settleSwapAmounts(publicClient, { subAccounts: [`0x${"ab".repeat(32)}`], actions }, { quoter: uniswap.quoterV2, tokens, expectedOut: [undefined, undefined, e1, e2, undefined] })
    expect(settled.actions[0]?.amount).toBe(planned - (less2bp(e1) - less2bp(q1)))
    expect(settled.actions[0]?.amount).toBeGreaterThan(prefunded + less2bp(q1))
    // The solver's take from a sale (swapPlanTake) sits between its minimum output and its expected output less 2 bp:
    // the own funds are the repayment less the takes.
    const take = (e: bigint, m: bigint) => swapPlanTake(m, less2bp(e))
    // A sale whose minimum output (from the oracle) sits within the 2 bp margin of its quote: the repayment still
    // spends that minimum (the module lets no swap output at its minimum stay idle; the sale delivers at least that).
    const withPlan = (repay: bigint) => [{ ...actions[0], amount: repay } as Plan["actions"][number], ...actions.slice(1)]
    const [n1, n2] = [q1 - 100_000n, q2 - 100_000n]
    const floored = await settleSwapAmounts(publicClient, { subAccounts: [`0x${"ab".repeat(32)}`], actions: withPlan(prefunded + take(e1, n1) + take(q2, n2)) }, {
      quoter: uniswap.quoterV2,
      tokens,
      expectedOut: [undefined, undefined, e1, q2, undefined],
      minAmountOut: [undefined, undefined, n1, n2, undefined],
    })
    expect(floored.actions[0]?.amount).toBe(prefunded + q1 + q2 - 200_000n)
    // Minimums 1 % below the quotes: lowered by the first pool's shortfall, kept above the own funds plus the minimums.
    const [m1, m2] = [(q1 * 99n) / 100n, (q2 * 99n) / 100n]
    const planned2 = prefunded + take(e1, m1) + take(e2, m2)
    const biased = await settleSwapAmounts(publicClient, { subAccounts: [`0x${"ab".repeat(32)}`], actions: withPlan(planned2) }, {
      quoter: uniswap.quoterV2,
      tokens,
      expectedOut: [undefined, undefined, e1, e2, undefined],
      minAmountOut: [undefined, undefined, m1, m2, undefined],
    })
    const lowered = planned2 - (less2bp(e1) - less2bp(q1))
    expect(biased.actions[0]?.amount).toBe(lowered > prefunded + m1 + m2 ? lowered : prefunded + m1 + m2)
    expect(biased.actions[0]?.amount).toBeGreaterThanOrEqual(prefunded + m1 + m2)
    // Without the plan's expected outputs the repayment is at most the quotes: the prefunded part would be lost.
    const blind = await settleSwapAmounts(publicClient, { subAccounts: [`0x${"ab".repeat(32)}`], actions }, { quoter: uniswap.quoterV2, tokens })
    expect(blind.actions[0]?.amount).toBe(less2bp(q1) + less2bp(q2))
  })

  test("settleSwapPlan's funding split: the sales pay the settled repayment less the Safe's own loan token, so the clamp holds that idle part to the balance, the Safe holding none too (issue 11)", async () => {
    const { weth, usdc } = stack.tokens
    const tokens = [{ collateral: weth, loan: usdc }]
    const quote = async (tokenIn: Address, tokenOut: Address, fee: number, amountIn: bigint) => (await quoteExactInput(publicClient, { quoter: uniswap.quoterV2, tokenIn, tokenOut, route: { fee }, amountIn })).amountOut
    const less2bp = (x: bigint) => (x * 999_800n) / 1_000_000n
    const [low, medium] = [parseEther("2"), parseEther("3")]
    const [q1, q2] = [less2bp(await quote(weth, usdc, 500, low)), less2bp(await quote(weth, usdc, 3000, medium))]
    // The solver's idle top-up (its float amount, a few wei above what the Safe holds) plus both sales' expected outputs.
    const prefunded = parseUnits("1500", 6)
    const id = `0x${"ab".repeat(32)}` as const
    const actions: Plan["actions"] = [
      { kind: "RepayWithCallback", subAccount: 0, amount: prefunded + q1 + q2 },
      { kind: "WithdrawCollateral", subAccount: 0, amount: low + medium },
      { kind: "SellCollateral", subAccount: 0, route: encodeUniswapRoute({ fee: 500 }), amount: low },
      { kind: "SellCollateral", subAccount: 0, route: encodeUniswapRoute({ fee: 3000 }), amount: medium },
      { kind: "EndCallback", subAccount: 0, amount: 0n },
    ]
    // Expected outputs the settlement takes (less 2 bp) at exactly today's quotes: nothing falls short.
    const expected = (q: bigint) => (q * 1_000_000n + 999_799n) / 999_800n
    const expectedOut = [undefined, undefined, expected(q1), expected(q2), undefined]
    const { plan, funding } = await settleSwapPlan(publicClient, { subAccounts: [id], actions }, { quoter: uniswap.quoterV2, tokens, expectedOut })
    const repay = plan.actions[0]?.amount as bigint
    expect(repay).toBe(prefunded + q1 + q2)
    const [p1, p2] = [funding.swapPaid?.[2] as bigint, funding.swapPaid?.[3] as bigint]
    expect(p1 + p2).toBe(repay - prefunded)
    expect(p1).toBe(((repay - prefunded) * q1) / (q1 + q2))
    expect(funding.swapPaid?.filter((x) => x !== undefined)).toHaveLength(2)
    const bounds = (held: bigint | undefined) => ({
      balances: held === undefined ? {} : { [usdc.toLowerCase()]: held },
      maxWithdraw: {},
      poolAsset: {},
      subAccounts: { [id]: { debt: parseUnits("1000000", 6), collateral: parseEther("1000"), loanToken: usdc.toLowerCase(), collateralToken: weth.toLowerCase() } },
    })
    for (const held of [undefined, 0n, 1n, prefunded - 3_071n]) {
      const { plan: out, binding } = clampPlanToChainBounds(plan, bounds(held), funding)
      expect(out?.actions[0]?.amount).toBe(p1 + p2 + (held ?? 0n))
      expect(binding.map((b) => `${b.bound}@${b.index}`)).toEqual(["balance@0"])
    }
    expect(clampPlanToChainBounds(plan, bounds(prefunded), funding).plan).toEqual(plan)
    // A one-pass boost: the purchase pays the settled supply in full, a leftover balance of the collateral trims nothing.
    const usdcIn = parseUnits("20000", 6)
    const boost = await settleSwapPlan(publicClient, { subAccounts: [id], actions: [
      { kind: "Borrow", subAccount: 0, amount: usdcIn },
      { kind: "BuyCollateral", subAccount: 0, route: encodeUniswapRoute({ fee: 500 }), amount: usdcIn },
      { kind: "SupplyCollateral", subAccount: 0, amount: 10n ** 30n },
    ] }, { quoter: uniswap.quoterV2, tokens })
    expect(boost.funding.swapPaid?.[1]).toBe(boost.plan.actions[2]?.amount)
    const leftover = { ...bounds(undefined), balances: { [weth.toLowerCase()]: 1_000n } }
    expect(clampPlanToChainBounds(boost.plan, leftover, boost.funding).plan).toEqual(boost.plan)
  })

  test("readSwapCurve quotes a buying curve in loan units on the pool's real liquidity: fee first, impact growing with size", async () => {
    const { weth, usdc } = stack.tokens
    const price = await oraclePrice(stack.markets.weth.oracle)
    const curve = await readSwapCurve(publicClient, { quoter: uniswap.quoterV2, fee: 500, collateral: weth, loan: usdc, price, collateralAmount: parseEther("1000"), decimals: 6, side: "buy" })
    const value = Number((parseEther("1000") * price) / 10n ** 36n) / 1e6
    ;[0.005, 0.05, 0.2, 0.4, 0.7, 1].forEach((f, k) => expect(curve.points[k]?.amountIn).toBeCloseTo(value * f, 4))
    expect(curve.points[0]?.shortfallBps).toBeGreaterThanOrEqual(4.99)
    for (let k = 1; k < curve.points.length; k++) expect(curve.points[k]?.shortfallBps).toBeGreaterThan(curve.points[k - 1]?.shortfallBps as number)
    // Quoted over a span (the keeper passes swapBuySpan: the borrow that takes the position to minHealth), the largest
    // size is the span, not the collateral's value: a boost from far above the band is not capped at the last quote.
    const span = parseUnits(String(Math.round(value * 3)), 6)
    const wide = await readSwapCurve(publicClient, { quoter: uniswap.quoterV2, fee: 500, collateral: weth, loan: usdc, price, collateralAmount: parseEther("1000"), decimals: 6, side: "buy", span })
    expect(wide.points.at(-1)?.amountIn).toBeCloseTo(Number(span) / 1e6, 4)
    expect(wide.points.at(-1)?.shortfallBps).toBeGreaterThan(curve.points.at(-1)?.shortfallBps as number)
  })

  test("a quote for a pool that does not exist fails with SwapQuoteError", async () => {
    const { weth, wbtc } = stack.tokens
    const quote = quoteExactInput(publicClient, { quoter: uniswap.quoterV2, tokenIn: wbtc, tokenOut: weth, route: { fee: feeTiers.low }, amountIn: 10n ** 8n })
    await expect(quote).rejects.toBeInstanceOf(SwapQuoteError)
    await expect(quote).rejects.toThrow(/could not quote the swap/)
  })
})
