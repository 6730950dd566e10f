import { waitForReceipt } from "@levpilot/devnet"
import { type Address, type Hex, encodeFunctionData, erc20Abi, parseEther, parseUnits } from "viem"
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts"
import { afterAll, beforeAll, describe, expect, test } from "vitest"
import { toKeeperAccount, toLeverageSafeAccount } from "@levpilot/sdk/accounts"
import { addKeeper, defaultAutomationConfig, getSubAccountState, sendRebalance, setAutomationConfig, setPolicy, setSponsor } from "@levpilot/sdk/actions"
import type { LeverageDeployment, LeverageDeployments } from "@levpilot/sdk/deployments"
import { TargetHealthBelowBorrowReachError, VenueAccountTakenError } from "@levpilot/sdk/errors"
import { type AaveStackAddresses, aavePoolAbi, aaveReserveParameters, aaveV3AdapterAbi, deployAaveStack, deployCrossVenueModule, poolConfiguratorAbi } from "@levpilot/devnet/aave"
import { morphoAbi, simOracleAbi } from "@levpilot/devnet/leverage"
import { type LeverageTestEnv, startLeverageTestEnv, testPolicy } from "@levpilot/devnet/leverageEnv"
import { AAVE_CAP_ACCRUAL_MARGIN_BPS, readAaveLimits } from "../bundler-client/src/keeper/aaveLimits.js"
import { readPortfolio, toChainPlan } from "../bundler-client/src/keeper/portfolio.js"
import { AAVE_DEFAULT_CLOSE_FACTOR, liquidationIncentiveFactor, liquidationLoss, solveByLoanAsset } from "../bundler-client/src/solver/solver.js"
import { DEFAULT_GAS_PER_ACTION } from "../bundler-client/src/solver/types.js"

/*
 * Issue 17 on the devnet (anvil, Alto, the ERC-7677 verifying paymaster): one Safe with a Morpho Blue WETH/USDC position
 * and an Aave v3 account (WETH collateral, USDC debt), both under policies of one LeverageModule deployed with both
 * venue adapters, no idle USDC. WETH falls from 3,000 to 2,400 on the one price source both venues read: Morpho stays
 * inside its band, Aave falls below it. The keeper's read (the SDK's lens read), the solver and the SDK's send path
 * move value from Morpho to Aave (collateral, or a borrow that repays Aave's debt) in one sponsored UserOperation, and
 * both sub-accounts end inside their bands.
 */

let env: LeverageTestEnv
let aave: AaveStackAddresses
let deployment: LeverageDeployment
let deployments: LeverageDeployments
const owner = privateKeyToAccount(generatePrivateKey())
const keeper = privateKeyToAccount(generatePrivateKey())
const sink = privateKeyToAccount(generatePrivateKey()).address
/** The Safe the first test builds (both venues); the second reads its reserve limits. */
let safeAddress: Address | undefined

beforeAll(async () => {
  env = await startLeverageTestEnv()
  const { stack, publicClient, funder } = env
  aave = await deployAaveStack({
    publicClient,
    deployer: funder as Parameters<typeof deployAaveStack>[0]["deployer"],
    tokens: stack.tokens,
    priceSources: { weth: stack.markets.weth.oracle, wbtc: stack.markets.wbtc.oracle },
  })
  // A LeverageModule whose adapters (fixed at deployment) are the Morpho Blue adapter and the Aave v3 adapter, with the
  // devnet's swap adapter.
  const module = await deployCrossVenueModule({
    publicClient,
    deployer: funder as Parameters<typeof deployCrossVenueModule>[0]["deployer"],
    entryPoint: env.devnet.addresses.entryPoint,
    stack,
    aave,
  })
  deployment = { ...env.deployment, leverageModule: module, adapters: { morphoBlue: stack.morphoBlueAdapter, aaveV3: aave.adapter } }
  deployments = { [env.devnet.chain.id]: deployment }
}, 240_000)

afterAll(async () => {
  await env?.stop()
})

async function aaveHealthFactor(account: Address): Promise<bigint> {
  const [, , , , , healthFactor] = await env.publicClient.readContract({ address: aave.pool, abi: aavePoolAbi, functionName: "getUserAccountData", args: [account] })
  return healthFactor
}

describe("cross-venue rebalance through Alto and the paymaster (Morpho Blue and Aave v3)", () => {
  test("a keeper UserOperation moves value from a healthy Morpho market to an Aave account below its band", async () => {
    const { stack, publicClient } = env
    const safe = await toLeverageSafeAccount({ client: publicClient, owners: [owner], deployments })
    safeAddress = safe.address
    await env.fund(safe.address)
    const client = env.clientFor(safe)
    const wait = async (sent: { type: string; userOperationHash?: Hex }) => {
      if (sent.type !== "userOperation" || !sent.userOperationHash) throw new TypeError("expected a UserOperation")
      expect((await client.waitForUserOperationReceipt({ hash: sent.userOperationHash })).success).toBe(true)
    }
    await wait(await setAutomationConfig(client, { config: defaultAutomationConfig, deployments }))
    await wait(await addKeeper(client, { keeper: keeper.address, validFor: 86_400, deployments }))
    await wait(await setSponsor(client, { paymaster: env.devnet.addresses.verifyingPaymaster, deployments }))
    // The Morpho market may give collateral (boostAllowed); the Aave account is a second sub-account of the same Safe.
    const morphoPolicy = await setPolicy(client, { policy: { ...testPolicy(stack.markets.weth, []), boostAllowed: true }, deployments })
    await wait(morphoPolicy)
    const aavePolicy = await setPolicy(client, {
      policy: { ...testPolicy({ id: aave.markets.wethUsdc, oracle: stack.markets.weth.oracle }, []), adapter: aave.adapter },
      deployments,
    })
    await wait(aavePolicy)
    // One policy per Aave account: another market id of the same account (WBTC/USDC) is refused by name, before
    // anything is sent (the module would refuse it too: VenueAccountTaken).
    const second = await setPolicy(client, {
      policy: { ...testPolicy({ id: aave.markets.wbtcUsdc, oracle: stack.markets.wbtc.oracle }, []), adapter: aave.adapter },
      deployments,
    }).catch((error: unknown) => error)
    expect(second).toBeInstanceOf(VenueAccountTakenError)
    expect(second).toMatchObject({ existing: aavePolicy.subAccount })
    // A boosting policy whose target no borrow reaches on Aave (WBTC: threshold 78% / LTV 73% = 1.0685) is refused by
    // name before anything is sent, at the adapter's own minBorrowHealth (the module: TargetHealthBelowBorrowReach);
    // the same band without boosts passes that check (and stops at the venue account's other policy).
    const band = { minHealth: parseEther("1.05"), targetHealth: parseEther("1.062"), maxHealth: parseEther("1.5") }
    const wbtcPolicy = (boostAllowed: boolean) => ({ ...testPolicy({ id: aave.markets.wbtcUsdc, oracle: stack.markets.wbtc.oracle }, []), ...band, adapter: aave.adapter, boostAllowed })
    const unreachable = await setPolicy(client, { policy: wbtcPolicy(true), deployments }).catch((error: unknown) => error)
    expect(unreachable).toBeInstanceOf(TargetHealthBelowBorrowReachError)
    const reach = (unreachable as TargetHealthBelowBorrowReachError).minBorrowHealth
    expect(reach >= (parseEther("1") * 7800n) / 7300n && reach <= (parseEther("1") * 7800n) / 7300n + 1n).toBe(true)
    expect(await setPolicy(client, { policy: wbtcPolicy(false), deployments }).catch((error: unknown) => error)).toBeInstanceOf(VenueAccountTakenError)

    // Morpho: 20 WETH, 25,018 USDC debt. Aave: 10 WETH, 18,000 USDC debt. The borrowed USDC leaves the Safe.
    await env.mint(stack.tokens.weth, safe.address, parseEther("30"))
    const borrowedMorpho = parseUnits("25018", 6)
    const borrowedAave = parseUnits("18000", 6)
    const params = stack.markets.weth.params
    const hash = await client.sendUserOperation({
      callGasLimit: 3_000_000n,
      calls: [
        { to: stack.tokens.weth, data: encodeFunctionData({ abi: erc20Abi, functionName: "approve", args: [stack.morpho, parseEther("20")] }) },
        { to: stack.morpho, data: encodeFunctionData({ abi: morphoAbi, functionName: "supplyCollateral", args: [params, parseEther("20"), safe.address, "0x"] }) },
        { to: stack.morpho, data: encodeFunctionData({ abi: morphoAbi, functionName: "borrow", args: [params, borrowedMorpho, 0n, safe.address, safe.address] }) },
        { to: stack.tokens.weth, data: encodeFunctionData({ abi: erc20Abi, functionName: "approve", args: [aave.pool, parseEther("10")] }) },
        { to: aave.pool, data: encodeFunctionData({ abi: aavePoolAbi, functionName: "supply", args: [stack.tokens.weth, parseEther("10"), safe.address, 0] }) },
        { to: aave.pool, data: encodeFunctionData({ abi: aavePoolAbi, functionName: "borrow", args: [stack.tokens.usdc, borrowedAave, 2n, 0, safe.address] }) },
        { to: stack.tokens.usdc, data: encodeFunctionData({ abi: erc20Abi, functionName: "transfer", args: [sink, borrowedMorpho + borrowedAave] }) },
      ],
    })
    expect((await client.waitForUserOperationReceipt({ hash })).success).toBe(true)
    // The reach is the Safe's account's (issue 17 rev17f (3)): with only WETH on Aave (83% / 80.5%: ~1.031) the same
    // WBTC/USDC band with boosts passes the reach check the empty account failed, and stops at the venue account's
    // other policy; the SDK read the adapter's minBorrowHealth(market, safe).
    expect(await setPolicy(client, { policy: wbtcPolicy(true), deployments }).catch((error: unknown) => error)).toBeInstanceOf(VenueAccountTakenError)

    const priceHash = await env.funder.writeContract({
      address: stack.markets.weth.oracle,
      abi: simOracleAbi,
      functionName: "setPrice",
      args: [parseEther("2400")],
      account: env.funder.account!,
      chain: env.devnet.chain,
    })
    await waitForReceipt(publicClient, { hash: priceHash })
    const before = await getSubAccountState(publicClient, { safe: safe.address, deployments })
    const morphoBefore = before.find((s) => s.subAccount === morphoPolicy.subAccount)!
    const aaveBefore = before.find((s) => s.subAccount === aavePolicy.subAccount)!
    expect(morphoBefore.band).toBe("inside")
    expect(aaveBefore.band).toBe("below")
    // The Aave sub-account's own figures at the lens's block (review brk17c F2): its health factor is the module's, its
    // one collateral (10 WETH) gives a liquidation price, its collateral value is the account's (equity + debt).
    expect(aaveBefore.aaveAccount?.healthFactor).toBe(aaveBefore.health)
    expect(aaveBefore.aaveAccount?.collateralHeld).toBe(parseEther("10"))
    expect(aaveBefore.liquidationPriceKnown).toBe(true)
    expect(aaveBefore.collateralValue).toBe((aaveBefore.equity as bigint) + aaveBefore.debt)
    expect(morphoBefore.aaveAccount).toBeUndefined()
    // The module's health of the Aave sub-account is Aave's own health factor.
    expect(await publicClient.readContract({ address: aave.adapter, abi: aaveV3AdapterAbi, functionName: "health", args: [aave.markets.wethUsdc, safe.address] })).toBe(
      await aaveHealthFactor(safe.address),
    )
    expect(await publicClient.readContract({ address: stack.tokens.usdc, abi: erc20Abi, functionName: "balanceOf", args: [safe.address] })).toBe(0n)

    // The keeper's read and the solver: one plan over both venues.
    const snapshot = await readPortfolio(publicClient, {
      safe: safe.address,
      deployment,
      risk: { tolerance: 0.01, horizon: 86_400, sigma: 0.8, mode: "autopilot" },
      costs: { gasPrice: 1e-9 * 3000, gasPerAction: DEFAULT_GAS_PER_ACTION, baseGas: 150_000, boostEdgeBps: 20 },
    } as Parameters<typeof readPortfolio>[1])
    const [result] = [...solveByLoanAsset(snapshot.input).values()]
    const plan = result?.plan
    expect(plan, JSON.stringify(result?.outcomes.map((o) => o.reason))).toBeDefined()
    // Either form moves value between the venues: collateral (withdraw on Morpho, supply on Aave) or debt (borrow on
    // Morpho, repay on Aave); the solver picks the cheaper. Both sub-accounts are in the plan.
    expect([...plan!.subAccounts].sort()).toEqual([morphoPolicy.subAccount.toLowerCase(), aavePolicy.subAccount.toLowerCase()].sort())
    const onMorpho = plan!.actions.filter((a) => plan!.subAccounts[a.subAccount] === morphoPolicy.subAccount.toLowerCase()).map((a) => a.kind)
    const onAave = plan!.actions.filter((a) => plan!.subAccounts[a.subAccount] === aavePolicy.subAccount.toLowerCase()).map((a) => a.kind)
    expect(onMorpho.every((k) => k === "WithdrawCollateral" || k === "Borrow"), onMorpho.join()).toBe(true)
    expect(onAave.every((k) => k === "SupplyCollateral" || k === "Repay"), onAave.join()).toBe(true)

    const keeperAccount = await toKeeperAccount({ client: publicClient, safe: safe.address, keeper, deployments })
    const keeperClient = env.clientFor(keeperAccount, { sponsored: true })
    const userOperationHash = await sendRebalance(keeperClient, { plan: toChainPlan(plan!), deployments })
    const receipt = await keeperClient.waitForUserOperationReceipt({ hash: userOperationHash })
    expect(receipt.success).toBe(true)
    expect(receipt.paymaster?.toLowerCase()).toBe(env.devnet.addresses.verifyingPaymaster.toLowerCase())

    const after = await getSubAccountState(publicClient, { safe: safe.address, deployments })
    const morphoAfter = after.find((s) => s.subAccount === morphoPolicy.subAccount)!
    const aaveAfter = after.find((s) => s.subAccount === aavePolicy.subAccount)!
    expect(aaveAfter.band).toBe("inside")
    expect(morphoAfter.band).toBe("inside")
    expect(morphoAfter.health < morphoBefore.health).toBe(true)
    expect(morphoAfter.health >= parseEther("1.4")).toBe(true) // toward its target, not past it
    expect(await aaveHealthFactor(safe.address)).toBeGreaterThanOrEqual(parseEther("1.2"))
    // Nothing stayed in the Safe: what left one venue all went into the other.
    for (const token of [stack.tokens.weth, stack.tokens.usdc])
      expect(await publicClient.readContract({ address: token, abi: erc20Abi, functionName: "balanceOf", args: [safe.address] })).toBe(0n)
  })

  test("the keeper's read gives the solver each Aave reserve's limits (liquidity, caps); frozen and paused reserves get no action that would revert", async () => {
    const { stack, publicClient, funder } = env
    const safe = safeAddress as Address
    expect(safe, "the first test builds the Safe").toBeDefined()
    const read = async () => {
      const snapshot = await readPortfolio(publicClient, {
        safe,
        deployment,
        risk: { tolerance: 0.01, horizon: 86_400, sigma: 0.8, mode: "threshold" },
        costs: { gasPrice: 1e-9 * 3000, gasPerAction: DEFAULT_GAS_PER_ACTION, baseGas: 150_000, boostEdgeBps: 20 },
      } as Parameters<typeof readPortfolio>[1])
      const aaveId = snapshot.chain.find((c) => c.policy.adapter.toLowerCase() === aave.adapter.toLowerCase())?.subAccount.toLowerCase()
      const sub = snapshot.input.subAccounts.find((x) => x.state.id === aaveId)
      if (!sub || !aaveId) throw new Error("no Aave sub-account in the snapshot")
      return { snapshot, sub, aaveId }
    }
    const reserve = (asset: Address) => publicClient.readContract({ address: aave.pool, abi: aavePoolAbi, functionName: "getReserveData", args: [asset] })
    const balance = (token: Address, of: Address) => publicClient.readContract({ address: token, abi: erc20Abi, functionName: "balanceOf", args: [of] })
    const supply = (token: Address) => publicClient.readContract({ address: token, abi: erc20Abi, functionName: "totalSupply" })
    const usdcReserve = await reserve(stack.tokens.usdc)
    const wethReserve = await reserve(stack.tokens.weth)

    // Open reserves: USDC lends its available liquidity (the 40M borrow cap is far), WETH takes supplies up to its cap;
    // a borrow is also held to the account's LTV room at the borrow (Aave refuses above it, "36"): its own fields (issue
    // 17 rev17f: the room before the plan, and the LTV a supply of the collateral adds room at), not folded.
    const open = await read()
    const usdcLiquidity = await balance(stack.tokens.usdc, usdcReserve.aTokenAddress)
    const limits = (await readAaveLimits(publicClient, deployment, open.snapshot.chain, safe))[open.aaveId]
    expect(limits?.debt.borrowable).toBe(usdcLiquidity)
    const ltvRoom = limits?.ltvBorrowable
    expect(ltvRoom).toBeDefined()
    expect(open.sub.state.borrowable).toBe(Number(usdcLiquidity) / 1e6)
    expect(open.snapshot.bounds.subAccounts[open.aaveId]?.borrowable).toBe(usdcLiquidity)
    expect(open.sub.state.ltvBorrowable).toBe(Number(ltvRoom) / 1e6)
    expect(open.snapshot.bounds.subAccounts[open.aaveId]?.ltvBorrowable).toBe(ltvRoom)
    expect(limits?.ltvGain?.ltvBps).toBe(BigInt(aaveReserveParameters.weth.ltv))
    expect(open.sub.state.collateralLtv).toBe(aaveReserveParameters.weth.ltv / 1e4)
    // The room less what the cap keeps back for accrual until inclusion (AAVE_CAP_ACCRUAL_MARGIN_BPS of the supply).
    const wethSupplied = await supply(wethReserve.aTokenAddress)
    const wethCapRoom = aaveReserveParameters.weth.supplyCap * 10n ** 18n - wethSupplied - (wethSupplied * AAVE_CAP_ACCRUAL_MARGIN_BPS + 9_999n) / 10_000n
    expect(Math.abs((open.sub.state.suppliable as number) / (Number(wethCapRoom) / 1e18) - 1)).toBeLessThan(1e-9)
    expect(open.sub.state.withdrawable).toBe(Number(await balance(stack.tokens.weth, wethReserve.aTokenAddress)) / 1e18)
    expect(open.sub.state.repayable).toBeUndefined()
    // A liquidation's cost by Aave's terms, from the live reserve: WETH's liquidationBonus (configuration bits 32-47,
    // in bps) and Aave v3.0.2's 50 % close factor, not Morpho's min(1.15, 1 / (1 - 0.3 (1 - LLTV))) on the whole debt.
    const wethBonus = Number((wethReserve.configuration.data >> 32n) & 0xffffn) / 1e4
    expect(wethBonus).toBe(aaveReserveParameters.weth.liquidationBonus / 1e4)
    expect(open.sub.state.liquidationIncentive).toBe(wethBonus)
    expect(open.sub.state.liquidationCloseFactor).toBe(AAVE_DEFAULT_CLOSE_FACTOR)
    expect(liquidationLoss(open.sub.state)).toBeCloseTo(open.sub.state.debt * 0.5 * (wethBonus - 1), 9)
    const morpho = open.snapshot.input.subAccounts.find((x) => x.state.id !== open.aaveId)
    expect(morpho?.state.liquidationIncentive).toBeUndefined()
    expect(liquidationLoss(morpho!.state)).toBeCloseTo(morpho!.state.debt * (liquidationIncentiveFactor(morpho!.state.lltv) - 1), 9)

    const configure = async (functionName: "setReserveFreeze" | "setReservePause", asset: Address, on: boolean) => {
      const hash = await funder.writeContract({ address: aave.poolConfigurator, abi: poolConfiguratorAbi, functionName, args: [asset, on], account: funder.account!, chain: env.devnet.chain })
      expect((await waitForReceipt(publicClient, { hash })).status).toBe("success")
    }
    // Frozen WETH: no supply (Aave refuses new exposure) but withdrawals still paid.
    await configure("setReserveFreeze", stack.tokens.weth, true)
    const frozen = await read()
    expect(frozen.sub.state.suppliable).toBe(0)
    expect(frozen.sub.state.withdrawable).toBe(open.sub.state.withdrawable)
    // Paused USDC: no borrow, no repayment.
    await configure("setReservePause", stack.tokens.usdc, true)
    const paused = await read()
    expect(paused.sub.state.borrowable).toBe(0)
    expect(paused.sub.state.repayable).toBe(0)
    expect(paused.snapshot.bounds.subAccounts[paused.aaveId]?.borrowable).toBe(0n)

    // A drop that takes the Aave account below its band: the solver plans nothing on it (every Aave action would
    // revert: supply on frozen WETH, repay on paused USDC) and says why.
    const priceHash = await funder.writeContract({ address: stack.markets.weth.oracle, abi: simOracleAbi, functionName: "setPrice", args: [parseEther("2000")], account: funder.account!, chain: env.devnet.chain })
    const moved = await waitForReceipt(publicClient, { hash: priceHash })
    const shocked = await read()
    // The snapshot sees the move (CI stop 30: a read pinned to a head that had not reached the move's block saw 2,400).
    expect(shocked.snapshot.blockNumber >= moved.blockNumber, `snapshot block ${shocked.snapshot.blockNumber} < move block ${moved.blockNumber}`).toBe(true)
    const results = [...solveByLoanAsset(shocked.snapshot.input).values()]
    const onAave = results.flatMap((r) => (r.plan ? r.plan.actions.filter((a) => r.plan?.subAccounts[a.subAccount] === shocked.aaveId) : []))
    expect(onAave).toEqual([])
    const outcome = results.flatMap((r) => r.outcomes).find((o) => o.id === shocked.aaveId)
    expect(outcome?.triggered).toBe(true)
    expect(outcome?.reason).toMatch(/no valid plan/)
    await configure("setReservePause", stack.tokens.usdc, false)
    await configure("setReserveFreeze", stack.tokens.weth, false)
  })
})
