import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { Address, Hex } from "viem"
import { KeeperStateStore, type PendingOperation } from "./stateFile.js"
import { INCLUSION_ENTRY_POINT } from "./testing.js"

/** The scope the state-file tests bind their stores to (chain 1, the inclusion tests' EntryPoint). */
export const STORE_SCOPE = { chainId: 1, entryPoint: INCLUSION_ENTRY_POINT, module: "0x00000000000000000000000000000000000000aa", keeper: "0x00000000000000000000000000000000000000ee" } as const
export const SAFE_A: Address = "0x0000000000000000000000000000000000000a01"
export const SAFE_B: Address = "0x0000000000000000000000000000000000000a02"

/** An in-flight record with nonce `nonce` (sent at block 90); `hash` undefined: the default hash. */
export const pendingRecord = (nonce: bigint, hash: Hex | undefined = `0x${"ab".repeat(32)}`): PendingOperation => ({
  userOpHash: hash,
  nonce: nonce.toString(),
  sentBlock: "90",
  firstSentBlock: "90",
  sentAt: 0,
  maxFeePerGas: "1",
  maxPriorityFeePerGas: "1",
  sponsored: false,
  attempts: 1,
  triggerBlock: "90",
  triggerAt: 0,
})

/** A state file path in a new temporary directory (`<tmp>/<prefix>-XXXXXX/keeper-state.json`). */
export const freshStatePath = (prefix: string) => join(mkdtempSync(join(tmpdir(), `${prefix}-`)), "keeper-state.json")

/** What `f` throws, or undefined when it returns. */
export const attempt = (f: () => unknown): unknown => {
  try {
    f()
    return undefined
  } catch (error) {
    return error
  }
}

/** `store` bound to {@link STORE_SCOPE} (also a store of another module instance: a second "process"). */
export const bound = <S extends { bind(scope: typeof STORE_SCOPE): void }>(store: S): S => {
  store.bind(STORE_SCOPE)
  return store
}

/** A writing store on `path`, bound to {@link STORE_SCOPE}. */
export const stateWriter = (path: string) => bound(new KeeperStateStore(path))

/** The nonce of `safe`'s in-flight record as the file at `path` holds it (a reader's load), or undefined. */
export const nonceOnDisk = (path: string, safe: Address) => KeeperStateStore.pendingIn(KeeperStateStore.read(path), safe)?.nonce
