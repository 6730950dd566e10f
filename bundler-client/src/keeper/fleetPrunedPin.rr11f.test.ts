import type { Hex } from "viem"
import { expect, test, vi } from "vitest"
import { solveByLoanAsset } from "../solver/solver.js"
import { clampPlanToChainBounds } from "./chainBounds.js"
import { keeperCosts } from "./safeStep.js"
import { ADAPTER, LOAN, SAFE, STEP_RISK, WETH, fleetSub } from "./testing.js"

// Review rr11f F4: f11f pinned the fleet's `readBorrowable` (Morpho's free liquidity, issue 11 item 8) to the lens's block
// (`item.block`). The fleet runs a Safe's step "however old, while it is the Safe's newest" (FleetStep, the late-plan
// rule), so in a backlog (the worst minute: a crash, an RPC under load) `item.block` can be older than the state a
// non-archive node serves (geth's default: the last 128 blocks; a fast L2 crosses that in well under a minute). The
// pinned read then fails, the fleet step swallows it (`.catch(() => undefined)`, no degraded read, no alert), and the
// snapshot has no liquidity bound: the donor's borrow is sized past what the market can lend, item 8's revert in every
// block. Before f11f this read was at `latest` and answered.
const HEAD = 10_000n
const SERVED = 128n
const OLD = HEAD - 200n

vi.mock("@levpilot/sdk/utils", async (original) => ({
  ...(await original<typeof import("@levpilot/sdk/utils")>()),
  readMany: vi.fn(async (_client: unknown, _deployment: unknown, contracts: readonly { functionName: string }[], blockNumber?: bigint) => {
    // A full node: state older than the last 128 blocks is gone.
    if (blockNumber !== undefined && blockNumber < HEAD - SERVED) throw new Error(`missing trie node (state at block ${blockNumber} is not available)`)
    // MORPHO(), then market(id): 1,000 loan units free (supply 11,000, borrows 10,000).
    return contracts.map((c) => ({ status: "success", result: c.functionName === "MORPHO" ? "0x00000000000000000000000000000000000000e1" : [11_000n * 10n ** 18n, 11_000n * 10n ** 18n, 10_000n * 10n ** 18n, 10_000n * 10n ** 18n, 0n, 0n] }))
  }),
}))

const LOW = `0x${"10".repeat(32)}` as Hex
const DONOR = `0x${"d0".repeat(32)}` as Hex
const RISK = STEP_RISK
const sub = fleetSub
const state = { safe: SAFE, tokens: [{ token: LOAN, decimals: 18, balance: 0n }, { token: WETH, decimals: 18, balance: 0n }], pools: [], unreadable: [], subAccounts: [sub(LOW, 1.02, "below"), sub(DONOR, 3.0, "above", 3.5)] }
const deployment = { adapters: { morphoBlue: ADAPTER } } as never
const client = { chain: { id: 1 } } as never

/** The fleet step's lines (fleet/step.ts): the liquidity read at the lens's block (readBorrowableBounded); then the plan sent. */
async function fleetBorrow(block: bigint, read: "bounded" | "as-it-was" = "bounded") {
  const { portfolioOf, readBorrowable, readBorrowableBounded, toChainPlan } = await import("./portfolio.js")
  const degraded: import("./portfolio.js").DegradedRead[] = []
  const borrowable =
    read === "bounded"
      ? await readBorrowableBounded(client, deployment, state.subAccounts as never, block, degraded)
      : await readBorrowable(client, deployment, state.subAccounts as never, block).catch(() => undefined)
  const snapshot = portfolioOf(state as never, { blockNumber: block, timestamp: 1_700_000_000n, risk: RISK, costs: keeperCosts({ costs: { gasPriceGwei: 1, nativePrice: 3000 } } as never), borrowable, degraded })
  const plan = [...solveByLoanAsset(snapshot.input).values()][0]?.plan
  const sent = plan && clampPlanToChainBounds(toChainPlan(plan), snapshot.bounds).plan
  return { bound: snapshot.bounds.subAccounts[DONOR]?.borrowable, borrowed: (sent?.actions ?? []).filter((a) => a.kind === "Borrow").reduce((t, a) => t + a.amount, 0n), degraded: snapshot.degraded ?? [] }
}

test("rr11f F4 (as it was): the pinned read swallowed (`.catch(() => undefined)`) leaves a step 200 blocks behind with no liquidity bound: it borrows past the market's 1,000 free", async () => {
  const fresh = await fleetBorrow(HEAD - 1n, "as-it-was")
  expect(fresh.bound).toBe(1_000n * 10n ** 18n)
  expect(fresh.borrowed).toBeLessThanOrEqual(1_000n * 10n ** 18n)
  const lagging = await fleetBorrow(OLD, "as-it-was")
  expect(lagging.bound).toBeUndefined()
  expect(lagging.borrowed).toBeGreaterThan(10_000n * 10n ** 18n)
  expect(lagging.degraded).toEqual([])
})

// Was FAILS TODAY (rr11f F4): a pinned read the node no longer serves is bound at `latest` and recorded degraded.
test("rr11f F4: the lagging step still holds the donor's borrow to the market's free liquidity, read at latest, recorded degraded", async () => {
  const fresh = await fleetBorrow(HEAD - 1n)
  expect(fresh.bound).toBe(1_000n * 10n ** 18n)
  expect(fresh.degraded).toEqual([])
  const lagging = await fleetBorrow(OLD)
  expect(lagging.bound).toBe(1_000n * 10n ** 18n)
  expect(lagging.borrowed).toBeLessThanOrEqual(1_000n * 10n ** 18n)
  expect(lagging.degraded.map((d) => [d.read, d.detail])).toEqual([["borrowable", "latest"]])
})

test("rr11f F4: when latest does not read either, no borrow is planned on the market (bound 0), recorded degraded", async () => {
  const { readMany } = await import("@levpilot/sdk/utils")
  vi.mocked(readMany).mockRejectedValueOnce(new Error("missing trie node")).mockRejectedValueOnce(new Error("connection refused"))
  const lagging = await fleetBorrow(OLD)
  expect(lagging.bound).toBe(0n)
  expect(lagging.borrowed).toBe(0n)
  expect(lagging.degraded.map((d) => [d.read, d.detail])).toEqual([["borrowable", "none"]])
})
