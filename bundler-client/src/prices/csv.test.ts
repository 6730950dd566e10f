import { describe, expect, it } from "vitest"
import { formatPriceCsv, parsePriceCsv, PriceFileError } from "./csv.js"
import { DEFAULT_PATH, generatePath } from "./generator.js"

describe("parsePriceCsv", () => {
  it("reads multi-asset files and round-trips through formatPriceCsv", () => {
    const p = parsePriceCsv("timestamp,ETH,BTC\r\n0,3000,60000\n60,3010.5,60100\n\n")
    expect(p.assets).toEqual(["ETH", "BTC"])
    expect([...(p.prices.ETH ?? [])]).toEqual([3000, 3010.5])
    expect(parsePriceCsv(formatPriceCsv(p))).toEqual(p)
  })

  it("names the line of a bad row", () => {
    const bad = (text: string): string => {
      try {
        parsePriceCsv(text, "prices.csv")
      } catch (error) {
        expect(error).toBeInstanceOf(PriceFileError)
        return (error as Error).message
      }
      return "no error"
    }
    expect(bad("time,ETH\n0,1\n")).toMatch(/prices.csv:1: header must start with "timestamp"/)
    expect(bad("timestamp,ETH\n0,1\n60,abc\n")).toMatch(/prices.csv:3: price of ETH "abc"/)
    expect(bad("timestamp,ETH\n0,1\n60,1,2\n")).toMatch(/prices.csv:3: expected 2 fields \(timestamp,ETH\), got 3/)
    expect(bad("timestamp,ETH\n60,1\n60,2\n")).toMatch(/prices.csv:3: timestamp 60 repeats the previous row's/)
    expect(bad("timestamp,ETH\n0,1\n60,1\n120,1\n90,2\n")).toMatch(/prices.csv:5: timestamp 90 goes backwards \(previous row 120\)/)
    expect(bad("timestamp,ETH\n0,-1\n60,2\n")).toMatch(/prices.csv:2: .* must be a number > 0/)
    expect(bad("timestamp,ETH,ETH\n0,1,1\n")).toMatch(/duplicate asset/)
    expect(bad("")).toMatch(/empty/)
  })

  // Helper nu49: a row short of a column said only "expected 3 fields, got 2", a header-only file "needs at least two
  // price rows, got 0" with no line; now the missing (or extra) field and the header's line are named.
  it("names the field a short or long row lacks or adds, and the header line of a file without price rows", () => {
    const message = (text: string): string => {
      try {
        parsePriceCsv(text, "prices.csv")
      } catch (error) {
        return (error as Error).message
      }
      return "no error"
    }
    expect(message("timestamp,WETH,WBTC\n0,3000,60000\n60,3010\n")).toBe("prices.csv:3: expected 3 fields (timestamp,WETH,WBTC), got 2: no WBTC")
    expect(message("timestamp,WETH,WBTC\n0,3000,60000\n60\n")).toBe("prices.csv:3: expected 3 fields (timestamp,WETH,WBTC), got 1: no WETH, WBTC")
    expect(message("timestamp,ETH\n0,1\n60,1,2\n")).toBe('prices.csv:3: expected 2 fields (timestamp,ETH), got 3: "2" after the last column ETH')
    expect(message("timestamp,ETH\n0,1\n60,1,\n")).toBe('prices.csv:3: expected 2 fields (timestamp,ETH), got 3: "" after the last column ETH (a trailing comma?)')
    expect(message("timestamp,ETH\n")).toBe("prices.csv:1: the header is followed by no price row; needs at least two")
    expect(message("\n\ntimestamp,ETH\n0,1\n")).toBe("prices.csv:3: the header is followed by one price row (line 4); needs at least two")
    // A byte-order mark (Excel's "CSV UTF-8") and CRLF line ends are read.
    expect(parsePriceCsv("\uFEFFtimestamp,ETH\r\n0,1\r\n60,2\r\n").prices.ETH?.[1]).toBe(2)
  })
})

describe("parsePriceCsv timestamp units", () => {
  it("refuses millisecond timestamps, naming the first such line, instead of reading a minute as 16 hours", () => {
    const seconds = "timestamp,ETH\n1700000000,3000\n1700000060,2990\n"
    expect(parsePriceCsv(seconds).timestamps[1]).toBe(1_700_000_060)
    const ms = "timestamp,ETH\n1700000000000,3000\n1700000060000,2990\n"
    expect(() => parsePriceCsv(ms, "ms.csv")).toThrow(PriceFileError)
    expect(() => parsePriceCsv(ms, "ms.csv")).toThrow(/ms.csv:2: timestamp 1700000000000 looks like milliseconds .* e.g. 1700000000$/)
    const micro = "timestamp,ETH\n1700000000,3000\n1700000060000000,2990\n"
    expect(() => parsePriceCsv(micro, "us.csv")).toThrow(/us.csv:3: .* looks like milliseconds \(or finer\)/)
  })

  it("refuses non-decimal timestamps and a relative clock stepping in multiples of 1,000 unless the unit is given", () => {
    expect(() => parsePriceCsv("timestamp,ETH\n1700000000,3000\n0x6553f13c,2990\n", "h.csv")).toThrow(/h.csv:3: timestamp "0x6553f13c" is not a decimal number/)
    expect(() => parsePriceCsv("timestamp,ETH\n0b1,3000\n2,2990\n", "b.csv")).toThrow(/b.csv:2: .* not a decimal number/)
    expect(parsePriceCsv("timestamp,ETH\n1.7e9,3000\n1700000060.5,2990\n").timestamps[1]).toBe(1_700_000_060.5)
    const rel = "timestamp,ETH\n0,3000\n60000,2990\n120000,2980\n"
    expect(() => parsePriceCsv(rel, "rel.csv")).toThrow(/rel.csv:3: timestamps count from 0 in steps that are all multiples of 1,000 .*milliseconds.*--time-unit ms/)
    expect([...parsePriceCsv(rel, "rel.csv", { timeUnit: "ms" }).timestamps]).toEqual([0, 60, 120])
    expect([...parsePriceCsv(rel, "rel.csv", { timeUnit: "s" }).timestamps]).toEqual([0, 60_000, 120_000])
    // Absolute unix seconds stepping in multiples of 1,000, and relative seconds with another step, are read as seconds.
    expect(parsePriceCsv("timestamp,ETH\n1700000000,3000\n1700001000,2990\n").timestamps[1]).toBe(1_700_001_000)
    expect(parsePriceCsv("timestamp,ETH\n0,3000\n60000,2990\n120060,2980\n").timestamps[2]).toBe(120_060)
    // Absolute milliseconds with the unit.
    expect(parsePriceCsv("timestamp,ETH\n1700000000000,3000\n1700000060000,2990\n", "ms.csv", { timeUnit: "ms" }).timestamps[1]).toBe(1_700_000_060)
  })
})

describe("generatePath", () => {
  it("is reproducible and the crash shapes fall by the configured amount within an hour", () => {
    const a = generatePath({ ...DEFAULT_PATH, kind: "crash45", seed: 5, sigma: 0 })
    const b = generatePath({ ...DEFAULT_PATH, kind: "crash45", seed: 5, sigma: 0 })
    expect(a).toEqual(b)
    const p = a.prices.ETH as Float64Array
    expect(p[p.length - 1]! / p[0]!).toBeCloseTo(0.55, 6)
    let worstHour = 1
    for (let i = 60; i < p.length; i++) worstHour = Math.min(worstHour, p[i]! / p[i - 60]!)
    expect(worstHour).toBeCloseTo(0.55, 6)
  })

  it("produces jumps only in the jump scenario", () => {
    const big = (kind: "gbm" | "jumps"): number => {
      const p = generatePath({ ...DEFAULT_PATH, kind, seed: 3, points: 30 * 1440, jumps: { intensity: 200, meanLog: -0.1, sigmaLog: 0.01 } }).prices.ETH as Float64Array
      let count = 0
      for (let i = 1; i < p.length; i++) if (p[i]! / p[i - 1]! < 0.95) count++
      return count
    }
    expect(big("gbm")).toBe(0)
    expect(big("jumps")).toBeGreaterThan(5)
  })
})
