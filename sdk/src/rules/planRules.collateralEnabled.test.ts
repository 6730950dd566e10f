import type { Address, Hex } from "viem"
import { describe, expect, test } from "vitest"
import {
  type RulePolicy,
  type RuleSubAccount,
  aaveCollateralOf,
  aaveFirstSupplyEnablesCollateral,
  aaveInIsolationMode,
  aaveOnlyCollateralId,
  checkRebalanceRules,
  collateralValue,
} from "./planRules.js"

// Issue 17 (rev17e, left open last stop): Aave v3.0.2 counts a supply as collateral only when the reserve is enabled for
// the account (a held balance switched off stays off; a first supply is enabled only for a reserve with LTV, no debt
// ceiling, and an account not in isolation mode). The adapter refuses any other supply (CollateralNotEnabled); the rule
// book judged a zero balance as enabled, so the SDK's validateRebalance passed plans the chain refuses.

// ReserveConfigurationMap: LTV bits 0-15, liquidation threshold 16-31, debt ceiling 212-251.
const config = ({ ltv = 7300n, threshold = 7800n, debtCeiling = 0n }: { ltv?: bigint; threshold?: bigint; debtCeiling?: bigint }) => ltv | (threshold << 16n) | (debtCeiling << 212n)
/** UserConfigurationMap with reserves `ids` used as collateral (bit 2 x id + 1) and `borrowing` borrowed (bit 2 x id). */
const user = (ids: number[], borrowing: number[] = []) => ids.reduce((m, id) => m | (1n << BigInt(2 * id + 1)), 0n) | borrowing.reduce((m, id) => m | (1n << BigInt(2 * id)), 0n)

describe("Aave collateral enablement (validateAutomaticUseAsCollateral, getIsolationModeState)", () => {
  test("the only collateral id: none, one (borrow bits ignored), several", () => {
    expect(aaveOnlyCollateralId(0n)).toBeUndefined()
    expect(aaveOnlyCollateralId(user([], [0, 3]))).toBeUndefined()
    expect(aaveOnlyCollateralId(user([5], [0, 5, 7]))).toBe(5)
    expect(aaveOnlyCollateralId(user([0]))).toBe(0)
    expect(aaveOnlyCollateralId(user([127]))).toBe(127)
    expect(aaveOnlyCollateralId(user([2, 9]))).toBeUndefined()
  })
  test("isolation mode: one collateral with a debt ceiling; unknown when its configuration is not known", () => {
    const configs: Record<number, bigint> = { 1: config({ debtCeiling: 1_000_00n }), 2: config({}) }
    expect(aaveInIsolationMode(user([1]), (id) => configs[id])).toBe(true)
    expect(aaveInIsolationMode(user([2]), (id) => configs[id])).toBe(false)
    expect(aaveInIsolationMode(user([1, 2]), (id) => configs[id])).toBe(false) // several collaterals: not isolated
    expect(aaveInIsolationMode(0n, (id) => configs[id])).toBe(false)
    expect(aaveInIsolationMode(user([4]), (id) => configs[id])).toBeUndefined()
  })
  test("a zero balance is enabled only as Aave enables a first supply", () => {
    const at = (configuration: bigint | undefined, isolationMode?: boolean) => aaveCollateralOf({ balance: 0n, userConfiguration: 0n, reserveId: 3, configuration, isolationMode })
    expect(at(undefined)).toEqual({ held: 0n, enabled: true })
    expect(at(config({}))).toEqual({ held: 0n, enabled: true })
    expect(at(config({ ltv: 0n }))).toEqual({ held: 0n, enabled: false })
    expect(at(config({ debtCeiling: 1n }))).toEqual({ held: 0n, enabled: false })
    expect(at(config({}), true)).toEqual({ held: 0n, enabled: false })
    expect(aaveFirstSupplyEnablesCollateral(config({}), true)).toBe(false)
  })
  test("a held balance: enabled as its bit says, whatever the reserve's configuration", () => {
    expect(aaveCollateralOf({ balance: 7n, userConfiguration: user([3]), reserveId: 3, configuration: config({ ltv: 0n }) })).toEqual({ held: 7n, enabled: true })
    expect(aaveCollateralOf({ balance: 7n, userConfiguration: user([2]), reserveId: 3, configuration: config({}) })).toEqual({ held: 0n, enabled: false })
  })
})

const USDC: Address = "0x00000000000000000000000000000000000000b1"
const WETH: Address = "0x00000000000000000000000000000000000000c1"
const LLTV = 86n * 10n ** 16n
const E18 = 10n ** 18n
const price = (usd: bigint) => (usd * 10n ** 6n * 10n ** 36n) / E18
const h = (x: number) => BigInt(Math.round(x * 1e6)) * 10n ** 12n
const policy = (over: Partial<RulePolicy> = {}): RulePolicy => ({
  adapter: "0x00000000000000000000000000000000000000ad", market: `0x${"00".repeat(32)}`, priceFeed: "0x0000000000000000000000000000000000000000",
  minHealth: h(1.2), targetHealth: h(1.4), maxHealth: h(1.7), maxAmountPerRebalance: 10n ** 30n, maxAmountPerEpoch: 10n ** 30n, epochLength: 86_400,
  maxRebalancesPerEpoch: 10, maxGasPerEpoch: 10n ** 12n, cooldown: 0, maxLossBps: 50, maxEpochLossBps: 10_000, boostAllowed: false, maxSlippageBps: 0,
  maxOracleAge: 3_600, maxOracleDeviationBps: 100, minFeedAnswer: 0n, maxFeedAnswer: 0n, pools: [], ...over,
})
const usage = { epoch: 0, lastRebalance: 0, rebalances: 0, lossPpb: 0, gasUsed: 0, amountMoved: 0n }
function sub(n: number, collateral: bigint, health: number, state: { collateralEnabled?: boolean } = {}, over: Partial<RulePolicy> = {}): RuleSubAccount {
  const p = price(2400n)
  const debt = (collateralValue(collateral, p) * LLTV) / h(health)
  return { id: `0x${n.toString(16).padStart(2, "0").repeat(32)}` as Hex, policy: policy(over), state: { loanToken: USDC, collateralToken: WETH, collateral, debt, price: p, lltv: LLTV, ...state }, usage }
}

// A (an Aave account, due at 1.1467 below its 1.2 floor) is rescued with WETH withdrawn from B (Morpho, 1.6, above its
// 1.4 target) and supplied to A: on chain the supply is refused when Aave would not count it (CollateralNotEnabled).
const moved = (177n * E18) / 100n
const judge = (enabled: boolean | undefined) => {
  const A = sub(1, 10n * E18, 1.1467, enabled === undefined ? {} : { collateralEnabled: enabled })
  const B = sub(2, 100n * E18, 1.6, {}, { boostAllowed: true })
  return checkRebalanceRules({
    plan: {
      subAccounts: [A.id, B.id],
      actions: [
        { kind: "WithdrawCollateral", subAccount: 1, amount: moved },
        { kind: "SupplyCollateral", subAccount: 0, amount: moved },
      ],
    },
    subAccounts: [A, B],
    pools: [],
    balances: {},
    swapAdapter: "0x0000000000000000000000000000000000000000",
    timestamp: 1_700_000_000n,
    gasUsed: 300_000n,
  })
}

describe("checkRebalanceRules: a supply Aave would not count as collateral (collateralEnabled false)", () => {
  test("enabled, or not read (Morpho): the rescue is accepted", () => {
    for (const enabled of [true, undefined]) expect(judge(enabled).ok).toBe(true)
  })
  test("not enabled: ActionFailed at the supply, naming CollateralNotEnabled", () => {
    const r = judge(false)
    expect(r.ok).toBe(false)
    if (r.ok) return
    expect([r.error.name, r.error.args[0]]).toEqual(["ActionFailed", 1n])
    expect(r.error.detail).toMatch(/CollateralNotEnabled/)
  })
})
