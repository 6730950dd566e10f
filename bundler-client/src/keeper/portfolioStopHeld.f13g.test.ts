import { type Address, type Hex, custom } from "viem"
import { afterEach, describe, expect, it, vi } from "vitest"
import { withStopHeld } from "../solver/solver.js"

// Review rr13s S3 (docs/reviews/issue13-rr13s.md), fixed on f13g: the live keeper read no stop-loss, so while a stop held
// (engaged, or up to its re-arm price) a sub-account above maxHealth looked boost-due at every block; the send's
// validation refused the boost (NoTrigger) at every block and the sender alerted send-failed every 3 blocks (10 alerts in
// 30 blocks). `readPortfolio` now reads each sub-account's `getStopLoss` in its pinned multicall and, while the stop holds
// (the rule book's stopStateOf at the snapshot's venue price), hands the solver and the bounds boostAllowed false: no boost
// is planned, so nothing is sent and nothing alerts.

const BLOCK = 1_234n
const reads: { functions: string[]; blockNumber: bigint | undefined }[] = []
const SAFE = "0x00000000000000000000000000000000000005af" as Address
const MORPHO_ADAPTER = "0x0000000000000000000000000000000000000001" as Address
const LOAN = "0x00000000000000000000000000000000000000b1" as Address
const COLL = "0x00000000000000000000000000000000000000c1" as Address
const MORPHO = "0x00000000000000000000000000000000000000e1" as Address
const SUB = `0x${"aa".repeat(32)}` as Hex
const PRICE = 3000n * 10n ** 24n
const state = { stop: { stopPrice: 0n, exitHealth: 0n } as { stopPrice: bigint; exitHealth: bigint } | undefined, deviationBps: 0 }

vi.mock("viem/actions", async (original) => ({ ...(await original<typeof import("viem/actions")>()), getBlock: vi.fn(async () => ({ number: BLOCK, timestamp: 1_700_000_000n })) }))
vi.mock("@levpilot/sdk/actions", async (original) => ({
  ...(await original<typeof import("@levpilot/sdk/actions")>()),
  getSubAccountStateSettled: vi.fn(async () => ({
    unreadable: [],
    states: [
      {
        subAccount: SUB,
        loanToken: LOAN,
        collateralToken: COLL,
        collateral: 10n ** 18n,
        debt: 10n ** 21n,
        price: PRICE,
        lltv: 86n * 10n ** 16n,
        health: 258n * 10n ** 16n,
        equity: 2n * 10n ** 21n,
        band: "above",
        epochUsage: { epoch: 0, lastRebalance: 0, rebalances: 0, lossPpb: 0, gasUsed: 0, amountMoved: 0n },
        policy: { adapter: MORPHO_ADAPTER, market: SUB, pools: [], boostAllowed: true, maxSlippageBps: 0, maxOracleDeviationBps: state.deviationBps, minHealth: 15n * 10n ** 17n, targetHealth: 18n * 10n ** 17n, maxHealth: 21n * 10n ** 17n },
      },
    ],
  })),
}))
vi.mock("@levpilot/sdk/utils", async (original) => ({
  ...(await original<typeof import("@levpilot/sdk/utils")>()),
  readMany: vi.fn(async (_client: unknown, _deployment: unknown, contracts: readonly { functionName: string }[], blockNumber?: bigint) => {
    reads.push({ functions: contracts.map((c) => c.functionName), blockNumber })
    const answer: Record<string, unknown> = { decimals: 18, balanceOf: 0n, MORPHO, market: [10n ** 22n, 10n ** 22n, 10n ** 21n, 10n ** 21n, 0n, 0n], getStopLoss: state.stop }
    return contracts.map((c) => (c.functionName === "getStopLoss" && state.stop === undefined ? { status: "failure", error: new Error("read failed") } : { status: "success", result: answer[c.functionName] }))
  }),
}))

afterEach(() => {
  reads.length = 0
})

async function snapshotWith(stop: { stopPrice: bigint; exitHealth: bigint } | undefined, deviationBps = 0) {
  state.stop = stop
  state.deviationBps = deviationBps
  const { readPortfolio } = await import("./portfolio.js")
  const client = { chain: { id: 31_337 }, transport: custom({ request: async ({ method }) => Promise.reject(new Error(`unrecorded ${method}`)) }) } as never
  const deployment = { leverageModule: "0x00000000000000000000000000000000000000aa", adapters: { morphoBlue: MORPHO_ADAPTER }, multicall3: "0x00000000000000000000000000000000000000ca" } as never
  const snapshot = await readPortfolio(client, { safe: SAFE, deployment, risk: { mode: "expected" } as never, costs: {} as never })
  // k13s: the snapshot keeps the policy as read and carries the stop; the solver masks the boost (`withStopHeld`, in `solve`).
  return { boost: withStopHeld(snapshot.input).subAccounts[0]?.policy.boostAllowed, due: snapshot.bounds.subAccounts[SUB]?.due }
}

describe("f13g (rr13s S3): the keeper plans no boost while the sub-account's stop holds", () => {
  it("no stop, or a stop re-armed (price above stopPrice x (1 + max(deviation, MIN_REARM_BPS))): boost-due as before", async () => {
    expect(await snapshotWith({ stopPrice: 0n, exitHealth: 0n })).toEqual({ boost: true, due: true })
    // 1 % re-arm (MIN_REARM_BPS 100, deviation 0): a stop 2 % under the price is re-armed.
    expect(await snapshotWith({ stopPrice: (PRICE * 98n) / 100n, exitHealth: 3n * 10n ** 18n })).toEqual({ boost: true, due: true })
    // The stop is read in the snapshot's pinned multicall.
    expect(reads.filter((r) => r.functions.includes("getStopLoss")).map((r) => r.blockNumber)).toEqual([BLOCK, BLOCK])
  })

  it("held (stopPrice < price <= the re-arm price, even with deviation 0) or engaged: no boost; not due, unless engaged under its exitHealth", async () => {
    expect(await snapshotWith({ stopPrice: (PRICE * 995n) / 1000n, exitHealth: 3n * 10n ** 18n })).toEqual({ boost: false, due: false })
    expect(await snapshotWith({ stopPrice: (PRICE * 97n) / 100n, exitHealth: 3n * 10n ** 18n }, 400)).toEqual({ boost: false, due: false })
    // Engaged with health 2.58 under its exitHealth 3: no boost, and due for the stop's exit (f13h, the module's
    // `_trigger`: due below exitHealth while engaged), which the keeper now plans (stopExit.f13h.test.ts).
    expect(await snapshotWith({ stopPrice: PRICE, exitHealth: 3n * 10n ** 18n })).toEqual({ boost: false, due: true })
    expect(await snapshotWith({ stopPrice: PRICE, exitHealth: 2n * 10n ** 18n + 2n * 10n ** 17n })).toEqual({ boost: false, due: false })
  })

  it("an unread stop leaves the policy as read (the send's validation still reads it)", async () => {
    expect(await snapshotWith(undefined)).toEqual({ boost: true, due: true })
  })
})
