import type { Address, Hex } from "viem"
import { expect, test } from "vitest"
import { OracleCheckFailedError } from "@levpilot/sdk/errors"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { portfolioOf } from "./portfolio.js"
import { newSafeRuntime } from "./runtime.js"
import { keeperCosts } from "./safeStep.js"
import type { PendingOperation } from "./stateFile.js"
import { SAFE, STEP_RISK, USDC, stepHarness, stepSafeState, stepSub } from "./testing.js"

// Review rr11n N2 (break-it of f11q's M2 fix, `keepPending`): the fix keeps the in-flight record for isolation probes and
// for the re-plan of a step whose isolation (or memory) left due sub-accounts out. The step's OTHER leave-outs are not
// covered: in a resubmission step (`replace`, the tracker's "resubmit"), a plan whose simulation refuses its sub-account's
// oracle (`oracleRefusalOf`: left out "also for a replacement"; one refusal alone can be the read race between the
// keeper's node and the bundler's, FEED_READ_AHEAD_SECONDS) is planned again without it; with no plan left, planAndSend's
// "nothing to resubmit" branch finds the nonce unused and CLEARS the record ("operation in flight no longer needed")
// while that rescue is still due and the operation is still in the bundler's mempool: from then on it is untracked (no
// `stalled` alert, no repricing: issue 11 item 4, no `included` event if it lands: issue 16), and the next block sends a
// fresh operation at the in-flight nonce (what issue 11 item 9 is about). rr11m M2's class through another door; not a
// regression of f11q (the oracle leave-out of a replacement predates f11p), and the same holds for the rule book naming
// the plan's only due sub-account (`leaveOutJudged`).
// Fixture: A (USDC 1.02, below, idle-funded) alone; an operation in flight for it (the record), the tracker answering
// "resubmit" while the record exists; the chain's nonce unused; the simulation refuses A's oracle at block 100 only
// (`OracleStale`: the read race), then accepts.
const A = `0x${"a1".repeat(32)}` as Hex
const WAD = 10n ** 18n
const NONCE = (7n << 64n) | 3n
const record: PendingOperation = {
  userOpHash: `0x${"ab".repeat(32)}`,
  nonce: NONCE.toString(),
  sentBlock: "90",
  firstSentBlock: "90",
  sentAt: 0,
  maxFeePerGas: "1",
  maxPriorityFeePerGas: "1",
  sponsored: true,
  attempts: 1,
  triggerBlock: "90",
  triggerAt: 0,
}

async function resubmitSteps(race = true) {
  let pending: PendingOperation | undefined = record
  const sent: string[] = []
  const pendingAfter: (string | undefined)[] = []
  let tracked = 0
  const sender = {
    send: async (_rt: unknown, b: bigint, plan: ChainPlan, replace: PendingOperation | undefined) => {
      sent.push(`${b} ${plan.subAccounts.map((id) => id.slice(2, 4)).join(",")} ${replace ? "replacement" : "fresh"}`)
      if (race && b === 100n) throw new OracleCheckFailedError({ check: "OracleStale", subAccount: A })
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
  for (const b of [100n, 101n]) {
    const state = stepSafeState([stepSub(A, USDC, 1.02, "below")])
    const snapshot = portfolioOf(state as never, { blockNumber: b, timestamp: 1_700_000_000n + 12n * (b - 100n), risk: STEP_RISK, costs: keeperCosts({ costs: { gasPriceGwei: 1, nativePrice: 3000 } } as never) })
    rt.backoffUntil = 0
    await step.run(rt, b, { snapshot })
    pendingAfter.push(pending?.nonce)
  }
  const alerts = events.flatMap((e) => (e.type === "alert" ? [`${e.block} ${e.kind}`] : []))
  return { pendingAfter, sent, tracked, alerts }
}

test("rr11n N2 control: with no oracle refusal, A is resent as the replacement at block 100 (the record kept)", async () => {
  const { sent, pendingAfter } = await resubmitSteps(false)
  expect(sent[0]).toBe("100 a1 replacement")
  expect(pendingAfter[0]).toBe(NONCE.toString())
})

// Fixed (f11r; "observed today" was: block 100 cleared the record, block 101 sent A's rescue FRESH at the in-flight
// nonce): a step that left out a due sub-account keeps the record; block 101 tracks it and resends as the replacement.
// No alert (the oracle's feed-broken comes at the third refusal in a row, ORACLE_REFUSAL_ALERT_BLOCKS).
test("rr11n N2 fixed: an oracle leave-out in a resubmission step keeps the in-flight record; the next block resends the replacement", async () => {
  const { sent, pendingAfter, tracked, alerts } = await resubmitSteps()
  expect(sent).toEqual(["100 a1 replacement", "101 a1 replacement"])
  expect(pendingAfter).toEqual([NONCE.toString(), NONCE.toString()])
  expect(tracked).toBe(2)
  expect(alerts).toEqual([])
})

test("rr11n N2 (was FAILS TODAY): the in-flight record is kept while its rescue is still due; block 101 resends it as the replacement", async () => {
  const { sent, pendingAfter, tracked } = await resubmitSteps()
  expect(pendingAfter[0]).toBe(NONCE.toString())
  expect(tracked).toBe(2)
  expect(sent).toEqual(["100 a1 replacement", "101 a1 replacement"])
})
