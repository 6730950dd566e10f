import type { Address, Hex } from "viem"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import type { KeeperEvent } from "../events.js"
import { portfolioOf } from "../portfolio.js"
import { newSafeRuntime } from "../runtime.js"
import { keeperCosts } from "../safeStep.js"
import type { PendingOperation } from "../stateFile.js"
import { SAFE, STEP_RISK, USDC, senderHarness, stepHarness, stepSafeState, stepSub, testTracker } from "../testing.js"
import { RedisFleetStore } from "./redisStore.js"

/** The two sub-accounts of the fleet step fixture (USDC loans). */
export const X = `0x${"a1".repeat(32)}` as Hex
export const I = `0x${"b1".repeat(32)}` as Hex

/** One block of {@link redisFleetSteps}: where X and I are (health 1.01 / 1.02 below band, 1.3 inside). */
export type FleetStepBlock = { block: bigint; band?: "below" | "inside" | undefined }

/**
 * SafeSteps of SAFE at `blocks` on the fleet's Redis store (reviews rr11zd D1, rr11ze E6): the real SafeStep,
 * RebalanceSender, InclusionTracker and RedisFleetStore over a Redis stub whose lease is taken (`SET NX` OK) and whose
 * every script (the fenced writes) answers `evalAnswer(block)` (throw: Redis could not run it). The calling test file
 * mocks `@levpilot/sdk/actions`' `sendRebalance` and `estimateRebalance` (`vi.mock`); they are reset here.
 *
 * @returns The plans handed to the sender (`"<block> a1,b1"`), the SDK's sends and estimates, the alerts
 *   (`"<block> <kind>"`) and their messages, the sub-accounts the alone table holds refused (`"a1 <cause>"`), whether
 *   the `state-store-unavailable` run was open after each block (`"<block>:<bool>"`), and the Safe's runtime.
 */
/** What this module needs of the calling file's `vi.mock`ed SDK functions (no vitest import here: the package does not declare it). */
type MockedAsync = { mockReset(): void; mockResolvedValue(value: unknown): void; mock: { calls: unknown[] } }

export async function redisFleetSteps(evalAnswer: (block: bigint) => Promise<unknown>, blocks: readonly FleetStepBlock[], hgetAnswer: (block: bigint) => Promise<string | null> = async () => null) {
  const actions = await import("@levpilot/sdk/actions")
  const sendRebalance = actions.sendRebalance as unknown as MockedAsync
  const estimateRebalance = actions.estimateRebalance as unknown as MockedAsync
  let current = 0n
  const redis = { set: async () => "OK", eval: async () => await evalAnswer(current), hget: async () => await hgetAnswer(current) }
  const store = new RedisFleetStore(redis as never, { prefix: "levpilot", leaseMs: 10_000 })
  if (!(await store.acquire(SAFE))) throw new Error("the Redis stub's lease (SET NX OK) was not taken")
  const harness = senderHarness({ setPending: (s: Address, p: PendingOperation | undefined) => store.setPending(s, p), nonces: [5n] })
  sendRebalance.mockReset()
  sendRebalance.mockResolvedValue(`0x${"11".repeat(32)}`)
  estimateRebalance.mockReset()
  estimateRebalance.mockResolvedValue({ userOperation: {} as never, bundlerEstimate: undefined })
  const plans: string[] = []
  const sender = {
    send: (rt: never, b: bigint, plan: ChainPlan, replace: never) => {
      plans.push(`${b} ` + plan.subAccounts.map((id) => id.slice(2, 4)).join(","))
      return harness.sender.send(rt, b, plan, replace)
    },
    estimate: (...args: never[]) => (harness.sender.estimate as (...a: never[]) => unknown)(...args),
  }
  const trackerEvents: KeeperEvent[] = []
  const { tracker } = testTracker({ store, onEvent: (e) => trackerEvents.push(e) })
  const { step, events } = stepHarness(undefined, { sender, store: { pending: (s: Address) => store.pending(s), setPending: (s: Address, p: PendingOperation | undefined) => store.setPending(s, p) }, tracker })
  const rt = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
  rt.account = harness.rt.account
  const flags: string[] = []
  for (const { block: b, band = "below" } of blocks) {
    current = b
    const health = band === "below" ? [1.01, 1.02] : [1.3, 1.3]
    const snapshot = portfolioOf(stepSafeState([stepSub(X, USDC, health[0] as number, band), stepSub(I, USDC, health[1] as number, band)]) as never, { blockNumber: b, timestamp: 1_700_000_000n + 12n * (b - 100n), risk: STEP_RISK, costs: keeperCosts({ costs: { gasPriceGwei: 1, nativePrice: 3000 } } as never) })
    rt.backoffUntil = 0
    await step.run(rt, b, { snapshot })
    flags.push(`${b}:${rt.storeUnavailable !== undefined}`)
  }
  store.dropLeases()
  const all = [...events, ...harness.events, ...trackerEvents]
  const alerts = all.flatMap((e) => (e.type === "alert" ? [`${e.block} ${e.kind}`] : []))
  const refused = [...(rt.aloneFacts?.facts ?? new Map())].filter(([, f]) => f.verdict === "refused").map(([id, f]) => `${id.slice(2, 4)} ${f.cause}`)
  const messages = all.flatMap((e) => (e.type === "alert" ? [String((e as { message?: unknown }).message ?? "")] : []))
  return { plans, sends: sendRebalance.mock.calls.length, estimates: estimateRebalance.mock.calls.length, alerts, refused, messages, flags, rt }
}
