import type { Address, Hex } from "viem"
import { expect, test } from "vitest"
import { ValueLossExceededError } from "@levpilot/sdk/errors"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { portfolioOf } from "./portfolio.js"
import { newSafeRuntime } from "./runtime.js"
import { keeperCosts } from "./safeStep.js"
import type { PendingOperation } from "./stateFile.js"
import { SAFE, STEP_RISK, USDC, pendingSentAt90, stepHarness, stepSafeState, stepSub } from "./testing.js"

// Review rr11m M2 (break-it of f11p): the isolation's probes run through `planAndSend` with the step's `replace` (a stuck
// operation being resubmitted at its nonce). A probe whose subset has NO plan (a rescue without its donor, the donor
// alone in its band) takes planAndSend's "nothing to resubmit" branch: the chain's nonce still unused, the in-flight
// record is cleared ("operation in flight no longer needed"), although the step's own plan (the whole one, refused by the
// simulation) is a rescue still due. The operation stays in the bundler's mempool untracked: no `stalled` alert, no
// repricing (issue 11 item 4), no `included` event if it lands (issue 16's class), and the next block's send takes the
// same nonce as a fresh operation. Before f11p the refusal was rethrown (send-failed, backoff) and the record kept.
// Fixture: isolationNoPlan.f11p's R (USDC 1.02, below, only plan with donor D 1.45) and D; 3,000 idle USDC; the
// simulation refuses any plan listing R (ValueLossExceeded); the tracker answers "resubmit" for the record.
const R = `0x${"5a".repeat(32)}` as Hex
const D = `0x${"d0".repeat(32)}` as Hex
const WAD = 10n ** 18n
const NONCE = (7n << 64n) | 3n
const record = pendingSentAt90(NONCE)

async function resubmitStep(refuse = true) {
  let pending: PendingOperation | undefined = record
  const sent: string[] = []
  let tracked = 0
  const sender = {
    send: async (_rt: unknown, b: bigint, plan: ChainPlan, replace: PendingOperation | undefined) => {
      sent.push(`${b} ${plan.subAccounts.map((id) => id.slice(2, 4)).join(",")}${replace ? " (replacement)" : ""}`)
      if (refuse && plan.subAccounts.some((id) => id.toLowerCase() === R)) throw new ValueLossExceededError({ loss: 200n * WAD, moved: 3_000n * WAD, maxLossBps: 300n })
    },
  }
  const { step, events } = stepHarness(undefined, {
    sender,
    store: { pending: () => pending, setPending: (_safe: Address, p: PendingOperation | undefined) => void (pending = p) },
    tracker: {
      track: async () => {
        tracked += 1
        return "resubmit"
      },
    },
    // The record's nonce is still unused on chain: the operation is in flight.
    publicClient: { readContract: async () => NONCE },
  })
  const rt = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
  const blocks = [100n, 101n, 102n]
  for (const b of blocks) {
    const state = stepSafeState([stepSub(R, USDC, 1.02, "below"), stepSub(D, USDC, 1.45, "inside")])
    const held = { ...state, tokens: state.tokens.map((t) => (t.token === USDC ? { ...t, balance: 3_000n * WAD } : t)) }
    const snapshot = portfolioOf(held as never, { blockNumber: b, timestamp: 1_700_000_000n + 12n * (b - 100n), risk: STEP_RISK, costs: keeperCosts({ costs: { gasPriceGwei: 1, nativePrice: 3000 } } as never) })
    rt.backoffUntil = 0
    await step.run(rt, b, { snapshot })
  }
  const alerts = events.flatMap((e) => (e.type === "alert" ? [`${e.block} ${e.kind}`] : []))
  return { pending, sent, tracked, alerts }
}

test("rr11m M2 control: the simulation accepting, [D, R] is sent as the replacement at block 100", async () => {
  const { sent } = await resubmitStep(false)
  expect(sent[0]).toBe("100 d0,5a (replacement)")
})

// Fixed (f11q; "observed today" was: the record cleared at block 100, blocks 101-102 sending [D, R] as a fresh operation
// at the in-flight nonce): the probes with no plan and the re-plan without the left-out R keep the record; each block
// tracks the operation in flight and resends [D, R] as its replacement.
test("rr11m M2 fixed: an isolation probe with no plan keeps the in-flight record; every block resends the replacement", async () => {
  const { pending, sent, tracked } = await resubmitStep()
  expect(pending).toEqual(record)
  expect(tracked).toBe(3)
  expect(sent).toEqual(["100 d0,5a (replacement)", "101 d0,5a (replacement)", "102 d0,5a (replacement)"])
})

test("rr11m M2 (was FAILS TODAY): the record of the operation in flight is kept while its rescue is still due", async () => {
  const { pending, tracked } = await resubmitStep()
  expect(pending).toEqual(record)
  expect(tracked).toBe(3)
})
