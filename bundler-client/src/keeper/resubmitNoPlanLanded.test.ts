import type { Address, Hex } from "viem"
import { describe, expect, test } from "vitest"
import { portfolioOf } from "./portfolio.js"
import { newSafeRuntime } from "./runtime.js"
import { keeperCosts } from "./safeStep.js"
import type { PendingOperation } from "./stateFile.js"
import { SAFE, STEP_RISK, USDC, pendingSentAt90, stepHarness, stepSafeState, stepSub } from "./testing.js"

// Issue 16 (the class: a used nonce must end in an `included` event, whichever path sees it first). A resubmission
// re-solves the Safe; when the read finds nothing to do (its sub-accounts back in their bands) the record was cleared
// ("operation in flight no longer needed") without asking the chain. If the operation had landed after the step's read
// (a fleet step reading a block behind the head), no `included` event was ever emitted for it.

const NONCE = (7n << 64n) | 3n
const CALM = `0x${"c0".repeat(32)}` as Hex

const record = pendingSentAt90(NONCE)

async function resubmitWithNothingToDo(chainNonce: bigint) {
  let pending: PendingOperation | undefined = record
  const asked: unknown[] = []
  const { step } = stepHarness(undefined, {
    store: { pending: () => pending, setPending: (_safe: Address, p: PendingOperation | undefined) => void (pending = p) },
    tracker: { track: async () => "resubmit" },
    publicClient: {
      readContract: async (call: { functionName: string; args: unknown[] }) => {
        asked.push(call.args)
        if (call.functionName !== "getNonce") throw new Error(`unexpected ${call.functionName}`)
        return chainNonce
      },
    },
  })
  const snapshot = portfolioOf(stepSafeState([stepSub(CALM, USDC, 1.3, "inside")]) as never, {
    blockNumber: 100n,
    timestamp: 1_700_000_000n,
    risk: STEP_RISK,
    costs: keeperCosts({ costs: { gasPriceGwei: 1, nativePrice: 3000 } } as never),
  })
  await step.run(newSafeRuntime({ address: SAFE, risk: STEP_RISK }), 100n, { snapshot })
  return { pending, asked }
}

describe("resubmission with nothing left to do (issue 16)", () => {
  test("the nonce already used on chain: the record is kept for the tracker (it reports the inclusion)", async () => {
    const { pending, asked } = await resubmitWithNothingToDo(NONCE + 1n)
    expect(pending).toEqual(record)
    // Asked on the record's own nonce key.
    expect(asked).toEqual([[SAFE, 7n]])
  })

  test("the nonce still unused: cleared as before (its nonce stays the guard)", async () => {
    const { pending } = await resubmitWithNothingToDo(NONCE)
    expect(pending).toBeUndefined()
  })
})
