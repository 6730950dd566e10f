import type { Hex } from "viem"
import { expect, test } from "vitest"
import { ValueLossExceededError } from "@levpilot/sdk/errors"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { portfolioOf } from "./portfolio.js"
import { newSafeRuntime } from "./runtime.js"
import { keeperCosts } from "./safeStep.js"
import { SAFE, STEP_RISK, USDC, stepHarness, stepSafeState, stepSub } from "./testing.js"

// Review rr11l L2 (break-it of f11o's K1 + K2): K1 tries the refused plan's sub-accounts alone, most urgent first; K2
// leaves out, silently ("its judge refusal already has its run"), a tried one whose attempt sends nothing. But a rescue
// funded by a donor has NO plan alone (without its donor its funds fall short: "no valid plan"): it is left out with no
// alert of any kind, its donor alone has nothing to send, and the step ends. No simulation alert (it was never refused
// alone), no no-rescue event (the last solve left it out, so reportNoRescue never sees it), no send-failed: a sub-account
// below its band, never rescued, 0 alerts, in every block.
// Fixture: R (USDC, 1.02, below) and D (USDC, 1.45, inside) with 3,000 idle USDC: the solver's plan is [D, R] (D
// borrows for R); R alone reaches only 1.033 < 1.122 (no plan). The simulation refuses any plan listing R with
// ValueLossExceeded (R's leg loses value: a flash premium, a swap's slippage; the keeper's judge does not judge it).
const R = `0x${"5a".repeat(32)}` as Hex
const D = `0x${"d0".repeat(32)}` as Hex
const WAD = 10n ** 18n

async function blocks(n: number, refuse = true) {
  const sent: string[] = []
  const sender = {
    send: async (_rt: unknown, b: bigint, plan: ChainPlan) => {
      sent.push(`${b} ${plan.subAccounts.map((id) => id.slice(2, 4)).join(",")}`)
      if (refuse && plan.subAccounts.some((id) => id.toLowerCase() === R)) throw new ValueLossExceededError({ loss: 200n * WAD, moved: 3_000n * WAD, maxLossBps: 300n })
    },
  }
  const { step, events } = stepHarness(undefined, { sender })
  const rt = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
  const backedOff: boolean[] = []
  for (let k = 0; k < n; k++) {
    const state = stepSafeState([stepSub(R, USDC, 1.02, "below"), stepSub(D, USDC, 1.45, "inside")])
    const held = { ...state, tokens: state.tokens.map((t) => (t.token === USDC ? { ...t, balance: 3_000n * WAD } : t)) }
    const snapshot = portfolioOf(held as never, { blockNumber: 100n + BigInt(k), timestamp: 1_700_000_000n + 12n * BigInt(k), risk: STEP_RISK, costs: keeperCosts({ costs: { gasPriceGwei: 1, nativePrice: 3000 } } as never) })
    rt.backoffUntil = 0
    await step.run(rt, 100n + BigInt(k), { snapshot })
    backedOff.push(rt.backoffUntil !== 0)
  }
  const about = events.filter((e) => e.type !== "observed").map((e) => `${(e as { block?: bigint }).block} ${e.type}${"kind" in e ? ` ${e.kind}` : ""}${"message" in e && typeof e.message === "string" && e.message.includes(R) ? " R" : ""}${"subAccount" in e && String(e.subAccount).toLowerCase() === R ? " R" : ""}`)
  return { sent, about, backedOff }
}

// Ported from review rr11l L2 (written against the reverted f11o, where R was dropped with 0 alerts). On main (f11n) the
// plan has no fee pool: it was rethrown, send-failed + backoff in every block. Now: R (below band) cannot be isolated
// (no plan without its donor), so it is left out of the block with a nothing-to-send alert naming it and why; no backoff.
test("f11p L2: R (below band, its only plan refused by the simulation, no plan alone) is alerted, not dropped silently; no backoff", async () => {
  const { about, backedOff } = await blocks(5)
  expect(about.filter((a) => a.endsWith(" R"))).toEqual(["100 alert nothing-to-send R"])
  expect(backedOff).toEqual([false, false, false, false, false])
  // Control: the simulation accepting, [D, R] is sent.
  expect((await blocks(1, false)).sent).toEqual(["100 d0,5a"])
})
