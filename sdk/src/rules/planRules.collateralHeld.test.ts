import { describe, expect, test } from "vitest"
import { type RuleMarketState, type RulePolicy, checkRebalanceRules } from "./planRules.js"
import { USDC, WETH, rulePolicy, wethSubAccount } from "./rules.testing.js"

// Issue 17 review: an Aave v3 sub-account's `collateral` is the account's threshold-weighted collateral across all its
// reserves, but a withdrawal of the scope's collateral reserve takes at most the Safe's aToken balance of THAT reserve
// (`collateralHeld`; 0 when the reserve is switched off as collateral): Aave refuses more (NOT_ENOUGH_AVAILABLE_USER_BALANCE,
// the adapter CollateralNotEnabled), so the module reverts ActionFailed at the withdrawal. The keeper's clamp holds its
// plans to it; the rule book (the SDK's validateRebalance, the solver's check) must refuse such a plan too.

const E18 = 10n ** 18n
const policy = (over: Partial<RulePolicy> = {}) => rulePolicy({ maxEpochLossBps: 10_000, ...over })
const sub = (n: number, collateral: bigint, health: number, over: Partial<RulePolicy> = {}, held?: bigint, extra: Partial<RuleMarketState> = {}) =>
  wethSubAccount(n, collateral, 2400n, health, policy(over), { ...(held === undefined ? {} : { collateralHeld: held }), ...extra })

// A (Morpho, due at 1.1467 below its 1.2 floor) is rescued with WETH withdrawn from B (an Aave account at 1.6 above
// its 1.4 target, 100 WETH of threshold-weighted collateral, of which `held` is its aToken balance of the WETH reserve).
const A = sub(1, 10n * E18, 1.1467)
const moved = (177n * E18) / 100n
const judge = (held: bigint | undefined, pre: { supplyFirst?: bigint } = {}) => {
  const B = sub(2, 100n * E18, 1.6, { boostAllowed: true }, held)
  return checkRebalanceRules({
    plan: {
      subAccounts: [A.id, B.id],
      actions: [
        ...(pre.supplyFirst ? [{ kind: "SupplyCollateral" as const, subAccount: 1, amount: pre.supplyFirst }] : []),
        { kind: "WithdrawCollateral" as const, subAccount: 1, amount: moved + (pre.supplyFirst ?? 0n) },
        { kind: "SupplyCollateral" as const, subAccount: 0, amount: moved },
      ],
    },
    subAccounts: [A, B],
    pools: [],
    balances: pre.supplyFirst ? { [WETH]: pre.supplyFirst } : {},
    swapAdapter: "0x0000000000000000000000000000000000000000",
    timestamp: 1_700_000_000n,
    gasUsed: 300_000n,
  })
}

describe("checkRebalanceRules: an Aave withdrawal is held to the Safe's balance of the collateral reserve (collateralHeld)", () => {
  test("no collateralHeld (Morpho, or not read): the withdrawal is bounded by the weighted collateral alone, accepted", () => {
    const r = judge(undefined)
    expect(r.ok, JSON.stringify(r, (_, v) => (typeof v === "bigint" ? String(v) : v))).toBe(true)
  })

  test("held above the withdrawal: accepted; held at exactly the withdrawal: accepted", () => {
    expect(judge(50n * E18).ok).toBe(true)
    expect(judge(moved).ok).toBe(true)
  })

  test("held 1 WETH below the 1.77 WETH withdrawal: ActionFailed at the withdrawal's index, naming collateralHeld", () => {
    for (const held of [E18, moved - 1n]) {
      const r = judge(held)
      expect(r.ok).toBe(false)
      if (r.ok) return
      expect(r.error.name).toBe("ActionFailed")
      expect(r.error.args[0]).toBe(0n)
      expect(r.error.detail).toMatch(/collateralHeld/)
      expect(r.error.detail).toContain(String(held))
    }
  })

  test("a reserve switched off as collateral (held 0): any withdrawal of it is refused", () => {
    const r = judge(0n)
    expect(r.ok).toBe(false)
    if (!r.ok) expect([r.error.name, r.error.detail]).toEqual(["ActionFailed", expect.stringMatching(/collateralHeld/)])
  })

  test("what the plan supplied to the reserve before counts: a supply then a withdrawal of held + the supply is accepted, one unit more is not", () => {
    const supplied = 2n * E18
    expect(judge(moved, { supplyFirst: supplied }).ok).toBe(true)
    const r = judge(moved - 1n, { supplyFirst: supplied })
    expect(r.ok).toBe(false)
    if (!r.ok) expect([r.error.name, r.error.args[0]]).toEqual(["ActionFailed", 1n])
  })
})

/** B (1.6, above its target) gives WETH to the due A: B's withdrawal, then A's supply; `due` / `donor` extend each state. */
const rescue = ({ due = {}, donor = {} }: { due?: Partial<RuleMarketState>; donor?: Partial<RuleMarketState> }) => {
  const A = sub(1, 10n * E18, 1.1467, {}, undefined, due)
  const B = sub(2, 100n * E18, 1.6, { boostAllowed: true }, undefined, donor)
  return checkRebalanceRules({
    plan: { subAccounts: [A.id, B.id], actions: [{ kind: "WithdrawCollateral", subAccount: 1, amount: moved }, { kind: "SupplyCollateral", subAccount: 0, amount: moved }] },
    subAccounts: [A, B],
    pools: [],
    balances: {},
    swapAdapter: "0x0000000000000000000000000000000000000000",
    timestamp: 1_700_000_000n,
    gasUsed: 300_000n,
  })
}

// Issue 17 (rev17e): a supply Aave would not count as collateral (held but switched off, or a first supply it does not
// enable: LTV 0, a debt ceiling, an account in isolation mode; `collateralEnabled` false) is refused on chain
// (CollateralNotEnabled); the rule book judged a zero balance as enabled.
describe("checkRebalanceRules: a supply Aave would not count as collateral (collateralEnabled false)", () => {
  test("enabled, or not read (Morpho): the rescue is accepted", () => {
    for (const enabled of [true, undefined]) expect(rescue({ due: enabled === undefined ? {} : { collateralEnabled: enabled } }).ok).toBe(true)
  })
  test("not enabled: ActionFailed at the supply, naming CollateralNotEnabled", () => {
    const r = rescue({ due: { collateralEnabled: false } })
    expect(r.ok).toBe(false)
    if (r.ok) return
    expect([r.error.name, r.error.args[0]]).toEqual(["ActionFailed", 1n])
    expect(r.error.detail).toMatch(/CollateralNotEnabled/)
  })
})

// Review rev17f (1): the donor B (an Aave account) also holds a collateral with LTV 0 and borrows: Aave refuses its
// WETH withdrawal ("57"), so the rescue it funds reverts on chain; the rule book refuses it at the withdrawal.
describe("checkRebalanceRules: an Aave withdrawal refused while a zero-LTV collateral is held (collateralWithdrawBlocked)", () => {
  test("not blocked, or not read: accepted", () => {
    for (const blocked of [false, undefined]) expect(rescue({ donor: blocked === undefined ? {} : { collateralWithdrawBlocked: blocked } }).ok).toBe(true)
  })
  test("blocked with debt: ActionFailed at the withdrawal, naming 57", () => {
    const r = rescue({ donor: { collateralWithdrawBlocked: true } })
    expect(r.ok).toBe(false)
    if (r.ok) return
    expect([r.error.name, r.error.args[0]]).toEqual(["ActionFailed", 0n])
    expect(r.error.detail).toMatch(/LTV_VALIDATION_FAILED/)
  })
})
