import { type Logger, pino } from "pino"
import type { Address, Hex } from "viem"
import { privateKeyToAccount } from "viem/accounts"
import { type KeeperEvent, KeeperEvents } from "../events.js"
import { KeeperMetrics } from "../metrics.js"
import { KeeperStateStore, type PendingOperation } from "../stateFile.js"
import { SAFE, STEP_RISK } from "../testing.js"
import { FleetStep } from "./step.js"
import { MemoryFleetStore } from "./store.js"
import { SubAccountReadError } from "@levpilot/sdk/errors"

/** Test fixtures for the scan's lens reads (scanConfirm, scanSettle): `count` Safe addresses 0x..01, 0x..02, ... */
export const safesOf = (count: number) => Array.from({ length: count }, (_, i) => `0x${(i + 1).toString(16).padStart(40, "0")}` as Address)
/** The one Morpho sub-account id each fixture Safe holds. */
export const SUB = `0x${"b9".repeat(32)}` as Hex
export const ADAPTER = "0x00000000000000000000000000000000000000ad" as Address
/** `Panic(0x11)` (arithmetic underflow) revert data, as Morpho's accrual gives under anvil's read race. */
export const PANIC = `0x4e487b71${"11".padStart(64, "0")}` as Hex
/** A lens `SafeState` for `safe`: no sub-account read, `SUB` unreadable with `revertData` when given. */
export const stateOf = (safe: Address, revertData?: Hex) => ({
  safe,
  keeperKey: { active: true, validAfter: 0, validUntil: 2 ** 40, keyGeneration: 0, ttl: 0 },
  paused: false,
  keeperNonce: 0n,
  subAccounts: [],
  unreadable: revertData === undefined ? [] : [new SubAccountReadError({ subAccount: SUB, adapter: ADAPTER, revertData })],
  tokens: [],
  pools: [],
})

/**
 * A FleetStep for the fleet's step fixtures (reviews rr16, rr16b; f16f): `config` and `publicClient` as given, keeper key
 * 0x11..11, clock at unix 1,700,000,000,000 ms, every event pushed to `events`.
 */
export function fleetStepOf({ config, publicClient, store, metrics, logger, events, dryRun }: { config: unknown; publicClient: unknown; store: MemoryFleetStore; metrics: KeeperMetrics; logger: Logger; events: KeeperEvent[]; dryRun: boolean }): FleetStep {
  return new FleetStep({
    config: config as never,
    clients: { publicClient } as never,
    store,
    keeper: privateKeyToAccount(`0x${"11".repeat(32)}`),
    metrics,
    logger,
    events: new KeeperEvents({ logger, metrics, onEvent: (e) => events.push(e) }),
    clock: { now: () => 1_700_000_000_000 } as never,
    dryRun,
  })
}

/** The step fixtures' in-flight operation nonce: nonce key 5, sequence 3 (reviews rr16 F5, rr16b E1, rr16d D1/D4). */
export const IN_FLIGHT_NONCE = (5n << 64n) | 3n
/** An operation in flight for the step fixtures: sent (first and last) at block 100 with {@link IN_FLIGHT_NONCE}, sponsored, fees 1 wei. */
export const inFlightRecord: PendingOperation = {
  userOpHash: `0x${"ab".repeat(32)}`, nonce: IN_FLIGHT_NONCE.toString(), sentBlock: "100", firstSentBlock: "100", sentAt: 0, maxFeePerGas: "1", maxPriorityFeePerGas: "1",
  sponsored: true, attempts: 1, triggerBlock: "100", triggerAt: 0,
}

/**
 * The parts of a fleet step fixture: the events list, a silent logger, metrics, and a MemoryFleetStore bound to chain 1,
 * EntryPoint v0.7, module 0x..d1 and keeper 0x..a1, holding `pending` for the test Safe when given.
 */
export async function stepFixture(pending?: PendingOperation): Promise<{ events: KeeperEvent[]; logger: Logger; metrics: KeeperMetrics; store: MemoryFleetStore }> {
  const events: KeeperEvent[] = []
  const logger = pino({ level: "silent" })
  const metrics = new KeeperMetrics()
  const store = new MemoryFleetStore(new KeeperStateStore(undefined))
  store.bind({ chainId: 1, entryPoint: "0x0000000071727De22E5E9d8BAf0edAc6f37da032", module: "0x00000000000000000000000000000000000000d1", keeper: "0x00000000000000000000000000000000000000a1" })
  if (pending) await store.setPending(SAFE, pending)
  return { events, logger, metrics, store }
}

/**
 * The step fixtures' keeper config: EntryPoint v0.7, `adapters` (none by default), resubmit after 4 blocks, `stalled`
 * after 12, log windows of 2,000 blocks, one send at a time, no configured Safes, the step risk settings; `extra` adds
 * or replaces top-level fields.
 */
export const stepConfigOf = (adapters: Record<string, Address> = {}, extra: Record<string, unknown> = {}) => ({
  deployment: { entryPoint: "0x0000000071727De22E5E9d8BAf0edAc6f37da032", adapters },
  resubmitAfterBlocks: 4, stallAfterBlocks: 12, logWindowBlocks: 2_000, fleet: { sendConcurrency: 1 }, safes: [], risk: STEP_RISK,
  ...extra,
})
