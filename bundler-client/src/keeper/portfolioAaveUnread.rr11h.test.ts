import { type Address, type Hex, custom } from "viem"
import { expect, test, vi } from "vitest"

// Review rr11h H2 (rr11g G2's class, on the single-Safe path): the fleet step now reads Aave's limits through
// `readAaveLimitsBounded` (latest, else lending nothing, `aave-limits` degraded). `readPortfolio`, the path `safeStep`
// reads every Safe by when not in fleet mode (and every Safe after an included operation, `snapshot = undefined`), still
// does `readAaveLimits(...).catch(() => { degraded; return {} })`: the failure is recorded, but with no limits an Aave
// sub-account's `borrowable` is undefined, i.e. NO bound (portfolioOf / chainBoundsOf: "unknown: no limit"), so a donor
// or boost borrow is sized past what the reserve lends (rr11g's own fixture: 51,424 against 1,000), item 8's revert.
const BLOCK = 1_234n
const SAFE = "0x00000000000000000000000000000000000005af" as Address
const AAVE_ADAPTER = "0x0000000000000000000000000000000000000002" as Address
const MORPHO_ADAPTER = "0x0000000000000000000000000000000000000001" as Address
const LOAN = "0x00000000000000000000000000000000000000b1" as Address
const COLL = "0x00000000000000000000000000000000000000c1" as Address
const SUB = `0x${"aa".repeat(32)}` as Hex

vi.mock("viem/actions", async (original) => ({ ...(await original<typeof import("viem/actions")>()), getBlock: vi.fn(async () => ({ number: BLOCK, timestamp: 1_700_000_000n })) }))
vi.mock("@levpilot/sdk/actions", async (original) => ({
  ...(await original<typeof import("@levpilot/sdk/actions")>()),
  getSubAccountStateSettled: vi.fn(async () => ({
    unreadable: [],
    states: [
      {
        subAccount: SUB, loanToken: LOAN, collateralToken: COLL, collateral: 10n ** 20n, debt: 10n ** 23n, price: 3000n * 10n ** 24n, lltv: 86n * 10n ** 16n,
        health: 258n * 10n ** 16n, equity: 2n * 10n ** 23n, band: "above",
        epochUsage: { epoch: 0, lastRebalance: 0, rebalances: 0, lossPpb: 0, gasUsed: 0, amountMoved: 0n },
        policy: { adapter: AAVE_ADAPTER, market: SUB, pools: [], boostAllowed: true, maxSlippageBps: 0, minHealth: 14n * 10n ** 17n, targetHealth: 16n * 10n ** 17n, maxHealth: 2n * 10n ** 18n },
      },
    ],
  })),
}))
const answer: Record<string, unknown> = { decimals: 18, balanceOf: 10n ** 18n }
vi.mock("@levpilot/sdk/utils", async (original) => ({
  ...(await original<typeof import("@levpilot/sdk/utils")>()),
  readMany: vi.fn(async (_client: unknown, _deployment: unknown, contracts: readonly { functionName: string }[]) => contracts.map((c) => ({ status: "success", result: answer[c.functionName] }))),
}))
// The Aave limits read fails (an RPC timeout / rate limit on that multicall, a provider-side revert of the read).
vi.mock("./aaveLimits.js", async (original) => ({
  ...(await original<typeof import("./aaveLimits.js")>()),
  readAaveLimits: vi.fn(async () => Promise.reject(new Error("request timed out"))),
}))

async function read() {
  const { readPortfolio } = await import("./portfolio.js")
  const client = { chain: { id: 31_337 }, transport: custom({ request: async ({ method }) => Promise.reject(new Error(`unrecorded ${method}`)) }) } as never
  const deployment = { adapters: { morphoBlue: MORPHO_ADAPTER, aaveV3: AAVE_ADAPTER }, multicall3: "0x00000000000000000000000000000000000000ca" } as never
  return readPortfolio(client, { safe: SAFE, deployment, risk: { mode: "expected" } as never, costs: {} as never })
}

// Fixed (rr11h H2): readPortfolio reads Aave's limits through readAaveLimitsBounded (or the same fallback): a
// failed read lends nothing on Aave (bound 0), as the fleet step now does.
test("rr11h H2: readPortfolio with a failed Aave limits read plans no Aave borrow (bound 0), as the fleet step does", async () => {
  const snapshot = await read()
  expect(snapshot.degraded).toEqual([expect.objectContaining({ read: "aave-limits" })])
  expect(snapshot.bounds.subAccounts[SUB]?.borrowable).toBe(0n)
  expect(snapshot.input.subAccounts[0]?.state.borrowable).toBe(0)
})
