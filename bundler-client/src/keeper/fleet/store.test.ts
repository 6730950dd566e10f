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

describe("shared runtime: the alert de-duplication state (review rr16d D3)", () => {
  test("every SHARED_ALERT_STATE field survives JSON from one worker to the next (Maps, Sets, bigints); an ended run is ended on the next; an older runtime keeps the process's own", async () => {
    const { SHARED_ALERT_STATE, applySharedRuntime, sharedRuntimeOf } = await import("./store.js")
    const { newSafeRuntime } = await import("../runtime.js")
    const config = { risk: { sigma: 0.8, volatility: {} } } as never
    const first = newSafeRuntime(config)
    first.reverted = new Map([["0xaa", { count: 2, alerted: 101n, last: 103n }]])
    first.ruleRefused = new Map([["*", { since: 7n, alerted: undefined, rule: "r" }]])
    first.noRescue = new Map([["0xbb", { binding: "ltv", label: "l", venue: "morpho" }]])
    first.oracleRefused = new Map([["0xcc", { steps: 3, alerted: true, label: "l", venue: "aave" }]])
    first.unreached = new Map([["0xdd", { since: 5n, alerted: undefined }]])
    first.refused = new Set(["0xee|x"])
    first.arithmeticPanic = { attempts: 2, since: 9n, last: 10n }
    first.readFailed = { attempts: 1, last: 11n }
    first.noTrigger = { since: 12n, last: 13n, alerted: true }
    first.inclusionLogFailures = { nonce: "5", count: 1 }
    first.recentFailures = new Map([["unnamed", { key: "0xaa,0xbb", block: 13n }]])
    first.aloneFacts = { facts: new Map([["0xaa", { verdict: "refused" as const, block: 12n, seen: 13n, cause: "gas-cap" as const, reason: "r", field: "callGasLimit", estimate: 2_400_000n, cap: 1_500_000n, derived: true as const, ratio: 0.91 }]]), outage: 11n }
    Object.assign(first, { gasCapAlerted: "g", clampRefused: "c", clampedAway: true, aaveDust: "", replacementBlocked: "r" })
    const second = newSafeRuntime(config)
    applySharedRuntime(second, JSON.parse(JSON.stringify(sharedRuntimeOf(first))))
    for (const key of SHARED_ALERT_STATE) expect(second[key], key).toEqual(first[key])
    // The run ended on another worker (its entry gone): ended here too.
    const ended = newSafeRuntime(config)
    applySharedRuntime(second, JSON.parse(JSON.stringify(sharedRuntimeOf(ended))))
    for (const key of SHARED_ALERT_STATE) expect(second[key], key).toBeUndefined()
    const { alerts: _, ...before } = JSON.parse(JSON.stringify(sharedRuntimeOf(ended)))
    applySharedRuntime(first, before)
    expect(first.reverted?.get("0xaa")?.alerted).toBe(101n)
  })
})
