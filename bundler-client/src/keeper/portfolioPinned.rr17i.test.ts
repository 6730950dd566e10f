import { type Address, type Hex, custom } from "viem"
import { afterEach, describe, expect, it, vi } from "vitest"

// Review rr17i (f11f task 2): one snapshot is one block. `readPortfolio` takes the header (`getBlock("latest")`) and
// pins the lens and Aave's limits to it; its multicall of balances, pool shares, maxWithdraw and totals, the pools'
// convertToAssets and Morpho's free liquidity (`readBorrowable`) read `latest` when unpinned, which can be a later block
// (a node behind a load balancer, anvil while it mines): the solver then plans a Safe's balance of one block against its
// debt of another. Every read here is recorded with the block it asks for; the transport refuses any eth_call that does
// not go through the recorded reads, so a new unpinned read path fails too.

const BLOCK = 1_234n
const reads: { functions: string[]; blockNumber: bigint | undefined }[] = []
const lens: { blockNumber?: bigint | undefined }[] = []
const SAFE = "0x00000000000000000000000000000000000005af" as Address
const MORPHO_ADAPTER = "0x0000000000000000000000000000000000000001" as Address
const LOAN = "0x00000000000000000000000000000000000000b1" as Address
const COLL = "0x00000000000000000000000000000000000000c1" as Address
const POOL = "0x00000000000000000000000000000000000000d1" as Address
const MORPHO = "0x00000000000000000000000000000000000000e1" as Address
const SUB = `0x${"aa".repeat(32)}` as Hex

vi.mock("viem/actions", async (original) => ({ ...(await original<typeof import("viem/actions")>()), getBlock: vi.fn(async () => ({ number: BLOCK, timestamp: 1_700_000_000n })) }))
vi.mock("@levpilot/sdk/actions", async (original) => ({
  ...(await original<typeof import("@levpilot/sdk/actions")>()),
  getSubAccountStateSettled: vi.fn(async (_client: unknown, parameters: { blockNumber?: bigint }) => {
    lens.push({ blockNumber: parameters.blockNumber })
    return {
      unreadable: [],
      states: [
        {
          subAccount: SUB,
          loanToken: LOAN,
          collateralToken: COLL,
          collateral: 10n ** 18n,
          debt: 10n ** 20n,
          price: 3000n * 10n ** 24n,
          lltv: 86n * 10n ** 16n,
          health: 2n * 10n ** 18n,
          equity: 29n * 10n ** 20n,
          band: "inside",
          epochUsage: { epoch: 0, lastRebalance: 0, rebalances: 0, lossPpb: 0, gasUsed: 0, amountMoved: 0n },
          policy: { adapter: MORPHO_ADAPTER, market: SUB, pools: [POOL], boostAllowed: false, maxSlippageBps: 0, minHealth: 15n * 10n ** 17n, targetHealth: 18n * 10n ** 17n, maxHealth: 25n * 10n ** 17n },
        },
      ],
    }
  }),
}))
// Answers each multicall entry by its function name.
const answer: Record<string, unknown> = { decimals: 18, balanceOf: 10n ** 18n, asset: LOAN, maxWithdraw: 10n ** 18n, totalAssets: 10n ** 21n, totalSupply: 10n ** 21n, convertToAssets: 10n ** 18n, previewRedeem: 10n ** 18n - (10n ** 18n * 100n + 10_099n) / 10_100n, MORPHO, market: [10n ** 22n, 10n ** 22n, 10n ** 21n, 10n ** 21n, 0n, 0n] }
vi.mock("@levpilot/sdk/utils", async (original) => ({
  ...(await original<typeof import("@levpilot/sdk/utils")>()),
  readMany: vi.fn(async (_client: unknown, _deployment: unknown, contracts: readonly { functionName: string }[], blockNumber?: bigint) => {
    reads.push({ functions: contracts.map((c) => c.functionName), blockNumber })
    return contracts.map((c) => ({ status: "success", result: answer[c.functionName] }))
  }),
}))

afterEach(() => {
  reads.length = 0
  lens.length = 0
})

describe("rr17i: readPortfolio reads one snapshot at one block", () => {
  it("every read of the snapshot (lens, balances, pool shares / maxWithdraw / totals, convertToAssets, Morpho liquidity) carries the header's block", async () => {
    const { readPortfolio } = await import("./portfolio.js")
    const calls: string[] = []
    // Any eth_call outside the recorded reads fails the read (and names itself).
    const client = { chain: { id: 31_337 }, transport: custom({ request: async ({ method }) => (calls.push(method), Promise.reject(new Error(`unrecorded ${method}`))) }) } as never
    const deployment = { adapters: { morphoBlue: MORPHO_ADAPTER }, multicall3: "0x00000000000000000000000000000000000000ca" } as never
    const snapshot = await readPortfolio(client, { safe: SAFE, deployment, risk: { mode: "expected" } as never, costs: {} as never })
    expect(snapshot.blockNumber).toBe(BLOCK)
    expect(lens.map((l) => l.blockNumber)).toEqual([BLOCK])
    const fns = reads.flatMap((r) => r.functions)
    // The reads are there (else the check proves nothing): balances, pools, their conversion, the market's liquidity.
    for (const f of ["balanceOf", "maxWithdraw", "totalAssets", "totalSupply", "convertToAssets", "previewRedeem", "convertToShares", "previewDeposit", "market"]) expect(fns).toContain(f)
    expect(reads.filter((r) => r.blockNumber !== BLOCK).map((r) => `${r.functions.join(",")} at ${r.blockNumber ?? "latest"}`)).toEqual([])
    expect(calls).toEqual([])
    // The pools' totals the rule book's judge uses (snapshotRuleJudge).
    expect(snapshot.poolTotals?.[POOL]).toEqual({ asset: LOAN, totalAssets: 10n ** 21n, totalSupply: 10n ** 21n, shares: 10n ** 18n, exitFeeBps: 100n })
    expect(snapshot.bounds.subAccounts[SUB]?.borrowable).toBe(9n * 10n ** 21n)
  })

  it("the fleet's pool totals (readPoolTotals, for the clamp's rule-book judge) are read at the lens's block", async () => {
    const { readPoolTotals } = await import("./portfolio.js")
    const client = { chain: { id: 31_337 }, transport: custom({ request: async ({ method }) => Promise.reject(new Error(`unrecorded ${method}`)) }) } as never
    const totals = await readPoolTotals(client, {} as never, [{ pool: POOL, asset: LOAN, shares: 5n }], BLOCK)
    // The pool's fee (rr11f F2: previewRedeem vs convertToAssets of its totalSupply) at the same block.
    expect(reads).toEqual([
      { functions: ["totalAssets", "totalSupply"], blockNumber: BLOCK },
      { functions: ["convertToAssets", "previewRedeem", "convertToShares", "previewDeposit"], blockNumber: BLOCK },
    ])
    // convertToAssets 1e18 vs previewRedeem what ERC4626Fees pays back with a 100 bps fee: 100 bps.
    expect(totals).toEqual({ [POOL]: { asset: LOAN, totalAssets: 10n ** 21n, totalSupply: 10n ** 21n, shares: 5n, exitFeeBps: 100n } })
  })
})
