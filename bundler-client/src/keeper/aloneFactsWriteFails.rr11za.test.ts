import type { Address, Hex } from "viem"
import { expect, test } from "vitest"
import { ValueLossExceededError } from "@levpilot/sdk/errors"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { portfolioOf } from "./portfolio.js"
import { newSafeRuntime } from "./runtime.js"
import { keeperCosts } from "./safeStep.js"
import type { PendingOperation } from "./stateFile.js"
import { SAFE, STEP_RISK, USDC, stepHarness, stepSafeState, stepSub } from "./testing.js"

// Review rr11za A3 (f11zh: the alone table persisted after every step). `SafeStep.run` persists the table in its
// `finally` (safeStep.ts `this.persistAloneFacts(rt)`), BEFORE `rt.busy = false` and outside any catch. When the state
// file cannot be written (ENOSPC: a disk filled by logs in the worst minute; EACCES; EROFS), `setAloneFacts` throws out
// of the finally: the step rejects, `rt.busy` stays true, and every later `run` returns at `if (rt.busy) return`. The
// Safe is never stepped again by this process, with no alert, even once the disk is writable again. (A failing
// `setPending` inside the step is caught: alerted, backed off, retried next block.)
// Fixture (f11zh's): X's plan is refused plan-wide by the chain's simulation in every block, I's plan is accepted and
// sent (it never lands). X is written refused alone at 100: the table changes, so the store is written at 100.
// Was gated by RR11ZA_FAILING until fixed on branch a3.
const X = `0x${"a1".repeat(32)}` as Hex
const I = `0x${"b1".repeat(32)}` as Hex
const WAD = 10n ** 18n

/** Steps 100..103 with a store whose `setAloneFacts` throws ENOSPC at its first `failures` calls. */
async function steps(failures: number) {
  const sent: string[] = []
  const rejected: string[] = []
  const sender = {
    send: async (_rt: unknown, b: bigint, plan: ChainPlan) => {
      sent.push(`${b} ${plan.subAccounts.map((id) => id.slice(2, 4)).join(",")}`)
      if (plan.subAccounts.some((id) => id.toLowerCase() === X)) throw new ValueLossExceededError({ loss: 2_000n * WAD, moved: 50_000n * WAD, maxLossBps: 300n })
    },
  }
  let calls = 0
  const store = {
    pending: (_safe: Address) => undefined,
    setPending: (_safe: Address, _p: PendingOperation | undefined) => undefined,
    aloneFacts: (_safe: Address) => undefined,
    setAloneFacts: (_safe: Address, _t: unknown) => {
      calls += 1
      if (calls <= failures) throw Object.assign(new Error("ENOSPC: no space left on device, write '/var/lib/levpilot/state.json.tmp'"), { code: "ENOSPC" })
    },
  }
  const { step, events } = stepHarness(undefined, { sender, store })
  const rt = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
  for (let b = 100; b <= 103; b++) {
    const snapshot = portfolioOf(stepSafeState([stepSub(X, USDC, 1.01, "below"), stepSub(I, USDC, 1.04, "below")]) as never, { blockNumber: BigInt(b), timestamp: 1_700_000_000n + 12n * BigInt(b - 100), risk: STEP_RISK, costs: keeperCosts({ costs: { gasPriceGwei: 1, nativePrice: 3000 } } as never) })
    rt.backoffUntil = 0
    await step.run(rt, BigInt(b), { snapshot }).catch((e: Error) => rejected.push(`${b} ${e.message.slice(0, 6)}`))
  }
  return { sent, rejected, busy: rt.busy, alerts: events.flatMap((e) => (e.type === "alert" ? [`${e.block} ${e.kind}`] : [])) }
}

test("rr11za A3 (held, reference): a writable store: I sent at every block 100-103", async () => {
  const { sent, rejected } = await steps(0)
  expect(rejected).toEqual([])
  for (const b of [100, 101, 102, 103]) expect(sent).toContain(`${b} b1`)
})

test("rr11za A3 (was FAILS TODAY, fixed a3) (measured: one ENOSPC at 100's persist: sends 100 a1,b1 / a1 / b1 then none at 101-103, run rejects at 100, rt.busy true, alerts only 100 nothing-to-send): expected the Safe stepped again at 101 (I sent), the write failure alerted, busy released", async () => {
  const { sent, rejected, busy, alerts } = await steps(1)
  expect(rejected).toEqual([])
  expect(busy).toBe(false)
  expect(sent).toContain("101 b1")
  expect(alerts.length).toBeGreaterThan(1)
})
