import { readFileSync } from "node:fs"

/** Price paths for one or more assets on a shared timestamp grid. */
export type PricePaths = {
  /** Unix seconds, strictly increasing. */
  timestamps: Float64Array
  /** Asset names, in column order. */
  assets: string[]
  /** Prices in the numeraire per asset, aligned with `timestamps`. */
  prices: Record<string, Float64Array>
  /** 1-based line of the header in the file it was read from (set by {@link parsePriceCsv}). */
  headerLine?: number | undefined
}

/**
 * Timestamps at or above this (1e11 s is the year 5138) are refused as milliseconds: read as seconds they would
 * stretch a minute into 16 hours and silently change every volatility estimate.
 */
export const MILLISECOND_TIMESTAMPS = 1e11

/**
 * Below this (2001-09-09 in unix seconds) a file's first timestamp is a relative clock, not a unix time of a price feed:
 * whether its numbers count seconds or milliseconds cannot be told from their size.
 */
export const RELATIVE_TIMESTAMPS = 1e9

/** A decimal number: digits, an optional fraction and exponent (no hex, octal, binary, Infinity or blanks). */
const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/

/** Options of {@link parsePriceCsv}. */
export type ParsePriceOptions = {
  /**
   * Unit of the timestamp column: `s` (unix or relative seconds), `ms` (milliseconds, divided by 1,000 on reading).
   * Undefined: seconds, and a relative file whose every step is a multiple of 1,000 is refused as ambiguous (see
   * {@link parsePriceCsv}).
   */
  timeUnit?: "s" | "ms" | undefined
}

/** Raised when a price file is malformed; names the file and the 1-based line. */
export class PriceFileError extends Error {
  override name = "PriceFileError"
  /**
   * @param source - File name (or "<input>").
   * @param line - 1-based line number (0 when the whole file is at fault).
   * @param detail - What is wrong.
   */
  constructor(
    readonly source: string,
    readonly line: number,
    detail: string,
  ) {
    super(line > 0 ? `${source}:${line}: ${detail}` : `${source}: ${detail}`)
  }
}

/** Largest factor a price may move by between two consecutive rows ({@link parsePriceCsv}); beyond it the row is refused. */
export const MAX_STEP_RATIO = 1e6

/**
 * Parse a price CSV: header `timestamp,<ASSET>[,<ASSET>...]`, then one row per time, unix seconds and
 * prices in the numeraire. Blank lines are ignored; lines end in LF, CRLF or CR alone.
 *
 * Timestamps must be decimal numbers (a hex `0x6553f100` is refused). Their unit is seconds unless `options.timeUnit`
 * says `ms`. Without a unit, two kinds of file are refused as milliseconds: one with a timestamp at or above
 * {@link MILLISECOND_TIMESTAMPS} (absolute milliseconds), and a relative one (first timestamp below
 * {@link RELATIVE_TIMESTAMPS}) whose every step is a whole multiple of 1,000 (0, 60000, 120000, ...: one-minute
 * steps in milliseconds, or 16.7-hour steps in seconds; the file cannot say which), naming its first step's line.
 *
 * @param text - File contents.
 * @param source - Name used in error messages.
 * @param options - Timestamp unit.
 * @returns The parsed paths, timestamps in seconds.
 * @throws {PriceFileError} On a bad header, a wrong field count, a non-numeric or non-positive price, a price more than
 *   {@link MAX_STEP_RATIO} times (or less than 1/{@link MAX_STEP_RATIO} of) the previous row's, a non-decimal
 *   timestamp, a timestamp that repeats or goes backwards, or timestamps in milliseconds without `timeUnit: "ms"`.
 * @example parsePriceCsv("timestamp,ETH\n0,3000\n60,3010\n")
 */
export function parsePriceCsv(text: string, source = "<input>", options: ParsePriceOptions = {}): PricePaths {
  const unit = options.timeUnit
  const scale = unit === "ms" ? 1 / 1000 : 1
  // CRLF, LF and CR-only (classic Mac, some spreadsheet exports; review rr13u U5a) line endings, mixed or not.
  const lines = text.split(/\r\n?|\n/)
  let headerLine = -1
  for (let i = 0; i < lines.length; i++) {
    if ((lines[i] as string).trim() !== "") {
      headerLine = i
      break
    }
  }
  if (headerLine < 0) throw new PriceFileError(source, 0, "file is empty; expected a header `timestamp,<ASSET>[,<ASSET>...]`")
  const header = (lines[headerLine] as string).split(",").map((h) => h.trim())
  if (header[0]?.toLowerCase() !== "timestamp")
    throw new PriceFileError(source, headerLine + 1, `header must start with "timestamp", got "${header[0] ?? ""}"`)
  const assets = header.slice(1)
  if (assets.length === 0) throw new PriceFileError(source, headerLine + 1, "header names no asset column")
  const seen = new Set<string>()
  for (const a of assets) {
    if (a === "") throw new PriceFileError(source, headerLine + 1, "empty asset name in header")
    if (seen.has(a)) throw new PriceFileError(source, headerLine + 1, `duplicate asset column "${a}"`)
    seen.add(a)
  }
  const times: number[] = []
  const lineOf: number[] = []
  const columns: number[][] = assets.map(() => [])
  for (let i = headerLine + 1; i < lines.length; i++) {
    const raw = (lines[i] as string).trim()
    if (raw === "") continue
    const fields = raw.split(",").map((f) => f.trim())
    if (fields.length !== header.length) {
      const expected = `expected ${header.length} fields (${header.join(",")}), got ${fields.length}`
      if (fields.length < header.length) throw new PriceFileError(source, i + 1, `${expected}: no ${header.slice(Math.max(1, fields.length)).join(", ")}`)
      const extra = fields[header.length] as string
      throw new PriceFileError(source, i + 1, `${expected}: "${extra}" after the last column ${header[header.length - 1] as string}${extra === "" && fields.length === header.length + 1 ? " (a trailing comma?)" : ""}`)
    }
    const field0 = fields[0] as string
    if (!DECIMAL.test(field0)) throw new PriceFileError(source, i + 1, `timestamp "${field0}" is not a decimal number (unix seconds, e.g. 1700000000)`)
    const t = Number(field0) * scale
    if (!Number.isFinite(t)) throw new PriceFileError(source, i + 1, `timestamp "${field0}" is not a number`)
    if (Math.abs(t) >= MILLISECOND_TIMESTAMPS)
      throw new PriceFileError(source, i + 1, `timestamp ${field0} looks like milliseconds (or finer); timestamps must be unix seconds${unit === undefined ? " (or pass --time-unit ms)" : ""}, e.g. ${Math.floor(t / 1000)}`)
    const last = times[times.length - 1]
    if (last !== undefined && t === last) throw new PriceFileError(source, i + 1, `timestamp ${t} repeats the previous row's; each row needs a later time`)
    if (last !== undefined && t < last) throw new PriceFileError(source, i + 1, `timestamp ${t} goes backwards (previous row ${last}); rows must be in time order`)
    times.push(t)
    lineOf.push(i + 1)
    for (let k = 0; k < assets.length; k++) {
      const field = fields[k + 1] as string
      // Plain decimal only, as timestamps (review rr13t T4): Number() also reads "0xbb8" as 3000 and "0b1" as 1.
      if (!DECIMAL.test(field)) throw new PriceFileError(source, i + 1, `price of ${assets[k]} "${field}" is not a decimal number (e.g. 3000.5)`)
      const p = Number(field)
      if (field === "" || !Number.isFinite(p) || !(p > 0)) throw new PriceFileError(source, i + 1, `price of ${assets[k]} "${field}" must be a number > 0`)
      // A row in base units among prices in tokens (3000 x 1e18, a decimals mix-up; review rr13u U5b): no market moves
      // by a factor of MAX_STEP_RATIO between two rows, so it is refused here, with its line, not read as a price.
      const before = (columns[k] as number[]).at(-1)
      if (before !== undefined && (p > before * MAX_STEP_RATIO || p * MAX_STEP_RATIO < before))
        throw new PriceFileError(
          source,
          i + 1,
          `price of ${assets[k]} ${field} is ${p > before ? `${(p / before).toExponential(1)} times` : `1/${(before / p).toExponential(1)} of`} the previous row's (${before}, line ${lineOf.at(-2)}): a move beyond a factor of ${MAX_STEP_RATIO.toExponential(0)} between rows is an input error (prices in base units, e.g. x 1e18?)`,
        )
      ;(columns[k] as number[]).push(p)
    }
  }
  if (times.length < 2)
    throw new PriceFileError(source, headerLine + 1, `the header is followed by ${times.length === 0 ? "no price row" : `one price row (line ${lineOf[0] as number})`}; needs at least two`)
  if (unit === undefined && (times[0] as number) < RELATIVE_TIMESTAMPS && times.every((t, j) => j === 0 || (t - (times[j - 1] as number)) % 1000 === 0)) {
    const step = (times[1] as number) - (times[0] as number)
    throw new PriceFileError(
      source,
      lineOf[1] as number,
      `timestamps count from ${times[0]} in steps that are all multiples of 1,000 (this one ${step}): milliseconds of a relative clock (${step / 1000} s steps) or seconds (${(step / 3600).toFixed(1)} h steps)? Pass the unit (--time-unit ms or --time-unit s) or write unix seconds`,
    )
  }
  const prices: Record<string, Float64Array> = {}
  assets.forEach((a, k) => (prices[a] = Float64Array.from(columns[k] as number[])))
  return { timestamps: Float64Array.from(times), assets, prices, headerLine: headerLine + 1 }
}

/**
 * Read and parse a price CSV file.
 *
 * @param path - File path.
 * @param options - Timestamp unit (see {@link parsePriceCsv}).
 * @returns The parsed paths.
 * @throws {PriceFileError} When the file cannot be read or is malformed.
 */
export function readPriceCsv(path: string, options: ParsePriceOptions = {}): PricePaths {
  let text: string
  try {
    text = readFileSync(path, "utf8")
  } catch (error) {
    throw new PriceFileError(path, 0, `cannot read file (${(error as Error).message})`)
  }
  return parsePriceCsv(text, path, options)
}

/**
 * Serialise price paths to the CSV format {@link parsePriceCsv} reads.
 *
 * @param paths - Price paths.
 * @returns CSV text with a trailing newline.
 */
export function formatPriceCsv(paths: PricePaths): string {
  const rows = [`timestamp,${paths.assets.join(",")}`]
  for (let i = 0; i < paths.timestamps.length; i++) {
    rows.push([paths.timestamps[i], ...paths.assets.map((a) => (paths.prices[a] as Float64Array)[i])].join(","))
  }
  return `${rows.join("\n")}\n`
}
