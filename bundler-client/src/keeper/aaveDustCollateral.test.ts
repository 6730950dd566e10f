import { type Address, type Hex, encodeFunctionData, getAddress, parseAbi } from "viem"
import { describe, expect, test } from "vitest"
import { AaveDustDisableUnhealthyError, AaveDustIsMarketCollateralError, AaveDustNotCollateralError, ReadFailedError } from "@levpilot/sdk/errors"
import { AAVE_DUST_GAS_PER_RESERVE, AAVE_DUST_THRESHOLD_BASE, aaveHealthAfterDisable, buildAaveDustCollateralDisable } from "@levpilot/sdk/utils"
import { readAaveLimits } from "./aaveLimits.js"
import { ADAPTER, POOL, SAFE, SUB, USDC, WETH, chain, deployment, mockAaveChain, mockAaveClient, reserveConfig } from "./aaveMockChain.testing.js"
import { parseKeeperConfig } from "./config.js"
import { AaveDustCollateralError } from "./errors.js"
import { portfolioOf } from "./portfolio.js"
import { newSafeRuntime } from "./runtime.js"
import { keeperCosts } from "./safeStep.js"
import { OPEN_AAVE_RESERVE, SAFE as STEP_SAFE, STEP_RISK, aaveSnapshotOf, h, stepHarness, stepSafeState, stepSub } from "./testing.js"

// Break-it review of issue 10 (modules/test/attacks/AaveBrk10.t.sol): anyone can send a Safe 1 wei of an aToken of any
// reserve with LTV > 0 and no debt ceiling; Aave v3.0.2 enables it as the Safe's collateral, and every keeper operation
// then walks it (getUserAccountData, the adapter's _weightedCollateral): 24 such reserves took an honest rescue from
// 656,118 to 1,575,184 gas, paid by the Safe. The keeper cannot switch it off: it detects it (readAaveLimits'
// dustCollateral), raises `aave-dust-collateral` once per change and sets levpilot_aave_dust_collateral_reserves; the
// SDK builds the owner's fix (Pool.setUserUseReserveAsCollateral(asset, false)), refusing what is not dust.

const DUST: Address = getAddress("0x00000000000000000000000000000000000000d1")
/** The owner's fix, declared here as Aave v3.0.2's Pool declares it (the calldata the SDK must build). */
const fixAbi = parseAbi(["function setUserUseReserveAsCollateral(address asset, bool useAsCollateral)"])

/** The mock chain: the Safe supplies 10 WETH, borrows USDC, and holds `dust` wei of aDUST, used as collateral when `enabled`. */
function clientOf(state: { dust: bigint; enabled: boolean; failing?: readonly string[] }) {
  const dustValue = state.enabled ? (state.dust * 10n ** 8n) / 10n ** 18n : 0n
  return mockAaveClient(
    mockAaveChain({
      reserves: {
        [WETH]: { id: 0, configuration: reserveConfig(8_000n, 18n), decimals: 18, price: 3_000n * 10n ** 8n },
        [USDC]: { id: 1, configuration: reserveConfig(0n, 6n), decimals: 6, price: 10n ** 8n },
        [DUST]: { id: 2, configuration: reserveConfig(7_000n, 18n), decimals: 18, price: 10n ** 8n },
      },
      // WETH (id 0) as collateral, USDC (id 1) borrowed, DUST (id 2) as collateral when enabled.
      userConfiguration: (1n << 1n) | (1n << 2n) | (state.enabled ? 1n << 5n : 0n),
      accountData: [30_000n * 10n ** 8n + dustValue, 15_000n * 10n ** 8n, 9_000n * 10n ** 8n, 8_600n, 8_000n, h(1.72)],
      supplied: { [WETH]: 10n * 10n ** 18n, [DUST]: state.dust },
    }),
    { failing: state.failing },
  )
}

const subAccounts = [{ collateralToken: WETH, policy: { minHealth: h(1.2) } }]

describe("readAaveLimits: the Safe's dust collateral (reserves outside its markets worth < 1 USD)", () => {
  test("1 wei of aDUST enabled as collateral: named, value 0 base units; no dust: [], read with fewer requests (no dust round)", async () => {
    const dusted = clientOf({ dust: 1n, enabled: true })
    const limits = await readAaveLimits(dusted.client, deployment, chain, SAFE, 7n)
    expect(limits[SUB]?.dustCollateral).toEqual([{ asset: DUST, reserveId: 2, balance: 1n, valueBase: 0n, liquidationThresholdBps: 8_600n }])
    const clean = clientOf({ dust: 0n, enabled: false })
    const none = await readAaveLimits(clean.client, deployment, chain, SAFE, 7n)
    expect(none[SUB]?.dustCollateral).toEqual([])
    // The dust read costs requests only when the account has a collateral outside its markets.
    expect(dusted.count.calls).toBeGreaterThan(clean.count.calls)
  })
  test("worth 2 USD: not dust at the 1 USD default, dust at a 3 USD threshold", async () => {
    const { client } = clientOf({ dust: 2n * 10n ** 18n, enabled: true })
    expect((await readAaveLimits(client, deployment, chain, SAFE, 7n))[SUB]?.dustCollateral).toEqual([])
    expect((await readAaveLimits(client, deployment, chain, SAFE, 7n, { dustThresholdBase: 3n * 10n ** 8n }))[SUB]?.dustCollateral?.map((r) => r.asset)).toEqual([DUST])
  })
  test("portfolioOf carries it to the snapshot (aaveDust)", () => {
    const dust = [{ asset: DUST, reserveId: 2, balance: 1n, valueBase: 0n, liquidationThresholdBps: 8_600n }]
    const limits = { debt: OPEN_AAVE_RESERVE, collateral: OPEN_AAVE_RESERVE, repayableDebt: undefined, liquidationIncentiveFactor: undefined, flashPremiumBps: undefined, dustCollateral: dust }
    expect(aaveSnapshotOf(limits).aaveDust).toEqual(dust)
    expect(aaveSnapshotOf({ debt: OPEN_AAVE_RESERVE, collateral: OPEN_AAVE_RESERVE, repayableDebt: undefined, liquidationIncentiveFactor: undefined, flashPremiumBps: undefined }).aaveDust).toBeUndefined()
  })
})

describe("buildAaveDustCollateralDisable: the owner's fix, refusing what is not dust", () => {
  test("the dust found: one Pool.setUserUseReserveAsCollateral(DUST, false) call", async () => {
    const { client } = clientOf({ dust: 1n, enabled: true })
    const { calls, reserves, healthAfter } = await buildAaveDustCollateralDisable(client, { deployment, safe: SAFE, subAccounts })
    expect(reserves.map((r) => r.asset)).toEqual([DUST])
    expect(calls).toEqual([{ to: POOL, value: 0n, data: encodeFunctionData({ abi: fixAbi, functionName: "setUserUseReserveAsCollateral", args: [DUST, false] }) }])
    expect(healthAfter).toBe((30_000n * 8_600n * 10n ** 18n) / (15_000n * 10_000n))
  })
  test("no dust: no call", async () => {
    const { client } = clientOf({ dust: 0n, enabled: false })
    expect((await buildAaveDustCollateralDisable(client, { deployment, safe: SAFE, subAccounts })).calls).toEqual([])
  })
  test("named refusals: the market's collateral, a reserve not used as collateral, a disable below minHealth", async () => {
    const { client } = clientOf({ dust: 10_000n * 10n ** 18n, enabled: true })
    await expect(buildAaveDustCollateralDisable(client, { deployment, safe: SAFE, subAccounts, assets: [WETH] })).rejects.toBeInstanceOf(AaveDustIsMarketCollateralError)
    await expect(buildAaveDustCollateralDisable(client, { deployment, safe: SAFE, subAccounts, assets: [USDC] })).rejects.toBeInstanceOf(AaveDustNotCollateralError)
    // 10,000 USD of DUST at 86 %: health 40,000 x 0.86 / 15,000 = 2.29 -> 30,000 x 0.86 / 15,000 = 1.72 (allowed at minHealth 1.2) ...
    expect((await buildAaveDustCollateralDisable(client, { deployment, safe: SAFE, subAccounts, assets: [DUST] })).calls).toHaveLength(1)
    // ... refused at minHealth 2.
    const error = await buildAaveDustCollateralDisable(client, { deployment, safe: SAFE, subAccounts: [{ collateralToken: WETH, policy: { minHealth: h(2) } }], assets: [DUST] }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(AaveDustDisableUnhealthyError)
    expect((error as AaveDustDisableUnhealthyError).healthAfter).toBe((30_000n * 8_600n * 10n ** 18n) / (15_000n * 10_000n))
  })
  test("a read it needs fails in its batch: ReadFailedError naming the contract and function (what callers retry at a later block)", async () => {
    for (const [functionName, address] of [["POOL", ADAPTER], ["getUserAccountData", POOL], ["getUserEMode", POOL]] as const) {
      const { client } = clientOf({ dust: 1n, enabled: true, failing: [functionName] })
      const error = await buildAaveDustCollateralDisable(client, { deployment, safe: SAFE, subAccounts }).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(ReadFailedError)
      expect(error).toMatchObject({ functionName, address })
    }
  })
  test("aaveHealthAfterDisable: no debt is unbounded; a removal below zero is 0", () => {
    expect(aaveHealthAfterDisable({ totalCollateralBase: 1n, totalDebtBase: 0n, currentLiquidationThreshold: 8_000n }, [])).toBe(2n ** 256n - 1n)
    expect(aaveHealthAfterDisable({ totalCollateralBase: 1n, totalDebtBase: 1n, currentLiquidationThreshold: 8_000n }, [{ valueBase: 2n, liquidationThresholdBps: 8_000n }])).toBe(0n)
  })
})

describe("keeper step: aave-dust-collateral alert once per change, gauge levpilot_aave_dust_collateral_reserves", () => {
  const reserve = (asset: Address) => ({ asset, reserveId: 2, balance: 1n, valueBase: 0n, liquidationThresholdBps: 8_600n })
  const OTHER: Address = getAddress("0x00000000000000000000000000000000000000d2")
  const STEP_SUB = `0x${"e5".repeat(32)}` as Hex
  const snapshotAt = (block: bigint, dust: ReturnType<typeof reserve>[] | undefined) => {
    const snapshot = portfolioOf(stepSafeState([stepSub(STEP_SUB, USDC, 1.3, "inside")]) as never, { blockNumber: block, timestamp: 1_700_000_000n, risk: STEP_RISK, costs: keeperCosts({ costs: { gasPriceGwei: 1, nativePrice: 3000 } } as never) })
    return { ...snapshot, aaveDust: dust }
  }
  test("raised when dust appears, not again while it lasts or when unread, again when the set changes; gauge follows, 0 when cleared", async () => {
    const { step, events, metrics } = stepHarness(undefined, { aave: true })
    const rt = newSafeRuntime({ address: STEP_SAFE, risk: STEP_RISK })
    const alerts = () => events.filter((e) => e.type === "alert" && e.kind === "aave-dust-collateral")
    const gauge = () => metrics.value("levpilot_aave_dust_collateral_reserves", { safe: STEP_SAFE, sub_account: STEP_SUB })
    await step.run(rt, 100n, { snapshot: snapshotAt(100n, []) })
    expect(alerts()).toHaveLength(0)
    expect(gauge()).toBe(0)
    await step.run(rt, 101n, { snapshot: snapshotAt(101n, [reserve(DUST)]) })
    expect(alerts()).toHaveLength(1)
    expect(gauge()).toBe(1)
    const message = (alerts()[0] as { message: string }).message
    expect(message).toContain(DUST)
    expect(message).toContain(String(AAVE_DUST_GAS_PER_RESERVE))
    await step.run(rt, 102n, { snapshot: snapshotAt(102n, [reserve(DUST)]) })
    await step.run(rt, 103n, { snapshot: snapshotAt(103n, undefined) }) // not read this block (fleet, calm): no change
    expect(alerts()).toHaveLength(1)
    expect(gauge()).toBe(1)
    await step.run(rt, 104n, { snapshot: snapshotAt(104n, [reserve(DUST), reserve(OTHER)]) })
    expect(alerts()).toHaveLength(2)
    expect(gauge()).toBe(2)
    expect((alerts()[1] as { message: string }).message).toContain(String(2n * AAVE_DUST_GAS_PER_RESERVE))
    await step.run(rt, 105n, { snapshot: snapshotAt(105n, []) })
    expect(gauge()).toBe(0)
    expect(alerts()).toHaveLength(2)
    await step.run(rt, 106n, { snapshot: snapshotAt(106n, [reserve(DUST)]) })
    expect(alerts()).toHaveLength(3)
  })
  test("the alert's error names the reserves and the extra gas", () => {
    const e = new AaveDustCollateralError({ safe: SAFE, reserves: [reserve(DUST)], extraGasPerOperation: AAVE_DUST_GAS_PER_RESERVE })
    expect(e.name).toBe("AaveDustCollateralError")
    expect(e.reserves[0]?.asset).toBe(DUST)
  })
})

describe("keeper configuration: aaveDustThresholdBase", () => {
  const valid = {
    rpcUrl: "http://127.0.0.1:8545",
    bundlerUrl: "http://127.0.0.1:4337",
    keeperPrivateKey: `0x${"11".repeat(32)}`,
    deployment: { leverageModule: "0x00000000000000000000000000000000000000a1", morphoBlueAdapter: "0x00000000000000000000000000000000000000a2" },
    safes: ["0x00000000000000000000000000000000000000b1"],
  }
  test("absent: undefined (the SDK's 1 USD default); a base-unit integer: a bigint; negative or fractional: refused naming the field", () => {
    expect(parseKeeperConfig(valid).aaveDustThresholdBase).toBeUndefined()
    expect(parseKeeperConfig({ ...valid, aaveDustThresholdBase: 300_000_000 }).aaveDustThresholdBase).toBe(300_000_000n)
    for (const bad of [-1, 1.5])
      expect(() => parseKeeperConfig({ ...valid, aaveDustThresholdBase: bad })).toThrow(expect.objectContaining({ field: "aaveDustThresholdBase" }))
    expect(AAVE_DUST_THRESHOLD_BASE).toBe(100_000_000n)
  })
})
