import type { Address } from "viem"
import { privateKeyToAccount } from "viem/accounts"
import { afterAll, beforeAll, describe, expect, test } from "vitest"
import { type SafeState, getSafeStates } from "../sdk/src/actions/getSafeStates"
import { readChunk, readLimit } from "../bundler-client/src/keeper/fleet/scan"
import { type FleetEnv, fleetHealth, startFleetEnv } from "./fleetEnv"

let f: FleetEnv
let safes: Address[]
let keeper: Address

beforeAll(async () => {
  f = await startFleetEnv()
  safes = await f.createSafes(Array.from({ length: 12 }, () => fleetHealth.calm))
  keeper = privateKeyToAccount(f.env.keys.keeper).address
}, 300_000)

afterAll(async () => {
  await f?.stop()
})

const rpc = async (method: string, params: unknown[]) => {
  const r = await fetch(f.env.devnet.rpcUrl, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }) })
  return ((await r.json()) as { result: unknown }).result
}

/** A Safe reported unreadable: its read failed, or a sub-account reverted (without data when out of gas). */
const flagged = (states: readonly SafeState[]) => states.filter((s) => s.error || s.unreadable.length > 0).map((s) => s.safe)
const clean = async (gas: bigint, block: bigint) => {
  try {
    const { safes: states } = await getSafeStates(f.env.publicClient, { safes, keeper, blockNumber: block, gas, deployments: { [f.env.devnet.chain.id]: f.env.deployment } })
    return flagged(states).length === 0
  } catch {
    return false
  }
}
/** The least gas (to 1%) at which one lens call reads all the Safes without a failure. */
const leastGas = async (block: bigint) => {
  let [lo, hi] = [100_000n, 30_000_000n]
  while (hi - lo > hi / 100n) {
    const mid = (lo + hi) / 2n
    if (await clean(mid, block)) hi = mid
    else lo = mid
  }
  return hi
}

/**
 * bench:fleet at 5,000 Safes alerted feed-broken on the scan path after its price shock (549 with 1 worker, ~10,000 with
 * 4), most "reverted without data". First hypothesis: a batched lens call short of gas succeeds with its last Safes'
 * sub-accounts starved inside the lens's `try` (out of gas, no data). Measured here on anvil it does not: a price move
 * and an hour of interest make each Safe's read a few percent dearer, and below the gas a batch needs the call fails as
 * a whole (out of gas outside the `try`s, the result's encoding), which the scan splits; it never flags a healthy Safe.
 */
describe("fleet scan: a batched lens call short of gas", () => {
  test("fails as a whole rather than flagging healthy Safes; the scan splits it and reads every Safe cleanly", async () => {
    const before = await leastGas(await f.env.publicClient.getBlockNumber({ cacheTime: 0 }))
    await f.shock(0.93)
    await rpc("evm_increaseTime", [3_600])
    await rpc("anvil_mine", ["0x1"])
    const block = await f.env.publicClient.getBlockNumber({ cacheTime: 0 })
    const after = await leastGas(block)
    console.info(`least gas for ${safes.length} Safes in one lens call: ${before} before the shock, ${after} after (+${((Number(after - before) / Number(before)) * 100).toFixed(1)}%)`)
    expect(after).toBeGreaterThan(before)

    // Below the least gas, in steps of 5%: the call reverts ("fail"), never answers with flagged Safes.
    const outcomes: string[] = []
    for (let g = after - after / 20n; g > after / 2n; g -= after / 20n) {
      const read = await getSafeStates(f.env.publicClient, { safes, keeper, blockNumber: block, gas: g, deployments: { [f.env.devnet.chain.id]: f.env.deployment } }).catch(() => undefined)
      outcomes.push(read === undefined ? "fail" : `${flagged(read.safes).length} flagged`)
    }
    console.info(`one lens call from 95% of the least gas down in steps of 5%: ${outcomes.join(", ")}`)
    expect(outcomes.filter((o) => o !== "fail")).toEqual([])

    // The fleet's read at 3/4 of the gas: split until it fits, every Safe read, none flagged or isolated.
    const gas = (after * 3n) / 4n
    const limit = readLimit()
    const chunk = await readChunk(f.env.publicClient, { safes, block, keeper, deployment: f.env.deployment, gas, limit })
    console.info(`readChunk at 3/4 of the least gas: ${chunk.calls} eth_call(s), limit ${limit.size}, ${flagged(chunk.states).length} flagged`)
    expect(flagged(chunk.states)).toEqual([])
    expect(chunk.states.map((s) => s.safe)).toEqual(safes)
    expect([...(limit.alone ?? [])]).toEqual([])
    expect(limit.size).toBeLessThan(safes.length)
  }, 300_000)
})
