import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, test } from "vitest"
import { runCli } from "../bundler-client/src/cli/run"
import { parseKeeperConfig } from "../bundler-client/src/keeper/config"
import { KeeperConfigError } from "../bundler-client/src/keeper/errors"
import { KeeperMetrics } from "../bundler-client/src/keeper/metrics"

const valid = {
  rpcUrl: "http://127.0.0.1:8545",
  bundlerUrl: "http://127.0.0.1:4337",
  keeperPrivateKey: `0x${"11".repeat(32)}`,
  deployment: { leverageModule: "0x00000000000000000000000000000000000000a1", morphoBlueAdapter: "0x00000000000000000000000000000000000000a2" },
  safes: ["0x00000000000000000000000000000000000000b1"],
}

const fieldOf = (raw: unknown, env: NodeJS.ProcessEnv = {}) => {
  try {
    parseKeeperConfig(raw, { env })
  } catch (error) {
    if (error instanceof KeeperConfigError) return error.field
    throw error
  }
  return undefined
}

describe("keeper configuration", () => {
  test("fills defaults for a minimal configuration", () => {
    const config = parseKeeperConfig(valid)
    expect(config.allowSelfPay).toBe(false)
    expect(config.deployment.entryPoint).toBe("0x0000000071727De22E5E9d8BAf0edAc6f37da032")
    expect(config.safes[0]?.risk).toEqual({
      tolerance: 0.01,
      horizon: 86_400,
      sigma: 0.8,
      mode: "autopilot",
      volatility: { estimator: "ewma", lambda: 0.94, minSamples: 10, floor: 0.05, maxIntervalSeconds: 3_600 },
    })
  })

  test("names the offending field", () => {
    expect(fieldOf({ ...valid, rpcUrl: "localhost" })).toBe("rpcUrl")
    expect(fieldOf({ ...valid, safes: [valid.safes[0], "0x123"] })).toBe("safes[1].address")
    expect(fieldOf({ ...valid, safes: [{ address: valid.safes[0], risk: { tolerance: 2 } }] })).toBe("safes[0].risk.tolerance")
    expect(fieldOf({ ...valid, deployment: { leverageModule: valid.deployment.leverageModule } })).toBe("deployment.morphoBlueAdapter")
    expect(fieldOf({ ...valid, retry: { baseMs: -1 } })).toBe("retry.baseMs")
    expect(fieldOf({ ...valid, risk: { volatility: { lambda: 1 } } })).toBe("risk.volatility.lambda")
    expect(fieldOf({ ...valid, safes: [{ address: valid.safes[0], risk: { volatility: { estimator: "garch" } } }] })).toBe("safes[0].risk.volatility.estimator")
    expect(fieldOf({ ...valid, bundlerURL: "x" })).toBe("bundlerURL")
    const { keeperPrivateKey: _, ...withoutKey } = valid
    expect(fieldOf({ ...withoutKey, keeperPrivateKeyEnv: "KEY" })).toBe("keeperPrivateKeyEnv (KEY)")
    expect(fieldOf({ ...withoutKey, keeperPrivateKeyEnv: "KEY" }, { KEY: valid.keeperPrivateKey })).toBeUndefined()
  })

  test("a number field given another JSON type says it wants a number and shows the value (helper nu48)", () => {
    // Before: "pollIntervalMs": "fast" was refused as `must be at least 10 ms`, as if the value were a number too small.
    const message = (raw: unknown) => {
      try {
        parseKeeperConfig(raw)
      } catch (error) {
        if (error instanceof KeeperConfigError) return error.shortMessage
        throw error
      }
      return undefined
    }
    expect(message({ ...valid, pollIntervalMs: "fast" })).toBe('Invalid keeper configuration: "pollIntervalMs" must be at least 10 ms: a JSON number, got the string "fast"')
    expect(message({ ...valid, pollIntervalMs: 5 })).toBe('Invalid keeper configuration: "pollIntervalMs" must be at least 10 ms, got 5')
    expect(message({ ...valid, costs: { gasPriceGwei: "1" } })).toBe('Invalid keeper configuration: "costs.gasPriceGwei" must be a non-negative number: a JSON number, got the string "1"')
    expect(message({ ...valid, risk: { tolerance: null } })).toBe('Invalid keeper configuration: "risk.tolerance" must be a number in (0, 1): a JSON number, got null')
    expect(message({ ...valid, resubmitAfterBlocks: [4] })).toBe('Invalid keeper configuration: "resubmitAfterBlocks" must be a positive integer: a JSON number, got an array')
    expect(message({ ...valid, feeBumpPercent: true })).toBe('Invalid keeper configuration: "feeBumpPercent" must be between 10 and 500: a JSON number, got true')
  })

  test("refuses a mixed-case address whose EIP-55 checksum is wrong, in every address field", () => {
    const safe = "0x20D5BD8d35757F9e4c470Ff34b913fb93f3FD99C"
    // One character's case flipped: still a 20-byte address, but not its checksum (a mistyped character looks like this).
    const typo = `${safe.slice(0, 4)}${safe[4]?.toLowerCase()}${safe.slice(5)}`
    expect(typo).not.toBe(safe)
    const discovery = { discovery: { fromBlock: 0 }, safes: [] }
    expect(fieldOf({ ...valid, ...discovery, allowlist: [typo] })).toBe("allowlist[0]")
    expect(fieldOf({ ...valid, ...discovery, allowlist: [safe, typo] })).toBe("allowlist[1]")
    expect(fieldOf({ ...valid, safes: [typo] })).toBe("safes[0].address")
    expect(fieldOf({ ...valid, deployment: { ...valid.deployment, leverageModule: typo } })).toBe("deployment.leverageModule")
    expect(() => parseKeeperConfig({ ...valid, ...discovery, allowlist: [typo] })).toThrow(/"allowlist\[0\]" has an invalid EIP-55 checksum/)
    // Checksummed, all lower case and all upper case (no checksum) are accepted, and stored checksummed.
    for (const ok of [safe, safe.toLowerCase(), `0x${safe.slice(2).toUpperCase()}`])
      expect(parseKeeperConfig({ ...valid, ...discovery, allowlist: [ok] }).allowlist).toEqual([safe])
  })

  test("levpilot keeper exits 1 with the field in the message", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "levpilot-config-")), "keeper.json")
    writeFileSync(path, JSON.stringify({ ...valid, safes: [] }))
    let err = ""
    const code = await runCli(["keeper", "--config", path], { out: () => undefined, err: (t) => void (err += t) })
    expect(code).toBe(1)
    expect(err).toContain('"safes" must be a non-empty array')
    // Helper nu48: viem's "Version: viem@2.57.20" line closed the message, under an error that has nothing of viem.
    expect(err).not.toContain("Version: viem")
  })

  test("keeper and status with no node at rpcUrl: exit 1, the field named, the key in the URL's path not shown (helper nu48)", async () => {
    // Before: viem's HttpRequestError (the whole URL, "Details: fetch failed", "Version: viem@...") and no field.
    const path = join(mkdtempSync(join(tmpdir(), "levpilot-config-")), "keeper.json")
    writeFileSync(path, JSON.stringify({ ...valid, rpcUrl: "http://127.0.0.1:1/v2/secret-api-key" }))
    for (const argv of [["status", "--config", path], ["keeper", "--config", path, "--dry-run", "--once"]]) {
      let err = ""
      const code = await runCli(argv, { out: () => undefined, err: (t) => void (err += t) })
      expect(code, argv[0]).toBe(1)
      expect(err, argv[0]).toMatch(new RegExp(`^levpilot ${argv[0]}: RpcUnreachableError: The node at "rpcUrl" \\(http://127\\.0\\.0\\.1:1\\) did not answer eth_chainId`))
      expect(err, argv[0]).toContain("Field: rpcUrl")
      expect(err, argv[0]).not.toContain("secret-api-key")
      expect(err, argv[0]).not.toContain("Version: viem")
    }
  })
})

describe("keeper metrics", () => {
  test("renders the Prometheus text format", () => {
    const m = new KeeperMetrics()
    m.inc("levpilot_rebalances_total", "Included.", { safe: "0xabc", result: "success" })
    m.set("levpilot_health", "Health.", { safe: "0xabc", sub_account: "0x1" }, 1.5)
    m.observe("levpilot_reaction_latency_blocks", "Latency.", 1)
    m.observe("levpilot_reaction_latency_blocks", "Latency.", 2)
    expect(m.render()).toMatchInlineSnapshot(`
      "# HELP levpilot_rebalances_total Included.
      # TYPE levpilot_rebalances_total counter
      levpilot_rebalances_total{safe="0xabc",result="success"} 1
      # HELP levpilot_health Health.
      # TYPE levpilot_health gauge
      levpilot_health{safe="0xabc",sub_account="0x1"} 1.5
      # HELP levpilot_reaction_latency_blocks Latency.
      # TYPE levpilot_reaction_latency_blocks summary
      levpilot_reaction_latency_blocks{quantile="0.5"} 2
      levpilot_reaction_latency_blocks{quantile="0.9"} 2
      levpilot_reaction_latency_blocks{quantile="0.95"} 2
      levpilot_reaction_latency_blocks{quantile="0.99"} 2
      levpilot_reaction_latency_blocks_sum 3
      levpilot_reaction_latency_blocks_count 2
      "
    `)
  })
})
