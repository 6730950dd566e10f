import type { Hex } from "viem"
import { expect, test } from "vitest"
import { clampPlanToChainBounds } from "./chainBounds.js"

// Review rr11b B2 in the solver's own shape: a target's donor borrow comes right before its ONE folded Repay (idle part
// plus the borrow, so no amount matches the borrow), and a later due target is repaid from the idle balance. 0x02's
// market lends nothing: the folded repay loses the borrow's part only, the later idle-funded rescue is kept whole.
const LOAN = "0x00000000000000000000000000000000000000b1"
const id = (b: string) => `0x${b.repeat(32)}` as Hex
const sub = (debt: bigint, token: string, extra: object = {}) => ({ debt, collateral: 100_000_000000n, loanToken: LOAN, collateralToken: token, price: 10n ** 36n, maxSlippageBps: 50, due: true, ...extra })

for (const borrowable of [0n, 4_000_000000n])
  test(`folded donor repay (donor lends ${borrowable}): the cut falls on its recipient, the later idle-funded due rescue is kept`, () => {
    const { plan: out } = clampPlanToChainBounds(
      {
        subAccounts: [id("01"), id("02"), id("03")],
        actions: [
          { kind: "Borrow", subAccount: 1, amount: 10_000_000000n },
          { kind: "Repay", subAccount: 0, amount: 15_000_000000n },
          { kind: "Repay", subAccount: 2, amount: 8_000_000000n },
        ],
      },
      {
        balances: { [LOAN]: 13_000_000000n },
        maxWithdraw: {},
        poolAsset: {},
        subAccounts: {
          [id("01")]: sub(70_000_000000n, "0xcccccccccccccccccccccccccccccccccccccc01"),
          [id("02")]: { ...sub(10_000_000000n, "0xcccccccccccccccccccccccccccccccccccccc02", { borrowable }), due: false },
          [id("03")]: sub(70_000_000000n, "0xcccccccccccccccccccccccccccccccccccccc03"),
        },
      },
    )
    const show = out?.actions.map((a) => `${a.kind}[${out.subAccounts[a.subAccount]?.slice(0, 4)}]=${a.amount}`).join(" ")
    const repayOf = (s: Hex) => out?.actions.find((a) => a.kind === "Repay" && out.subAccounts[a.subAccount] === s)?.amount
    expect(repayOf(id("03")), show).toBe(8_000_000000n)
    expect(repayOf(id("01")), show).toBe(5_000_000000n + borrowable)
  })
