import type { Hex } from "viem"
import { expect, test } from "vitest"
import { newSafeRuntime } from "./runtime.js"
import { UNREACHED_TURN_BLOCKS } from "./safeStep.js"
import { SAFE, STEP_RISK, USDC, refusingSender, stepHarness, stepSafeState, stepSnapshotAt, stepSub, subIdOf } from "./testing.js"

// Review rr11s probe of f11x R2/R4 (held-out idea "sub-accounts becoming due one per block"): 8 due at block 100, then
// one more due at every block (24 in all, 3 module chunks), each new one MORE urgent than all before it (a deepening
// crash reaching the riskiest last); every operation lands without effect, so all stay due. Each must be attempted
// within the turn bound of becoming due and then at least every max(plans, UNREACHED_TURN_BLOCKS + 1) blocks.
const B = 40
const N = 24

for (const newerMoreUrgent of [true, false])
test(`rr11s probe: sub-accounts becoming due one per block, each newer one ${newerMoreUrgent ? "the most" : "the least"} urgent: every one attempted within the turn bound`, async () => {
  const ids: Hex[] = Array.from({ length: N }, (_, k) => subIdOf(k + 1))
  const dueFrom = (j: number) => 100 + Math.max(0, j - 7)
  const base = refusingSender(() => false, { rescued: () => false })
  const { step } = stepHarness(undefined, { sender: base.sender })
  const rt = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
  for (let k = 0; k < B; k++) {
    rt.backoffUntil = 0
    const b = 100 + k
    const subs = ids.map((id, j) => (b >= dueFrom(j) ? stepSub(id, USDC, newerMoreUrgent ? 1.08 - j * 0.002 : 1.01 + j * 0.002, "below") : stepSub(id, USDC, 1.3, "inside")))
    await step.run(rt, BigInt(b), { snapshot: stepSnapshotAt(stepSafeState(subs), k) })
  }
  const attempts = new Map<string, number[]>()
  for (const s of base.sent) {
    const [b, list] = s.split(" ") as [string, string]
    for (const id of list.split(",")) attempts.set(id, [...(attempts.get(id) ?? []), Number(b)])
  }
  const worst = ids.map((id, j) => {
    const a = [dueFrom(j) - 1, ...(attempts.get(id.slice(2, 4)) ?? []), 100 + B]
    return Math.max(...a.slice(1).map((b, x) => b - (a[x] as number) - 1))
  })
  console.log(`rr11s due-one-per-block: worst gap per sub-account ${worst.join(",")}; sends ${base.sent.length}`)
  const plans = Math.ceil(N / 8)
  for (const [j, w] of worst.entries()) expect(w, ids[j]?.slice(2, 4)).toBeLessThanOrEqual(Number(UNREACHED_TURN_BLOCKS) + plans - 1)
}, 180_000)
