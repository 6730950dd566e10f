#!/usr/bin/env node
// Makes sure forge's out/ holds current artifacts of every contract (modules/ and the npm contracts it imports) before a
// command that reads them runs: `npm start`, the gas benchmarks, vitest. It runs `forge build`, which compiles only
// what is missing or changed since the last build (about 2 s when nothing changed, a few minutes on a fresh clone).
// A lock file keeps two callers in the same checkout from building at once.
//   node scripts/ensure-contracts.mjs            # as a step before another command
//   import { ensureContracts } from "./ensure-contracts.mjs"
import { spawnSync } from "node:child_process"
import { existsSync, linkSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..")

const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)

/**
 * Whether the process that took `lock` (its pid, written by {@link ensureContracts}) is still running. The lock appears
 * with its pid already in it (a hard link to a written file), so a lock without a readable pid comes from an older
 * version of this script: alive for 30 minutes (the caller's rule).
 */
function ownerAlive(lock) {
  const pid = Number(readFileSync(lock, "utf8").trim())
  if (!Number.isInteger(pid) || pid <= 0) return true
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: a process of another user holds that pid, so it is running.
    return error?.code === "EPERM"
  }
}

/**
 * Runs `forge build` in the repository (through scripts/forge.mjs, which sets up the offline solc shims first).
 * @param {{ quiet?: boolean }} [options] quiet: print forge's output only when it fails.
 * @throws Error when forge fails (its output is printed).
 */
export function ensureContracts({ quiet = true } = {}) {
  if (process.env.FORGE_OUT) return // artifacts come from elsewhere (see devnet/src/leverage.ts)
  const lock = join(root, "cache", "ensure-contracts.lock")
  mkdirSync(join(root, "cache"), { recursive: true })
  const fresh = !existsSync(join(root, "out"))
  for (let waited = 0; ; waited += 500) {
    try {
      // The lock holds its owner's pid: a command killed by a signal (Ctrl-C during a fresh clone's first build, a CI
      // timeout) never runs the `finally` below, and its lock must not hold the next command back.
      // Written first, then linked into place (link fails when the lock exists): a command killed at any instant never
      // leaves a lock without its pid (an empty lock held every later command back for 30 minutes).
      const mine = `${lock}.${process.pid}`
      writeFileSync(mine, String(process.pid))
      try {
        linkSync(mine, lock)
      } finally {
        rmSync(mine, { force: true })
      }
      break
    } catch (error) {
      // Not "the lock exists" (a file system refusing the write or the link): say so instead of waiting for ever.
      if (error?.code !== "EEXIST") throw new Error(`ensure-contracts: cannot take the lock ${lock}: ${error?.message ?? error}`)
      // Another build in this checkout, unless its owner is gone (or, with no pid readable, the lock is older than
      // 30 minutes): then it is a killed one's, removed.
      try {
        if (!ownerAlive(lock) || Date.now() - statSync(lock).mtimeMs > 30 * 60_000) rmSync(lock, { force: true })
      } catch {}
      if (waited === 0) console.error("ensure-contracts: waiting for another forge build in this checkout ...")
      sleep(500)
    }
  }
  try {
    console.error(`ensure-contracts: forge build${fresh ? " (fresh checkout: compiling every contract, a few minutes)" : " (only what changed)"} ...`)
    const run = spawnSync(process.execPath, [join(root, "scripts/forge.mjs"), "build"], { cwd: root, encoding: "utf8", stdio: quiet ? "pipe" : "inherit" })
    if (run.status !== 0) {
      if (quiet) process.stderr.write(`${run.stdout ?? ""}${run.stderr ?? ""}`)
      throw new Error(`forge build failed (exit ${run.status}); run \`node scripts/forge.mjs build\` to see why`)
    }
  } finally {
    rmSync(lock, { force: true })
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    ensureContracts({ quiet: !process.argv.includes("--verbose") })
  } catch (error) {
    console.error(`ensure-contracts: ${error.message}`)
    process.exit(1)
  }
}
