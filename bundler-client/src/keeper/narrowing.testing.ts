import { GasFieldAboveCapError } from "@levpilot/sdk/errors"
import { type Hex, HttpRequestError, RpcRequestError } from "viem"
import { applySharedRuntime, sharedRuntimeOf } from "./fleet/store.js"
import { type SafeRuntime, newSafeRuntime } from "./runtime.js"
import { SAFE, STEP_RISK, USDC, refusingSender, stepHarness, stepSafeState, stepSnapshotAt, stepSub, subIdOf } from "./testing.js"

// The narrowing reviews' step harness (rr11x, rr11y; after rr11v / rr11w): `due` USDC sub-accounts (01 most urgent), a
// `refusingSender` whose `thrown` sees each plan's id bytes (two hex digits) and the block, one or two fleet workers.
export const url = "https://bundler.example/rpc"
export const alto500 = (message: string) => () => new HttpRequestError({ url, status: 500, body: { method: "eth_estimateUserOperationGas" }, details: JSON.stringify({ message }) })
export const maxRetries = alto500("Max retries reached when calling binarySearchCallGas")
export const aa21 = () => new RpcRequestError({ url, body: { method: "eth_estimateUserOperationGas" }, error: { code: -32500, message: "UserOperation reverted during simulation with reason: AA21 didn't pay prefund" } })
export const capErr = (value: bigint, cap: bigint, field: "callGasLimit" | "verificationGasLimit" = "callGasLimit") => new GasFieldAboveCapError({ field, value, cap })

export type Thrown = (ids: string[], block: bigint) => Error | undefined
export type Health = (j: number, k: number) => number

/**
 * Runs `blocks` steps; `steps` lists, per step, the block and (fleet) the worker index whose runtime is used;
 * `rescued` (default: every landed sub-account) says which landed sub-accounts (lower-case ids) are no longer due.
 * A step that throws is recorded in `thrownByStep` (`block ErrorName`), not rethrown; `events` are the step's events.
 */
export async function runNarrowing(
  due: number,
  blocks: number,
  thrown: Thrown,
  health: Health = (j) => 1.01 + j * 0.001,
  steps?: { block: bigint; worker: number }[],
  { rescued }: { rescued?: (id: string) => boolean } = {},
) {
  const ids: Hex[] = Array.from({ length: due }, (_, k) => subIdOf(k + 1))
  const base = refusingSender(() => false, { thrown: (plan, b) => thrown(plan.subAccounts.map((x) => x.slice(2, 4)), b), ...(rescued ? { rescued } : {}) })
  const { step, events } = stepHarness(undefined, { sender: base.sender })
  const rts: SafeRuntime[] = [newSafeRuntime({ address: SAFE, risk: STEP_RISK }), newSafeRuntime({ address: SAFE, risk: STEP_RISK })]
  const plan = steps ?? Array.from({ length: blocks }, (_, k) => ({ block: 100n + BigInt(k), worker: 0 }))
  let last = 0
  const thrownByStep: string[] = []
  const memLog: string[] = []
  for (const [k, s] of plan.entries()) {
    const rt = rts[s.worker] as SafeRuntime
    if (s.worker !== last) applySharedRuntime(rt, JSON.parse(JSON.stringify(sharedRuntimeOf(rts[last] as SafeRuntime))))
    last = s.worker
    rt.backoffUntil = 0
    const kk = Number(s.block - 100n)
    const subs = base.present(ids.map((id, j) => stepSub(id, USDC, health(j, kk), health(j, kk) < 1.1 ? "below" : "inside")))
    try {
      await step.run(rt, s.block, { snapshot: stepSnapshotAt(stepSafeState(subs), k) })
    } catch (e) {
      thrownByStep.push(`${s.block} ${(e as Error).name}`)
    }
    memLog.push(`${s.block}w${s.worker} ${[...(rt.recentFailures ?? new Map()).entries()].map(([k, v]) => `${k}=${v.key.slice(0, 20)}@${v.block}`).join(";")}`)
  }
  const alerts = events.flatMap((e) => (e.type === "alert" ? [`${e.block} ${e.kind}`] : []))
  const messages = events.flatMap((e) => (e.type === "alert" ? [`${e.block} ${e.kind}: ${e.message.slice(0, 220)}`] : []))
  // The alerts' whole messages (the narrowing's names come after the cause's words).
  const fullMessages = events.flatMap((e) => (e.type === "alert" ? [`${e.block} ${e.kind}: ${e.message}`] : []))
  const landedAt = (id: string) => {
    const s = base.landed.find((x) => x.split(" ")[1]?.split(",").includes(id))
    return s === undefined ? undefined : Number(s.split(" ")[0])
  }
  const perBlock = (from: number, n: number) => [...Array(n).keys()].map((k) => base.sent.filter((s) => s.startsWith(`${from + k} `)).length)
  return { ...base, events, alerts, messages, fullMessages, landedAt, perBlock, thrownByStep, rts, memLog }
}
export const show = (name: string, r: Awaited<ReturnType<typeof runNarrowing>>) =>
  console.log(name, "\n sent", r.sent.join(" | "), "\n landed", r.landed.join(" | "), "\n alerts", r.messages.join(" || "), "\n thrown", r.thrownByStep.join(" | "))
