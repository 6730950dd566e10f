import type { Hex } from "viem"
import { expect, test } from "vitest"
import { newSafeRuntime } from "./runtime.js"
import { SAFE, STEP_RISK, USDC, refusingSender, stepHarness, stepSafeState, stepSnapshotAt, stepSub, subIdOf } from "./testing.js"

// Review rr11r R2 (item 10 "most urgent first, the rest in the next operation"; item 9 "alert whenever it cannot";
// f11u / rr11o O4's turn for sub-accounts left over the module's limit). 20 due sub-accounts share one loan token
// (USDC), health 1.010, 1.012, ... 1.048 (01 the most urgent), band [1.1, 1.5]; every operation lands without effect,
// so all stay due (the premise stepIsolation.ts's UNREACHED_TURN_BLOCKS docstring names: "operations reverting on
// chain"). The module takes 8 sub-accounts per operation, so there are 3 chunks: 01-08, 09-10 (hex 09..10), 11-14.
// planAndSend's turn path: when a sub-account left over the limit has the turn, its asset is solved again WITHOUT the
// planned due sub-accounts that have no turn (01-08), and that re-solve again takes the 8 most urgent of what is left
// (09-10), leaving 11-14 over the limit again. 01-08 are in no ranked plan of the re-solve, so their unreached runs are
// dropped (not carried): they never get the turn. 11-14 keep the turn for good and never reach a plan.
const N = 20
const ids: Hex[] = Array.from({ length: N }, (_, k) => subIdOf(k + 1))
const B = 40

async function run() {
  const base = refusingSender(() => false, { rescued: () => false })
  const { step, events } = stepHarness(undefined, { sender: base.sender })
  const rt = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
  for (let k = 0; k < B; k++) {
    rt.backoffUntil = 0
    await step.run(rt, 100n + BigInt(k), { snapshot: stepSnapshotAt(stepSafeState(ids.map((id, j) => stepSub(id, USDC, 1.01 + j * 0.002, "below"))), k) })
  }
  // Blocks at which each sub-account (first id byte) was in a plan sent.
  const attempts = new Map<string, number[]>()
  for (const s of base.sent) {
    const [b, list] = s.split(" ") as [string, string]
    for (const id of list.split(",")) attempts.set(id, [...(attempts.get(id) ?? []), Number(b)])
  }
  // The longest run of blocks (within 100 .. 100+B-1) in which each sub-account was not in any plan sent.
  const longestGap = (byte: string) => {
    const a = attempts.get(byte) ?? []
    let gap = 0
    let last = 99
    for (const b of [...a, 100 + B]) {
      gap = Math.max(gap, b - last - 1)
      last = b
    }
    return gap
  }
  const alertsNaming = (id: Hex) => events.filter((e) => e.type === "alert" && e.message.toLowerCase().includes(id.toLowerCase())).map((e) => Number((e as { block: bigint }).block))
  return { sent: base.sent, attempts, longestGap, alertsNaming }
}

test("rr11r R2 observed today: 20 due sub-accounts (3 chunks of the module's 8): the most urgent 8 are never sent after block 102 and never alerted; 11-14 never sent", async () => {
  const { attempts, longestGap, alertsNaming, sent } = await run()
  console.log(sent.slice(0, 6).join(" | "))
  expect(attempts.get("01")).toEqual([100, 101, 102])
  expect(longestGap("01")).toBe(B - 3) // 103 .. 139
  expect(alertsNaming(ids[0] as Hex)).toEqual([]) // 01: due for 40 blocks, unreached for 37, 0 alerts
  expect(attempts.get("11")).toBeUndefined() // never in a plan sent
  expect(alertsNaming(ids[16] as Hex)).toEqual([102]) // one alert in 40 blocks
  // 09..10 are sent in every block from 103.
  expect(attempts.get("09")?.length).toBe(B - 3)
}, 120_000)

test.skip("rr11r R2 FAILS TODAY: each of 20 due sub-accounts is in a plan sent at least once in every 8 blocks (the docstring's bound for 3 plans: every max(3, UNREACHED_TURN_BLOCKS + 1) = 4)", async () => {
  const { longestGap } = await run()
  for (const id of ids) expect(longestGap(id.slice(2, 4)), id.slice(2, 4)).toBeLessThanOrEqual(8)
}, 120_000)
