import type { Address, Hex } from "viem"
import { expect, test, vi } from "vitest"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { portfolioOf } from "./portfolio.js"
import { newSafeRuntime } from "./runtime.js"
import { keeperCosts } from "./safeStep.js"
import type { PendingOperation } from "./stateFile.js"
import { StateWriteError } from "./store.js"
import { SAFE, STEP_RISK, USDC, senderHarness, stepHarness, stepSafeState, stepSub } from "./testing.js"

vi.mock("@levpilot/sdk/actions", async (importOriginal) => ({
  ...(await importOriginal<typeof import("@levpilot/sdk/actions")>()),
  sendRebalance: vi.fn(),
  checkSubAccountOracles: vi.fn(async () => ({ failing: [] })),
}))
const { sendRebalance } = await import("@levpilot/sdk/actions")
// Review rr11zb B1, second input: the disk fills between the intent's write and the hash's (sender.ts:395, after the
// bundler accepted the operation). The write's throw leaves RebalanceSender.send after the send: the step alerts
// `send-failed` for an operation that is in the bundler's mempool (and skipped the sender's post-send resets). Fixed:
// RebalanceSender.persistPending alerts `state-write-failed` and the step goes on.
const X = `0x${"a1".repeat(32)}` as Hex
const Y = `0x${"b1".repeat(32)}` as Hex

test("rr11zb B1b (was: the SDK send at 100 accepted, then alerts ['100 send-failed']): a failed hash write after an accepted send is alerted state-write-failed, not send-failed", async () => {
  let block = 0
  const mem = new Map<string, PendingOperation | undefined>()
  const setPending = async (safe: Address, p: PendingOperation | undefined) => {
    mem.set(safe, p)
    if (block === 100 && p?.userOpHash !== undefined) throw new StateWriteError({ path: "/var/lib/levpilot/state.json.journal.3", cause: Object.assign(new Error("ENOSPC: no space left on device"), { code: "ENOSPC" }) })
  }
  const harness = senderHarness({ setPending, nonces: Array.from({ length: 50 }, () => 5n) })
  const sdkSends: string[] = []
  vi.mocked(sendRebalance).mockReset()
  vi.mocked(sendRebalance).mockImplementation((async (_c: unknown, { plan, nonce }: { plan: ChainPlan; nonce: bigint }) => {
    sdkSends.push(`${block} n${nonce} ${plan.subAccounts.map((x) => x.slice(2, 4)).join(",")}`)
    return `0x${"11".repeat(32)}`
  }) as never)
  const sender = { send: (rt: never, b: bigint, plan: ChainPlan, replace: never) => harness.sender.send(rt, b, plan, replace) }
  const { step, events } = stepHarness(undefined, { sender })
  const rt = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
  rt.account = harness.rt.account
  for (block = 100; block <= 100; block++) {
    rt.backoffUntil = 0
    const snapshot = portfolioOf(stepSafeState([stepSub(X, USDC, 1.01, "below"), stepSub(Y, USDC, 1.04, "below")]) as never, { blockNumber: BigInt(block), timestamp: 1_700_000_000n + 12n * BigInt(block - 100), risk: STEP_RISK, costs: keeperCosts({ costs: { gasPriceGwei: 1, nativePrice: 3000 } } as never) })
    await step.run(rt, BigInt(block), { snapshot })
  }
  const alerts = [...events, ...harness.events].flatMap((e) => (e.type === "alert" ? [`${e.block} ${e.kind}`] : []))
  expect(sdkSends).toEqual(["100 n5 a1,b1"])
  expect(alerts).not.toContain("100 send-failed")
  expect(alerts).toContain("100 state-write-failed")
})
