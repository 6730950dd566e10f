import { mkdirSync, writeFileSync } from "node:fs"
import { dirname, resolve } from "node:path"
import { fileURLToPath } from "node:url"

/** Repository root (two levels above bundler-client/bench). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..")

/**
 * Write a benchmark report as pretty JSON under `<repo>/reports/` (gitignored).
 *
 * @param name - File name, e.g. "solver-bench.json".
 * @param data - Report body.
 * @returns The absolute path written.
 */
export function writeReport(name: string, data: unknown): string {
  const path = resolve(REPO_ROOT, "reports", name)
  mkdirSync(dirname(path), { recursive: true })
  writeFileSync(path, `${JSON.stringify(data, (_, v) => (v === Number.POSITIVE_INFINITY ? "Infinity" : v), 2)}\n`)
  return path
}

/**
 * Median and 95th percentile of a sample.
 *
 * @param xs - Sample (not modified).
 * @returns { median, p95 }.
 */
export function quantiles(xs: readonly number[]): { median: number; p95: number } {
  const s = [...xs].sort((a, b) => a - b)
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * (s.length - 1)))] as number
  return { median: at(0.5), p95: at(0.95) }
}
