import type { Hex } from "viem"
import { expect, test } from "vitest"
import { applySharedRuntime, sharedRuntimeOf } from "./fleet/store.js"
import { newSafeRuntime } from "./runtime.js"
import { SAFE, STEP_RISK, USDC, refusingSender, stepHarness, stepSafeState, stepSnapshotAt, stepSub } from "./testing.js"

// f11z (whole-diff review, item 3): `SafeRuntime.unnamedFailure` (UNNAMED_REPEAT_BLOCKS, 1c5897d) lived per process.
// In fleet mode the workers step a Safe in turn, each applying the runtime the last one saved (`sharedRuntimeOf` /
// `applySharedRuntime`, as fleet/step.ts does): a plan of several sub-accounts failing naming none of them on worker A
// at block 100, then failing the same way on worker B at block 101, was B's first failure, never isolated, and the
// accepted rescue beside the broken sub-account waited for two steps on one worker in a row. Fixture of
// unnamedPlanStall.rr11q: C (health 1.01, any plan holding it fails with a bundler error) and I (1.02, accepted alone).
const C = `0x${"c1".repeat(32)}` as Hex
const I = `0x${"b1".repeat(32)}` as Hex

test("f11z: a plan failing naming no sub-account on worker A, then on worker B at the next block, is a repeat on B: isolated, I lands at 101", async () => {
  const bundler = refusingSender(() => false, {
    thrown: (plan) => (plan.subAccounts.some((x) => x.toLowerCase() === C.toLowerCase()) ? new Error("bundler: eth_estimateUserOperationGas internal error (-32603): execution reverted") : undefined),
  })
  const workers = [stepHarness(undefined, { sender: bundler.sender }), stepHarness(undefined, { sender: bundler.sender })]
  const runtimes = [newSafeRuntime({ address: SAFE, risk: STEP_RISK } as never), newSafeRuntime({ address: SAFE, risk: STEP_RISK } as never)]
  let saved: unknown
  for (let k = 0; k < 2; k++) {
    const w = k % 2
    const rt = runtimes[w] as ReturnType<typeof newSafeRuntime>
    // What the fleet's step does around a Safe's step: the shared runtime the last worker saved (JSON), then its own.
    if (saved !== undefined) applySharedRuntime(rt, JSON.parse(JSON.stringify(saved)))
    rt.backoffUntil = 0
    await workers[w]?.step.run(rt, 100n + BigInt(k), { snapshot: stepSnapshotAt(stepSafeState([stepSub(C, USDC, 1.01, "below"), stepSub(I, USDC, 1.02, "below")]), k) })
    saved = sharedRuntimeOf(rt)
  }
  // Worker A, block 100: the plan fails once (no probe). Worker B, block 101: the same plan again, a repeat: the probes
  // [C] (blamed) and [I] (accepted: the step's one operation).
  expect(bundler.sent).toEqual(["100 c1,b1", "101 c1,b1", "101 c1", "101 b1"])
  expect(bundler.landed).toEqual(["101 b1"])
}, 60_000)
