import type { Address, Hex } from "viem"
import { describe, expect, test } from "vitest"
import { type RuleSubAccount, checkRebalanceRules, collateralValue, stopStateOf } from "./planRules.js"
import { stopLossInvalidField } from "../actions/setStopLoss.js"
import { LLTV, POOL, USDC, WETH, checkWithPool, h, price, refusalOf, rulePolicy, usage } from "./rules.testing.js"

// The stop-loss branches of the rule book (docs/stop-loss-exit.md), the SDK side of
// modules/test/attacks/StopLossAttacks.t.sol: engaged (price <= stopPrice) a sub-account is due below exitHealth, lands up
// to it, gains at least MIN_BAND_GAP, boosts nothing; held up to the re-arm price; ordinary above it.

const ID = `0x${"01".repeat(32)}` as Hex
const RESERVE = 30_000n * 10n ** 6n
/** 10 WETH at 3,000 USD with 17,200 USDC debt: health 1.5, inside the band [1.2, 1.7]. */
function weth(stop: RuleSubAccount["stop"], usd = 3000n, boostAllowed = false): RuleSubAccount {
  return {
    id: ID,
    policy: rulePolicy({ pools: [POOL], boostAllowed }),
    state: { loanToken: USDC, collateralToken: WETH, collateral: 10n * 10n ** 18n, debt: 17_200n * 10n ** 6n, price: price(usd), lltv: LLTV } as RuleSubAccount["state"],
    usage,
    stop,
  }
}
const repayTo = (s: RuleSubAccount, health: number) => s.state.debt - (collateralValue(s.state.collateral, s.state.price) * LLTV) / h(health)
const check = checkWithPool
const exit = (s: RuleSubAccount, health: number) => {
  const amount = repayTo(s, health)
  return check(s, [
    { kind: "WithdrawFromPool", subAccount: 0, pool: POOL, amount },
    { kind: "Repay", subAccount: 0, amount },
  ])
}
const engaged = { stopPrice: price(3000n), exitHealth: h(3) }

describe("stop-loss rules (docs/stop-loss-exit.md)", () => {
  test("stop state: engaged at or below the stop, held up to the re-arm price, off above", () => {
    expect(stopStateOf(engaged, price(3000n), 100)).toBe(h(3))
    expect(stopStateOf(engaged, price(3030n), 100)).toBe(1n)
    expect(stopStateOf(engaged, price(3031n), 100)).toBe(0n)
    expect(stopStateOf(undefined, price(3000n), 100)).toBe(0n)
    // Review rr13s S2 (f13g): a deviation under MIN_REARM_BPS (100) still re-arms only 1 % above the stop; a wider one
    // widens it.
    expect(stopStateOf(engaged, price(3001n), 0)).toBe(1n)
    expect(stopStateOf(engaged, price(3030n), 0)).toBe(1n)
    expect(stopStateOf(engaged, price(3031n), 0)).toBe(0n)
    expect(stopStateOf(engaged, price(3060n), 200)).toBe(1n)
    expect(stopStateOf(engaged, price(3061n), 200)).toBe(0n)
    // Review rr13s S1 (f13g): a WBTC/USDC-scale stop (6e38 > uint128) is judged as stored.
    const btc = { stopPrice: 54_000n * 10n ** 34n, exitHealth: h(3) }
    expect(stopStateOf(btc, 54_000n * 10n ** 34n, 0)).toBe(h(3))
    expect(stopStateOf(btc, 60_000n * 10n ** 34n, 0)).toBe(0n)
  })

  test("engaged: an exit from inside the band to exitHealth is accepted; without a stop it is NoTrigger", () => {
    expect(refusalOf(exit(weth(undefined), 2.9))).toEqual(["NoTrigger"])
    expect(refusalOf(exit(weth(engaged), 2.9))).toEqual(["accepted"])
  })

  test("engaged: past exitHealth is HealthOutOfBand at exitHealth; a dust exit is outside the landing zone", () => {
    const over = refusalOf(exit(weth(engaged), 3.2))
    expect([over[0], over[3], over[4]]).toEqual(["HealthOutOfBand", h(1.2), h(3)])
    const dust = refusalOf(exit(weth(engaged), 1.505))
    expect(dust[0]).toBe("HealthOutsideLandingZone")
    expect(dust[4]).toBe(h(3))
  })

  test("held (inside the hysteresis) or engaged: no boost", () => {
    const held = weth(engaged, 3030n, true)
    expect(refusalOf(check(held, [{ kind: "Repay", subAccount: 0, amount: 1n }]))).toEqual(["NoTrigger"])
    const on = weth(engaged, 3000n, true)
    expect(refusalOf(check(on, [{ kind: "Borrow", subAccount: 0, amount: 10n ** 6n }]))).toEqual(["ActionNotAllowed", 0n, 4n])
  })

  // Review rr13s S4 (f13h): an exit due only by the engaged stop may bring each epoch counter to at most half its cap
  // (RebalanceLib `_checkStopExitShare`); a rescue from below minHealth keeps the whole cap.
  test("engaged: an exit takes at most half of each epoch cap; a rescue the whole", () => {
    const epoch = Number(1_700_000_000n / 86_400n)
    const used = (over: Partial<RuleSubAccount["usage"]>, s: RuleSubAccount): RuleSubAccount => ({ ...s, usage: { ...usage, epoch, ...over } })
    expect(refusalOf(exit(used({ rebalances: 4 }, weth(engaged)), 2.9))).toEqual(["accepted"])
    expect(refusalOf(exit(used({ rebalances: 5 }, weth(engaged)), 2.9))).toEqual(["EpochRebalanceCapExceeded", ID, 6n, 5n])
    // Below minHealth (2,300 USD: health 1.15) the same counters leave the rescue the whole cap.
    expect(refusalOf(exit(used({ rebalances: 9 }, weth(engaged, 2300n)), 1.5))).toEqual(["accepted"])
    expect(refusalOf(exit(used({ rebalances: 10 }, weth(engaged, 2300n)), 1.5))).toEqual(["EpochRebalanceCapExceeded", ID, 11n, 10n])
    // The amount cap: the exit moves 2 x its repayment (pool withdrawal and repayment are not position changes: only
    // the debt moves, once).
    const base = weth(engaged)
    const moved = repayTo(base, 2.9)
    const capped = (cap: bigint, s: RuleSubAccount): RuleSubAccount => ({ ...s, policy: { ...s.policy, maxAmountPerEpoch: cap } })
    expect(refusalOf(exit(capped(2n * moved, base), 2.9))).toEqual(["accepted"])
    expect(refusalOf(exit(capped(2n * moved - 2n, base), 2.9))).toEqual(["EpochAmountCapExceeded", ID, moved, moved - 1n])
    // The gas cap and the loss budget (ppb): half of each.
    const gas = { ...base, policy: { ...base.policy, maxGasPerEpoch: 599_999n } }
    expect(refusalOf(exit(gas, 2.9))).toEqual(["EpochGasCapExceeded", ID, 300_000n, 299_999n])
    const loss = used({ lossPpb: 5_000_001 }, base)
    expect(refusalOf(exit(loss, 2.9))).toEqual(["EpochLossBudgetExceeded", ID, 5_000_001n, 5_000_000n])
  })

  // Review rr13t T1 (f13i): a stop-only exit starts the cooldown (exits stay apart), but a rescue from below minHealth
  // while the stop is engaged is exempt from it (RebalanceLib `_load`); without the stop the cooldown still applies.
  test("engaged: the cooldown holds exits apart but not the rescue", () => {
    const cool = (s: RuleSubAccount): RuleSubAccount => ({ ...s, policy: { ...s.policy, cooldown: 300 }, usage: { ...usage, lastRebalance: 1_700_000_000 - 12 } })
    expect(refusalOf(exit(cool(weth(engaged)), 2.9))).toEqual(["CooldownActive", ID, 1_700_000_288n])
    expect(refusalOf(exit(cool(weth(engaged, 2300n)), 1.5))).toEqual(["accepted"])
    expect(refusalOf(exit(cool(weth(undefined, 2300n)), 1.5))).toEqual(["CooldownActive", ID, 1_700_000_288n])
    // Held (above the stop, up to the re-arm price), not engaged: a rescue meets the cooldown.
    expect(refusalOf(exit(cool(weth({ stopPrice: price(2290n), exitHealth: h(3) }, 2300n)), 1.5))).toEqual(["CooldownActive", ID, 1_700_000_288n])
  })

  // Review rr13t T2 (f13i): a stop needs every epoch cap whose exit half it uses at 2 or more (OwnerControlsLib).
  test("a stop with an epoch cap below 2 is refused, naming the cap", () => {
    const p = { maxHealth: h(1.7), maxRebalancesPerEpoch: 2, maxAmountPerEpoch: 2n, maxGasPerEpoch: 2n }
    const stop = { stopPrice: price(3000n), exitHealth: h(3) }
    expect(stopLossInvalidField(stop, p)).toBeUndefined()
    expect(stopLossInvalidField(stop, { ...p, maxRebalancesPerEpoch: 1 })).toBe("maxRebalancesPerEpoch")
    expect(stopLossInvalidField(stop, { ...p, maxAmountPerEpoch: 1n })).toBe("maxAmountPerEpoch")
    expect(stopLossInvalidField(stop, { ...p, maxGasPerEpoch: 1n })).toBe("maxGasPerEpoch")
    expect(stopLossInvalidField({ stopPrice: 0n, exitHealth: 0n }, { ...p, maxRebalancesPerEpoch: 1 })).toBeUndefined()
    expect(stopLossInvalidField({ ...stop, exitHealth: h(1.705) }, { ...p, maxRebalancesPerEpoch: 1 })).toBe("exitHealth")
  })
})
