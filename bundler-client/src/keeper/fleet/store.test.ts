import { describe, expect, test } from "vitest"
import { KeeperStateStore } from "../stateFile.js"
import { MemoryFleetStore } from "./store.js"

const A = "0x00000000000000000000000000000000000000aa"
const B = "0x00000000000000000000000000000000000000bb"

describe("MemoryFleetStore: newest step per Safe (the late-plan rule, embedded)", () => {
  test("keeps the highest block per Safe, whatever the order the marks come in; addresses in any case are one Safe", async () => {
    const store = new MemoryFleetStore(new KeeperStateStore(undefined))
    expect(await store.newestStep(A)).toBeUndefined()
    await store.markSteps([
      [A, 10n],
      [B, 7n],
    ])
    await store.markSteps([[A.toUpperCase().replace("0X", "0x") as `0x${string}`, 12n]])
    // An older block marked late (a slow scan of an earlier head) does not lower it.
    await store.markSteps([[A, 11n]])
    expect(await store.newestStep(A)).toBe(12n)
    expect(await store.newestStep(B)).toBe(7n)
  })
})
