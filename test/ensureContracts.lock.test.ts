import { type ChildProcess, spawn } from "node:child_process"
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { describe, expect, test } from "vitest"

// Issue 11 item 11, held-out order: a README command interrupted while scripts/ensure-contracts.mjs builds (Ctrl-C
// during the 4-6 minute first build of a fresh clone, a CI job killed by its timeout) must not block the next command.
// The lock (cache/ensure-contracts.lock) is removed in a `finally`, which a signal-killed Node process never runs.
// A copy of the script runs in a scratch checkout whose scripts/forge.mjs stands in for forge (sleeps `FAKE_FORGE_MS`).

function checkout(): string {
  const root = mkdtempSync(join(tmpdir(), "levpilot-ensure-"))
  mkdirSync(join(root, "scripts"))
  copyFileSync(resolve(import.meta.dirname, "../scripts/ensure-contracts.mjs"), join(root, "scripts/ensure-contracts.mjs"))
  writeFileSync(join(root, "scripts/forge.mjs"), "setTimeout(() => process.exit(0), Number(process.env.FAKE_FORGE_MS ?? 0))\n")
  return root
}

function run(root: string, forgeMs: number): { child: ChildProcess; exited: Promise<number | null>; output: () => string } {
  const env: NodeJS.ProcessEnv = { ...process.env, FAKE_FORGE_MS: String(forgeMs) }
  delete env.FORGE_OUT
  const child = spawn(process.execPath, [join(root, "scripts/ensure-contracts.mjs")], { cwd: root, env, stdio: ["ignore", "pipe", "pipe"], detached: true })
  let text = ""
  child.stderr?.on("data", (c: Buffer) => {
    text += c.toString()
  })
  const exited = new Promise<number | null>((done) => child.once("exit", (code) => done(code)))
  return { child, exited, output: () => text }
}

const within = <T>(p: Promise<T>, ms: number) => Promise.race([p, new Promise<"timeout">((done) => setTimeout(() => done("timeout"), ms))])

describe("ensure-contracts after an interrupted build", () => {
  // Ctrl-C signals the whole foreground process group (the command and its forge child); a CI timeout SIGKILLs it.
  for (const [signal, how] of [
    ["SIGINT", "Ctrl-C"],
    ["SIGKILL", "CI timeout"],
  ] as const)
    test(`a build killed by ${signal} (${how}) leaves no lock that blocks the next command`, async () => {
      const root = checkout()
      const first = run(root, 60_000)
      // Wait for the lock to be taken (the build is running), then kill the command's process group.
      for (let i = 0; i < 100 && !existsSync(join(root, "cache/ensure-contracts.lock")); i++) await new Promise((r) => setTimeout(r, 50))
      expect(existsSync(join(root, "cache/ensure-contracts.lock"))).toBe(true)
      process.kill(-(first.child.pid as number), signal)
      await first.exited
      const next = run(root, 0)
      const code = await within(next.exited, 15_000)
      if (code === "timeout") next.child.kill("SIGKILL")
      expect(code, next.output()).toBe(0)
    }, 30_000)

  test("a live build still holds the lock: a second command waits for it", async () => {
    const root = checkout()
    const first = run(root, 3_000)
    for (let i = 0; i < 100 && !existsSync(join(root, "cache/ensure-contracts.lock")); i++) await new Promise((r) => setTimeout(r, 50))
    const started = Date.now()
    const second = run(root, 0)
    expect(await second.exited).toBe(0)
    expect(second.output()).toContain("waiting for another forge build")
    expect(Date.now() - started).toBeGreaterThan(1_500)
    expect(await first.exited).toBe(0)
  }, 30_000)
})
