import type { Address, Hex } from "viem"
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
