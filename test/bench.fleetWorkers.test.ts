import { existsSync, readFileSync, readdirSync } from "node:fs"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { Writable } from "node:stream"
import { type Logger, pino } from "pino"
import { describe, expect, test } from "vitest"
import { RPC_COUNTER, keeperEventOfLog, startCountingProxy, startWorkerProcesses } from "../bundler-client/bench/fleetWorkers"
import { spawn } from "node:child_process"

// bench:fleet's worker processes (`--worker-mode processes`): their requests to the node are counted by a loopback
// proxy, their keeper events read back from their pino lines, and a worker that cannot start fails the run by name
// without leaving a process or its configuration file behind.

const SAFE = "0x00000000000000000000000000000000000005af"
const HASH = `0x${"ab".repeat(32)}`

/** The JSON lines a pino logger at info writes for `write(logger)`. */
const linesOf = (write: (logger: Logger) => void): Record<string, unknown>[] => {
  const out: string[] = []
  const logger = pino({ level: "info", base: { service: "levpilot-keeper" } }, new Writable({ write: (c, _, done) => (out.push(String(c)), done()) }))
  write(logger)
  return out.join("").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>)
}

describe("bench:fleet worker processes", () => {
  test("the proxy forwards each JSON-RPC request to the node and counts it by method", async () => {
    const seen: string[] = []
    const upstream = createServer((req, res) => {
      let body = ""
      req.on("data", (c: Buffer) => (body += c.toString()))
      req.on("end", () => {
        seen.push(body)
        const { id, method } = JSON.parse(body) as { id: number; method: string }
        res.writeHead(200, { "content-type": "application/json" })
        res.end(JSON.stringify({ jsonrpc: "2.0", id, result: `${method}#${seen.length}` }))
      })
    })
    await new Promise<void>((done) => upstream.listen({ port: 0, host: "127.0.0.1" }, () => done()))
    const counts = new Map<string, number>()
    const proxy = await startCountingProxy(`http://127.0.0.1:${(upstream.address() as AddressInfo).port}`, (m) => counts.set(m, (counts.get(m) ?? 0) + 1), fetch)
    try {
      const call = (method: string, id: number) =>
        fetch(proxy.url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id, method, params: [] }) }).then((r) => r.json())
      expect(await call("eth_call", 1)).toEqual({ jsonrpc: "2.0", id: 1, result: "eth_call#1" })
      expect(await call("eth_blockNumber", 2)).toEqual({ jsonrpc: "2.0", id: 2, result: "eth_blockNumber#2" })
      expect(await call("eth_call", 3)).toEqual({ jsonrpc: "2.0", id: 3, result: "eth_call#3" })
      expect(Object.fromEntries(counts)).toEqual({ eth_call: 2, eth_blockNumber: 1 })
      expect(seen).toHaveLength(3)
      // The node gone: a JSON-RPC error, not a hang; the request still counted.
      await new Promise<void>((done) => upstream.close(() => done()))
      upstream.closeAllConnections()
      const down = (await call("eth_chainId", 4)) as { error?: { message: string } }
      expect(down.error?.message).toMatch(/^bench proxy:/)
      expect(counts.get("eth_chainId")).toBe(1)
    } finally {
      await proxy.stop()
      upstream.close()
    }
  })

  test("the in-worker counter (preloaded into a worker process) counts its fetches to the node by method and reports running totals on stdout; other URLs are not counted", async () => {
    const upstream = createServer((req, res) => {
      req.resume()
      req.on("end", () => {
        res.writeHead(200, { "content-type": "application/json" })
        res.end('{"jsonrpc":"2.0","id":1,"result":"0x1"}')
      })
    })
    await new Promise<void>((done) => upstream.listen({ port: 0, host: "127.0.0.1" }, () => done()))
    const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`
    try {
      const code = `for (const m of ["eth_call", "eth_call", "eth_blockNumber"]) await fetch("${url}", { method: "POST", body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: m, params: [] }) }); await fetch("http://127.0.0.1:9/other").catch(() => {})`
      const child = spawn(process.execPath, ["--import", RPC_COUNTER, "--input-type=module", "-e", code], { env: { ...process.env, LEVPILOT_BENCH_COUNT_URL: url } })
      let out = ""
      child.stdout.on("data", (c: Buffer) => (out += c.toString()))
      child.stderr.on("data", (c: Buffer) => (out += c.toString()))
      await new Promise((done) => child.on("exit", done))
      const reports = out.trim().split("\n").map((l) => (JSON.parse(l) as { benchRpcRequests: Record<string, number> }).benchRpcRequests)
      expect(reports.at(-1)).toEqual({ eth_call: 2, eth_blockNumber: 1 })
    } finally {
      upstream.close()
    }
  })

  test("a worker's sent, included (successful and reverted) and ALERT lines become the keeper's events, at the line's time", () => {
    // The same fields as the keeper's log calls (sender.ts "rebalance sent", inclusion.ts "rebalance included",
    // events.ts ALERT), written by pino as a worker process writes them.
    const lines = linesOf((logger) => {
      logger.info({ safe: SAFE, userOpHash: HASH, nonce: "18446744073709551621", sponsored: true, attempt: 2, block: 120, actions: 3 }, "rebalance sent")
      logger.info({ safe: SAFE, userOpHash: HASH, block: 121, success: true, gasUsed: "250000", latencyBlocks: 1, latencyMs: 900, known: true }, "rebalance included")
      logger.warn({ safe: SAFE, userOpHash: HASH, block: 122, success: false, gasUsed: "199000", known: true, revert: { error: "OutOfGas" } }, "rebalance included but reverted: OutOfGas")
      logger.error({ alert: true, safe: SAFE, kind: "paymaster-unavailable", block: 123, err: "timeout" }, "ALERT paymaster-unavailable: timeout")
      logger.info({ block: 123, safes: 200, ms: 300 }, "block checked")
      logger.info({ safe: SAFE, block: 123 }, "keeper stopping; queued send not started")
    })
    const events = lines.map(keeperEventOfLog)
    expect(events.slice(4)).toEqual([undefined, undefined])
    const [sent, included, reverted, alert] = events.map((e) => e?.event)
    expect(sent).toMatchObject({ type: "sent", safe: SAFE, block: 120n, userOpHash: HASH, nonce: 18446744073709551621n, attempt: 2, sponsored: true })
    expect(included).toMatchObject({ type: "included", safe: SAFE, block: 121n, userOpHash: HASH, success: true, actualGasUsed: 250000n })
    expect(reverted).toMatchObject({ type: "included", success: false, actualGasUsed: 199000n, revert: "OutOfGas" })
    expect(alert).toEqual({ type: "alert", safe: SAFE, block: 123n, kind: "paymaster-unavailable", message: "timeout" })
    expect(events[1]?.at).toBe(lines[1]?.time)
  })

  test("a worker process that cannot start fails the run by name and leaves no process or configuration file", async () => {
    const error = await startWorkerProcesses(2, { logLevel: "info" }, { logLevel: "warn", onEvent: () => {}, print: () => {}, readyTimeoutMs: 90_000 }).then(
      () => undefined,
      (e: Error) => e,
    )
    expect(error?.message).toMatch(/^worker process [12] exited \(1\) before it started \(--config [^)]+\); its output:[\s\S]*rpcUrl/)
    const configPath = /--config ([^)]+)\)/.exec(error?.message ?? "")?.[1] as string
    expect(existsSync(configPath)).toBe(false)
    // No process left with that configuration (both workers stopped, the one still starting too).
    const running = readdirSync("/proc").filter((p) => /^\d+$/.test(p)).flatMap((p) => {
      try {
        return [readFileSync(`/proc/${p}/cmdline`, "utf8")]
      } catch {
        return []
      }
    })
    expect(running.filter((c) => c.includes(configPath))).toEqual([])
  }, 120_000)
})
