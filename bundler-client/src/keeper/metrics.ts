import { type Server, createServer } from "node:http"
import type { AddressInfo } from "node:net"

type Labels = Record<string, string>
type Series = { help: string; type: "counter" | "gauge" | "summary"; values: Map<string, { labels: Labels; value: number }> }

const labelKey = (labels: Labels) => JSON.stringify(Object.entries(labels).sort(([a], [b]) => a.localeCompare(b)))
const escape = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")
const formatLabels = (labels: Labels) => {
  const entries = Object.entries(labels)
  return entries.length === 0 ? "" : `{${entries.map(([k, v]) => `${k}="${escape(v)}"`).join(",")}}`
}

/**
 * The keeper's metrics in the Prometheus text exposition format (version 0.0.4): counters, gauges and
 * summaries (quantiles over the last 1,000 observations), written without a client library.
 */
export class KeeperMetrics {
  private readonly series = new Map<string, Series>()
  private readonly samples = new Map<string, number[]>()

  private get(name: string, help: string, type: Series["type"]): Series {
    let s = this.series.get(name)
    if (!s) {
      s = { help, type, values: new Map() }
      this.series.set(name, s)
    }
    return s
  }

  /** Registers a series without a value (a summary then renders `_sum 0` and `_count 0`). */
  declare(name: string, help: string, type: Series["type"]): void {
    this.get(name, help, type)
  }

  inc(name: string, help: string, labels: Labels = {}, by = 1): void {
    const s = this.get(name, help, "counter")
    const key = labelKey(labels)
    const entry = s.values.get(key) ?? { labels, value: 0 }
    entry.value += by
    s.values.set(key, entry)
  }

  set(name: string, help: string, labels: Labels, value: number): void {
    this.get(name, help, "gauge").values.set(labelKey(labels), { labels, value })
  }

  observe(name: string, help: string, value: number): void {
    this.get(name, help, "summary")
    const list = this.samples.get(name) ?? []
    list.push(value)
    if (list.length > 1_000) list.shift()
    this.samples.set(name, list)
  }

  /** Current value of a counter or gauge (tests and the status line). */
  value(name: string, labels: Labels = {}): number {
    return this.series.get(name)?.values.get(labelKey(labels))?.value ?? 0
  }

  /** Observations of a summary. */
  observations(name: string): readonly number[] {
    return this.samples.get(name) ?? []
  }

  /** The exposition text. */
  render(): string {
    const lines: string[] = []
    for (const [name, s] of this.series) {
      lines.push(`# HELP ${name} ${s.help}`, `# TYPE ${name} ${s.type}`)
      if (s.type === "summary") {
        const sorted = [...(this.samples.get(name) ?? [])].sort((a, b) => a - b)
        for (const q of [0.5, 0.9, 0.95, 0.99])
          if (sorted.length > 0) lines.push(`${name}{quantile="${q}"} ${sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]}`)
        lines.push(`${name}_sum ${sorted.reduce((a, b) => a + b, 0)}`, `${name}_count ${sorted.length}`)
        continue
      }
      for (const { labels, value } of s.values.values()) lines.push(`${name}${formatLabels(labels)} ${Number.isFinite(value) ? value : value > 0 ? "+Inf" : "-Inf"}`)
    }
    return `${lines.join("\n")}\n`
  }
}

/**
 * Serves `GET /metrics` (and `/healthz`) on `host:port` with node:http.
 *
 * @returns The URL and a `stop` function.
 */
export async function serveMetrics(metrics: KeeperMetrics, { port, host = "127.0.0.1" }: { port: number; host?: string | undefined }) {
  const server: Server = createServer((request, response) => {
    if (request.url === "/metrics") {
      response.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" })
      response.end(metrics.render())
    } else if (request.url === "/healthz") {
      response.writeHead(200, { "content-type": "text/plain" })
      response.end("ok\n")
    } else {
      response.writeHead(404)
      response.end()
    }
  })
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen({ port, host }, () => resolve())
  })
  const bound = (server.address() as AddressInfo).port
  return {
    url: `http://${host}:${bound}/metrics`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
