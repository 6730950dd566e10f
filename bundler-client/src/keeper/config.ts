import { readFileSync } from "node:fs"
import { type Address, type Hex, getAddress, isAddress, isHex, zeroAddress } from "viem"
import type { LeverageDeployment } from "@levpilot/sdk/deployments"
import { defaultPaymasterPriceMarginBps } from "@levpilot/sdk/actions"
import { KeeperConfigError } from "./errors.js"
import { type DiscoverySettings, type FleetSettings, type WebhookSettings, parseFleetFields } from "./fleet/config.js"
import { type VolatilitySettings, defaultVolatilitySettings } from "./volatility.js"

/** Off-chain risk settings of one Safe (the on-chain policy holds everything else). */
export type KeeperRiskSettings = {
  /** Acceptable probability of liquidation within `horizon`. */
  tolerance: number
  /** Horizon of that probability, seconds. */
  horizon: number
  /** Annualised volatility of every collateral price: the prior (and floor until enough samples) of the live estimate. */
  sigma: number
  /** `autopilot` (risk target) or `threshold` (policy target on band exit). */
  mode: "autopilot" | "threshold"
  /** Live volatility estimation from the observed oracle prices (EWMA). */
  volatility: VolatilitySettings
}

export type KeeperSafeConfig = { address: Address; risk: KeeperRiskSettings }

/** The validated keeper configuration. */
export type KeeperConfig = {
  rpcUrl: string
  bundlerUrl: string
  /** ERC-7677 paymaster service; none means every operation is self-paid (needs `allowSelfPay`). */
  paymasterUrl: string | undefined
  paymasterContext: unknown
  /**
   * Room kept over an ERC-20 paymaster's pre-charge (`paymasterContext.token`) for its price to fall between the read and
   * inclusion, basis points of the charge (default 1,000 = 10 %; 0 keeps the exact charge, at most 10,000). The
   * paymaster's cached price can be refreshed by any operation's `postOp` (or by anyone) after the keeper read it; a
   * refresh lowering the token's price by up to 1 / (1 + margin) still lands. See the SDK's `paymasterPriceMarginBps`.
   */
  paymasterPriceMarginBps: number
  /** The keeper session key (from the file or from the environment variable named by `keeperPrivateKeyEnv`). */
  keeperPrivateKey: Hex
  deployment: LeverageDeployment
  safes: KeeperSafeConfig[]
  /** Risk settings of Safes without their own (discovered Safes, unless `safes` lists them). */
  risk: KeeperRiskSettings
  /** May an operation be paid by the Safe's own deposit when the paymaster refuses (also needs no required paymaster on chain). */
  allowSelfPay: boolean
  /** How often the keeper polls for a new block, ms. */
  pollIntervalMs: number
  /** Blocks without inclusion before an operation counts as dropped and is resubmitted (same nonce, higher fees). */
  resubmitAfterBlocks: number
  /** Fee bump on resubmission, percent. */
  feeBumpPercent: number
  /**
   * Blocks an operation may stay in flight at the chain's nonce before a `stalled` alert (repeated every as many
   * blocks while it lasts). Default `3 x resubmitAfterBlocks`.
   */
  stallAfterBlocks: number
  /** Widest block range of one `eth_getLogs` request (hosted RPCs refuse ranges over about 10,000). Default 2,000. */
  logWindowBlocks: number
  /** Backoff of bundler retries, ms. */
  retry: { baseMs: number; maxMs: number }
  /** File the keeper persists in-flight operations to; none keeps them in memory only. */
  stateFile: string | undefined
  /** Prometheus endpoint port on 127.0.0.1 (0: any free port, undefined: off). */
  metricsPort: number | undefined
  metricsHost: string
  /** Gas price assumption for the solver's cost model, gwei, and the native token's price in the loan asset. */
  costs: { gasPriceGwei: number; nativePrice: number }
  /**
   * Swap deleverage (issue 12): the QuoterV2 the keeper prices swaps with (the same Uniswap v3 deployment as the
   * module's swap adapter), the one-pool fee tier it routes through, and every tier (`fees`, among the adapter's
   * `feeTiers()`) a rescue's sale may be split across when one pool is too thin; undefined: the keeper never plans swaps.
   * `repayment` (issue 13): `"sale-minimum"` sends each Morpho swap rescue's `RepayWithCallback` in the module's
   * sale-minimum repayment mode (the module repays what the plan brings plus the sales' on-chain minimum at the oracle
   * at inclusion, so the rescue lands wherever the pool pays that minimum; the solver sizes the sales on it), `"amount"`
   * the fixed take (docs/sale-minimum-repayment.md); the default (undefined reads as it) is `"sale-minimum"` since
   * stop 61. Aave rescues always send the fixed take.
   */
  swap?: { quoter: Address; fee: number; fees: number[]; repayment?: "amount" | "sale-minimum" | undefined } | undefined
  /**
   * Aave dust threshold, Aave base currency units (USD, 8 decimals): a reserve the Safe uses as collateral outside its
   * sub-accounts' collateral assets and worth less is dust (`aave-dust-collateral` alert). Default 100000000 (1 USD).
   */
  aaveDustThresholdBase?: bigint | undefined
  logLevel: "trace" | "debug" | "info" | "warn" | "error" | "fatal" | "silent"
  /** Find the Safes that registered the keeper key from the module's events; `safes` then only override risk settings. */
  discovery: DiscoverySettings | undefined
  /** Serve only these Safes (with discovery). */
  allowlist: Address[] | undefined
  /** Batched reads, concurrency and the optional BullMQ + Redis queue (`levpilot keeper` runs the fleet runtime when `discovery` or `fleet` is set). */
  fleet: FleetSettings
  /** JSON POST on every alert and rebalance. */
  webhook: WebhookSettings | undefined
}

const defaultRisk: KeeperRiskSettings = { tolerance: 0.01, horizon: 86_400, sigma: 0.8, mode: "autopilot", volatility: defaultVolatilitySettings }

type Obj = Record<string, unknown>

/** Field readers that name the JSON path in their error. */
export type ConfigReader = ReturnType<typeof reader>

/** A JSON value as an error shows it: `the string "fast"`, `null`, `an array`, `an object`, `true`. */
function describeJson(value: unknown): string {
  if (typeof value === "string") return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value)}`
  if (value === null) return "null"
  if (Array.isArray(value)) return "an array"
  if (typeof value === "object") return "an object"
  return String(value)
}

function reader(source: string | undefined) {
  const fail = (field: string, reason: string): never => {
    throw new KeeperConfigError({ field, reason, source })
  }
  const obj = (value: unknown, field: string): Obj => {
    if (typeof value !== "object" || value === null || Array.isArray(value)) fail(field, "must be an object")
    return value as Obj
  }
  const known = (o: Obj, path: string, keys: readonly string[]) => {
    for (const key of Object.keys(o)) if (!keys.includes(key)) fail(path ? `${path}.${key}` : key, `is not a known field (known: ${keys.join(", ")})`)
  }
  const url = (o: Obj, key: string, path: string, optional = false): string | undefined => {
    const value = o[key]
    if (value === undefined && optional) return undefined
    if (typeof value !== "string" || !/^https?:\/\/\S+$/.test(value)) return fail(path, "must be an http(s) URL")
    return value
  }
  const address = (value: unknown, path: string): Address => {
    if (typeof value !== "string" || !isAddress(value, { strict: false })) return fail(path, "must be a 0x-prefixed 20-byte address")
    // EIP-55: mixed case carries a checksum, which catches a mistyped character; all lower (or upper) case carries none.
    const digits = value.slice(2)
    const mixedCase = digits !== digits.toLowerCase() && digits !== digits.toUpperCase()
    if (mixedCase && !isAddress(value, { strict: true }))
      return fail(path, "has an invalid EIP-55 checksum (mixed case that is not the address's checksum: a mistyped character?); copy the address again, or write it in lower case to skip the check")
    return getAddress(value)
  }
  const number = (o: Obj, key: string, path: string, fallback: number, check: (n: number) => boolean, rule: string): number => {
    const value = o[key]
    if (value === undefined) return fallback
    // A value of the wrong JSON type says so: "pollIntervalMs": "fast" is not read as "must be at least 10 ms" alone.
    if (typeof value !== "number") return fail(path, `must be ${rule}: a JSON number, got ${describeJson(value)}`)
    if (!Number.isFinite(value) || !check(value)) return fail(path, `must be ${rule}, got ${value}`)
    return value
  }
  const bool = (o: Obj, key: string, path: string, fallback: boolean): boolean => {
    const value = o[key]
    if (value === undefined) return fallback
    if (typeof value !== "boolean") return fail(path, "must be true or false")
    return value
  }
  return { fail, obj, known, url, address, number, bool }
}

function parseRisk(r: ReturnType<typeof reader>, value: unknown, path: string, base: KeeperRiskSettings): KeeperRiskSettings {
  if (value === undefined) return base
  const o = r.obj(value, path)
  r.known(o, path, ["tolerance", "horizon", "sigma", "mode", "volatility"])
  const mode = o.mode ?? base.mode
  if (mode !== "autopilot" && mode !== "threshold") r.fail(`${path}.mode`, 'must be "autopilot" or "threshold"')
  let volatility = base.volatility
  if (o.volatility !== undefined) {
    const vp = `${path}.volatility`
    const v = r.obj(o.volatility, vp)
    r.known(v, vp, ["estimator", "lambda", "minSamples", "floor", "maxIntervalSeconds"])
    const estimator = v.estimator ?? base.volatility.estimator
    if (estimator !== "ewma" && estimator !== "fixed") r.fail(`${vp}.estimator`, 'must be "ewma" or "fixed"')
    const b = base.volatility
    volatility = {
      estimator: estimator as VolatilitySettings["estimator"],
      lambda: r.number(v, "lambda", `${vp}.lambda`, b.lambda, (n) => n > 0 && n < 1, "a number in (0, 1)"),
      minSamples: r.number(v, "minSamples", `${vp}.minSamples`, b.minSamples, (n) => Number.isInteger(n) && n >= 0, "a non-negative integer"),
      floor: r.number(v, "floor", `${vp}.floor`, b.floor, (n) => n >= 0, "a non-negative annualised volatility"),
      maxIntervalSeconds: r.number(v, "maxIntervalSeconds", `${vp}.maxIntervalSeconds`, b.maxIntervalSeconds, (n) => n > 0, "a positive number of seconds"),
    }
  }
  return {
    tolerance: r.number(o, "tolerance", `${path}.tolerance`, base.tolerance, (n) => n > 0 && n < 1, "a number in (0, 1)"),
    horizon: r.number(o, "horizon", `${path}.horizon`, base.horizon, (n) => n > 0, "a positive number of seconds"),
    sigma: r.number(o, "sigma", `${path}.sigma`, base.sigma, (n) => n > 0, "a positive annualised volatility"),
    mode: mode as KeeperRiskSettings["mode"],
    volatility,
  }
}

/** Every top-level field of a keeper configuration file; any other is refused naming it (`levpilot keeper --help` lists each). */
export const KEEPER_CONFIG_FIELDS: readonly string[] = [
  "rpcUrl", "bundlerUrl", "paymasterUrl", "paymasterContext", "paymasterPriceMarginBps", "keeperPrivateKey", "keeperPrivateKeyEnv", "deployment", "safes", "risk",
  "allowSelfPay", "pollIntervalMs", "resubmitAfterBlocks", "feeBumpPercent", "stallAfterBlocks", "logWindowBlocks", "retry", "stateFile", "metricsPort", "metricsHost", "costs", "logLevel",
  "discovery", "allowlist", "fleet", "webhook", "swap", "aaveDustThresholdBase",
]

/**
 * Validates a keeper configuration object. Every error is a {@link KeeperConfigError} naming the offending field by
 * its JSON path, e.g. `safes[1].address must be a 0x-prefixed 20-byte address`.
 *
 * @param raw - The parsed JSON.
 * @param options - `source` (file name for messages) and `env` (for `keeperPrivateKeyEnv`).
 * @returns The configuration with defaults filled in.
 * @example
 * const config = parseKeeperConfig(JSON.parse(readFileSync("keeper.json", "utf8")), { source: "keeper.json" })
 */
export function parseKeeperConfig(
  raw: unknown,
  options: { source?: string | undefined; env?: NodeJS.ProcessEnv | undefined; requireKeeperKey?: boolean | undefined } = {},
): KeeperConfig {
  const { source, env = process.env, requireKeeperKey = true } = options
  const r = reader(source)
  const o = r.obj(raw, "(root)")
  r.known(o, "", KEEPER_CONFIG_FIELDS)
  const fleetFields = parseFleetFields(r, o, env)
  const rpcUrl = r.url(o, "rpcUrl", "rpcUrl") as string
  const bundlerUrl = r.url(o, "bundlerUrl", "bundlerUrl") as string
  const paymasterUrl = r.url(o, "paymasterUrl", "paymasterUrl", true)

  let keeperPrivateKey: unknown = o.keeperPrivateKey
  let keyField = "keeperPrivateKey"
  if (keeperPrivateKey === undefined && o.keeperPrivateKeyEnv !== undefined) {
    if (typeof o.keeperPrivateKeyEnv !== "string" || o.keeperPrivateKeyEnv === "") r.fail("keeperPrivateKeyEnv", "must name an environment variable")
    keyField = `keeperPrivateKeyEnv (${o.keeperPrivateKeyEnv as string})`
    keeperPrivateKey = env[o.keeperPrivateKeyEnv as string]
  }
  if (!requireKeeperKey && keeperPrivateKey === undefined) keeperPrivateKey = "0x"
  else if (typeof keeperPrivateKey !== "string" || !isHex(keeperPrivateKey) || keeperPrivateKey.length !== 66)
    r.fail(keyField, keeperPrivateKey === undefined ? "is required (or set keeperPrivateKeyEnv)" : "must be a 32-byte 0x-prefixed hex private key")

  const d = r.obj(o.deployment, "deployment")
  r.known(d, "deployment", ["entryPoint", "leverageModule", "morphoBlueAdapter", "aaveV3Adapter", "multicall3"])
  const morphoBlue = r.address(d.morphoBlueAdapter, "deployment.morphoBlueAdapter")
  const aaveV3 = d.aaveV3Adapter === undefined ? undefined : r.address(d.aaveV3Adapter, "deployment.aaveV3Adapter")
  if (aaveV3 !== undefined && aaveV3 === morphoBlue) r.fail("deployment.aaveV3Adapter", "must differ from deployment.morphoBlueAdapter (each names one venue)")
  const deployment: LeverageDeployment = {
    entryPoint: r.address(d.entryPoint ?? "0x0000000071727De22E5E9d8BAf0edAc6f37da032", "deployment.entryPoint"),
    leverageModule: r.address(d.leverageModule, "deployment.leverageModule"),
    // The module's venue adapters: a sub-account's venue (the `venue` label of its metrics, logs and alerts) is the
    // one whose adapter its policy names.
    adapters: { morphoBlue, ...(aaveV3 !== undefined ? { aaveV3 } : {}) },
    safe: { singleton: zeroAddress, proxyFactory: zeroAddress, moduleSetup: zeroAddress, multiSend: zeroAddress, multiSendCallOnly: zeroAddress },
    ...(d.multicall3 !== undefined ? { multicall3: r.address(d.multicall3, "deployment.multicall3") } : {}),
  }

  const risk = parseRisk(r, o.risk, "risk", defaultRisk)
  if (fleetFields.discovery ? o.safes !== undefined && !Array.isArray(o.safes) : !Array.isArray(o.safes) || o.safes.length === 0)
    r.fail("safes", fleetFields.discovery ? "must be an array of Safes (risk overrides of discovered Safes)" : "must be a non-empty array of Safes (or set discovery)")
  const seen = new Set<string>()
  const safes = ((o.safes ?? []) as unknown[]).map((entry, i) => {
    const path = `safes[${i}]`
    const s = typeof entry === "string" ? { address: entry } : r.obj(entry, path)
    r.known(s, path, ["address", "risk"])
    const address = r.address(s.address, `${path}.address`)
    if (seen.has(address)) r.fail(`${path}.address`, `repeats ${address}`)
    seen.add(address)
    return { address, risk: parseRisk(r, s.risk, `${path}.risk`, risk) }
  })

  const retry = o.retry === undefined ? {} : r.obj(o.retry, "retry")
  r.known(retry, "retry", ["baseMs", "maxMs"])
  const costs = o.costs === undefined ? {} : r.obj(o.costs, "costs")
  r.known(costs, "costs", ["gasPriceGwei", "nativePrice"])
  let swap: KeeperConfig["swap"]
  if (o.swap !== undefined) {
    const sw = r.obj(o.swap, "swap")
    r.known(sw, "swap", ["quoter", "fee", "fees", "repayment"])
    const tier = (n: number) => Number.isInteger(n) && n > 0 && n < 1_000_000
    const fee = r.number(sw, "fee", "swap.fee", 500, tier, "a Uniswap fee tier (500 = 0.05%)")
    let fees = [fee]
    if (sw.fees !== undefined) {
      if (!Array.isArray(sw.fees) || sw.fees.length === 0 || !sw.fees.every((n) => typeof n === "number" && tier(n)))
        r.fail("swap.fees", "must be a non-empty list of Uniswap fee tiers (e.g. [500, 3000])")
      fees = [fee, ...(sw.fees as number[]).filter((n) => n !== fee)]
    }
    // Issue 13: "sale-minimum" (the default since stop 61) sends a Morpho swap rescue's RepayWithCallback in the module's
    // sale-minimum repayment mode (docs/sale-minimum-repayment.md); "amount" the fixed take.
    if (sw.repayment !== undefined && sw.repayment !== "amount" && sw.repayment !== "sale-minimum")
      r.fail("swap.repayment", 'must be "amount" or "sale-minimum"')
    swap = { quoter: r.address(sw.quoter, "swap.quoter"), fee, fees, repayment: sw.repayment === "amount" ? ("amount" as const) : ("sale-minimum" as const) }
  }
  const levels = ["trace", "debug", "info", "warn", "error", "fatal", "silent"]
  if (o.logLevel !== undefined && !levels.includes(o.logLevel as string)) r.fail("logLevel", `must be one of ${levels.join(", ")}`)
  if (o.stateFile !== undefined && (typeof o.stateFile !== "string" || o.stateFile === "")) r.fail("stateFile", "must be a file path")
  if (o.metricsHost !== undefined && typeof o.metricsHost !== "string") r.fail("metricsHost", "must be a host name or IP")
  const port = (n: number) => Number.isInteger(n) && n >= 0 && n < 65_536
  const resubmitAfterBlocks = r.number(o, "resubmitAfterBlocks", "resubmitAfterBlocks", 4, (n) => Number.isInteger(n) && n >= 1, "a positive integer")
  return {
    rpcUrl,
    bundlerUrl,
    paymasterUrl,
    paymasterContext: o.paymasterContext,
    paymasterPriceMarginBps: r.number(o, "paymasterPriceMarginBps", "paymasterPriceMarginBps", defaultPaymasterPriceMarginBps, (n) => Number.isInteger(n) && n >= 0 && n <= 10_000, "an integer from 0 to 10000 (basis points)"),
    keeperPrivateKey: keeperPrivateKey as Hex,
    deployment: swap !== undefined ? { ...deployment, swapQuoter: swap.quoter } : deployment,
    safes,
    risk,
    allowSelfPay: r.bool(o, "allowSelfPay", "allowSelfPay", false),
    pollIntervalMs: r.number(o, "pollIntervalMs", "pollIntervalMs", 250, (n) => n >= 10, "at least 10 ms"),
    resubmitAfterBlocks,
    feeBumpPercent: r.number(o, "feeBumpPercent", "feeBumpPercent", 20, (n) => n >= 10 && n <= 500, "between 10 and 500"),
    stallAfterBlocks: r.number(o, "stallAfterBlocks", "stallAfterBlocks", 3 * resubmitAfterBlocks, (n) => Number.isInteger(n) && n >= 1, "a positive integer"),
    logWindowBlocks: r.number(o, "logWindowBlocks", "logWindowBlocks", 2_000, (n) => Number.isInteger(n) && n >= 1 && n <= 100_000, "an integer from 1 to 100000"),
    retry: {
      baseMs: r.number(retry, "baseMs", "retry.baseMs", 250, (n) => n > 0, "a positive number of ms"),
      maxMs: r.number(retry, "maxMs", "retry.maxMs", 8_000, (n) => n > 0, "a positive number of ms"),
    },
    stateFile: o.stateFile as string | undefined,
    metricsPort: o.metricsPort === undefined ? undefined : r.number(o, "metricsPort", "metricsPort", 0, port, "a port number (0 = any free port)"),
    metricsHost: (o.metricsHost as string | undefined) ?? "127.0.0.1",
    swap,
    aaveDustThresholdBase: o.aaveDustThresholdBase === undefined ? undefined : BigInt(r.number(o, "aaveDustThresholdBase", "aaveDustThresholdBase", 100_000_000, (n) => Number.isSafeInteger(n) && n >= 0, "a non-negative integer (Aave base currency units)")),
    costs: {
      gasPriceGwei: r.number(costs, "gasPriceGwei", "costs.gasPriceGwei", 1, (n) => n >= 0, "a non-negative number"),
      nativePrice: r.number(costs, "nativePrice", "costs.nativePrice", 3_000, (n) => n >= 0, "a non-negative number"),
    },
    logLevel: (o.logLevel as KeeperConfig["logLevel"] | undefined) ?? "info",
    ...fleetFields,
  }
}

/**
 * Reads and validates a keeper configuration file (JSON).
 *
 * @param path - File path.
 * @param options - `env` for `keeperPrivateKeyEnv`; `requireKeeperKey: false` for read-only commands (`status`).
 * @returns The configuration.
 * @throws {KeeperConfigError} when the file cannot be read or parsed, or a field is wrong.
 */
export function readKeeperConfig(path: string, options: { env?: NodeJS.ProcessEnv | undefined; requireKeeperKey?: boolean | undefined } = {}): KeeperConfig {
  const { env = process.env, requireKeeperKey } = options
  let text: string
  try {
    text = readFileSync(path, "utf8")
  } catch (error) {
    throw new KeeperConfigError({ field: "(file)", reason: `cannot be read: ${(error as Error).message}`, source: path })
  }
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (error) {
    throw new KeeperConfigError({ field: "(file)", reason: `is not valid JSON: ${(error as Error).message}`, source: path })
  }
  return parseKeeperConfig(raw, { source: path, env, requireKeeperKey })
}
