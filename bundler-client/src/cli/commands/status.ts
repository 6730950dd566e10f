import { parseArgs } from "node:util"
import { type Address, createPublicClient, getAddress, http, maxUint256 } from "viem"
import { getSubAccountState } from "@levpilot/sdk/actions"
import { CliUsageError } from "../command.js"
import type { Command } from "../command.js"
import { readChainId } from "../../keeper/clients.js"
import { readKeeperConfig } from "../../keeper/config.js"
import { KeeperStateStore } from "../../keeper/stateFile.js"

const HELP = `Usage: levpilot status --config <file.json> [--safe <address>] [--json]

Prints every sub-account of the configured Safes as the chain has it now: health, LTV, effective
leverage, liquidation price, distance to liquidation, band (below / inside / above the policy band),
epoch usage, and the keeper operation in flight (from the keeper's stateFile), if any.
LTV and leverage are the account's (an Aave v3 sub-account: its whole account, every collateral at its
own value); the liquidation price is that of the sub-account's collateral with every other collateral
at its price, "-" when no price of it alone liquidates the account (or there is no debt).

Options:
  --config <file>    The keeper configuration (see levpilot keeper --help); only rpcUrl, deployment,
                     safes (else a fleet's allowlist) and stateFile are used. A configuration that
                     lists no Safe (discovery only) needs --safe (exit 2 without it).
  --safe <address>   Only this Safe (it does not need to be in the configuration).
  --json             One JSON document instead of the table.
  -h, --help         Show this help.
`

const wad = (x: bigint, digits = 3) => (x === maxUint256 ? "inf" : (Number(x) / 1e18).toFixed(digits))

/** `levpilot status`: every sub-account's state, read from the chain. */
export const statusCommand: Command = {
  name: "status",
  summary: "Print every sub-account's health, leverage, band and in-flight keeper operation",
  help: HELP,
  async run(argv, io) {
    let values: { config?: string | undefined; safe?: string | undefined; json?: boolean | undefined }
    try {
      ;({ values } = parseArgs({ args: argv, options: { config: { type: "string" }, safe: { type: "string" }, json: { type: "boolean" } }, strict: true }))
    } catch (error) {
      throw new CliUsageError("status", (error as Error).message)
    }
    if (!values.config) throw new CliUsageError("status", "--config <file.json> is required")
    const config = readKeeperConfig(values.config, { requireKeeperKey: false })
    // The configured Safes: "safes", else a fleet configuration's "allowlist" (discovery finds the rest from the keeper
    // key's events, which status does not read: helper nu49, a discovery-only configuration printed only the chain line).
    let safes: Address[] = config.safes.length > 0 ? config.safes.map((s) => s.address) : [...(config.allowlist ?? [])]
    if (values.safe !== undefined) {
      try {
        safes = [getAddress(values.safe)]
      } catch {
        throw new CliUsageError("status", `--safe must be an address, got "${values.safe}"`)
      }
    }
    if (safes.length === 0)
      throw new CliUsageError(
        "status",
        `${values.config} lists no Safe ("safes" and "allowlist" are empty${config.discovery !== undefined ? '; status does not run the fleet\'s discovery' : ""}): pass --safe <address>`,
      )
    const chainId = await readChainId(config.rpcUrl)
    const client = createPublicClient({ transport: http(config.rpcUrl) })
    const deployments = { [chainId]: config.deployment }
    // Read only: no lock taken or checked (the keeper may be running on this file).
    const store = new KeeperStateStore(config.stateFile, { readOnly: true })
    const block = await client.getBlockNumber()
    const report = []
    for (const safe of safes) {
      const subAccounts = await getSubAccountState(client, { safe, deployments })
      report.push({ safe, pending: store.pendingFor({ chainId, entryPoint: config.deployment.entryPoint, module: config.deployment.leverageModule }, safe), subAccounts })
    }
    if (values.json) {
      io.out(`${JSON.stringify({ chainId, block: Number(block), safes: report }, (_, v) => (typeof v === "bigint" ? v.toString() : v), 2)}\n`)
      return 0
    }
    io.out(`chain ${chainId}, block ${block}\n`)
    for (const { safe, pending, subAccounts } of report) {
      io.out(`\nSafe ${safe}${pending ? `  in flight: ${pending.userOpHash ?? "(sending)"} nonce ${BigInt(pending.nonce) & ((1n << 64n) - 1n)}, attempt ${pending.attempts}` : "  no keeper operation in flight"}\n`)
      if (subAccounts.length === 0) {
        io.out("  no sub-account has a policy\n")
        continue
      }
      io.out("  sub-account   health  band    min/target/max     LTV  leverage  liq.price(1e36)  distance  epoch rebalances\n")
      for (const s of subAccounts)
        io.out(
          `  ${s.subAccount.slice(0, 12)}  ${wad(s.health).padStart(6)}  ${s.band.padEnd(6)}  ${wad(s.policy.minHealth, 2)}/${wad(s.policy.targetHealth, 2)}/${wad(s.policy.maxHealth, 2)}  ${wad(s.ltv).padStart(6)}  ${wad(s.leverage, 2).padStart(8)}  ${(s.liquidationPriceKnown ? String(s.liquidationPrice) : "-").padStart(15)}  ${(s.liquidationPriceKnown ? wad(s.distanceToLiquidation) : "-").padStart(8)}  ${s.epochUsage.rebalances}\n`,
        )
    }
    return 0
  },
}
