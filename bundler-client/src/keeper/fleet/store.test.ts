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

describe("shared runtime: the unreadable sub-accounts already alerted (feed-broken once per outage, not once per worker)", () => {
  test("what one worker saved is what the next worker of the Safe starts from; a runtime saved before the field keeps its own", async () => {
    const { applySharedRuntime, sharedRuntimeOf } = await import("./store.js")
    const { newSafeRuntime } = await import("../runtime.js")
    const config = { risk: { sigma: 0.8, volatility: {} } } as never
    const id = `0x${"11".repeat(32)}`
    const first = newSafeRuntime(config)
    first.unreadable = new Set([id])
    const saved = JSON.parse(JSON.stringify(sharedRuntimeOf(first)))
    const second = newSafeRuntime(config)
    applySharedRuntime(second, saved)
    expect([...second.unreadable]).toEqual([id])
    // Back to readable on one worker: the next one no longer counts it as alerted.
    const readable = newSafeRuntime(config)
    applySharedRuntime(readable, JSON.parse(JSON.stringify(sharedRuntimeOf(newSafeRuntime(config)))))
    expect([...readable.unreadable]).toEqual([])
    const old = newSafeRuntime(config)
    old.unreadable = new Set([id])
    const { unreadable: _, ...before } = saved
    applySharedRuntime(old, before)
    expect([...old.unreadable]).toEqual([id])
  })
})
