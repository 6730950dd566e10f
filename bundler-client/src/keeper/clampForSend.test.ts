import { expect, test } from "vitest"
import type { ChainBounds } from "./chainBounds.js"
import { newSafeRuntime } from "./runtime.js"
import { recordingKeeperParts } from "./testing.js"
import { clampForSend } from "./safeStep.js"

const SAFE = "0x0000000000000000000000000000000000005afe"
const LOAN = "0x00000000000000000000000000000000000000b1"
const COLL = "0x00000000000000000000000000000000000000c1"
const SUB = `0x${"aa".repeat(32)}` as const
const ROUTE = `0x${"0".repeat(61)}1f4` as const


const bounds = (borrowable: bigint): ChainBounds => ({
  balances: {},
  maxWithdraw: {},
  poolAsset: {},
  subAccounts: { [SUB]: { debt: 10n ** 21n, collateral: 10n ** 21n, loanToken: LOAN, collateralToken: COLL, borrowable, price: 10n ** 36n, maxSlippageBps: 50, due: true } },
})
const boost = {
  subAccounts: [SUB],
  actions: [
    { kind: "Borrow", subAccount: 0, amount: 10n ** 20n },
    { kind: "BuyCollateral", subAccount: 0, route: ROUTE, amount: 10n ** 20n },
    { kind: "SupplyCollateral", subAccount: 0, amount: 99n * 10n ** 18n },
  ],
} as const

test("a plan clamped to nothing is not sent: a warning and one nothing-to-send alert name the binding bound, until a plan survives again", () => {
  const { lines, logger, metrics, events, keeperEvents } = recordingKeeperParts()
  const rt = newSafeRuntime({ address: SAFE } as never)
  const ctx = { rt, block: 7n, logger, events: keeperEvents }
  expect(clampForSend(boost as never, bounds(0n), ctx)).toBeUndefined()
  expect(clampForSend(boost as never, bounds(0n), { ...ctx, block: 8n })).toBeUndefined()
  const warnings = lines.filter((l) => l.level === 40)
  expect(warnings.map((l) => l.msg)).toEqual([
    `Nothing to send after clamping to chain bounds: borrowable of sub-account ${SUB} allows 0 where the plan asks ${10n ** 20n}.`,
    `Nothing to send after clamping to chain bounds: borrowable of sub-account ${SUB} allows 0 where the plan asks ${10n ** 20n}.`,
  ])
  expect(warnings[0]?.binding).toEqual([`Bound: borrowable cuts action 0 (Borrow) of sub-account ${SUB} from ${10n ** 20n} to 0`])
  // Alerted once for the outage, not every block.
  const alerts = events.filter((e) => e.type === "alert")
  expect(alerts.map((e) => e.type === "alert" && [e.kind, e.block])).toEqual([["nothing-to-send", 7n]])
  expect(metrics.value("levpilot_failures_total", { safe: SAFE, kind: "nothing-to-send" })).toBe(1)
  // A plan that survives the clamp goes out and re-arms the alert (the supply at the halved purchase's on-chain minimum, 50 bp under 1:1).
  expect(clampForSend(boost as never, bounds(5n * 10n ** 19n), ctx)?.actions.map((a) => a.amount)).toEqual([5n * 10n ** 19n, 5n * 10n ** 19n, 4975n * 10n ** 16n])
  expect(clampForSend(boost as never, bounds(0n), { ...ctx, block: 9n })).toBeUndefined()
  expect(events.filter((e) => e.type === "alert").length).toBe(2)
})

test("the settlement's funding split reaches the clamp: a flash repay's idle top-up the Safe holds none of is cut to what the sale pays", () => {
  const { logger, keeperEvents } = recordingKeeperParts()
  const ctx = { rt: newSafeRuntime({ address: SAFE } as never), block: 7n, logger, events: keeperEvents }
  const sold = 995n * 10n ** 17n // the sale's settled take, in the loan token
  const topUp = 3_071n // the solver's idle top-up, the Safe holding none of it
  const rescue = {
    subAccounts: [SUB],
    actions: [
      { kind: "RepayWithCallback", subAccount: 0, amount: sold + topUp },
      { kind: "WithdrawCollateral", subAccount: 0, amount: 10n ** 20n },
      { kind: "SellCollateral", subAccount: 0, route: ROUTE, amount: 10n ** 20n },
      { kind: "EndCallback", subAccount: 0, amount: 0n },
    ],
  } as const
  const funding = { swapPaid: [undefined, undefined, sold, undefined] }
  expect(clampForSend(rescue as never, bounds(0n), { ...ctx, funding })?.actions.map((a) => a.amount)).toEqual([sold, 10n ** 20n, 10n ** 20n, 0n])
})

test("an estimate-only probe's clamp neither alerts nor moves the Safe's nothing-to-send alert state (review rr11zb, the probe's residual)", () => {
  const { events, logger, keeperEvents } = recordingKeeperParts()
  const rt = newSafeRuntime({ address: SAFE } as never)
  const ctx = { rt, block: 7n, logger, events: keeperEvents }
  // A probe clamped to nothing: no alert, and the Safe's next send still alerts.
  expect(clampForSend(boost as never, bounds(0n), { ...ctx, probe: true })).toBeUndefined()
  expect(events.filter((e) => e.type === "alert")).toEqual([])
  expect(rt.clampedAway).toBeUndefined()
  expect(clampForSend(boost as never, bounds(0n), { ...ctx, block: 8n })).toBeUndefined()
  expect(events.flatMap((e) => (e.type === "alert" ? [[e.kind, e.block]] : []))).toEqual([["nothing-to-send", 8n]])
  // A probe whose plan survives does not re-arm the alert of an outage the sends are still in: no second alert at 10.
  expect(clampForSend(boost as never, bounds(5n * 10n ** 19n), { ...ctx, block: 9n, probe: true })).toBeDefined()
  expect(rt.clampedAway).toBe(true)
  expect(clampForSend(boost as never, bounds(0n), { ...ctx, block: 10n })).toBeUndefined()
  expect(events.filter((e) => e.type === "alert").length).toBe(1)
})
