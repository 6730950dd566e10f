import { Writable } from "node:stream"
import { pino } from "pino"
import { type Address, type Hex, getAddress } from "viem"
import { describe, expect, test, vi } from "vitest"
import { KeeperEvents } from "./events.js"
import { KeeperMetrics } from "./metrics.js"
import { type AaveSubAccountLimits, aaveLtvBorrowable } from "./aaveLimits.js"
import { OPEN_AAVE_RESERVE, fleetStepHarness, h } from "./testing.js"

// Issue 17, review rev17f (2), fleet path: where the keeper skips an Aave boost because the account's LTV room allows no
// landing in the band, the fleet's step (FleetStep: the lens's batched read, `portfolioOf`, the Aave limits read by the
// step) sets the same gauge `levpilot_boost_ltv_bound{safe, sub_account, venue}` and writes the same info line as the
// embedded keeper's step (both run SafeStep's no-rescue report), and the gauge returns to 0 once the boost fits again.

vi.mock("@levpilot/sdk/actions", async (importOriginal) => ({ ...(await importOriginal<typeof import("@levpilot/sdk/actions")>()), sendRebalance: vi.fn() }))
const { sendRebalance } = await import("@levpilot/sdk/actions")
// The Aave limits the fleet step reads (the chain is a mock): the account's LTV room as readAaveLimits derives it.
vi.mock("./aaveLimits.js", async (importOriginal) => ({ ...(await importOriginal<typeof import("./aaveLimits.js")>()), readAaveLimits: vi.fn() }))
const { readAaveLimits } = await import("./aaveLimits.js")

const AAVE_ADAPTER: Address = "0x00000000000000000000000000000000000000ae"
const USDC: Address = "0x00000000000000000000000000000000000000a6"
const WBTC: Address = "0x00000000000000000000000000000000000000b7"
const POOL: Address = "0x00000000000000000000000000000000000000f1"
const SAFE = getAddress("0x0000000000000000000000000000000000005afe")
const ID = `0x${"ab".repeat(32)}` as Hex
const PRICE = (60_000n * 10n ** 6n * 10n ** 36n) / 10n ** 8n
const LT = 78n * 10n ** 16n
const VALUE = 60_000n * 10n ** 6n
const BLOCK = 100n
const TIMESTAMP = 1_700_000_000n

/** 1 WBTC on Aave, USDC debt at health 1.6, band [1.05, 1.08, 1.5], a USDC pool to hold a boost (the lens's read). */
const state = {
  safe: SAFE,
  keeperKey: { active: true, validAfter: 0, validUntil: 2 ** 40 },
  paused: false,
  keeperNonce: 0n,
  tokens: [{ token: USDC, decimals: 6, balance: 0n }, { token: WBTC, decimals: 8, balance: 0n }],
  pools: [{ pool: POOL, asset: USDC, assets: 0n, maxWithdraw: 0n, shares: 0n }],
  unreadable: [],
  subAccounts: [
    {
      subAccount: ID, loanToken: USDC, collateralToken: WBTC, collateral: 10n ** 8n, debt: (VALUE * LT) / h(1.6), lltv: LT, price: PRICE, band: "above",
      policy: {
        adapter: AAVE_ADAPTER, priceFeed: "0x0000000000000000000000000000000000000000", minHealth: h(1.05), targetHealth: h(1.08), maxHealth: h(1.5), maxAmountPerRebalance: 2n ** 200n, maxAmountPerEpoch: 2n ** 200n,
        epochLength: 86_400, maxRebalancesPerEpoch: 100, maxGasPerEpoch: 10n ** 12n, cooldown: 0, maxLossBps: 300, maxEpochLossBps: 300, boostAllowed: true, maxSlippageBps: 0,
        maxOracleAge: 3_600, maxOracleDeviationBps: 100, minFeedAnswer: 0n, maxFeedAnswer: 0n, pools: [POOL], market: `0x${"cd".repeat(32)}`,
      },
      epochUsage: { lastRebalance: 0, epoch: 0, lossPpb: 0, amountMoved: 0n, rebalances: 0, gasUsed: 0 },
    },
  ],
}

/** The Aave limits at LTV `ltvBps` (USD base, 8 decimals, USDC at $1), as readAaveLimits derives the LTV room. */
function limitsAt(ltvBps: bigint): AaveSubAccountLimits {
  const debtBase = (((VALUE * LT) / h(1.6)) * 10n ** 8n) / 10n ** 6n
  const available = (60_000n * 10n ** 8n * ltvBps + 5_000n) / 10_000n - debtBase
  const ltvBorrowable = aaveLtvBorrowable({ totalDebtBase: debtBase, availableBorrowsBase: available > 0n ? available : 0n }, 10n ** 8n, 6)
  return { debt: OPEN_AAVE_RESERVE, collateral: OPEN_AAVE_RESERVE, repayableDebt: undefined, ltvBorrowable, ltvBound: true }
}

describe("fleet step: an Aave boost skipped for the LTV room sets levpilot_boost_ltv_bound as the embedded keeper does", () => {
  test("LTV 50 % (no borrow lands below health 1.56 > maxHealth 1.5): gauge 1 and one info line naming the LTV room; LTV 75 %: the boost is sent and the gauge is 0", async () => {
    const lines: Record<string, unknown>[] = []
    const logger = pino({ level: "debug" }, new Writable({ write: (c, _e, done) => (lines.push(JSON.parse(String(c))), done()) }))
    const metrics = new KeeperMetrics()
    const events = new KeeperEvents({ logger, metrics, onEvent: () => undefined })
    const config = {
      deployment: { leverageModule: "0x00000000000000000000000000000000000000aa", entryPoint: "0x0000000071727De22E5E9d8BAf0edAc6f37da032", adapters: { morphoBlue: "0x00000000000000000000000000000000000000ad", aaveV3: AAVE_ADAPTER } },
      fleet: { sendConcurrency: 1 },
      costs: { gasPriceGwei: 1, nativePrice: 3_000 },
    }
    const sent: unknown[] = []
    vi.mocked(sendRebalance).mockReset()
    vi.mocked(sendRebalance).mockImplementation(async (_bundler, parameters) => {
      sent.push(parameters.plan)
      return `0x${"11".repeat(32)}` as Hex
    })
    const { step } = fleetStepHarness({ config, metrics, logger, events, timestamp: TIMESTAMP })
    step.runtime(SAFE).account = { address: SAFE, getNonce: async () => 0n } as never
    const gauge = () => metrics.value("levpilot_boost_ltv_bound", { safe: SAFE, sub_account: ID, venue: "aave-v3" })

    vi.mocked(readAaveLimits).mockResolvedValue({ [ID]: limitsAt(5_000n) })
    for (const block of [BLOCK, BLOCK + 1n]) expect(await step.run({ safe: SAFE, block, timestamp: TIMESTAMP, state: state as never, userOps: [] })).toBe("done")
    expect(vi.mocked(readAaveLimits)).toHaveBeenCalled()
    expect(sent).toEqual([])
    expect(gauge()).toBe(1)
    // One info line for the episode (not one per block), naming the sub-account, the venue and the LTV room.
    const skipped = lines.filter((l) => typeof l.msg === "string" && l.msg.startsWith(`boost skipped for ${ID}`))
    expect(skipped).toHaveLength(1)
    expect(skipped[0]).toMatchObject({ safe: SAFE, subAccount: ID, venue: "aave-v3" })
    expect(String(skipped[0]?.reason)).toMatch(/LTV room \(Aave availableBorrowsBase\)/)

    // The room grows (LTV 72 %: the reach 0.78 / 0.72 = 1.083 is inside the band): a boost is planned and the gauge
    // goes back to 0.
    vi.mocked(readAaveLimits).mockResolvedValue({ [ID]: limitsAt(7_200n) })
    expect(await step.run({ safe: SAFE, block: BLOCK + 2n, timestamp: TIMESTAMP, state: state as never, userOps: [] })).toBe("done")
    expect(sent).toHaveLength(1)
    expect(gauge()).toBe(0)
  })
})
