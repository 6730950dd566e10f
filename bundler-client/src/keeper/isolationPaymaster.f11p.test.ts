import type { Hex } from "viem"
import { expect, test, vi } from "vitest"
import { PaymasterTokenChargeError, ValueLossExceededError } from "@levpilot/sdk/errors"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { portfolioOf } from "./portfolio.js"
import { newSafeRuntime } from "./runtime.js"
import { keeperCosts } from "./safeStep.js"
import { SAFE, STEP_RISK, USDC, stepHarness, stepSafeState, stepSub } from "./testing.js"

// The re-read of `run`'s token-paymaster retry (a fresh snapshot of the same block), without a chain.
const current: { make?: () => unknown } = {}
vi.mock("./portfolio.js", async (orig) => {
  const real = await orig<typeof import("./portfolio.js")>()
  return { ...real, readPortfolio: vi.fn(async () => current.make?.()), excludeFailingOracles: vi.fn(async (_c: unknown, s: unknown) => s) }
})

// Review rr11l L4 (break-it of f11o's per-step probe bound): the bound of 4 is shared with `run`'s token-paymaster
// retries, but each retry starts its probing over (excluded, held: per `solveAndSend` call). With ONE refused-alone
// sub-account (X1, the most urgent) the first attempt spends 2 probes ([X1, I1, I2], then X1 alone), releases I1 and
// is refused for the paymaster's pre-charge (issue 11 item 2: the plan spends the idle loan token the paymaster charges;
// a charge is learned afresh in each block); the retry spends the last 2 on the same two plans and, at the bound, leaves
// I1 and I2 out with X1 ("a plan with its fee-pool action"). Nothing is ever sent: the accepted rescues starve in every
// block, with a single culprit.
// Fixture: three USDC sub-accounts, idle-funded; the simulation refuses any plan listing X1 (ValueLossExceeded); a plan
// without X1 is refused ONCE per block for the paymaster's pre-charge (1 USDC), then accepted with it kept aside.
const X1 = `0x${"a1".repeat(32)}` as Hex
const I1 = `0x${"b1".repeat(32)}` as Hex
const I2 = `0x${"b2".repeat(32)}` as Hex
const WAD = 10n ** 18n

async function blocks(n: number, charge = true) {
  const sent: string[] = []
  const landed: string[] = []
  let chargedAt: bigint | undefined
  const sender = {
    send: async (_rt: unknown, b: bigint, plan: ChainPlan) => {
      sent.push(`${b} ${plan.subAccounts.map((id) => id.slice(2, 4)).join(",")}`)
      if (plan.subAccounts.some((id) => id.toLowerCase() === X1)) throw new ValueLossExceededError({ loss: 2_000n * WAD, moved: 50_000n * WAD, maxLossBps: 300n })
      if (charge && chargedAt !== b) {
        chargedAt = b
        throw new PaymasterTokenChargeError({ token: USDC, charge: WAD, balance: WAD })
      }
      landed.push(`${b} ${plan.subAccounts.map((id) => id.slice(2, 4)).join(",")}`)
    },
  }
  const { step, events } = stepHarness(undefined, { sender })
  const rt = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
  const backedOff: boolean[] = []
  for (let k = 0; k < n; k++) {
    const make = () => {
      const state = stepSafeState([stepSub(X1, USDC, 1.01, "below"), stepSub(I1, USDC, 1.04, "below"), stepSub(I2, USDC, 1.05, "below")])
      return portfolioOf(state as never, { blockNumber: 100n + BigInt(k), timestamp: 1_700_000_000n + 12n * BigInt(k), risk: STEP_RISK, costs: keeperCosts({ costs: { gasPriceGwei: 1, nativePrice: 3000 } } as never) })
    }
    current.make = make
    rt.backoffUntil = 0
    await step.run(rt, 100n + BigInt(k), { snapshot: make() as never })
    backedOff.push(rt.backoffUntil !== 0)
  }
  const who = (m: string) => [X1, I1, I2].find((id) => m.includes(id))?.slice(2, 4) ?? "?"
  const alerts = events.flatMap((e) => (e.type === "alert" ? [`${e.block} ${e.kind} ${who(e.message)}`] : []))
  return { sent, landed, alerts, backedOff }
}

// Ported from review rr11l L4 (written against the reverted f11o, where the retry restarted the probing and starved I1,
// I2 every block). On main (f11n) the plan has no fee pool: rethrown, send-failed + backoff. Now one budget and one set
// of culprits per step, kept across the token paymaster's retries: X1 found alone, the retry sends [I1, I2].
test("f11p L4: with the pre-charge retry, I1 and I2 land in block 100; the innocent ones never alerted; X1 once", async () => {
  const { landed, alerts, backedOff, sent } = await blocks(3)
  expect(landed[0]).toBe("100 b1,b2")
  expect(alerts.filter((a) => a.endsWith(" b1") || a.endsWith(" b2"))).toEqual([])
  expect(alerts).toEqual(["100 nothing-to-send a1"])
  expect(backedOff).toEqual([false, false, false])
  for (const b of [100, 101, 102]) expect(sent.filter((s) => s.startsWith(`${b} `)).length).toBeLessThanOrEqual(8)
  const control = await blocks(1, false)
  expect(control.landed).toEqual(["100 b1,b2"])
})
