import { expect, test } from "vitest"
import type { CheckRebalanceRulesReturnType } from "@levpilot/sdk/rules"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { type ChainBounds, REPAIR_EVALUATIONS, clampPlanToChainBounds } from "./chainBounds.js"
import { newSafeRuntime } from "./runtime.js"
import { recordingKeeperParts } from "./testing.js"
import { clampForSend } from "./safeStep.js"

// Review rr11e E1 (f11f): the keeper's send clamp is given the rule book (`judge`); a clamped plan it refuses and no repair
// passes is not sent: a warning and one `nothing-to-send` alert name the rule (ClampRuleRefusedError), once per rule.

const SAFE = "0x0000000000000000000000000000000000005afe"
const LOAN = "0x00000000000000000000000000000000000000b1"
const COLL = "0x00000000000000000000000000000000000000c1"
const SUB = `0x${"aa".repeat(32)}` as const


const bounds: ChainBounds = {
  balances: { [LOAN]: 10n ** 21n },
  maxWithdraw: {},
  poolAsset: {},
  subAccounts: { [SUB]: { debt: 10n ** 22n, collateral: 10n ** 22n, loanToken: LOAN, collateralToken: COLL, due: true } },
}
const repay: ChainPlan = { subAccounts: [SUB], actions: [{ kind: "Repay", subAccount: 0, amount: 2n * 10n ** 21n }] }
const refuses = (): CheckRebalanceRulesReturnType => ({ ok: false, error: { name: "ValueLossExceeded", args: [7n, 1000n, 1n] } })

test("a clamped plan the rule book refuses with no repair is not sent: one nothing-to-send alert names the rule (ValueLossExceeded), until a plan survives", () => {
  const { lines, logger, metrics, events, keeperEvents } = recordingKeeperParts()
  const rt = newSafeRuntime({ address: SAFE } as never)
  const ctx = { rt, block: 7n, logger, events: keeperEvents, judge: refuses }
  expect(clampForSend(repay, bounds, ctx)).toBeUndefined()
  expect(clampForSend(repay, bounds, { ...ctx, block: 8n })).toBeUndefined()
  const warnings = lines.filter((l) => l.level === 40)
  expect(warnings.map((l) => l.rule)).toEqual(["ValueLossExceeded", "ValueLossExceeded"])
  expect(String(warnings[0]?.msg)).toContain("the rule book refuses the plan with ValueLossExceeded(7, 1000, 1)")
  expect(warnings[0]?.binding).toEqual([`Bound: balance cuts action 0 (Repay) of sub-account ${SUB} from ${2n * 10n ** 21n} to ${10n ** 21n}`])
  const alerts = events.filter((e) => e.type === "alert")
  expect(alerts.map((e) => e.type === "alert" && [e.kind, e.block])).toEqual([["nothing-to-send", 7n]])
  expect(metrics.value("levpilot_failures_total", { safe: SAFE, kind: "nothing-to-send" })).toBe(1)
  // The judge accepts: the clamped plan goes out, and the next refusal alerts again.
  expect(clampForSend(repay, bounds, { ...ctx, judge: () => undefined })?.actions.map((a) => a.amount)).toEqual([10n ** 21n])
  expect(clampForSend(repay, bounds, { ...ctx, block: 9n })).toBeUndefined()
  expect(events.filter((e) => e.type === "alert").length).toBe(2)
})

test("a repair the rule book accepts is sent and logged: the refused boost left out, the rescue kept", () => {
  const { lines, logger, keeperEvents } = recordingKeeperParts()
  const rt = newSafeRuntime({ address: SAFE } as never)
  const BOOST = `0x${"bb".repeat(32)}` as const
  const two: ChainPlan = {
    subAccounts: [SUB, BOOST],
    actions: [
      { kind: "Repay", subAccount: 0, amount: 2n * 10n ** 21n },
      { kind: "Borrow", subAccount: 1, amount: 10n ** 20n },
      { kind: "SupplyCollateral", subAccount: 1, amount: 10n ** 18n },
    ],
  }
  const b: ChainBounds = { ...bounds, balances: { [LOAN]: 10n ** 21n, [COLL]: 10n ** 18n }, subAccounts: { ...bounds.subAccounts, [BOOST]: { debt: 10n ** 21n, collateral: 10n ** 22n, loanToken: LOAN, collateralToken: COLL, due: true } } }
  // Refuses any plan that still lists the boost.
  const judge = (p: ChainPlan): CheckRebalanceRulesReturnType | undefined => (p.subAccounts.includes(BOOST) ? { ok: false, error: { name: "ValueLossExceeded", args: [7n, 1000n, 1n] } } : undefined)
  const out = clampForSend(two, b, { rt, block: 7n, logger, events: keeperEvents, judge })
  expect(out).toEqual({ subAccounts: [SUB], actions: [{ kind: "Repay", subAccount: 0, amount: 10n ** 21n }] })
  const warn = lines.find((l) => l.refusal === "ValueLossExceeded")
  expect(warn?.dropped).toEqual([BOOST])
})

test("a judge that refuses every candidate costs at most REPAIR_EVALUATIONS clamps: 8 sub-accounts with pool actions, then a named refusal", () => {
  const POOL = "0x00000000000000000000000000000000000000d1"
  const ids = Array.from({ length: 8 }, (_, i) => `0x${(i + 1).toString(16).padStart(2, "0").repeat(32)}` as `0x${string}`)
  const plan: ChainPlan = {
    subAccounts: ids,
    actions: ids.flatMap((_, i) => [
      { kind: "WithdrawFromPool" as const, subAccount: i, pool: POOL, amount: 10n ** 18n },
      { kind: "Repay" as const, subAccount: i, amount: 2n * 10n ** 18n },
    ]),
  }
  const b: ChainBounds = {
    balances: { [LOAN]: 4n * 10n ** 18n },
    maxWithdraw: { [POOL]: 10n ** 20n },
    poolAsset: { [POOL]: LOAN },
    subAccounts: Object.fromEntries(ids.map((id) => [id, { debt: 10n ** 22n, collateral: 10n ** 22n, loanToken: LOAN, collateralToken: COLL, due: true }])),
  }
  let calls = 0
  const out = clampPlanToChainBounds(plan, b, undefined, { judge: () => (calls++, refuses()) })
  expect(out.plan).toBeUndefined()
  expect(out.refusal?.name).toBe("ValueLossExceeded")
  expect(calls).toBeLessThanOrEqual(REPAIR_EVALUATIONS + 1)
  expect(calls).toBeGreaterThan(8)
})
