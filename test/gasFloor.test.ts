// scripts/gas-floor.mjs prices the keeper lane's floor from two hand-made state diffs: every rule of its header
// (cold account, cold slot, SSTORE classes against the transaction-start value, the owner lane's own writes, logs).
import { describe, expect, it } from "vitest"
// @ts-expect-error: a plain ESM script without types
import * as floorModule from "../scripts/gas-floor.mjs"

type Touch = { kind: number; account: string; accessor: string; depth: bigint; reverted: boolean }
type Store = {
  account: string
  slot: string
  isWrite: boolean
  previousValue: string
  newValue: string
  original: string
  reverted: boolean
}
type Log = { emitter: string; topic0: string; topics: bigint; dataBytes: bigint }
type Lane = { touches: Touch[]; stores: Store[]; logs: Log[] }
type Item = { what: string; name: string; gas: number; detail: string }
type Floor = {
  total: number
  accounts: { count: number; gas: number }
  slots: { count: number; gas: number }
  writes: { count: number; gas: number }
  log: { count: number; gas: number }
  items: Item[]
  otherLogs: { name: string; count: number; gas: number }[]
  ownerOnly: { accounts: number; slots: number; writes: number; gas: number; items: { what: string; name: string; gas: number }[] }
  lanes: { owner: { accounts: number; slots: number; slotsWritten: number; revertedAccesses: number }; keeper: { accounts: number; slots: number; slotsWritten: number; revertedAccesses: number } }
}
const { floorOf, namer, writeCost } = floorModule as {
  floorOf: (args: {
    owner: Lane
    keeper: Lane
    warm: (a: string) => boolean
    nameOf: (a: string, s?: string) => string
    eventOf: (t: string) => string
  }) => Floor
  namer: (names: { account: string; slot: string; isSlot: boolean; name: string }[]) => (a: string, s?: string) => string
  writeCost: (entry: { dirtying: { from: string; to: string }[] } | undefined) => { gas: number; classes: string[] }
}

const addr = (n: number) => `0x${n.toString(16).padStart(40, "0")}`
const word = (n: number) => `0x${n.toString(16).padStart(64, "0")}`
const ENTRY_POINT = addr(0x1000)
const BUNDLER = addr(0x1001)
const SAFE = addr(0x2000)
const MODULE = addr(0x3000)
const LIB = addr(0x3001)
const POLICY_DATA = addr(0x3002)
const MULTISEND = addr(0x4000)
const TOKEN = addr(0x5000)
const REBALANCED = word(0xaaaa)
const MODULE_EVENT = word(0xbbbb)
const TRANSFER = word(0xcccc)

const touch = (kind: number, account: string): Touch => ({ kind, account, accessor: SAFE, depth: 1n, reverted: false })
const read = (account: string, slot: number, value: number): Store => ({
  account,
  slot: word(slot),
  isWrite: false,
  previousValue: word(value),
  newValue: word(value),
  original: word(value),
  reverted: false,
})
const write = (account: string, slot: number, original: number, from: number, to: number): Store => ({
  account,
  slot: word(slot),
  isWrite: true,
  previousValue: word(from),
  newValue: word(to),
  original: word(original),
  reverted: false,
})
const log = (emitter: string, topic0: string, topics: number, dataBytes: number): Log => ({
  emitter,
  topic0,
  topics: BigInt(topics),
  dataBytes: BigInt(dataBytes),
})

// Both lanes: the bundler calls the EntryPoint, which calls the Safe; both move the token (slot 1 of TOKEN:
// 5 -> 7, dirtied the same way), emit a Transfer and one module event; each lane has its own nonce slot on the
// EntryPoint (owner slot 10, keeper slot 11).
const owner: Lane = {
  touches: [touch(0, ENTRY_POINT), touch(0, SAFE), touch(1, MULTISEND), touch(0, TOKEN), touch(3, addr(1))],
  stores: [write(ENTRY_POINT, 10, 4, 4, 5), write(TOKEN, 1, 5, 5, 7)],
  logs: [log(TOKEN, TRANSFER, 3, 32), log(SAFE, MODULE_EVENT, 2, 0)],
}
const keeper: Lane = {
  touches: [
    touch(0, ENTRY_POINT),
    touch(0, SAFE),
    touch(0, MODULE),
    touch(8, LIB), // EXTCODESIZE, then DELEGATECALL: one account
    touch(1, LIB),
    touch(10, POLICY_DATA), // EXTCODECOPY only: a cold account all the same
    touch(0, TOKEN),
    touch(0, BUNDLER), // tx.origin: warm at the transaction's start
  ],
  stores: [
    write(ENTRY_POINT, 11, 8, 8, 9), // keeper nonce: nonzero -> nonzero
    read(MODULE, 20, 3), // policy record: read only
    read(MODULE, 21, 6), // usage: read, then written nonzero -> nonzero
    write(MODULE, 21, 6, 6, 16),
    write(MODULE, 21, 6, 16, 17), // a re-write of a dirty slot: warm, not floor
    write(MODULE, 22, 0, 0, 1), // 0 -> nonzero, then back to 0: one SSTORE_SET, the restore is warm
    write(MODULE, 22, 0, 1, 0),
    write(MODULE, 23, 2, 2, 2), // a no-op write: warm
    write(TOKEN, 1, 5, 5, 7), // the same write as the owner lane: not floor
    read(TOKEN, 2, 9), // keeper-only slot of a shared account
  ],
  logs: [
    log(TOKEN, TRANSFER, 3, 32),
    log(SAFE, MODULE_EVENT, 2, 0),
    log(SAFE, MODULE_EVENT, 2, 0),
    log(MODULE, REBALANCED, 3, 256),
  ],
}
const warm = (a: string) => [ENTRY_POINT, BUNDLER].includes(a) || BigInt(a) <= 0x100n
const names = [
  { account: LIB, slot: word(0), isSlot: false, name: "RebalanceLib" },
  { account: MODULE, slot: word(20), isSlot: true, name: "policy record" },
]
const eventOf = (t: string) => (t === REBALANCED ? "Rebalanced" : t === MODULE_EVENT ? "ExecutionFromModuleSuccess" : "Transfer")

describe("gas-floor: the keeper lane's floor from two state diffs", () => {
  const floor = floorOf({ owner, keeper, warm, nameOf: namer(names), eventOf })

  it("prices each keeper-only account once at 2,600 (any access kind), none warm at the start or shared", () => {
    const accounts = floor.items.filter((i) => i.what === "account")
    expect(accounts.map((i) => i.name).sort()).toEqual(["RebalanceLib", MODULE, POLICY_DATA].sort())
    expect(accounts.find((i) => i.name === "RebalanceLib")?.detail).toBe("Extcodesize+DelegateCall")
    expect(accounts.find((i) => i.name === POLICY_DATA)?.detail).toBe("Extcodecopy")
    expect(floor.accounts).toEqual({ count: 3, gas: 3 * 2600 })
  })

  it("prices each keeper-only (account, slot) once at 2,100, shared slots not at all", () => {
    const slots = floor.items.filter((i) => i.what === "slot").map((i) => i.name)
    expect(slots).toContain("policy record")
    expect(slots).toContain(`${MODULE} slot ${word(21)}`)
    expect(slots).toContain(`${TOKEN} slot ${word(2)}`)
    expect(slots).not.toContain(`${TOKEN} slot ${word(1)}`)
    // keeper nonce (11), record (20), usage (21), 22, 23, token slot 2
    expect(floor.slots).toEqual({ count: 6, gas: 6 * 2100 })
  })

  it("prices only the writes from the transaction-start value: 2,900 from non-zero, 20,000 from zero", () => {
    const writes = Object.fromEntries(floor.items.filter((i) => i.what === "write").map((i) => [i.name, [i.gas, i.detail]]))
    expect(writes).toEqual({
      [`${ENTRY_POINT} slot ${word(11)}`]: [2900, "nonzero->nonzero"],
      [`${MODULE} slot ${word(21)}`]: [2900, "nonzero->nonzero"],
      [`${MODULE} slot ${word(22)}`]: [20_000, "0->nonzero"],
    })
    expect(floor.writes).toEqual({ count: 3, gas: 25_800 })
    expect(writeCost({ dirtying: [{ from: word(3), to: word(0) }] })).toEqual({ gas: 2900, classes: ["nonzero->0"] })
    expect(writeCost(undefined)).toEqual({ gas: 0, classes: [] })
  })

  it("counts the Rebalanced log (375 + 375 per topic + 8 per byte) and lists other extra logs apart", () => {
    expect(floor.log).toEqual({ count: 1, gas: 375 + 3 * 375 + 8 * 256 })
    expect(floor.otherLogs).toEqual([{ name: `ExecutionFromModuleSuccess from ${SAFE}`, count: 1, gas: 375 + 2 * 375 }])
  })

  it("sums the parts and prices the owner lane's own items the same way", () => {
    expect(floor.total).toBe(3 * 2600 + 6 * 2100 + 25_800 + 3548)
    expect(floor.ownerOnly).toMatchObject({ accounts: 1, slots: 1, writes: 1, gas: 2600 + 2100 + 2900 })
    expect(floor.lanes.owner).toMatchObject({ accounts: 3, slots: 2, slotsWritten: 2, revertedAccesses: 0 })
    expect(floor.lanes.keeper).toMatchObject({ accounts: 5, slots: 7, slotsWritten: 5, revertedAccesses: 0 })
  })

  it("an owner lane that dirties the same slot the same way takes the write out of the floor", () => {
    const both = floorOf({
      owner: { ...owner, stores: [...owner.stores, write(MODULE, 21, 6, 6, 16)] },
      keeper,
      warm,
      nameOf: namer(names),
      eventOf,
    })
    expect(both.items.some((i) => i.what === "write" && i.name.endsWith(word(21)))).toBe(false)
    expect(both.items.some((i) => i.what === "slot" && i.name.endsWith(word(21)))).toBe(false)
    expect(both.total).toBe(floor.total - 2900 - 2100)
  })
})
