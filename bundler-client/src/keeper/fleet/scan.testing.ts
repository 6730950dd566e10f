import type { Logger } from "pino"
import type { Address, Hex } from "viem"
import { privateKeyToAccount } from "viem/accounts"
import { type KeeperEvent, KeeperEvents } from "../events.js"
import type { KeeperMetrics } from "../metrics.js"
import { FleetStep } from "./step.js"
import type { MemoryFleetStore } from "./store.js"
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
