import { describe, expect, test } from "vitest"
import { readAaveLimits } from "./aaveLimits.js"
import { SAFE, SUB, USDC, WETH, chain as chainOf, deployment, mockAaveChain, mockAaveClient, reserveConfig } from "./aaveMockChain.testing.js"
import { OPEN_AAVE_RESERVE, aaveSnapshotOf, h } from "./testing.js"
import { toRuleInput } from "../solver/policyRules.js"
import { atInclusion } from "../solver/solver.js"

// u17: the keeper hands the rule book Aave's base-currency figures (`aaveBase`) read at the snapshot's block, so the
// solver's rule check and the send's SDK validation read Aave's factor after a plan in Aave's own integer math
// (planRules.aaveSmallExact.u17.test.ts). Mock chain: aaveMockChain.testing.ts (WETH collateral, USDC debt, 15,000 USDC
// variable debt from `maxRepayable`, no stable debt).

const BLOCK = 1_234n
const FRAME = 9_876_543_210_987_654_321n
const lensChain = [{ ...(chainOf as unknown as readonly Record<string, unknown>[])[0], collateral: FRAME }] as never
const accountData = [30_000n * 10n ** 8n, 15_000n * 10n ** 8n, 9_000n * 10n ** 8n, 8_600n, 8_000n, h(1.72)] as const
const mock = mockAaveChain({
  reserves: {
    [WETH]: { id: 0, configuration: reserveConfig(8_000n, 18n, 1_000n), decimals: 18, price: 3_000n * 10n ** 8n },
    [USDC]: { id: 1, configuration: reserveConfig(7_500n, 6n, 1_000n), decimals: 6, price: 10n ** 8n },
  },
  userConfiguration: (1n << 1n) | (1n << 2n),
  accountData,
  supplied: { [WETH]: 10n * 10n ** 18n },
})

describe("u17: readAaveLimits reads Aave's base-currency figures for the rule book", () => {
  test("pinned to a block: getUserAccountData's totals and average, both reserves' prices, decimals and balances, the lens's frame; shared with the send", async () => {
    const limits = await readAaveLimits(mockAaveClient(mock).client, deployment, lensChain, SAFE, BLOCK)
    const l = limits[SUB.toLowerCase()]
    const expected = {
      totalCollateralBase: accountData[0], totalDebtBase: accountData[1], currentLiquidationThreshold: accountData[3],
      collateralPrice: 3_000n * 10n ** 8n, collateralDecimals: 18, collateralBalance: 10n * 10n ** 18n,
      debtPrice: 10n ** 8n, debtDecimals: 6, debtBalance: 15_000n * 10n ** 6n, frameCollateral: FRAME,
    }
    expect(l?.aaveBase).toEqual(expected)
    expect(l?.collateralShare?.base?.[WETH.toLowerCase()]).toEqual(expected)
  })
  test("not pinned (no block): none (the lens's frame may be from another block)", async () => {
    const limits = await readAaveLimits(mockAaveClient(mock).client, deployment, lensChain, SAFE)
    expect(limits[SUB.toLowerCase()]?.aaveBase).toBeUndefined()
  })
  test("the account data read fails: none", async () => {
    const limits = await readAaveLimits(mockAaveClient(mock, { failing: ["getUserAccountData"] }).client, deployment, lensChain, SAFE, BLOCK)
    expect(limits[SUB.toLowerCase()]?.aaveBase).toBeUndefined()
  })
  test("the solver's state carries them to its rule check, and atInclusion drops them at a moved price", async () => {
    const limits = await readAaveLimits(mockAaveClient(mock).client, deployment, lensChain, SAFE, BLOCK)
    const aaveBase = limits[SUB.toLowerCase()]?.aaveBase
    const snapshot = aaveSnapshotOf({ debt: OPEN_AAVE_RESERVE, collateral: OPEN_AAVE_RESERVE, repayableDebt: undefined, aaveBase })
    const sub = snapshot.input.subAccounts[0]
    if (sub === undefined) throw new Error("no sub-account")
    expect(sub.state.aaveBase).toEqual(aaveBase)
    const pre = { subAccounts: [sub.state], pools: snapshot.input.pools, idle: snapshot.input.idle }
    const rules = toRuleInput({ plan: { subAccounts: [sub.state.id], actions: [], gas: 0 } as never, pre, policies: { [sub.state.id]: sub.policy }, epochs: { [sub.state.id]: sub.epoch }, now: 0 }, [sub.state])
    expect(rules.subAccounts[0]?.state.aaveBase).toEqual(aaveBase)
    const moved = atInclusion({ ...snapshot.input, subAccounts: [{ ...sub, inclusionDrift: -0.01 }] }).subAccounts[0]
    expect(moved?.state.aaveBase).toBeUndefined()
  })
})
