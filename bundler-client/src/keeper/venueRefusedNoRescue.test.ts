import { BaseError, type Hex, encodeErrorResult, parseAbi } from "viem"
import { describe, expect, test } from "vitest"
import { leverageModuleAbi } from "@levpilot/sdk/abis"
import { getLeverageError } from "@levpilot/sdk/errors"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { portfolioOf } from "./portfolio.js"
import { newSafeRuntime } from "./runtime.js"
import { keeperCosts } from "./safeStep.js"
import { SAFE, STEP_RISK, stepHarness, stepSafeState, stepSub } from "./testing.js"

// Review rev17d (issue 17 items 4 and no-rescue, held out): the due sub-account A can only be rescued with a donor B (the
// Safe holds none of their loan token); the venue refuses B's action. The keeper plans again without B, and without B
// nothing rescues A: A stays below its band with nothing sent. The re-plan reports nothing (only the first plan of the
// block reports no-rescue, and that one listed A), so A's gauge levpilot_rescue_infeasible stays 0 and no no-rescue
// event names it: the only signal is venue-refused naming B. Before the fix (commit 1d92a59, test.fails): no event,
// gauge 0. Fixed: the step reports no-rescue once, on its last plan attempt's results.

const A = `0x${"a1".repeat(32)}` as Hex
const B = `0x${"b2".repeat(32)}` as Hex
const GHO = "0x00000000000000000000000000000000000000b3"
const simulationFailed = (index: number, reason: Hex) =>
  getLeverageError(new BaseError("Execution reverted.", { cause: Object.assign(new BaseError("execution reverted"), { data: encodeErrorResult({ abi: leverageModuleAbi, errorName: "ActionFailed", args: [BigInt(index), reason] } as never) }) }))
const aaveCode = (code: string) => encodeErrorResult({ abi: parseAbi(["error Error(string)"]), errorName: "Error", args: [code] })

function snapshot() {
  const state = stepSafeState([stepSub(A, GHO, 1.095, "below"), stepSub(B, GHO, 1.49, "inside")])
  state.tokens.push({ token: GHO, decimals: 18, balance: 0n })
  return portfolioOf(state as never, { blockNumber: 100n, timestamp: 1_700_000_000n, risk: STEP_RISK, costs: keeperCosts({ costs: { gasPriceGwei: 1, nativePrice: 3000 } } as never) })
}

describe("a refused donor leaves the due sub-account without a rescue", () => {
  test("A is reported no-rescue (event and gauge 1) after the re-plan without B finds nothing", async () => {
    const sent: ChainPlan[] = []
    const sender = {
      send: async (_rt: unknown, _block: bigint, plan: ChainPlan) => {
        sent.push(plan)
        const index = plan.actions.findIndex((a) => plan.subAccounts[a.subAccount] === B)
        if (index >= 0) throw simulationFailed(index, aaveCode("29"))
      },
    }
    const { step, events, metrics } = stepHarness(undefined, { sender })
    await step.run(newSafeRuntime({ address: SAFE, risk: STEP_RISK }), 100n, { snapshot: snapshot() })
    expect(sent).toHaveLength(1) // the first plan lists A and its donor B; without B nothing is sent
    expect(sent[0]?.subAccounts.slice().sort()).toEqual([A, B])
    expect(events.filter((e) => e.type === "alert").map((e) => (e as { kind: string }).kind)).toEqual(["venue-refused", "rescue-infeasible"])
    expect(events.filter((e) => e.type === "no-rescue").map((e) => (e as { subAccount: string }).subAccount)).toEqual([A])
    expect(metrics.value("levpilot_rescue_infeasible", { safe: SAFE, sub_account: A, venue: "morpho-blue" })).toBe(1)
  })
})
