import { describe, expect, it } from "vitest"
import type { SolverInput } from "../solver/types.js"
import { bandSnapshot } from "./bandShadow.testing.js"
import type { SafeRuntime } from "./runtime.js"
import { noteInclusion, sendNotingShortfall } from "./shortfall.js"
import { withBandShadow } from "./volatilityFeed.js"

/*
 * Issue 13, stop 64 (review rv64b B1): since the module's in-band zone is continuous at minHealth (SECURITY.md row 153)
 * a rescue that a gap at inclusion lands short of the target is accepted, under the target. The keeper then owes the
 * rest of it: until a read finds the sub-account at or above its target, its boost floor (the in-band rescue's gate,
 * the band rule's health) is at least the target, so the in-band rescue is due even where the band rule's health is
 * lower. Without it the position rested under its target above the band rule's health and the next gap liquidated
 * it (the backtester's `rescueOwed`, the same rule: solver/state.ts `rescueLandedShort`, `owedRescueFloor`).
 */
const SUB = `0x${"c".repeat(64)}`
const T0 = 1_700_000_000
/** The band rule's health the paper reports (below the autopilot's after its short landing). */
const SHADOW = 1.2
/** 10 WETH at `price` with the debt for `health` (band 1.15 / 1.4 / 1.7), `rescueBelowTarget` as given. */
function read(price: number, health: number, block: number, flag = true): SolverInput {
  const s = bandSnapshot({ id: SUB, price, debt: (10 * price * 0.86) / health, t: T0 + 12 * block, block })
  const sub = s.input.subAccounts[0] as SolverInput["subAccounts"][number]
  sub.policy = { ...sub.policy, rescueBelowTarget: flag }
  return s.input
}
const runtime = () => ({ bandPaper: { observe: () => new Map([[SUB, SHADOW]]) } }) as unknown as Pick<SafeRuntime, "bandPaper" | "landed" | "readHealth" | "rescueOwed">
const floorAt = (rt: ReturnType<typeof runtime>, input: SolverInput, block: number) => withBandShadow(rt, input, BigInt(block)).subAccounts[0]?.boostFloorHealth

describe("stop 64: a rescue that landed short of the target is owed the rest (keeper, VolatilityFeed.withBandShadow)", () => {
  it("after our plan made at the read of 1.12 lands at 1.34 (under the target 1.4, above the band rule's 1.2), the floor is the target until a read at or above it", () => {
    const rt = runtime()
    expect(floorAt(rt, read(2400, 1.12, 100), 100)).toBe(SHADOW)
    // Our plan, made at block 100's snapshot, landed (noteInclusion).
    rt.landed = new Map([[SUB, 100n]])
    expect(floorAt(rt, read(2400, 1.34, 102), 102)).toBe(1.4)
    expect(floorAt(rt, read(2390, 1.335, 103), 103)).toBe(1.4)
    // At the target: paid; the band rule's gate again.
    expect(floorAt(rt, read(2600, 1.45, 104), 104)).toBe(SHADOW)
    expect(floorAt(rt, read(2400, 1.34, 105), 105)).toBe(SHADOW)
  })

  it("judged against the read of the plan's snapshot even when a read after the landing came before the inclusion was noted", () => {
    const rt = runtime()
    floorAt(rt, read(2400, 1.12, 100), 100)
    floorAt(rt, read(2400, 1.34, 102), 102)
    rt.landed = new Map([[SUB, 100n]])
    expect(floorAt(rt, read(2400, 1.34, 103), 103)).toBe(1.4)
  })

  it("nothing owed: without the flag, after a landing at the target, or when no plan of ours landed", () => {
    for (const [flag, landedAt, landing] of [[false, 100n, 1.34], [true, 100n, 1.42], [true, undefined, 1.34]] as const) {
      const rt = runtime()
      floorAt(rt, read(2400, 1.12, 100, flag), 100)
      if (landedAt !== undefined) rt.landed = new Map([[SUB, landedAt]])
      expect(floorAt(rt, read(2400, landing, 102, flag), 102)).toBe(SHADOW)
    }
  })

  it("through the keeper's own records (stop 65): the send remembers the plan at its quote block (sendNotingShortfall), the tracker's landed inclusion notes it (noteInclusion), and the next read owes the rest; a reverted inclusion, or one of another operation, owes nothing", async () => {
    const HASH = `0x${"ab".repeat(32)}` as const
    for (const [success, includedHash, owed] of [[true, HASH, true], [false, HASH, false], [true, `0x${"cd".repeat(32)}` as const, false]] as const) {
      const rt = runtime() as ReturnType<typeof runtime> & Pick<SafeRuntime, "sentPlans" | "shortfallFallSeconds" | "saleHeld">
      floorAt(rt, read(2400, 1.12, 100), 100)
      // The plan made at block 100's snapshot goes out (an in-band rescue with no swap: no actions needed to be charged).
      await sendNotingShortfall(rt as unknown as SafeRuntime, { subAccounts: [SUB as `0x${string}`], actions: [] } as never, { block: 100n, timestamp: T0 + 1200 }, () => T0 + 1201, async () => undefined)
      expect(rt.landed?.get(SUB)).toBeUndefined()
      // Included at block 101: the record's latest send is that plan's (`sentBlock` 100, its hash known).
      noteInclusion(rt as unknown as SafeRuntime, success, 101n, success ? undefined : "0x", { sentBlock: "100", userOpHash: HASH }, includedHash)
      expect(rt.landed?.get(SUB)).toBe(includedHash === HASH && success ? 100n : undefined)
      expect(floorAt(rt, read(2400, 1.34, 102), 102)).toBe(owed ? 1.4 : SHADOW)
    }
  })
})
