import {
  type Account,
  type Address,
  type Chain,
  type Hex,
  type PublicClient,
  type Transport,
  type WalletClient,
  createPublicClient,
  createTestClient,
  createWalletClient,
  http,
  maxUint256,
  encodeErrorResult,
  parseAbi,
  parseEther,
  parseUnits,
} from "viem"
import { AaveDustIsMarketCollateralError, VenueRefusedError, decodeModuleError, getLeverageError, toModuleError } from "@levpilot/sdk/errors"
import { leverageModuleAbi } from "@levpilot/sdk/abis"
import { AAVE_DUST_THRESHOLD_BASE, buildAaveDustCollateralDisable, readAaveCollateral } from "@levpilot/sdk/utils"
import { type AaveLtvGain, aaveLtvRoomChange, readAaveLimits } from "../bundler-client/src/keeper/aaveLimits"
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts"
import { afterAll, beforeAll, describe, expect, test } from "vitest"
import {
  type AaveStackAddresses,
  aaveDataProviderAbi,
  aaveEthEMode,
  aaveEthEModeCategory,
  aavePoolAbi,
  aaveReserveParameters,
  aaveV3AdapterAbi,
  deployAaveStack,
  poolConfiguratorAbi,
} from "@levpilot/devnet/aave"
import { type Devnet, startDevnet, waitForReceipt } from "@levpilot/devnet"
import { type LeverageStackAddresses, deployLeverageStack, simOracleAbi, testTokenAbi } from "@levpilot/devnet/leverage"

let devnet: Devnet
let publicClient: PublicClient
let deployer: WalletClient<Transport, Chain, Account>
let user: WalletClient<Transport, Chain, Account>
let stack: LeverageStackAddresses
let aave: AaveStackAddresses

const WAD = 10n ** 18n

beforeAll(async () => {
  devnet = await startDevnet({ bundler: false })
  const transport = http(devnet.rpcUrl)
  publicClient = createPublicClient({ chain: devnet.chain, transport, pollingInterval: 50 }) as PublicClient
  const wallet = (key: Hex) => createWalletClient({ chain: devnet.chain, transport, account: privateKeyToAccount(key), pollingInterval: 50 })
  deployer = wallet(devnet.keys.deployer)
  user = wallet(devnet.keys.spare[0])
  stack = await deployLeverageStack({ publicClient, deployer, entryPoint: devnet.addresses.entryPoint })
  aave = await deployAaveStack({
    publicClient,
    deployer,
    tokens: stack.tokens,
    priceSources: { weth: stack.markets.weth.oracle, wbtc: stack.markets.wbtc.oracle },
  })
})

afterAll(async () => {
  await devnet?.stop()
})

async function send(wallet: WalletClient<Transport, Chain, Account>, request: { address: Address; abi: readonly unknown[]; functionName: string; args: readonly unknown[] }) {
  const hash = await wallet.writeContract({ ...request, gas: 3_000_000n } as Parameters<typeof wallet.writeContract>[0])
  const receipt = await waitForReceipt(publicClient, { hash })
  expect(receipt.status).toBe("success")
}

async function supply(token: Address, amount: bigint) {
  await send(deployer, { address: token, abi: testTokenAbi, functionName: "mint", args: [user.account.address, amount] })
  await send(user, { address: token, abi: testTokenAbi, functionName: "approve", args: [aave.pool, maxUint256] })
  await send(user, { address: aave.pool, abi: aavePoolAbi, functionName: "supply", args: [token, amount, user.account.address, 0] })
}

async function borrow(token: Address, amount: bigint) {
  await send(user, { address: aave.pool, abi: aavePoolAbi, functionName: "borrow", args: [token, amount, 2n, 0, user.account.address] })
}

async function aaveHealthFactor(account: Address) {
  const [, , , , , healthFactor] = await publicClient.readContract({ address: aave.pool, abi: aavePoolAbi, functionName: "getUserAccountData", args: [account] })
  return healthFactor
}

/** HealthLib.health over the adapter's marketState: collateral x price / 1e36 x lltv / debt, rounded down twice. */
async function frameHealth(market: Hex, account: Address) {
  const state = await publicClient.readContract({ address: aave.adapter, abi: aaveV3AdapterAbi, functionName: "marketState", args: [market, account] })
  return (((state.collateral * state.price) / 10n ** 36n) * state.lltv) / state.debt
}

describe("Aave v3 on the devnet (@aave/core-v3 1.19.3 artifacts)", () => {
  test("links the seven logic libraries into the Pool at the artifact's placeholders", async () => {
    const code = (await publicClient.getCode({ address: aave.poolImplementation })) ?? "0x"
    for (const name of ["BorrowLogic", "BridgeLogic", "EModeLogic", "FlashLoanLogic", "LiquidationLogic", "PoolLogic", "SupplyLogic"]) {
      const library = aave.libraries[name] ?? ""
      expect(library, name).toMatch(/^0x[0-9a-fA-F]{40}$/)
      expect(code.includes(library.slice(2).toLowerCase()), `${name} linked`).toBe(true)
    }
    expect(code.includes("__$")).toBe(false)
    const implementationSlot = "0x360894a13ba1a3210667c828492db98dca3e2076cc3735a920a3ca505d382bbc"
    const slot = await publicClient.getStorageAt({ address: aave.pool, slot: implementationSlot })
    expect(`0x${slot?.slice(26)}`.toLowerCase()).toBe(aave.poolImplementation.toLowerCase())
    expect(await publicClient.readContract({ address: aave.adapter, abi: aaveV3AdapterAbi, functionName: "POOL" })).toBe(aave.pool)
  })

  test("lists USDC, WETH, WBTC and wstETH with their risk parameters, caps and the ETH e-mode category", async () => {
    const reserves = await publicClient.readContract({ address: aave.pool, abi: aavePoolAbi, functionName: "getReservesList" })
    expect(reserves).toEqual([aave.tokens.usdc, aave.tokens.weth, aave.tokens.wbtc, aave.tokens.wsteth])
    for (const key of ["usdc", "weth", "wbtc", "wsteth"] as const) {
      const p = aaveReserveParameters[key]
      const [, ltv, liquidationThreshold, liquidationBonus, reserveFactor, collateral, borrowing, stable, active, frozen] = await publicClient.readContract({
        address: aave.dataProvider,
        abi: aaveDataProviderAbi,
        functionName: "getReserveConfigurationData",
        args: [aave.tokens[key]],
      })
      expect([ltv, liquidationThreshold, liquidationBonus, reserveFactor]).toEqual([BigInt(p.ltv), BigInt(p.liquidationThreshold), BigInt(p.liquidationBonus), BigInt(p.reserveFactor)])
      expect([collateral, borrowing, stable, active, frozen]).toEqual([true, true, false, true, false])
      const [borrowCap, supplyCap] = await publicClient.readContract({ address: aave.dataProvider, abi: aaveDataProviderAbi, functionName: "getReserveCaps", args: [aave.tokens[key]] })
      expect([borrowCap, supplyCap]).toEqual([p.borrowCap, p.supplyCap])
      expect(await publicClient.readContract({ address: aave.dataProvider, abi: aaveDataProviderAbi, functionName: "getReserveEModeCategory", args: [aave.tokens[key]] })).toBe(BigInt(p.eModeCategory))
    }
    const category = await publicClient.readContract({ address: aave.pool, abi: aavePoolAbi, functionName: "getEModeCategoryData", args: [aaveEthEMode] })
    expect(category).toMatchObject({ ltv: aaveEthEModeCategory.ltv, liquidationThreshold: aaveEthEModeCategory.liquidationThreshold, label: "ETH correlated" })
    expect(await publicClient.readContract({ address: aave.pool, abi: aavePoolAbi, functionName: "FLASHLOAN_PREMIUM_TOTAL" })).toBe(5n)
    for (const market of Object.values(aave.markets))
      expect(await publicClient.readContract({ address: aave.adapter, abi: aaveV3AdapterAbi, functionName: "isMarket", args: [market] })).toBe(true)
  })

  test("an account's health through the adapter equals getUserAccountData, after a price move and a year of interest", async () => {
    const account = user.account.address
    await supply(aave.tokens.weth, parseEther("10"))
    await supply(aave.tokens.wbtc, parseUnits("0.5", 8))
    await borrow(aave.tokens.usdc, parseUnits("30000", 6))

    const check = async () => {
      const healthFactor = await aaveHealthFactor(account)
      for (const market of [aave.markets.wethUsdc, aave.markets.wbtcUsdc]) {
        expect(await publicClient.readContract({ address: aave.adapter, abi: aaveV3AdapterAbi, functionName: "health", args: [market, account] })).toBe(healthFactor)
        const frame = await frameHealth(market, account)
        // The frame is the exact threshold-weighted sum (SECURITY row 64); Aave's factor uses the average threshold
        // floored to whole bps, so the two differ by at most 1 bps of collateral / debt (under 2 bps of the factor).
        const gap = frame > healthFactor ? frame - healthFactor : healthFactor - frame
        expect(gap < healthFactor / 5_000n, `frame ${frame} vs Aave ${healthFactor}`).toBe(true)
      }
      return healthFactor
    }
    const first = await check()
    expect(first).toBeGreaterThan(WAD)

    await send(deployer, { address: stack.markets.weth.oracle, abi: simOracleAbi, functionName: "setPrice", args: [parseEther("2500")] })
    const testClient = createTestClient({ chain: devnet.chain, transport: http(devnet.rpcUrl), mode: "anvil" })
    await testClient.increaseTime({ seconds: 365 * 24 * 3600 })
    await testClient.mine({ blocks: 1 })
    const later = await check()
    expect(later).toBeLessThan(first)
  })

  test("an e-mode account: wstETH against WETH at the category's 95% threshold", async () => {
    const emode = createWalletClient({ chain: devnet.chain, transport: http(devnet.rpcUrl), account: privateKeyToAccount(devnet.keys.spare[1]), pollingInterval: 50 })
    const account = emode.account.address
    await send(emode, { address: aave.pool, abi: aavePoolAbi, functionName: "setUserEMode", args: [aaveEthEMode] })
    await send(deployer, { address: aave.tokens.wsteth, abi: testTokenAbi, functionName: "mint", args: [account, parseEther("10")] })
    await send(emode, { address: aave.tokens.wsteth, abi: testTokenAbi, functionName: "approve", args: [aave.pool, maxUint256] })
    await send(emode, { address: aave.pool, abi: aavePoolAbi, functionName: "supply", args: [aave.tokens.wsteth, parseEther("10"), account, 0] })
    await send(emode, { address: aave.pool, abi: aavePoolAbi, functionName: "borrow", args: [aave.tokens.weth, parseEther("9"), 2n, 0, account] })

    const market = aave.markets.wstethWethEMode
    const healthFactor = await aaveHealthFactor(account)
    expect(await publicClient.readContract({ address: aave.adapter, abi: aaveV3AdapterAbi, functionName: "health", args: [market, account] })).toBe(healthFactor)
    const state = await publicClient.readContract({ address: aave.adapter, abi: aaveV3AdapterAbi, functionName: "marketState", args: [market, account] })
    expect(state.lltv).toBe(parseEther("0.95"))
    expect(state.debt).toBe(parseEther("9"))
    expect(await publicClient.readContract({ address: aave.adapter, abi: aaveV3AdapterAbi, functionName: "liquidationIncentiveFactor", args: [market] })).toBe(parseEther("1.01"))
    // An account outside the pinned category is refused by name.
    await expect(
      publicClient.readContract({ address: aave.adapter, abi: aaveV3AdapterAbi, functionName: "health", args: [market, user.account.address] }),
    ).rejects.toThrow(`EModeMismatch(bytes32 market, address account, uint8 expected, uint256 actual)`)
  })

  test("a second deployment on the same chain sends nothing", async () => {
    // The deployer's nonce is what "sends nothing" means; the block number is read without viem's cache.
    const nonce = await publicClient.getTransactionCount({ address: deployer.account.address })
    const block = await publicClient.getBlockNumber({ cacheTime: 0 })
    const again = await deployAaveStack({
      publicClient,
      deployer,
      tokens: { ...stack.tokens, wsteth: aave.tokens.wsteth },
      priceSources: { weth: stack.markets.weth.oracle, wbtc: stack.markets.wbtc.oracle },
    })
    expect(again).toEqual(aave)
    expect(await publicClient.getTransactionCount({ address: deployer.account.address })).toBe(nonce)
    expect(await publicClient.getBlockNumber({ cacheTime: 0 })).toBe(block)
  })
})

// Issue 17 review (rev17c) item 3: the SDK names a venue's refusal from the real contracts' revert data.
describe("VenueRefusedError from the real Aave v3 contracts' revert data", () => {
  /** The raw revert data of a failed read or simulation. */
  const revertData = (error: unknown): Hex => {
    let data: Hex | undefined
    ;(error as { walk: (fn: (e: unknown) => boolean) => unknown }).walk((e) => {
      const d = (e as { raw?: unknown; data?: unknown }).raw ?? (e as { data?: unknown }).data
      if (typeof d === "string" && d.startsWith("0x")) data = d as Hex
      return false
    })
    if (!data) throw new Error("no revert data")
    return data
  }
  const caught = async (p: Promise<unknown>) => p.then(() => { throw new Error("did not revert") }, (e: unknown) => e)

  test("the adapter's EModeMismatch (an account outside the market's e-mode category) and the router's FlashLiquidityShort", async () => {
    const e = getLeverageError(await caught(publicClient.readContract({ address: aave.adapter, abi: aaveV3AdapterAbi, functionName: "health", args: [aave.markets.wstethWethEMode, user.account.address] })))
    expect(e).toBeInstanceOf(VenueRefusedError)
    expect([(e as VenueRefusedError).errorName, (e as VenueRefusedError).source, (e as VenueRefusedError).args.expected]).toEqual(["EModeMismatch", "adapter", 1])
    const routerAbi = parseAbi(["function FLASH_ROUTER() view returns (address)", "function flashWithCallback(address asset, uint256 amount, bool repay, bytes data)"])
    const router = await publicClient.readContract({ address: aave.adapter, abi: routerAbi, functionName: "FLASH_ROUTER" })
    const flash = await caught(publicClient.simulateContract({ address: router, abi: routerAbi, functionName: "flashWithCallback", args: [aave.tokens.usdc, 10n ** 30n, false, "0x"], account: user.account.address }))
    const data = revertData(flash)
    // Wrapped as the module wraps it when the router is a plan's callback action.
    const named = toModuleError(decodeModuleError(encodeErrorResult({ abi: leverageModuleAbi, errorName: "ActionFailed", args: [0n, data] } as never)) as never) as VenueRefusedError
    expect(named).toBeInstanceOf(VenueRefusedError)
    expect([named.errorName, named.source, named.index, named.args.amount]).toEqual(["FlashLiquidityShort", "flash-router", 0, 10n ** 30n])
  })

  test("the pool's Error('29') on a paused reserve is RESERVE_PAUSED, Error('28') on a frozen one RESERVE_FROZEN", async () => {
    const configurator = (await publicClient.readContract({ address: aave.poolAddressesProvider, abi: parseAbi(["function getPoolConfigurator() view returns (address)"]), functionName: "getPoolConfigurator" })) as Address
    const attempt = async () => {
      await send(deployer, { address: aave.tokens.weth, abi: testTokenAbi, functionName: "mint", args: [user.account.address, parseEther("1")] })
      return revertData(await caught(publicClient.simulateContract({ address: aave.pool, abi: aavePoolAbi, functionName: "supply", args: [aave.tokens.weth, parseEther("1"), user.account.address, 0], account: user.account.address })))
    }
    const wrap = (data: Hex) => toModuleError(decodeModuleError(encodeErrorResult({ abi: leverageModuleAbi, errorName: "ActionFailed", args: [3n, data] } as never)) as never) as VenueRefusedError
    for (const [fn, code, name] of [["setReservePause", "29", "RESERVE_PAUSED"], ["setReserveFreeze", "28", "RESERVE_FROZEN"]] as const) {
      await send(deployer, { address: configurator, abi: poolConfiguratorAbi, functionName: fn, args: [aave.tokens.weth, true] })
      const v = wrap(await attempt())
      await send(deployer, { address: configurator, abi: poolConfiguratorAbi, functionName: fn, args: [aave.tokens.weth, false] })
      expect(v).toBeInstanceOf(VenueRefusedError)
      expect([v.code, v.errorName, v.source, v.index]).toEqual([code, name, "venue", 3])
    }
  })
})

// Issue 17 review (rev17c) items 1 and 2, on the real Pool: the keeper's read bounds a withdrawal of the scope's reserve
// by the Safe's own aToken balance of it (`collateralHeld`), below the account-wide weighted collateral when the account
// holds several collateral reserves, and reads the user configuration bitmap: a reserve switched off counts nothing.
describe("readAaveLimits on the real Pool: collateralHeld of a multi-collateral account, a reserve switched off as collateral", () => {
  const ownerOf = (key: Hex) => createWalletClient({ chain: devnet.chain, transport: http(devnet.rpcUrl), account: privateKeyToAccount(key), pollingInterval: 50 })
  /** Mints each token to the owner and supplies it to the Pool on its own behalf. */
  const supplyAll = async (owner: ReturnType<typeof ownerOf>, supplies: readonly (readonly [Address, bigint])[]) => {
    for (const [token, amount] of supplies) {
      await send(deployer, { address: token, abi: testTokenAbi, functionName: "mint", args: [owner.account.address, amount] })
      await send(owner, { address: token, abi: testTokenAbi, functionName: "approve", args: [aave.pool, maxUint256] })
      await send(owner, { address: aave.pool, abi: aavePoolAbi, functionName: "supply", args: [token, amount, owner.account.address, 0] })
    }
  }
  /** Sets WBTC's LTV (bps), its threshold and bonus as deployed (governance winding it down at 0). */
  const setWbtcLtv = async (ltv: number) => {
    const configurator = (await publicClient.readContract({ address: aave.poolAddressesProvider, abi: parseAbi(["function getPoolConfigurator() view returns (address)"]), functionName: "getPoolConfigurator" })) as Address
    const p = aaveReserveParameters.wbtc
    await send(deployer, { address: configurator, abi: poolConfiguratorAbi, functionName: "configureReserveAsCollateral", args: [aave.tokens.wbtc, BigInt(ltv), BigInt(p.liquidationThreshold), BigInt(p.liquidationBonus)] })
  }
  test("WETH + WBTC supplied: collateralHeld is the aWETH balance, below the frame's collateral; WBTC switched off: held 0, no supply room", async () => {
    const owner = ownerOf(devnet.keys.spare[2])
    const account = owner.account.address
    await supplyAll(owner, [[aave.tokens.weth, parseEther("2")], [aave.tokens.wbtc, parseUnits("0.2", 8)]])
    const deployment = { adapters: { morphoBlue: "0x0000000000000000000000000000000000000001", aaveV3: aave.adapter } } as never
    const sub = (market: Hex, id: string) => ({ subAccount: id, policy: { adapter: aave.adapter, market } }) as never
    const WETH_ID = `0x${"e1".repeat(32)}`
    const WBTC_ID = `0x${"b1".repeat(32)}`
    // Every figure is read at one pinned block: the aWETH balance grows each block while anyone borrows WETH from the Pool.
    const read = (at: bigint) => readAaveLimits(publicClient, deployment, [sub(aave.markets.wethUsdc, WETH_ID), sub(aave.markets.wbtcUsdc, WBTC_ID)], account, at)
    const aTokenOf = async (asset: Address) => ((await publicClient.readContract({ address: aave.pool, abi: parseAbi(["struct R { uint256 c; uint128 a; uint128 b; uint128 d; uint128 e; uint128 f; uint40 g; uint16 id; address aToken; address s; address v; address i; uint128 t; uint128 u; uint128 w; }", "function getReserveData(address) view returns (R)"]), functionName: "getReserveData", args: [asset] })) as { aToken: Address }).aToken
    const aWethToken = await aTokenOf(aave.tokens.weth)
    const aWethAt = (at: bigint) => publicClient.readContract({ address: aWethToken, abi: testTokenAbi, functionName: "balanceOf", args: [account], blockNumber: at })
    const frameAt = (at: bigint) => publicClient.readContract({ address: aave.adapter, abi: aaveV3AdapterAbi, functionName: "marketState", args: [aave.markets.wethUsdc, account], blockNumber: at })
    // The SDK's read for its rule book (validateRebalance: RuleMarketState.collateralHeld) gives the same.
    const sdkHeld = async (at: bigint) => (await readAaveCollateral(publicClient, { deployment, safe: account, collaterals: [aave.tokens.weth, aave.tokens.wbtc], blockNumber: at })).map((c) => c?.held)
    const at0 = await publicClient.getBlockNumber({ cacheTime: 0 })
    const aWeth = await aWethAt(at0)
    const before = await read(at0)
    expect(before[WETH_ID]?.collateralHeld).toBe(aWeth)
    expect(await sdkHeld(at0)).toEqual([before[WETH_ID]?.collateralHeld, before[WBTC_ID]?.collateralHeld])
    expect((await frameAt(at0)).collateral).toBeGreaterThan(aWeth) // the WBTC counts in the frame's collateral, not in what WETH can be withdrawn
    expect(before[WBTC_ID]?.collateralHeld).toBeGreaterThan(0n)
    await send(owner, { address: aave.pool, abi: parseAbi(["function setUserUseReserveAsCollateral(address asset, bool useAsCollateral)"]), functionName: "setUserUseReserveAsCollateral", args: [aave.tokens.wbtc, false] })
    const at1 = await publicClient.getBlockNumber({ cacheTime: 0 }) // not viem's cached number from before the send
    const aWeth1 = await aWethAt(at1)
    const after = await read(at1)
    expect(after[WBTC_ID]?.collateralHeld).toBe(0n)
    expect([after[WBTC_ID]?.collateral.suppliable, after[WBTC_ID]?.collateral.withdrawable]).toEqual([0n, 0n])
    expect(after[WETH_ID]?.collateralHeld).toBe(aWeth1)
    expect(await sdkHeld(at1)).toEqual([aWeth1, 0n])
    // Aave counts nothing of it: the frame's collateral is now the WETH alone (rounded down).
    const alone = await frameAt(at1)
    expect(alone.collateral <= aWeth1 && aWeth1 - alone.collateral < 10n ** 12n).toBe(true)
  })

  test("a first supply Aave does not enable (WBTC at LTV 0): enabled false, no supply room; back at its LTV: enabled", async () => {
    const owner = ownerOf(devnet.keys.spare[3])
    const account = owner.account.address
    await supplyAll(owner, [[aave.tokens.weth, parseEther("2")]])
    const deployment = { adapters: { morphoBlue: "0x0000000000000000000000000000000000000001", aaveV3: aave.adapter } } as never
    const WBTC_ID = `0x${"b2".repeat(32)}`
    const read = async () => ({
      sdk: (await readAaveCollateral(publicClient, { deployment, safe: account, collaterals: [aave.tokens.weth, aave.tokens.wbtc] }))[1],
      keeper: (await readAaveLimits(publicClient, deployment, [{ subAccount: WBTC_ID, policy: { adapter: aave.adapter, market: aave.markets.wbtcUsdc } } as never], account))[WBTC_ID]?.collateral.suppliable,
    })
    const before = await read()
    expect(before.sdk).toEqual({ held: 0n, enabled: true, withdrawBlocked: false })
    expect(before.keeper).toBeGreaterThan(0n)
    await setWbtcLtv(0)
    try {
      expect(await read()).toEqual({ sdk: { held: 0n, enabled: false, withdrawBlocked: false }, keeper: 0n })
    } finally {
      await setWbtcLtv(aaveReserveParameters.wbtc.ltv)
    }
    expect((await read()).sdk).toEqual({ held: 0n, enabled: true, withdrawBlocked: false })
  })

  test("a zero-LTV collateral held while borrowing blocks the other collateral's withdrawal (Aave 57): SDK and keeper see it", async () => {
    const owner = ownerOf(devnet.keys.spare[4])
    const account = owner.account.address
    await supplyAll(owner, [[aave.tokens.weth, parseEther("2")], [aave.tokens.wbtc, parseUnits("0.2", 8)]])
    await send(owner, { address: aave.pool, abi: aavePoolAbi, functionName: "borrow", args: [aave.tokens.usdc, parseUnits("1000", 6), 2n, 0, account] })
    const deployment = { adapters: { morphoBlue: "0x0000000000000000000000000000000000000001", aaveV3: aave.adapter } } as never
    const WETH_ID = `0x${"e3".repeat(32)}`
    const read = async () => ({
      sdk: (await readAaveCollateral(publicClient, { deployment, safe: account, collaterals: [aave.tokens.weth] }))[0]?.withdrawBlocked,
      keeper: (await readAaveLimits(publicClient, deployment, [{ subAccount: WETH_ID, policy: { adapter: aave.adapter, market: aave.markets.wethUsdc } } as never], account))[WETH_ID]?.collateral.withdrawable,
    })
    const withdrawOne = () => publicClient.simulateContract({ account, address: aave.pool, abi: aavePoolAbi, functionName: "withdraw", args: [aave.tokens.weth, 1n, account] })
    const before = await read()
    expect(before.sdk).toBe(false)
    expect(before.keeper).toBeGreaterThan(0n)
    await withdrawOne()
    await setWbtcLtv(0)
    try {
      await expect(withdrawOne()).rejects.toThrow(/57/)
      expect(await read()).toEqual({ sdk: true, keeper: 0n })
    } finally {
      await setWbtcLtv(aaveReserveParameters.wbtc.ltv)
    }
    expect((await read()).sdk).toBe(false)
  })
})

// Issue 17, review rev17f (2): the keeper bounds a borrow by the LTV room AT the borrow, the room before the plan plus
// what the plan supplied before it (`ltvGain`, `aaveLtvRoomChange`): a flash-looped boost supplies first and borrows in
// the callback. On the real Pool: after a supply of `x`, Aave lends `ltvBorrowable + aaveLtvRoomChange(x)` and refuses
// 5 bps of the collateral more ("36"), on a multi-collateral account and on an e-mode account (the category's LTV).
describe("readAaveLimits on the real Pool: the LTV room after a supply (ltvGain)", () => {
  const fresh = async () => {
    const owner = createWalletClient({ chain: devnet.chain, transport: http(devnet.rpcUrl), account: privateKeyToAccount(generatePrivateKey()), pollingInterval: 50 })
    await createTestClient({ chain: devnet.chain, transport: http(devnet.rpcUrl), mode: "anvil" }).setBalance({ address: owner.account.address, value: parseEther("10") })
    return owner
  }
  const supplyAs = async (owner: WalletClient<Transport, Chain, Account>, token: Address, amount: bigint) => {
    await send(deployer, { address: token, abi: testTokenAbi, functionName: "mint", args: [owner.account.address, amount] })
    await send(owner, { address: token, abi: testTokenAbi, functionName: "approve", args: [aave.pool, maxUint256] })
    await send(owner, { address: aave.pool, abi: aavePoolAbi, functionName: "supply", args: [token, amount, owner.account.address, 0] })
  }
  const deployment = () => ({ adapters: { morphoBlue: "0x0000000000000000000000000000000000000001", aaveV3: aave.adapter } }) as never
  const ID = `0x${"a7".repeat(32)}`
  const canBorrow = (account: Address, asset: Address, amount: bigint) =>
    publicClient.simulateContract({ account, address: aave.pool, abi: aavePoolAbi, functionName: "borrow", args: [asset, amount, 2n, 0, account] }).then(
      () => "lent",
      (e: unknown) => (/reverted with the following reason:\s+36\b/.test(String(e)) ? "36" : String(e).slice(0, 300)),
    )

  const cases = [
    { name: "WETH + WBTC collateral, USDC debt (WETH LTV 80.5 %)", market: () => aave.markets.wethUsdc, collateral: () => aave.tokens.weth, debt: () => aave.tokens.usdc, extra: () => [aave.tokens.wbtc, parseUnits("0.2", 8)] as const, borrowed: parseUnits("1000", 6), supply: parseEther("1"), ltv: () => BigInt(aaveReserveParameters.weth.ltv), emode: false },
    { name: "e-mode wstETH collateral, WETH debt (the category's LTV)", market: () => aave.markets.wstethWethEMode, collateral: () => aave.tokens.wsteth, debt: () => aave.tokens.weth, extra: () => undefined, borrowed: parseEther("3"), supply: parseEther("2"), ltv: () => BigInt(aaveEthEModeCategory.ltv), emode: true },
  ]
  for (const c of cases) {
    test(`${c.name}: after a supply Aave lends the pre-plan room plus aaveLtvRoomChange(supply), not 5 bps of the collateral more`, async () => {
      const owner = await fresh()
      const account = owner.account.address
      if (c.emode) await send(owner, { address: aave.pool, abi: aavePoolAbi, functionName: "setUserEMode", args: [aaveEthEMode] })
      await supplyAs(owner, c.collateral(), parseEther("5"))
      const extra = c.extra()
      if (extra) await supplyAs(owner, extra[0], extra[1])
      await send(owner, { address: aave.pool, abi: aavePoolAbi, functionName: "borrow", args: [c.debt(), c.borrowed, 2n, 0, account] })
      const limits = (await readAaveLimits(publicClient, deployment(), [{ subAccount: ID, policy: { adapter: aave.adapter, market: c.market() } } as never], account))[ID]
      const room = limits?.ltvBorrowable as bigint
      const gain = limits?.ltvGain as AaveLtvGain
      expect(room).toBeGreaterThan(0n)
      expect(gain.ltvBps).toBe(c.ltv())
      // Before the supply Aave refuses the room after it; after the supply it lends it.
      const at = room + aaveLtvRoomChange(gain, c.supply)
      expect(await canBorrow(account, c.debt(), at)).toBe("36")
      await supplyAs(owner, c.collateral(), c.supply)
      expect(await canBorrow(account, c.debt(), at)).toBe("lent")
      const total = gain.totalCollateralBase + (c.supply * gain.collateralPrice) / 10n ** BigInt(gain.collateralDecimals)
      const past = at + (total * 10n ** BigInt(gain.debtDecimals)) / gain.debtPrice / 2_000n
      expect(await canBorrow(account, c.debt(), past)).toBe("36")
    })
  }
})

describe("Aave dust collateral on the real Pool (break-it review of issue 10: 1 wei of an aToken sent to the account)", () => {
  test("the keeper's read names it, the SDK's owner transaction switches it off, and getUserAccountData no longer counts it", async () => {
    const fresh = async () => {
      const w = createWalletClient({ chain: devnet.chain, transport: http(devnet.rpcUrl), account: privateKeyToAccount(generatePrivateKey()), pollingInterval: 50 })
      await createTestClient({ chain: devnet.chain, transport: http(devnet.rpcUrl), mode: "anvil" }).setBalance({ address: w.account.address, value: parseEther("10") })
      return w
    }
    const supplyAs = async (owner: WalletClient<Transport, Chain, Account>, token: Address, amount: bigint) => {
      await send(deployer, { address: token, abi: testTokenAbi, functionName: "mint", args: [owner.account.address, amount] })
      await send(owner, { address: token, abi: testTokenAbi, functionName: "approve", args: [aave.pool, maxUint256] })
      await send(owner, { address: aave.pool, abi: aavePoolAbi, functionName: "supply", args: [token, amount, owner.account.address, 0] })
    }
    const owner = await fresh()
    const attacker = await fresh()
    const account = owner.account.address
    await supplyAs(owner, aave.tokens.weth, parseEther("5"))
    await send(owner, { address: aave.pool, abi: aavePoolAbi, functionName: "borrow", args: [aave.tokens.usdc, parseUnits("1000", 6), 2n, 0, account] })
    const deployment = { adapters: { morphoBlue: "0x0000000000000000000000000000000000000001", aaveV3: aave.adapter } } as never
    const ID = `0x${"d5".repeat(32)}`
    const read = async (at?: bigint) => (await readAaveLimits(publicClient, deployment, [{ subAccount: ID, policy: { adapter: aave.adapter, market: aave.markets.wethUsdc } } as never], account, at))[ID]
    expect((await read())?.dustCollateral).toEqual([])
    // The grief: the attacker supplies WBTC and sends the account 1 wei of aWBTC; Aave v3.0.2 enables it as collateral.
    await supplyAs(attacker, aave.tokens.wbtc, parseUnits("0.01", 8))
    const reserveAbi = parseAbi(["struct R { uint256 c; uint128 a; uint128 b; uint128 d; uint128 e; uint128 f; uint40 g; uint16 id; address aToken; address s; address v; address i; uint128 t; uint128 u; uint128 w; }", "function getReserveData(address) view returns (R)"])
    const aWbtc = ((await publicClient.readContract({ address: aave.pool, abi: reserveAbi, functionName: "getReserveData", args: [aave.tokens.wbtc] })) as { aToken: Address }).aToken
    await send(attacker, { address: aWbtc, abi: parseAbi(["function transfer(address to, uint256 amount) returns (bool)"]), functionName: "transfer", args: [account, 1n] })
    const accountData = (at: bigint) => publicClient.readContract({ address: aave.pool, abi: aavePoolAbi, functionName: "getUserAccountData", args: [account], blockNumber: at })
    // The account's aWETH grows each block while anyone borrows WETH from the Pool (earlier tests do): the collateral
    // before and after the switch-off are read at known blocks, and the WETH's own growth between them is counted.
    const aWeth = ((await publicClient.readContract({ address: aave.pool, abi: reserveAbi, functionName: "getReserveData", args: [aave.tokens.weth] })) as { aToken: Address }).aToken
    const wethBase = async (at: bigint) => {
      const [held, price] = await Promise.all([
        publicClient.readContract({ address: aWeth, abi: testTokenAbi, functionName: "balanceOf", args: [account], blockNumber: at }),
        publicClient.readContract({ address: aave.aaveOracle, abi: parseAbi(["function getAssetPrice(address) view returns (uint256)"]), functionName: "getAssetPrice", args: [aave.tokens.weth], blockNumber: at }),
      ])
      return (held * price) / WAD // Aave's value of a reserve balance in base currency, rounded down (WETH: 18 decimals)
    }
    const at0 = await publicClient.getBlockNumber({ cacheTime: 0 })
    const before = await accountData(at0)
    const wethBase0 = await wethBase(at0)
    const dust = (await read(at0))?.dustCollateral
    expect(dust?.map((r) => [r.asset.toLowerCase(), r.balance])).toEqual([[aave.tokens.wbtc.toLowerCase(), 1n]])
    expect(dust?.[0]?.valueBase).toBeLessThan(AAVE_DUST_THRESHOLD_BASE)
    // The owner's fix, built by the SDK; the market's own collateral is refused.
    const subAccounts = [{ collateralToken: aave.tokens.weth, policy: { minHealth: (11n * WAD) / 10n } }]
    await expect(buildAaveDustCollateralDisable(publicClient, { deployment, safe: account, subAccounts, assets: [aave.tokens.weth] })).rejects.toBeInstanceOf(AaveDustIsMarketCollateralError)
    const { calls } = await buildAaveDustCollateralDisable(publicClient, { deployment, safe: account, subAccounts })
    expect(calls).toHaveLength(1)
    let at1 = at0
    for (const call of calls) {
      const hash = await owner.sendTransaction({ to: call.to, data: call.data, value: call.value, gas: 1_000_000n })
      const receipt = await waitForReceipt(publicClient, { hash })
      expect(receipt.status).toBe("success")
      at1 = receipt.blockNumber
    }
    const after = await accountData(at1)
    // Aave no longer counts the dust: the collateral drops by exactly its value (net of the WETH's growth in between);
    // the keeper sees none.
    expect(at1).toBeGreaterThan(at0)
    expect(before[0] - wethBase0).toBe(dust?.[0]?.valueBase)
    expect(after[0]).toBe(await wethBase(at1))
    expect((await read())?.dustCollateral).toEqual([])
  })
})
