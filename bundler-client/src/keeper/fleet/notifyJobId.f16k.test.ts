import type { Address } from "viem"
import { describe, expect, test } from "vitest"
import { webhookPayload } from "../webhook.js"
import { notifyJobId } from "./queueNode.js"

// f16k (review rr16g observation): two alerts of one kind for one Safe at one block were one BullMQ job id (the second
// dropped); the same event queued twice stays one job.
const SAFE = "0x000000000000000000000000000000000000c0de" as Address
const ctx = (now: number) => ({ events: ["alert", "sent", "included"] as never, keeper: "0x00000000000000000000000000000000000000a1" as Address, chainId: 1, now })
const alert = (message: string) => ({ type: "alert" as const, safe: SAFE, block: 200n, kind: "feed-broken" as never, message })

describe("notifyJobId", () => {
  test("two feed-broken alerts of one Safe at one block (two sub-accounts): two job ids; the webhook payload ids alone were equal", () => {
    const a = webhookPayload(alert("sub-account 1: feed stale"), ctx(1_000))!
    const b = webhookPayload(alert("sub-account 2: feed stale"), ctx(1_000))!
    expect(a.id).toBe(b.id)
    expect(notifyJobId(a)).not.toBe(notifyJobId(b))
    expect(notifyJobId(a)).not.toContain(":")
  })
  test("the same alert queued twice (another worker, later): one job id", () => {
    const a = webhookPayload(alert("sub-account 1: feed stale"), ctx(1_000))!
    const b = webhookPayload(alert("sub-account 1: feed stale"), ctx(9_000))!
    expect(notifyJobId(a)).toBe(notifyJobId(b))
  })
})
