import { type ChildProcess, spawn } from "node:child_process"
import { resolve } from "node:path"

/*
 * The real `levpilot` CLI (bin/levpilot.mjs, the same entry as `npx levpilot`) as a child process, and parsers of what
 * it prints: JSON log lines and the Prometheus text exposition of its metrics endpoint. Shared by the CLI tests.
 */

const root = resolve(import.meta.dirname, "..")
const cli = resolve(root, "bundler-client/bin/levpilot.mjs")

export type Run = { child: ChildProcess; stdout: () => string; stderr: () => string; exited: Promise<number | null> }

export function levpilot(args: string[]): Run {
  const child = spawn(process.execPath, [cli, ...args], { cwd: root, stdio: ["ignore", "pipe", "pipe"] })
  let out = ""
  let err = ""
  child.stdout?.on("data", (chunk: Buffer) => {
    out += chunk.toString()
  })
  child.stderr?.on("data", (chunk: Buffer) => {
    err += chunk.toString()
  })
  const exited = new Promise<number | null>((done) => child.once("exit", (code) => done(code)))
  return { child, stdout: () => out, stderr: () => err, exited }
}

/** JSON lines of a process output (pino logs, plans); other lines are skipped. */
export function jsonLines(text: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = []
  for (const line of text.split("\n")) {
    if (!line.startsWith("{")) continue
    try {
      out.push(JSON.parse(line) as Record<string, unknown>)
    } catch {}
  }
  return out
}

export type Sample = { name: string; labels: Record<string, string>; value: number }
/** Parses the Prometheus text exposition format (enough of it for these series). */
export function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = []
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (!m) throw new Error(`not an exposition line: ${line}`)
    const labels: Record<string, string> = {}
    for (const [, k, v] of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[k as string] = v as string
    samples.push({ name: m[1] as string, labels, value: m[3] === "+Inf" ? Number.POSITIVE_INFINITY : Number(m[3]) })
  }
  return samples
}

export const valueOf = (samples: Sample[], name: string, labels: Record<string, string> = {}) =>
  samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value

