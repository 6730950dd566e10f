import { describe, expect, test } from "vitest"
import { readAaveLimits } from "./aaveLimits.js"
import { SAFE, USDC, WETH, chain, deployment, mockAaveChain, mockAaveClient, reserveConfig } from "./aaveMockChain.testing.js"
import { OPEN_AAVE_RESERVE, aaveSnapshotOf, h } from "./testing.js"

// Review rr17c F1: a dust collateral at a lower threshold (a few ppb of the account, anyone can supply it onBehalfOf the
// Safe) floors Aave's average a whole bps below the market's inside the float rounding, so the solver assumes the floor
// unless Aave's user configuration shows the market's reserve is the Safe's only collateral (`soleCollateral`).

const BLOCK = 1_234n
const chainWith = (userConfiguration: bigint) =>
  mockAaveChain({
    reserves: {
      [WETH]: { id: 0, configuration: reserveConfig(8_000n, 18n, 1_000n), decimals: 18, price: 3_000n * 10n ** 8n },
      [USDC]: { id: 1, configuration: reserveConfig(7_500n, 6n, 1_000n), decimals: 6, price: 10n ** 8n },
    },
    userConfiguration,
    accountData: [30_000n * 10n ** 8n, 15_000n * 10n ** 8n, 9_000n * 10n ** 8n, 8_600n, 8_000n, h(1.72)],
    supplied: { [WETH]: 10n * 10n ** 18n, [USDC]: 1n },
  })

describe("rr17c F1: readAaveLimits tells the solver whether the market's collateral is the Safe's only one", () => {
  test("WETH alone as collateral (USDC borrowed): soleCollateral true", async () => {
    const limits = await readAaveLimits(mockAaveClient(chainWith((1n << 1n) | (1n << 2n))).client, deployment, chain, SAFE, BLOCK)
    expect(Object.values(limits)[0]?.soleCollateral).toBe(true)
  })
  test("WETH and 1 unit of USDC as collateral: soleCollateral false", async () => {
    const limits = await readAaveLimits(mockAaveClient(chainWith((1n << 1n) | (1n << 2n) | (1n << 3n))).client, deployment, chain, SAFE, BLOCK)
    expect(Object.values(limits)[0]?.soleCollateral).toBe(false)
  })
  test("portfolioOf passes it to the solver's state only when true", () => {
    const base = { debt: OPEN_AAVE_RESERVE, collateral: OPEN_AAVE_RESERVE, repayableDebt: undefined }
    expect(aaveSnapshotOf({ ...base, soleCollateral: true }).input.subAccounts[0]?.state.soleCollateral).toBe(true)
    expect(aaveSnapshotOf({ ...base, soleCollateral: false }).input.subAccounts[0]?.state.soleCollateral).toBeUndefined()
    expect(aaveSnapshotOf(base).input.subAccounts[0]?.state.soleCollateral).toBeUndefined()
  })
})
