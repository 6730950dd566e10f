import { type Address, getAddress } from "viem"
import { describe, expect, test } from "vitest"
import { readAaveLimits } from "./aaveLimits.js"
import { SAFE, SUB, USDC, WETH, chain, deployment, mockAaveChain, mockAaveClient, reserveConfig } from "./aaveMockChain.testing.js"
import { h } from "./testing.js"

// Break-it review brk17b (issue 17): Aave v3.0.2's validateBorrow refuses EVERY borrow while the pool's price oracle
// sentinel (PoolAddressesProvider.getPriceOracleSentinel(), set on the L2 deployments: Arbitrum, Optimism, Base, ...)
// answers isBorrowAllowed() == false (sequencer down, or within the grace period after it is back):
// `require(params.priceOracleSentinel == address(0) || IPriceOracleSentinel(...).isBorrowAllowed(),
// Errors.PRICE_ORACLE_SENTINEL_CHECK_FAILED)` ("59"), checked before the caps, isolation, e-mode and LTV rules the keeper
// applies. readAaveLimits never reads the sentinel: the debt reserve's `borrowable` stays its free liquidity, so the
// solver plans boosts and donor borrows (a donor-funded rescue of another sub-account) that revert in every block of
// the outage and grace period, instead of planning the rescue without the Aave donor. Repay, supply and withdraw are
// not gated by it (validateRepay/validateSupply/validateWithdraw/validateHFAndLtv do not read the sentinel).

const SENTINEL: Address = getAddress("0x00000000000000000000000000000000000000e5")

/** The mock chain: the Safe supplies 10 WETH and borrows USDC; the pool's sentinel answers `borrowAllowed`. */
function clientOf(borrowAllowed: boolean) {
  return mockAaveClient(
    mockAaveChain({
      reserves: {
        [WETH]: { id: 0, configuration: reserveConfig(8_000n, 18n), decimals: 18, price: 3_000n * 10n ** 8n },
        [USDC]: { id: 1, configuration: reserveConfig(0n, 6n), decimals: 6, price: 10n ** 8n },
      },
      userConfiguration: (1n << 1n) | (1n << 2n), // WETH (id 0) as collateral, USDC (id 1) borrowed
      accountData: [30_000n * 10n ** 8n, 15_000n * 10n ** 8n, 9_000n * 10n ** 8n, 8_600n, 8_000n, h(1.72)],
      supplied: { [WETH]: 10n * 10n ** 18n },
      sentinel: { address: SENTINEL, borrowAllowed },
    }),
  )
}

describe("readAaveLimits: the pool's price oracle sentinel", () => {
  test("isBorrowAllowed() true: the debt reserve lends its free liquidity (control)", async () => {
    const { client } = clientOf(true)
    const limits = await readAaveLimits(client, deployment, chain, SAFE, 7n)
    expect(limits[SUB]?.debt.borrowable).toBeGreaterThan(0n)
  })
  test("isBorrowAllowed() false (sequencer down / grace period): no borrow is lendable, repay/supply/withdraw untouched (FAILS on c88250c: borrowable = liquidity)", async () => {
    const { client } = clientOf(false)
    const limits = await readAaveLimits(client, deployment, chain, SAFE, 7n)
    const open = await readAaveLimits(clientOf(true).client, deployment, chain, SAFE, 7n)
    expect(limits[SUB]?.collateral.withdrawable).toBe(open[SUB]?.collateral.withdrawable)
    expect(limits[SUB]?.debt.borrowable).toBe(0n)
  })
})
