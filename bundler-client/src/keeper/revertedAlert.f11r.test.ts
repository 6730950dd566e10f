import { expect, test } from "vitest"
import { fleetInclusionHarness as harness, landedUserOp as landed, resentRecord as record } from "./testing.js"

// Review rr11n N4 (second half): an operation included but reverted on chain was a warn line and a counter only; a rescue
// reverting at every inclusion (a swap rescue in a price step) protected nothing, silently. It now alerts `reverted`
// (OperationRevertedError: the nonce, the block, the count in a row), the first of a run and then at most once per
// REVERTED_REALERT_BLOCKS; a successful inclusion raises none.
test("f11r (rr11n N4): a reverted inclusion alerts `reverted` naming the nonce and block; a successful one does not", async () => {
  const reverted = harness(record(100n, 100n), { head: 106n, events: [landed(105n, false)] })
  expect(await reverted.step(106n)).toBe("included")
  const alerts = reverted.events.flatMap((e) => (e.type === "alert" ? [`${e.block} ${e.kind} ${e.message.includes("was included at block 105 but reverted") ? "reverted" : "?"}`] : []))
  expect(alerts).toEqual(["105 reverted reverted"])
  const landedOk = harness(record(100n, 100n), { head: 106n, events: [landed(105n, true)] })
  expect(await landedOk.step(106n)).toBe("included")
  expect(landedOk.events.filter((e) => e.type === "alert")).toEqual([])
})
