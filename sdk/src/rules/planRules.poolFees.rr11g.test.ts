import { type Address, zeroAddress } from "viem"
import { expect, test } from "vitest"
import { checkRebalanceRules, poolEntryFeeBpsOf, poolFeeBpsOf } from "./planRules.js"
import { rng } from "./rules.testing.js"

// Review rr11g G1: a pool's fee is per side. `entryFeeBps` / `exitFeeBps` replace `feeBps` (both sides) on their side,
// and the entry fee is read by `poolEntryFeeBpsOf` (previewDeposit vs convertToShares), the mirror of `poolFeeBpsOf`.
const BPS = 10_000n
const ceilDiv = (a: bigint, b: bigint) => (a + b - 1n) / b

test("poolEntryFeeBpsOf reads OZ ERC4626Fees' entry fee exactly over fees 0-5,000 bps, share prices and decimals offsets", () => {
  const r = rng(11)
  let cases = 0
  const misreads: string[] = []
  for (let k = 0; k < 2_000; k++) {
    const fee = BigInt(Math.floor(r() * 5_001))
    const assets = BigInt(Math.floor(10 ** (5 + r() * 19)))
    // Share price: supply / assets between 1/3 and 3, times a decimals offset 10^0..10^6 (OZ v5 _decimalsOffset).
    const offset = 10n ** BigInt(Math.floor(r() * 7))
    const supply = (assets * BigInt(Math.floor(1 + r() * 8))) / 3n + 1n
    const toShares = (x: bigint) => (x * (supply + offset)) / (assets + 1n) // OZ: mulDiv(x, supply + 10^offset, assets + 1), down
    const gross = toShares(assets)
    const net = toShares(assets - ceilDiv(assets * fee, fee + BPS))
    cases++
    const read = poolEntryFeeBpsOf(gross, net, assets)
    if (read !== fee) misreads.push(`fee ${fee} assets ${assets} supply ${supply} offset ${offset}: ${read}`)
  }
  expect(cases).toBe(2_000)
  expect(misreads).toEqual([])
  expect(poolEntryFeeBpsOf(10n ** 24n, 10n ** 24n)).toBe(0n)
  expect(poolEntryFeeBpsOf(0n, 0n)).toBeUndefined()
})

const LOAN: Address = "0x00000000000000000000000000000000000000b1"
const COLL: Address = "0x00000000000000000000000000000000000000c1"
const POOL: Address = "0x00000000000000000000000000000000000000d1"
const A = `0x${"aa".repeat(32)}` as const
const WAD = 10n ** 18n
const policy = {
  adapter: "0x0000000000000000000000000000000000000001", market: A, priceFeed: zeroAddress,
  minHealth: (14n * WAD) / 10n, targetHealth: (16n * WAD) / 10n, maxHealth: 2n * WAD,
  cooldown: 0, epochLength: 86_400, maxGasPerEpoch: 10n ** 9n, maxOracleAge: 3_600,
  maxLossBps: 50, maxEpochLossBps: 1_000, maxRebalancesPerEpoch: 10, maxOracleDeviationBps: 0, boostAllowed: true, maxSlippageBps: 0,
  maxAmountPerRebalance: 10n ** 30n, maxAmountPerEpoch: 10n ** 30n, minFeedAnswer: 0n, maxFeedAnswer: 0n, pools: [POOL],
}
const state = { loanToken: LOAN, collateralToken: COLL, collateral: WAD, debt: 1_000n * WAD, price: 3_000n * 10n ** 36n, lltv: (86n * WAD) / 100n }
const usage = { epoch: 0, lastRebalance: 0, rebalances: 0, lossPpb: 0, gasUsed: 0, amountMoved: 0n }
const pool = { address: POOL, asset: LOAN, totalAssets: 10n ** 24n, totalSupply: 10n ** 24n, shares: 1_000n * WAD }
const boost = (6125n * WAD) / 10n
const verdict = (fees: { feeBps?: bigint; entryFeeBps?: bigint; exitFeeBps?: bigint }) =>
  checkRebalanceRules({
    plan: { subAccounts: [A], actions: [{ kind: "Borrow", subAccount: 0, amount: boost }, { kind: "DepositToPool", subAccount: 0, pool: POOL, amount: boost }] },
    subAccounts: [{ id: A, policy: policy as never, state, usage }],
    pools: [{ ...pool, ...fees }],
    balances: { [LOAN]: 0n, [COLL]: 0n },
    swapAdapter: zeroAddress,
    timestamp: 1_700_000_000n,
    gasUsed: 0n,
  })

test("a boost's deposit is charged the entry fee only: exitFeeBps alone costs nothing, entryFeeBps (or feeBps, both sides) is charged", () => {
  expect(poolFeeBpsOf(10n ** 24n, 10n ** 24n - ceilDiv(10n ** 24n * 100n, 10_100n))).toBe(100n)
  expect(verdict({}).ok).toBe(true)
  expect(verdict({ exitFeeBps: 100n }).ok).toBe(true)
  // entryFeeBps takes feeBps's place on the deposit side.
  expect(verdict({ feeBps: 100n, entryFeeBps: 0n }).ok).toBe(true)
  for (const fees of [{ feeBps: 100n }, { entryFeeBps: 100n }, { feeBps: 0n, entryFeeBps: 100n }]) {
    const v = verdict(fees)
    expect(v.ok === false && v.error.name, JSON.stringify(fees, (_, x) => (typeof x === "bigint" ? `${x}` : x))).toBe("ValueLossExceeded")
  }
})
