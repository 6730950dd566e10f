import { type Hex, HttpRequestError } from "viem"
import { expect, test } from "vitest"
import { refusingSender, runPairSteps } from "./testing.js"

// Review rr11u U3 (break-it of f11za's rr11t T2 fix: "an HTTP 5xx with a JSON-RPC body is the plan's only for a known
// deterministic validation answer"). Alto 0.0.20 (node_modules/@pimlico/alto esm/rpc/server.js) answers HTTP 500
// `{ message }` (no code) for every non-RpcError. Two of them are deterministic for an operation that is too big and are
// not in DETERMINISTIC_VALIDATION_TEXT: rpc/estimation/gasEstimations07.js `performBinarySearch` throws
// `Max retries reached when calling binarySearchCallGas` when its gas search is still out of gas after
// binarySearchMaxRetries (the same for the same operation at every block; a bigger plan needs more retries). It is now
// "the node's": the plan is never narrowed, each block re-sends the same 2-sub-account plan, and no sub-account is
// rescued although each alone fits. Measured: sent "100 c1,b1 | 101 c1,b1 | ... | 105 c1,b1", landed none, alerts
// rpc-error every block (the operator is sent to the node, not to the plan's size).
// Fixture: C (1.01) and I (1.02) due; every plan of both answered so (every block), each alone accepted.
const C = `0x${"c1".repeat(32)}` as Hex
const I = `0x${"b1".repeat(32)}` as Hex

const alto500 = (message: string) => () =>
  new HttpRequestError({ url: "https://bundler.example/rpc", status: 500, body: { method: "eth_estimateUserOperationGas" }, details: JSON.stringify({ message }) })

for (const [name, error] of Object.entries({ maxRetries: alto500("Max retries reached when calling binarySearchCallGas") })) {
  test(`rr11u U3 (${name}): a plan of 2 answered by Alto's deterministic HTTP 500 at every block, each alone fits: a rescue lands within 6 blocks`, async () => {
    const base = refusingSender(() => false, { thrown: (plan) => (plan.subAccounts.length > 1 ? error() : undefined) })
    const { alerts } = await runPairSteps(C, I, 6, base)
    console.log("U3", name, base.sent.join(" | "), "||", base.landed.join(" | "), "||", alerts.join(" | "))
    expect(base.landed.length).toBeGreaterThan(0)
  }, 60_000)
}

// Review rr11u U4 (the other side of the same rule): the text f11za takes as deterministic, "Unknown error, could not
// parse simulate validation result.", is exactly what Alto 0.0.20 answers when ITS node fails. `decodeSimulateHandleOpError`
// (rpc/estimation/utils.js) is called first in every simulation catch (simulateHandleOp, simulateAndEstimateGasLimits
// and performBinarySearch, before its "Error in performBinarySearch"); for a viem ContractFunctionExecutionError wrapping
// the node's HttpRequestError / TimeoutError it finds no revert bytes and throws that Error, so server.js answers HTTP 500
// `{ message: "Unknown error, could not parse simulate validation result." }`. Reproduced with Alto's own function and
// the project's viem against a node answering 503 ("alto throws: Error Unknown error, could not parse simulate
// validation result."). So rr11t T2's outage is still blamed when it comes through this path (the usual one).
// Fixture as rr11t T2: C and I due; blocks 100-102 every send answered so; from 103 every plan accepted.
const altoNodeDown = alto500("Unknown error, could not parse simulate validation result.")
test("rr11u U4: Alto's answer to its own node's outage (HTTP 500 'could not parse simulate validation result') is alerted rpc-error and blames no sub-account", async () => {
  const base = refusingSender(() => false, { thrown: (_plan, block) => (block <= 102n ? altoNodeDown() : undefined) })
  const { alerts } = await runPairSteps(C, I, 6, base)
  console.log("U4", base.sent.join(" | "), "||", base.landed.join(" | "), "||", alerts.join(" | "))
  expect(alerts.filter((a) => /^10[0-2] /.test(a)).every((a) => /rpc-error/.test(a))).toBe(true)
  expect(alerts.filter((a) => /nothing-to-send/.test(a) && (a.endsWith(" C") || a.endsWith(" I")))).toEqual([])
  expect(base.landed[0]).toBe("103 c1,b1")
}, 60_000)
