import { describe, expect, test, vi } from "vitest"
import { PaymasterTokenChargeError } from "@levpilot/sdk/errors"
import { newSafeRuntime } from "./runtime.js"
import { SAFE, USDC, stepHarness } from "./testing.js"

// Review rev11b (issue 11 item 2): the paymaster pre-charge the keeper keeps out of a plan's spend only ever grew. The
// charge is the operation's gas limits x maxFeePerGas at the paymaster's price, so after a gas spike (fees at the
// Safe's caps) the spike's charge stayed reserved for the life of the process, and every later rescue needing most of
// the idle token was sized smaller or not planned at all.

const chargeError = (charge: bigint) => new PaymasterTokenChargeError({ token: USDC, charge, balance: charge })

describe("SafeStep: the token paymaster's pre-charge kept aside", () => {
  test("is kept for the plans of the block it was learned in (the largest seen), not carried to a later block", async () => {
    const { step } = stepHarness()
    const rt = newSafeRuntime({ address: SAFE } as never)
    const keptAtSolve: (bigint | undefined)[] = []
    const answers: (Error | undefined)[] = [chargeError(900_000n), chargeError(800_000n), undefined, undefined]
    vi.spyOn(step as never as { solveAndSend: () => Promise<void> }, "solveAndSend").mockImplementation(async () => {
      keptAtSolve.push(rt.paymasterTokenCharge?.charge)
      const answer = answers.shift()
      if (answer) throw answer
    })
    // Block 100 (a gas spike): the first plan is refused for the charge, the next two keep the largest charge seen.
    await step.run(rt, 100n)
    expect(keptAtSolve).toEqual([undefined, 900_000n, 900_000n])
    // Block 101, fees back to normal: nothing of the spike's charge is kept; a new charge would be learned afresh.
    await step.run(rt, 101n)
    expect(keptAtSolve.at(-1)).toBeUndefined()
  })
})
