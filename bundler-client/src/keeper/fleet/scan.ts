import { createHash } from "node:crypto"
import type { Address, Chain, Client, Transport } from "viem"
import { type SafeState, getSafeStates } from "@levpilot/sdk/actions"
import type { LeverageDeployment } from "@levpilot/sdk/deployments"
import type { KeeperEvents } from "../events.js"
import type { FleetSettings } from "./config.js"
import { limiter } from "./limit.js"
import type { FleetStore } from "./store.js"

/** A Safe read without error. */
export type ReadSafe = Extract<SafeState, { error?: undefined }>

/** One chunk of a batched read: the Safes of one `eth_call` at one block. */
export type ChunkRead = { blockNumber: bigint; timestamp: bigint; states: SafeState[] }

/**
 * Reads `safes` at `block`, `settings.batchSize` Safes per `eth_call` (the lens's `readSafes`) with at most
 * `settings.readConcurrency` calls in flight; `onChunk` gets each chunk as soon as it arrives, so work on the first
 * Safes starts before the last ones are read.
 *
 * @returns The number of `eth_call`s made.
 */
export async function readInChunks(
  client: Client<Transport, Chain | undefined>,
  parameters: {
    safes: readonly Address[]
    block: bigint
    keeper: Address
    deployment: LeverageDeployment
    settings: Pick<FleetSettings, "batchSize" | "readConcurrency" | "callGas">
    onChunk: (chunk: ChunkRead) => Promise<void> | void
  },
): Promise<number> {
  const { safes, block, keeper, deployment, settings, onChunk } = parameters
  const run = limiter(settings.readConcurrency)
  const chunks: Address[][] = []
  for (let i = 0; i < safes.length; i += settings.batchSize) chunks.push(safes.slice(i, i + settings.batchSize))
  await Promise.all(chunks.map((chunk) => run(async () => onChunk(await readChunk(client, { safes: chunk, block, keeper, deployment, gas: settings.callGas })))))
  return chunks.length
}

/**
 * One `eth_call` for `safes` at `block` (the SDK's `getSafeStates`).
 *
 * @returns The chunk.
 */
export async function readChunk(
  client: Client<Transport, Chain | undefined>,
  parameters: { safes: readonly Address[]; block: bigint; keeper: Address; deployment: LeverageDeployment; gas?: bigint | undefined },
): Promise<ChunkRead> {
  const { safes, block, keeper, deployment, gas } = parameters
  const read = await getSafeStates(client, { safes, keeper, blockNumber: block, gas, deployments: { [client.chain?.id ?? 0]: deployment } })
  return { blockNumber: read.blockNumber, timestamp: read.timestamp, states: read.safes }
}

/**
 * Whether the keeper may act for the Safe at `timestamp`, from the chain itself: its key is active and inside its
 * window (`validAfter <= t < validUntil`) and automation is not paused. Discovery only narrows what is read; this is
 * the check that stops work for a revoked or expired key before the next send.
 *
 * @returns `undefined` when it may, else why not.
 */
export function notAuthorized(state: ReadSafe, timestamp: bigint): "key revoked" | "key not yet valid" | "key expired" | "paused" | undefined {
  const t = Number(timestamp)
  if (!state.keeperKey.active) return "key revoked"
  if (t < state.keeperKey.validAfter) return "key not yet valid"
  if (t >= state.keeperKey.validUntil) return "key expired"
  if (state.paused) return "paused"
  return undefined
}

const json = (value: unknown) => JSON.stringify(value, (_, v) => (typeof v === "bigint" ? v.toString() : v))

/** Relative health step that counts as a change even when nothing else moved (interest accrual), 0.1%. */
export const HEALTH_STEP = 0.001

/**
 * What must change for a Safe to be solved again: its key and pause flag, the keeper-lane nonce, every sub-account's
 * policy, epoch usage, collateral, oracle price, LLTV and band, its health in steps of {@link HEALTH_STEP}, its idle
 * balances and pool shares. Debt and pool values, which accrue every block, count only through the health steps.
 *
 * @returns A short hash.
 */
export function fingerprint(state: SafeState): string {
  const h = createHash("sha1")
  if (state.error) h.update(`error:${state.error.shortMessage}:${(state.error as { revertData?: string }).revertData ?? ""}`)
  else {
    const k = state.keeperKey
    h.update(`${k.active}:${k.validAfter}:${k.validUntil}:${state.paused}:${state.keeperNonce}`)
    for (const s of state.subAccounts) {
      const health = s.debt === 0n ? "none" : Math.floor(Math.log(Number(s.health) / 1e18) / Math.log1p(HEALTH_STEP))
      h.update(`|${s.subAccount}:${s.collateral}:${s.price}:${s.lltv}:${s.band}:${health}:${json(s.epochUsage)}:${json(s.policy)}`)
    }
    for (const t of state.tokens) h.update(`|${t.token}:${t.balance}`)
    for (const p of state.pools) h.update(`|${p.pool}:${p.shares}`)
  }
  return h.digest("base64url").slice(0, 16)
}

/** Why a Safe gets a step this block. */
export type StepReason = "pending" | "changed" | "out-of-band" | "refresh"

/**
 * Whether a read Safe is solved (or its operation in flight tracked) this block, or skipped.
 *
 * @returns The reason for a step, or undefined to skip.
 */
export function stepReason(
  state: SafeState,
  parameters: { block: bigint; timestamp: bigint; pending: boolean; previous: string | undefined; current: string; refreshEveryBlocks: number },
): StepReason | undefined {
  const { block, timestamp, pending, previous, current, refreshEveryBlocks } = parameters
  if (pending) return "pending"
  if (state.error || notAuthorized(state, timestamp)) return undefined
  if (state.subAccounts.length === 0) return undefined
  if (current !== previous) return "changed"
  if (state.subAccounts.some((s) => s.band !== "inside")) return "out-of-band"
  // Spread the periodic refresh over the blocks: each Safe on its own phase.
  const phase = Number.parseInt(state.safe.slice(2, 10), 16) % refreshEveryBlocks
  if (Number(block % BigInt(refreshEveryBlocks)) === phase) return "refresh"
  return undefined
}

/** A Safe of a chunk that gets a step this block. */
export type Triaged = { safe: Address; state: SafeState; reason: StepReason }

/**
 * Decides which Safes of a chunk get a step (see {@link stepReason}) against the store's fingerprints and in-flight
 * operations, saves the new fingerprints, and alerts a Safe that cannot be read (once per distinct error).
 *
 * @returns The Safes to step and how many were skipped.
 */
export async function triage(
  chunk: ChunkRead,
  deps: { store: Pick<FleetStore, "scanState" | "setFingerprints">; events: KeeperEvents; refreshEveryBlocks: number },
): Promise<{ steps: Triaged[]; skipped: number }> {
  const { store, events, refreshEveryBlocks } = deps
  const safes = chunk.states.map((s) => s.safe)
  const { pending, fingerprints } = await store.scanState(safes)
  const steps: Triaged[] = []
  const changed: [Address, string][] = []
  chunk.states.forEach((state, i) => {
    const previous = fingerprints[i]
    const current = fingerprint(state)
    if (current !== previous) changed.push([state.safe, current])
    if (state.error && current !== previous) events.alert(state.safe, chunk.blockNumber, "read-failed", state.error)
    const reason = stepReason(state, { block: chunk.blockNumber, timestamp: chunk.timestamp, pending: pending[i] === true, previous, current, refreshEveryBlocks })
    if (reason) steps.push({ safe: state.safe, state, reason })
  })
  await store.setFingerprints(changed)
  return { steps, skipped: chunk.states.length - steps.length }
}
