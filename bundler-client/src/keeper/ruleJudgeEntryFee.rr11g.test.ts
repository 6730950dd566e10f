import { expect, test, vi } from "vitest"
import { poolFeeBpsOf } from "@levpilot/sdk/rules"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { type ChainBounds, clampPlanToChainBounds } from "./chainBounds.js"
import { readPoolTotals } from "./portfolio.js"
import { snapshotRuleJudge } from "./ruleJudge.js"
import { judgePolicy, judgeRuleBook, unusedEpoch } from "./testing.js"

// Review rr11g G1: the fee read of rr11f F2 (poolFeeBpsOf(convertToAssets(totalSupply), previewRedeem(totalSupply))) sees
// only a pool's EXIT fee, and the rule book applies that figure to deposits too (RulePool.feeBps: "entry and exit fee").
// An owner-allowed pool with an exit fee and no entry fee (RiggedVault's kind, Gearbox-style withdraw fees, OZ
// ERC4626Fees with _entryFeeBasisPoints 0) takes a deposit at convertToShares with nothing burnt: the module values the
// new shares at convertToAssets (RebalanceLib `_holdings`), so a boost's Borrow + DepositToPool loses nothing on chain,
// exactly what the rule book computes with feeBps 0 for the deposit. With the read fee the judge (and validateRebalance,
// which reads the same) charges a phantom entry fee and refuses the boost ValueLossExceeded: the autopilot never
// re-leverages through that pool. Before fd413a1 the same plan was judged fee-free and sent.
const LOAN = "0x00000000000000000000000000000000000000b1" as const
const COLL = "0x00000000000000000000000000000000000000c1" as const
const POOL = "0x00000000000000000000000000000000000000d1"
const A = `0x${"aa".repeat(32)}` as const
const WAD = 10n ** 18n
// Band [1.4, 1.6, 2.0], 50 bps per operation, boosts allowed.
const policy = { ...judgePolicy(A, [POOL], 50), boostAllowed: true }
// Health 2.58, above its band [1.4, 1.6, 2.0]; borrowing 612.5 and parking it in the pool lands at 1.6.
const state = { loanToken: LOAN, collateralToken: COLL, collateral: WAD, debt: 1_000n * WAD, price: 3_000n * 10n ** 36n, lltv: (86n * WAD) / 100n }
const usage = unusedEpoch
// The vault: 1:1, a 1 % EXIT fee, no entry fee. What readPortfolio / validateRebalance read of it at the snapshot's block:
// convertToAssets(totalSupply) = totalSupply, previewRedeem(totalSupply) = that less ERC4626Fees' fee on total.
const pool = { asset: LOAN, totalAssets: 10n ** 24n, totalSupply: 10n ** 24n, shares: 1_000n * WAD }
const gross = pool.totalSupply
const net = gross - (gross * 100n + 10_099n) / 10_100n
const readFee = poolFeeBpsOf(gross, net) as bigint
const snapshot = { timestamp: 1_700_000_000, chain: [{ ...state, subAccount: A, policy, epochUsage: usage, band: "above" }] as never }

// The vault as the keeper's pool read (readPoolTotals, the fleet's and readPortfolio's fee read) sees it: 1:1, OZ
// ERC4626Fees with the given entry and exit fees (previewDeposit burns ceil(x x fee / (fee + 10000)) of the assets
// before converting; previewRedeem pays the assets less ceil(x x fee / (fee + 10000))). Each readMany entry is answered
// by its function name and argument.
const vault = { entryFeeBps: 0n, exitFeeBps: 100n }
const lessFee = (x: bigint, fee: bigint) => x - (x * fee + fee + 10_000n - 1n) / (fee + 10_000n)
vi.mock("@levpilot/sdk/utils", async (original) => ({
  ...(await original<typeof import("@levpilot/sdk/utils")>()),
  readMany: vi.fn(async (_client: unknown, _deployment: unknown, contracts: readonly { functionName: string; args?: readonly bigint[] }[]) =>
    contracts.map(({ functionName, args }) => {
      const x = args?.[0] ?? 0n
      const answers: Record<string, bigint> = {
        totalAssets: pool.totalAssets,
        totalSupply: pool.totalSupply,
        convertToAssets: x,
        convertToShares: x,
        previewRedeem: lessFee(x, vault.exitFeeBps),
        previewDeposit: lessFee(x, vault.entryFeeBps),
      }
      return functionName in answers ? { status: "success", result: answers[functionName] } : { status: "failure", error: new Error(functionName) }
    }),
  ),
}))
/** The judge's snapshot with the pool's totals and fees as the keeper reads them from `vault` (readPoolTotals). */
async function readSnapshot() {
  const poolTotals = await readPoolTotals({} as never, {} as never, [{ pool: POOL, asset: LOAN, shares: pool.shares }], 1n)
  return { ...snapshot, poolTotals }
}
const bounds: ChainBounds = {
  balances: { [LOAN]: 0n, [COLL]: 0n },
  maxWithdraw: { [POOL]: (1_000n * WAD * 10_000n) / 10_100n },
  poolAsset: { [POOL]: LOAN },
  subAccounts: { [A]: { debt: state.debt, collateral: state.collateral, loanToken: LOAN, collateralToken: COLL, due: true, borrowable: 10n ** 24n } },
}
const boost = 6125n * WAD / 10n
const plan: ChainPlan = { subAccounts: [A], actions: [{ kind: "Borrow", subAccount: 0, amount: boost }, { kind: "DepositToPool", subAccount: 0, pool: POOL, amount: boost }] }

/** The rule book on the same state with a given pool fee: feeBps 0 is what the module sees of a deposit into this pool. */
const ruleBook = judgeRuleBook({ id: A, policy, state, usage, poolAddress: POOL, pool, balances: bounds.balances })

// Was "observed today" (before the fix the read exit fee was charged on the boost's deposit). Fixed: the read is per
// side, and the converse holds: a pool with an ENTRY fee (read from previewDeposit vs convertToShares) is charged on the
// deposit, so the same boost is refused ValueLossExceeded (before the fix it read 0 and was accepted, the bundler
// reverting it every block).
test("rr11g G1 fixed: an entry fee is read from previewDeposit and charged on a boost's deposit; an exit fee is not", async () => {
  expect(readFee).toBe(100n)
  // The rule book: with fee 0 on the deposit (what the chain does in an exit-fee-only pool) the plan is accepted, with 1 % refused.
  expect(ruleBook(plan, 0n).ok).toBe(true)
  expect(ruleBook(plan, 100n).ok).toBe(false)
  try {
    Object.assign(vault, { entryFeeBps: 100n, exitFeeBps: 0n })
    const s = await readSnapshot()
    expect(s.poolTotals[POOL]).toEqual({ ...pool, entryFeeBps: 100n })
    const v = snapshotRuleJudge(s, bounds)(plan)
    expect(v?.ok === false && v.error.name).toBe("ValueLossExceeded")
    const out = clampPlanToChainBounds(plan, bounds, undefined, { judge: snapshotRuleJudge(s, bounds) })
    expect(out.plan).toBeUndefined()
    expect(out.refusal?.name).toBe("ValueLossExceeded")
    // Both fees: both read.
    Object.assign(vault, { entryFeeBps: 30n, exitFeeBps: 100n })
    expect((await readSnapshot()).poolTotals[POOL]).toEqual({ ...pool, entryFeeBps: 30n, exitFeeBps: 100n })
  } finally {
    Object.assign(vault, { entryFeeBps: 0n, exitFeeBps: 100n })
  }
})

// Was FAILS TODAY (rr11g G1): an exit fee read from previewRedeem must not be charged on deposits (the entry fee is read
// on its own, previewDeposit(x) vs convertToShares(x), and RulePool has separate entryFeeBps / exitFeeBps).
test("rr11g G1: the judge accepts a boost into an exit-fee-only pool, as the module does", async () => {
  const s = await readSnapshot()
  const v = snapshotRuleJudge(s, bounds)(plan)
  expect(v?.ok).toBe(true)
  expect(clampPlanToChainBounds(plan, bounds, undefined, { judge: snapshotRuleJudge(s, bounds) }).plan).toEqual(plan)
  // The exit fee is still read (a withdrawal is charged it, rr11f F2); no entry fee.
  expect(s.poolTotals[POOL]).toEqual({ ...pool, exitFeeBps: 100n })
})
