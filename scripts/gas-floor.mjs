// The keeper lane's gas FLOOR (issue 15): what the keeper lane pays for the accounts, slots, storage writes and logs the
// owner lane never touches, priced by EIP-2929 (cold access), EIP-2200/3529 (SSTORE) and the LOG opcode, from forge's
// state-diff recording of each lane's handleOps (modules/test/bench/GasFloorBench.t.sol writes `gas.floor<n>.json`).
// Pure functions (no I/O): scripts/bench-gas.mjs reads the part files and prints the table; test/gasFloor.test.ts
// checks the pricing on hand-made diffs.
//
// What is counted (every account and slot is assumed cold at the start of handleOps, as in a bundler's own transaction
// with no EIP-2930 access list: only tx.origin (the bundler), tx.to (the EntryPoint) and the precompiles are warm):
//   account   2,600 per distinct account the keeper lane touches (CALL, STATICCALL, DELEGATECALL, CALLCODE,
//             EXTCODESIZE/COPY/HASH, BALANCE) and the owner lane does not. Warm re-touches (100) are not counted.
//   slot      2,100 per distinct (account, slot) the keeper lane reads or writes and the owner lane does not.
//   write     per slot, the SSTOREs that dirty it (value before = value at the transaction's start, new value
//             different): 20,000 from zero, 2,900 from non-zero (5,000 less the cold read already counted); the
//             keeper lane's sum less the owner lane's sum for the same slot, when positive. Warm re-writes and no-op
//             writes (100 each) are work, not floor; refunds (nonzero -> 0, restores) are paid back at the end of the
//             transaction and are not seen by handleOps' gas, so they are not subtracted.
//   log       375 + 375 per topic + 8 per data byte of each log the keeper lane emits and the owner lane does not
//             (matched by emitter and first topic); only the events named in `floorEvents` (Rebalanced) are floor,
//             the others (the Safe's per-call module events) are listed apart. Memory expansion is not counted.
import { parseAbiParameters } from "viem"

/** Kinds of Vm.AccountAccessKind (forge-std). */
export const ACCESS_KINDS = [
  "Call",
  "DelegateCall",
  "CallCode",
  "StaticCall",
  "Create",
  "SelfDestruct",
  "Resume",
  "Balance",
  "Extcodesize",
  "Extcodehash",
  "Extcodecopy",
]
export const COLD_ACCOUNT = 2600
export const COLD_SLOT = 2100
export const SSTORE_SET = 20_000
export const SSTORE_RESET_AFTER_COLD = 2900

/** ABI types of the part file's encoded lanes and names (GasFloorBase.Lane, GasFloorBase.Name[]), in viem's human-readable form. */
export const LANE_ABI = parseAbiParameters(
  "((uint8 kind, address account, address accessor, uint64 depth, bool reverted)[] touches, " +
    "(address account, bytes32 slot, bool isWrite, bytes32 previousValue, bytes32 newValue, bytes32 original, bool reverted)[] stores, " +
    "(address emitter, bytes32 topic0, uint256 topics, uint256 dataBytes)[] logs)",
)
export const NAMES_ABI = parseAbiParameters("(address account, bytes32 slot, bool isSlot, string name)[]")

const ZERO = /^0x0*$/
const isZero = (word) => ZERO.test(word)
const lower = (a) => a.toLowerCase()
const slotKey = (account, slot) => `${lower(account)}:${lower(slot)}`

/**
 * One lane's distinct accounts, slots and logs.
 * @param {{ touches: {kind: number, account: string, reverted: boolean}[], stores: {account: string, slot: string,
 *   isWrite: boolean, previousValue: string, newValue: string, original: string, reverted: boolean}[],
 *   logs: {emitter: string, topic0: string, topics: number | bigint, dataBytes: number | bigint}[] }} lane
 * @param {(account: string) => boolean} warm accounts warm at the transaction's start (not priced)
 * @returns {{ accounts: Map<string, {kinds: string[]}>, slots: Map<string, {account: string, slot: string,
 *   reads: number, writes: number, dirtying: {from: string, to: string}[], original: string}>, logs: Map<string,
 *   {emitter: string, topic0: string, gas: number, count: number}>, reverted: number }}
 */
export function laneSets(lane, warm) {
  const accounts = new Map()
  for (const t of lane.touches) {
    if (warm(t.account)) continue
    const key = lower(t.account)
    const kind = ACCESS_KINDS[Number(t.kind)] ?? `kind ${t.kind}`
    const entry = accounts.get(key) ?? { kinds: [] }
    if (!entry.kinds.includes(kind)) entry.kinds.push(kind)
    accounts.set(key, entry)
  }
  const slots = new Map()
  let reverted = lane.touches.filter((t) => t.reverted).length
  for (const s of lane.stores) {
    if (s.reverted) reverted += 1
    const key = slotKey(s.account, s.slot)
    const entry = slots.get(key) ?? { account: lower(s.account), slot: lower(s.slot), reads: 0, writes: 0, dirtying: [], original: s.original }
    if (!s.isWrite) entry.reads += 1
    else {
      entry.writes += 1
      // EIP-2200: a write from the transaction's original value to another value is the expensive one (each time the
      // slot is clean again); any other write is a warm 100.
      if (lower(s.previousValue) === lower(s.original) && lower(s.newValue) !== lower(s.previousValue)) {
        entry.dirtying.push({ from: s.previousValue, to: s.newValue })
      }
    }
    slots.set(key, entry)
  }
  const logs = new Map()
  for (const l of lane.logs) {
    const key = `${lower(l.emitter)}:${lower(l.topic0)}`
    const gas = 375 + 375 * Number(l.topics) + 8 * Number(l.dataBytes)
    const entry = logs.get(key) ?? { emitter: lower(l.emitter), topic0: lower(l.topic0), gas: 0, count: 0 }
    entry.gas += gas
    entry.count += 1
    logs.set(key, entry)
  }
  return { accounts, slots, logs, reverted }
}

/** Gas of a slot's dirtying writes and their classes ("0->nonzero", "nonzero->nonzero", "nonzero->0"). */
export function writeCost(entry) {
  let gas = 0
  const classes = []
  for (const w of entry?.dirtying ?? []) {
    if (isZero(w.from)) {
      gas += SSTORE_SET
      classes.push("0->nonzero")
    } else {
      gas += SSTORE_RESET_AFTER_COLD
      classes.push(isZero(w.to) ? "nonzero->0" : "nonzero->nonzero")
    }
  }
  return { gas, classes }
}

/**
 * The keeper lane's floor over the owner lane.
 * @param {object} args
 * @param {object} args.owner a lane (see laneSets)
 * @param {object} args.keeper a lane
 * @param {(account: string) => boolean} args.warm accounts warm at the transaction's start
 * @param {(account: string, slot?: string) => string} args.nameOf a human name
 * @param {(topic0: string) => string} args.eventOf the event's name for a first topic
 * @param {string[]} [args.floorEvents] events counted in the floor (default Rebalanced)
 * @returns {{ total: number, accounts: {count: number, gas: number}, slots: {count: number, gas: number},
 *   writes: {count: number, gas: number}, log: {count: number, gas: number}, items: {what: string, name: string,
 *   gas: number, detail: string}[], otherLogs: {name: string, count: number, gas: number}[], ownerOnly: {accounts:
 *   number, slots: number, writes: number, gas: number, items: {what: string, name: string, gas: number}[]}, lanes: object }}
 */
export function floorOf({ owner, keeper, warm, nameOf, eventOf, floorEvents = ["Rebalanced"] }) {
  const o = laneSets(owner, warm)
  const k = laneSets(keeper, warm)
  const items = []
  for (const [account, entry] of k.accounts) {
    if (o.accounts.has(account)) continue
    items.push({ what: "account", name: nameOf(account), gas: COLD_ACCOUNT, detail: entry.kinds.join("+") })
  }
  for (const [key, entry] of k.slots) {
    if (o.slots.has(key)) continue
    const detail = `${entry.reads} read(s), ${entry.writes} write(s)`
    items.push({ what: "slot", name: nameOf(entry.account, entry.slot), gas: COLD_SLOT, detail })
  }
  for (const [key, entry] of k.slots) {
    const mine = writeCost(entry)
    const theirs = writeCost(o.slots.get(key))
    const extra = mine.gas - theirs.gas
    if (extra <= 0) continue
    const detail = `${mine.classes.join(", ")}${theirs.classes.length ? ` (owner lane: ${theirs.classes.join(", ")})` : ""}`
    items.push({ what: "write", name: nameOf(entry.account, entry.slot), gas: extra, detail })
  }
  const otherLogs = []
  for (const [key, entry] of k.logs) {
    const theirs = o.logs.get(key)
    const count = entry.count - (theirs?.count ?? 0)
    if (count <= 0) continue
    const gas = Math.round((entry.gas / entry.count) * count)
    const name = `${eventOf(entry.topic0)} from ${nameOf(entry.emitter)}`
    if (floorEvents.includes(eventOf(entry.topic0))) items.push({ what: "log", name, gas, detail: `${count} log(s)` })
    else otherLogs.push({ name, count, gas })
  }
  const sum = (what) => {
    const list = items.filter((i) => i.what === what)
    return { count: list.length, gas: list.reduce((a, i) => a + i.gas, 0) }
  }
  // The other way round: what the owner lane pays for accounts, slots and writes the keeper lane never touches (the
  // batch contract, the owner's nonce key): not part of the floor, shown next to it.
  const ownerOnly = { accounts: 0, slots: 0, writes: 0, gas: 0, items: [] }
  for (const account of o.accounts.keys()) {
    if (k.accounts.has(account)) continue
    ownerOnly.accounts += 1
    ownerOnly.gas += COLD_ACCOUNT
    ownerOnly.items.push({ what: "account", name: nameOf(account), gas: COLD_ACCOUNT })
  }
  for (const [key, entry] of o.slots) {
    if (!k.slots.has(key)) {
      ownerOnly.slots += 1
      ownerOnly.gas += COLD_SLOT
      ownerOnly.items.push({ what: "slot", name: nameOf(entry.account, entry.slot), gas: COLD_SLOT })
    }
    const extra = writeCost(entry).gas - writeCost(k.slots.get(key)).gas
    if (extra > 0) {
      ownerOnly.writes += 1
      ownerOnly.gas += extra
      ownerOnly.items.push({ what: "write", name: nameOf(entry.account, entry.slot), gas: extra })
    }
  }
  const accounts = sum("account")
  const slots = sum("slot")
  const writes = sum("write")
  const log = sum("log")
  const laneCounts = (sets) => {
    const written = [...sets.slots.values()].filter((s) => s.writes > 0)
    const byClass = {}
    for (const s of written) for (const c of writeCost(s).classes) byClass[c] = (byClass[c] ?? 0) + 1
    return { accounts: sets.accounts.size, slots: sets.slots.size, slotsWritten: written.length, dirtyingWrites: byClass, revertedAccesses: sets.reverted }
  }
  return {
    total: accounts.gas + slots.gas + writes.gas + log.gas,
    accounts,
    slots,
    writes,
    log,
    items,
    otherLogs,
    ownerOnly,
    lanes: { owner: laneCounts(o), keeper: laneCounts(k) },
  }
}

/**
 * A name lookup from the part file's names (GasFloorBase.Name[]) and extra account names; unnamed accounts and slots
 * read as their hex.
 */
export function namer(names, extraAccounts = {}) {
  const accounts = new Map(Object.entries(extraAccounts).map(([a, n]) => [lower(a), n]))
  const slots = new Map()
  for (const n of names) {
    if (n.isSlot) {
      if (!slots.has(slotKey(n.account, n.slot))) slots.set(slotKey(n.account, n.slot), n.name)
    } else if (!accounts.has(lower(n.account))) accounts.set(lower(n.account), n.name)
  }
  return (account, slot) => {
    const who = accounts.get(lower(account)) ?? lower(account)
    if (slot === undefined) return who
    return slots.get(slotKey(account, slot)) ?? `${who} slot ${lower(slot)}`
  }
}
