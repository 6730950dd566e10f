import { createHash } from "node:crypto"
import { type Address, BaseError, type Chain, type Client, type Transport } from "viem"
import { getBlock } from "viem/actions"
import { type SafeState, getSafeStates } from "@levpilot/sdk/actions"
import { SafeReadError, someInCauseChain } from "@levpilot/sdk/errors"
import type { LeverageDeployment } from "@levpilot/sdk/deployments"
import { BlockNotCanonicalError, BlockNotImportedError, findInCauseChain, isTransientAnswer } from "../errors.js"
import type { KeeperEvents } from "../events.js"
import { GROW_AFTER_READS, RETRY_REFUSED_AFTER_READS, isUnreachable } from "../logWindow.js"
import type { FleetSettings } from "./config.js"
import { BlockStateUnavailableError, isStateRefusal } from "./blockReads.js"
import { limiter } from "./limit.js"
import { SETTLE_BOUND, type SettleBound, callBlockNumber, waitHeadPast } from "../settle.js"
import type { FleetStore } from "./store.js"
import { mayAct } from "../rescueDue.js"

export { SETTLE_BOUND, type SettleBound }

/** A Safe read without error. */
export type ReadSafe = Extract<SafeState, { error?: undefined }>

/**
 * One chunk of a batched read: the Safes of one `eth_call` at one block. `unsettled`: Safes whose read at the head
 * reverted with an arithmetic panic and could not be read again once the node sealed the next block (within
 * {@link SettleBound}); their state is not trusted this block: {@link triage} neither alerts, fingerprints nor steps them,
 * and the next block reads them again.
 */
export type ChunkRead = { blockNumber: bigint; timestamp: bigint; states: SafeState[]; unsettled?: Address[] | undefined }


/**
 * The largest number of Safes one `eth_call` of the lens is known to fit (shared by the reads of one process). It
 * starts unbounded and shrinks to the part that worked when a call fails for a reason other than transport, most often
 * the node's `eth_call` gas cap (about 140k gas per Safe with one Morpho sub-account and one pool; anvil caps a call at
 * its 30M block gas limit, geth at 50M by default), so later blocks split up front instead of failing first. A transient
 * answer (HTTP 5xx / 408 / 429, JSON-RPC -32005, review rr16e E3) does not shrink it, and it grows back after healthy
 * chunks (see `growBack`: doubling every {@link GROW_AFTER_READS} chunks, up to unbounded).
 */
export type ReadLimit = {
  size: number
  /**
   * Safes (lowercase) read in an `eth_call` of their own: a sub-account whose oracle or venue burns all the gas it is
   * given (the lens's `try marketState` hands it 63/64 of what the Safe's read has) leaves too little for the Safes
   * after it in the same call, and the call fails. Such a Safe is read alone from then on, so the others keep full
   * batches (and `size` does not stay shrunk by it); it leaves the set once it reads without such a sub-account.
   */
  alone?: Set<string> | undefined
  /**
   * Review rr16e E3: chunks read in a row, split up front by `size`, without a failed call; every
   * {@link GROW_AFTER_READS} of them double `size` (back to unbounded once it covers the chunk, i.e. the configured
   * `batchSize`), as {@link LogWindow} grows back.
   */
  succeeded?: number | undefined
  /** The smallest size a call failed at: growing to it or past it waits {@link RETRY_REFUSED_AFTER_READS} chunks instead. */
  refused?: number | undefined
}

/** @returns A fresh {@link ReadLimit}, unbounded. */
export const readLimit = (): ReadLimit => ({ size: Number.POSITIVE_INFINITY, alone: new Set(), succeeded: 0, refused: Number.POSITIVE_INFINITY })

/**
 * Whether a failed lens call is a transient answer of the node, not its size (review rr16e E3): viem's transient
 * classes anywhere in the cause chain ({@link isTransientAnswer}: HTTP 403 / 408 / 429 / 5xx, JSON-RPC -1 / -32005 /
 * 429 / -32007). Such a failure splits the call (the halves are retried) but does not shrink {@link ReadLimit.size}.
 */
const transient = (error: unknown): boolean => isTransientAnswer(error) || (error instanceof BaseError && someInCauseChain(error, isTransientAnswer))

/** A read Safe with a sub-account that reverted without data: out of gas (or a bare revert). */
const withDatalessRevert = (state: SafeState): boolean => !state.error && state.unreadable.some((e) => e.revertData === "0x")

/** Solidity's `Panic(0x11)` (arithmetic underflow / overflow) as revert data: Morpho's accrual under a racing read. */
const ARITHMETIC_PANIC: `0x${string}` = `0x4e487b71${"11".padStart(64, "0")}`

/**
 * A Safe whose read in a shared call is to be confirmed before it is reported: it failed, or a sub-account reverted,
 * without data (out of gas, a bare revert) or with an arithmetic panic (a read racing block production).
 */
const starved = (state: SafeState): boolean => {
  const suspect = (data: string | undefined) => data === "0x" || data?.toLowerCase() === ARITHMETIC_PANIC
  return state.error ? suspect((state.error as { revertData?: string }).revertData) : state.unreadable.some((e) => suspect(e.revertData))
}

/** A Safe whose read failed, or a sub-account reverted, with an arithmetic panic (`Panic(0x11)`). */
const panicked = (state: SafeState): boolean => {
  const is = (data: string | undefined) => data?.toLowerCase() === ARITHMETIC_PANIC
  return state.error ? is((state.error as { revertData?: string }).revertData) : state.unreadable.some((e) => is(e.revertData))
}


/**
 * Reads `safes` at `block`, `settings.batchSize` Safes per `eth_call` (the lens's `readSafes`) with at most
 * `settings.readConcurrency` calls in flight; `onChunk` gets each chunk as soon as it arrives, so work on the first
 * Safes starts before the last ones are read. A chunk too large for the node is split (see {@link readChunk}).
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
    limit?: ReadLimit | undefined
    onChunk: (chunk: ChunkRead) => Promise<void> | void
  },
): Promise<number> {
  const { safes, block, keeper, deployment, settings, limit, onChunk } = parameters
  const run = limiter(settings.readConcurrency)
  const chunks: Address[][] = []
  for (let i = 0; i < safes.length; i += settings.batchSize) chunks.push(safes.slice(i, i + settings.batchSize))
  let calls = 0
  await Promise.all(
    chunks.map((chunk) =>
      run(async () => {
        const read = await readChunk(client, { safes: chunk, block, keeper, deployment, gas: settings.callGas, limit })
        calls += read.calls
        await onChunk(read)
      }),
    ),
  )
  return calls
}

/**
 * Whether `error` says the node could not be reached or is rate-limiting (no HTTP answer, HTTP 429, a closed socket):
 * a smaller request would not help. Anything else (an RPC error such as out of gas or too many results, a response over
 * the client's size limit, a timeout, another HTTP status such as 413) may be the request's size.
 */
export { isUnreachable }

/**
 * `safes` at `block` (the SDK's `getSafeStates`), in as few `eth_call`s as the node takes: `limit.size` Safes per call
 * at most, and a call that fails for any reason but an unreachable node (gas cap, out of gas, a response over the
 * client's size limit, a timeout) is split in two and retried, down to single Safes; a Safe that cannot be read even
 * alone gets a `SafeReadError` (alerted by {@link triage}) instead of failing the others. When the node cannot be
 * reached the error is thrown (the caller retries). When a call failed and a Safe of the chunk has a sub-account that
 * reverted without data (an oracle burning all its gas), that Safe goes to `limit.alone` and `limit.size` is reset
 * (unbounded): in later blocks it is read in its own call and the others in full batches. A call that succeeds with
 * Safes whose read failed, or a sub-account reverted, without data (out of gas, a bare revert, a node's read racing
 * its block production) has those Safes read again in a smaller call, down to their own: only a Safe that is still
 * so when read alone is reported. A Safe still so with an arithmetic panic (`Panic(0x11)`) is read once more at the
 * same block after the node's head has moved past it (`settle`, default {@link SETTLE_BOUND}): a node (anvil) answers a
 * read at its head made while the next block is mined with that block's state under the head's header, and Morpho's
 * `block.timestamp - lastUpdate` underflows; once the next block is sealed the block is read from its own state. Only a
 * panic at a sealed block is reported; a Safe whose head did not move within the bound is returned `unsettled`.
 *
 * @returns The chunk, with the number of requests made (`eth_call`s, and the head polls of a settling read).
 * @throws The transport's error when the node is unreachable (`HttpRequestError`, `SocketClosedError`), and
 *   {@link BlockNotCanonicalError} when `client` is pinned to the block's hash and the block was lost to a reorg,
 *   {@link BlockNotImportedError} when the node does not have the block yet (retryable),
 *   {@link BlockStateUnavailableError} when the node has the block but not its state (pruned; review rr16f F1: the
 *   chunk is skipped at this block, nothing split, shrunk or alerted).
 */
export async function readChunk(
  client: Client<Transport, Chain | undefined>,
  parameters: {
    safes: readonly Address[]
    block: bigint
    keeper: Address
    deployment: LeverageDeployment
    gas?: bigint | undefined
    limit?: ReadLimit | undefined
    settle?: SettleBound | undefined
  },
): Promise<ChunkRead & { calls: number }> {
  const { safes, block, keeper, deployment, gas, limit, settle = SETTLE_BOUND } = parameters
  let calls = 0
  let failed = false
  let at: { blockNumber: bigint; timestamp: bigint } | undefined
  const read = async (part: readonly Address[]): Promise<SafeState[]> => {
    const size = limit?.size ?? Number.POSITIVE_INFINITY
    if (part.length > size) {
      const out: SafeState[] = []
      for (let i = 0; i < part.length; i += size) out.push(...(await read(part.slice(i, i + size))))
      return out
    }
    calls += 1
    try {
      const r = await getSafeStates(client, { safes: part, keeper, blockNumber: block, gas, deployments: { [client.chain?.id ?? 0]: deployment } })
      at = { blockNumber: r.blockNumber, timestamp: r.timestamp }
      // A Safe of a shared call whose read failed without data, or with a sub-account that reverted without data, is
      // confirmed before it is reported: read again (same block) in a smaller call, down to its own. bench:fleet's
      // 5,000 Safes had hundreds of healthy Safes' sub-accounts revert without data in the blocks right after its
      // shock, on a devnet whose reads race its block production, and alerted feed-broken for each.
      const suspects = part.length > 1 ? r.safes.flatMap((state, i) => (starved(state) ? [i] : [])) : []
      if (suspects.length === 0) return r.safes
      const again =
        suspects.length < part.length
          ? await read(suspects.map((i) => part[i] as Address))
          : await read(part.slice(0, Math.ceil(part.length / 2))).then(async (first) => [...first, ...(await read(part.slice(first.length)))])
      const byIndex = new Map(suspects.length < part.length ? suspects.map((i, k) => [i, again[k] as SafeState]) : again.map((state, i) => [i, state]))
      return r.safes.map((state, i) => byIndex.get(i) ?? state)
    } catch (error) {
      // A block lost to a reorg (a client pinned to its hash, review rr16c S1), or one the node has not imported yet
      // (review rr16d D2), is not the request's size either: split, every Safe would fail alone and alert read-failed.
      if (isUnreachable(error) || findInCauseChain(error, BlockNotCanonicalError) || findInCauseChain(error, BlockNotImportedError) || findInCauseChain(error, BlockStateUnavailableError)) throw error
      // Review rr16f F1: the node refused the block's state (pruned, not synced), through a client not pinned to the
      // block's hash: the block's refusal too, never a size failure or the Safes' (250 read-failed alerts per chunk).
      if (isStateRefusal(error)) throw new BlockStateUnavailableError({ number: block, cause: error instanceof Error ? error : undefined })
      if (part.length === 1) return [{ safe: part[0] as Address, error: new SafeReadError({ safe: part[0] as Address, revertData: "0x" }) }]
      failed = true
      const half = Math.ceil(part.length / 2)
      if (limit && !transient(error)) {
        limit.refused = Math.min(limit.refused ?? Number.POSITIVE_INFINITY, part.length)
        if (half < limit.size) limit.size = half
      }
      return [...(await read(part.slice(0, half))), ...(await read(part.slice(half)))]
    }
  }
  const alone = limit?.alone
  const sizeBefore = limit?.size ?? Number.POSITIVE_INFINITY
  const isolated = alone ? safes.filter((a) => alone.has(a.toLowerCase())) : []
  const byAddress = new Map<string, SafeState>()
  for (const state of await read(isolated.length > 0 ? safes.filter((a) => !alone?.has(a.toLowerCase())) : safes)) byAddress.set(state.safe.toLowerCase(), state)
  const batched = calls
  for (const a of isolated) for (const state of await read([a])) byAddress.set(state.safe.toLowerCase(), state)
  const states = safes.map((a) => byAddress.get(a.toLowerCase()) ?? { safe: a, error: new SafeReadError({ safe: a, revertData: "0x" }) })
  // Confirmed alone, still an arithmetic panic: read again at this block once the node has sealed the next one.
  const racing = states.flatMap((state, i) => (panicked(state) ? [i] : []))
  let unsettled: Address[] | undefined
  if (racing.length > 0) {
    // The number calls run under, not eth_blockNumber: anvil answers the new number before its calls run under it.
    const head = await waitHeadPast(() => callBlockNumber(client.request as never), block, settle)
    calls += head.requests
    if (head.past) {
      const again = await read(racing.map((i) => safes[i] as Address))
      racing.forEach((i, k) => (states[i] = again[k] as SafeState))
    } else unsettled = racing.map((i) => safes[i] as Address)
  }
  if (alone && limit) {
    // A call of the batch failed (it was split): a Safe with a sub-account out of gas is the likely cause.
    const split = batched > Math.ceil((safes.length - isolated.length) / Math.max(1, Math.min(sizeBefore, safes.length)))
    let culprit = false
    for (const state of states) {
      const key = state.safe.toLowerCase()
      if (withDatalessRevert(state)) {
        // Read in the batch (not alone) when the batch failed: isolate it, and the shrink it caused is undone (also
        // the one of a concurrent read that started before it was isolated). A node whose gas cap is the limit
        // shrinks it again at its next failure, without this Safe.
        if (split && !isolated.includes(state.safe)) {
          alone.add(key)
          culprit = true
        }
      } else if (!state.error) alone.delete(key)
    }
    if (culprit) limit.size = Number.POSITIVE_INFINITY
  }
  if (limit) growBack(limit, { failed, chunk: safes.length - isolated.length, sizeBefore })
  if (!at) {
    // Nothing could be read: the block's own number and timestamp.
    const b = await getBlock(client, { blockNumber: block })
    calls += 1
    at = { blockNumber: b.number, timestamp: b.timestamp }
  }
  return { ...at, states, calls, ...(unsettled ? { unsettled } : {}) }
}

/**
 * Review rr16e E3: after a chunk read, grows a shrunk {@link ReadLimit} back. A chunk that `bound` (it had more Safes
 * than `size` and was split up front) and read with no failed call counts toward a doubling: every
 * {@link GROW_AFTER_READS} in a row double `size` ({@link RETRY_REFUSED_AFTER_READS} when the doubled size reaches the
 * smallest size a call failed at, which a chunk read whole at that size clears), and once it reaches the chunk's size
 * it is unbounded again (a chunk is at most the configured `batchSize`). A failed call resets the count.
 */
function growBack(limit: ReadLimit, read: { failed: boolean; chunk: number; sizeBefore: number }): void {
  if (read.failed) {
    limit.succeeded = 0
    return
  }
  const refused = limit.refused ?? Number.POSITIVE_INFINITY
  // Calls of this many Safes read well: a refusal at that size was a passing one.
  if (Math.min(read.chunk, read.sizeBefore) >= refused) limit.refused = Number.POSITIVE_INFINITY
  if (read.chunk <= read.sizeBefore || !Number.isFinite(limit.size)) return
  const next = limit.size * 2
  limit.succeeded = (limit.succeeded ?? 0) + 1
  if (limit.succeeded < (next >= (limit.refused ?? Number.POSITIVE_INFINITY) ? RETRY_REFUSED_AFTER_READS : GROW_AFTER_READS)) return
  limit.succeeded = 0
  limit.size = next >= read.chunk ? Number.POSITIVE_INFINITY : next
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
    for (const e of state.unreadable) h.update(`|unreadable:${e.subAccount}:${e.revertData}`)
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
  // A Safe whose only sub-accounts are unreadable still gets a step on a change: it alerts them (feed-broken).
  if (state.subAccounts.length === 0 && state.unreadable.length === 0) return undefined
  if (current !== previous) return "changed"
  // Out of band, or (issue 13) due for an in-band rescue.
  if (state.subAccounts.some(mayAct)) return "out-of-band"
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
  const unsettled = new Set((chunk.unsettled ?? []).map((a) => a.toLowerCase()))
  chunk.states.forEach((state, i) => {
    // A read not trusted this block (see ChunkRead.unsettled): an operation in flight is still tracked, nothing else.
    if (unsettled.has(state.safe.toLowerCase())) {
      if (pending[i] === true) steps.push({ safe: state.safe, state: { safe: state.safe, error: new SafeReadError({ safe: state.safe, revertData: ARITHMETIC_PANIC }) }, reason: "pending" })
      return
    }
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
