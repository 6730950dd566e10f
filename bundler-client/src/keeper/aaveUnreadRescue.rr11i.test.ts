import { expect, test } from "vitest"
import type { DegradedRead } from "./portfolio.js"
import { readAaveLimitsBounded } from "./portfolio.js"
import { SAFE, SUB, USDC, WETH, chain, deployment, mockAaveChain, mockAaveClient, reserveConfig } from "./aaveMockChain.testing.js"
import { h } from "./testing.js"

// Review rr11i H4-a: the rr11h H4 fix treats a failed `getSupplyData` (stable debt) as an unread reserve whenever THAT
// reserve has a borrow cap, and an unread reserve gives the whole sub-account `aaveUnreadLimits`: no flash premium
// (portfolio.ts: no swap lane, so no SellCollateral/callback deleverage), no liquidation incentive, no collateralHeld,
// no repayableDebt. Here the borrow-capped reserve is the COLLATERAL (WETH; live WETH reserves carry a borrow cap): its
// stable debt bounds only borrowing WETH, which the sub-account never does, yet the sub-account's swap rescue is gone.
// The same holds for the debt reserve: its stable debt bounds the borrow-cap room only, not the flash premium or repay.
// Fixed (f11m, SECURITY row 92): an unread stable supply under a borrow cap holds only that reserve's `borrowable` at 0;
// the debt reserve's side is in aaveCapRoomUnread.f11m.test.ts.
const capped = mockAaveChain({
  reserves: {
    // WETH with a borrow cap of 1,000 WETH (bits 80-115): the collateral reserve.
    [WETH]: { id: 0, configuration: reserveConfig(8_000n, 18n, 1_000n) | (1_000n << 80n), decimals: 18, price: 3_000n * 10n ** 8n },
    [USDC]: { id: 1, configuration: reserveConfig(0n, 6n, 1_000n), decimals: 6, price: 10n ** 8n },
  },
  userConfiguration: (1n << 1n) | (1n << 2n),
  accountData: [30_000n * 10n ** 8n, 15_000n * 10n ** 8n, 9_000n * 10n ** 8n, 8_600n, 8_000n, h(1.72)],
  supplied: { [WETH]: 10n * 10n ** 18n, [USDC]: 10n * 10n ** 6n },
})
const BLOCK = 1_234n

test("rr11i H4-a control: every read answering, the sub-account has its flash premium (swap lane) and incentive", async () => {
  const ok: DegradedRead[] = []
  const full = await readAaveLimitsBounded(mockAaveClient(capped).client, deployment, chain, SAFE, BLOCK, ok)
  expect(full[SUB.toLowerCase()]?.flashPremiumBps).toBeDefined()
  expect(full[SUB.toLowerCase()]?.liquidationIncentiveFactor).toBeDefined()
  expect(ok).toEqual([])
})

// Was "observed today" (rr11i H4-a: `unread` set, no flash premium, no incentive, `aave-limits` degraded "partial").
// Fixed: the collateral reserve's unread borrow-cap room is ignored; its own borrowable (never used: the sub-account does
// not borrow its collateral asset) is held at 0; the debt reserve lends as read; nothing is degraded.
test("rr11i H4-a fixed: a failed getSupplyData on the borrow-capped COLLATERAL reserve keeps the sub-account's limits, flash premium and incentive; nothing degraded", async () => {
  const degraded: DegradedRead[] = []
  const partial = await readAaveLimitsBounded(mockAaveClient(capped, { failing: ["getSupplyData"] }).client, deployment, chain, SAFE, BLOCK, degraded)
  const l = partial[SUB.toLowerCase()]
  expect(l?.unread).toBeUndefined()
  expect(l?.flashPremiumBps).toBe(5n)
  expect(l?.liquidationIncentiveFactor).toBe(h(1.05))
  expect(l?.collateralHeld).toBe(10n * 10n ** 18n)
  expect(l?.repayableDebt).toBe(15_000n * 10n ** 6n)
  // USDC (no borrow cap) lends its 1,000,000 of liquidity; WETH's cap room is unknown: it lends nothing.
  expect(l?.debt.borrowable).toBe(1_000_000n * 10n ** 6n)
  expect(l?.collateral.borrowable).toBe(0n)
  expect(l?.collateral.withdrawable).toBe(1_000_000n * 10n ** 18n)
  expect(degraded).toEqual([])
})

// Was FAILS TODAY (rr11i H4-a), fixed: the unread stable supply of the COLLATERAL reserve bounds nothing this sub-account
// does (it never borrows WETH): every figure is kept and nothing is degraded.
test("rr11i H4-a FAILS TODAY: an unread borrow-cap room (stable supply) bounds only borrows: the flash premium and incentive are kept", async () => {
  const partial = await readAaveLimitsBounded(mockAaveClient(capped, { failing: ["getSupplyData"] }).client, deployment, chain, SAFE, BLOCK, [])
  const l = partial[SUB.toLowerCase()]
  expect(l?.flashPremiumBps).toBeDefined()
  expect(l?.liquidationIncentiveFactor).toBeDefined()
})
