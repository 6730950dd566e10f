import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { hostname, tmpdir } from "node:os"
import { join } from "node:path"
import { pino } from "pino"
import { describe, expect, test } from "vitest"
import { runCli } from "../cli/run.js"
import { parseKeeperConfig } from "./config.js"
import { FleetKeeper } from "./fleet/fleetKeeper.js"
import { Keeper } from "./keeper.js"
import { KeeperStateStore, type StateFileLock, StateFileLockedError, lockPath } from "./stateFile.js"

// Review rr11zc C4's fix (branch c4lock), as the keeper wires it: the classic keeper and the embedded fleet keeper open
// the state file in their constructors (a writer takes `<stateFile>.lock`, a --dry-run does not), `levpilot keeper`
// exits 1 with the refusal's message (no stack), and the keeper's stop releases the lock. No RPC is reached: the
// refusal comes before any connection, and `stop()` without `init()` only closes the store.

const silent = pino({ level: "silent" })

/** A valid keeper configuration on a fresh state file; `fleet` set: the embedded fleet runtime (`usesFleetRuntime`). */
function setup(fleet = false) {
  const dir = mkdtempSync(join(tmpdir(), "c4lock-"))
  const stateFile = join(dir, "keeper-state.json")
  const json = {
    rpcUrl: "http://127.0.0.1:9",
    bundlerUrl: "http://127.0.0.1:9",
    keeperPrivateKey: `0x${"11".repeat(32)}`,
    deployment: { leverageModule: "0x00000000000000000000000000000000000000a1", morphoBlueAdapter: "0x00000000000000000000000000000000000000a2" },
    safes: ["0x00000000000000000000000000000000000000b1"],
    stateFile,
    logLevel: "silent",
    ...(fleet ? { fleet: { batchSize: 50 } } : {}),
  }
  const configPath = join(dir, "keeper.json")
  writeFileSync(configPath, JSON.stringify(json))
  return { stateFile, configPath, config: parseKeeperConfig(json) }
}

/** The production keeper's store on `stateFile` (holds the lock). */
const production = (stateFile: string) => new KeeperStateStore(stateFile)

describe.each([
  ["classic keeper", false],
  ["embedded fleet keeper", true],
] as const)("rr11zc C4 (fixed): the %s on a state file another keeper holds", (_name, fleet) => {
  const make = (config: ReturnType<typeof setup>["config"], dryRun: boolean) => (fleet ? new FleetKeeper(config, { logger: silent, dryRun }) : new Keeper(config, { logger: silent, dryRun }))

  test("levpilot keeper exits 1 with the refusal's message (one line: the path, the other keeper's pid, what to do), no stack; the other keeper's lock is left", async () => {
    const { stateFile, configPath } = setup(fleet)
    const held = production(stateFile)
    const lock = readFileSync(lockPath(stateFile), "utf8")
    const holder = JSON.parse(lock) as StateFileLock
    const out: string[] = []
    const err: string[] = []
    const code = await runCli(["keeper", "--config", configPath, "--once"], { out: (t) => void out.push(t), err: (t) => void err.push(t) })
    expect(code).toBe(1)
    expect(out).toEqual([])
    expect(err).toEqual([`levpilot keeper: StateFileLockedError: ${new StateFileLockedError({ path: stateFile, holder }).message}\n`])
    expect(err[0]).toContain(`is in use by process ${process.pid} on host ${hostname()}`)
    expect(readFileSync(lockPath(stateFile), "utf8")).toBe(lock)
    held.close()
  })

  test("a writing keeper is refused in its constructor; a --dry-run keeper is not (and takes no lock); a keeper's stop releases its lock", async () => {
    const { stateFile, config } = setup(fleet)
    const held = production(stateFile)
    expect(() => make(config, false)).toThrow(StateFileLockedError)
    const lock = readFileSync(lockPath(stateFile), "utf8")
    const dry = make(config, true)
    await dry.stop()
    expect(readFileSync(lockPath(stateFile), "utf8")).toBe(lock)
    held.close()
    // No other keeper: this one takes the lock, and its stop releases it.
    const keeper = make(config, false)
    expect((JSON.parse(readFileSync(lockPath(stateFile), "utf8")) as StateFileLock).pid).toBe(process.pid)
    await keeper.stop()
    expect(existsSync(lockPath(stateFile))).toBe(false)
  })
})
