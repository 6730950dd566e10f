import { type Address, getAddress } from "viem"
import { describe, expect, test } from "vitest"
import { buildAaveDustCollateralDisable } from "@levpilot/sdk/utils"
import { SAFE, USDC, WETH, deployment, mockAaveChain, mockAaveClient, reserveConfig } from "./aaveMockChain.testing.js"
import { h } from "./testing.js"

// Review brk17c (issue 17, SECURITY row 66), F4. Dust collateral makes every keeper operation dearer (~38k gas per
// reserve per operation; row 66: "an owner self-pay budget sized at twice one honest operation covers fewer than one
// dusted rescue"), and the keeper's `aave-dust-collateral` alert sends the owner to `buildAaveDustCollateralDisable`.
// The builder refuses any switch-off whose health after is below the policies' highest minHealth
// (AaveDustDisableUnhealthyError), comparing with minHealth itself, not with the health before: when the account is
// already below its band (exactly when the dusted rescue is needed and is dearest) it refuses to switch off 1 wei of
// dust worth 0 base units, which does not lower the health factor at all (Aave accepts the call: HF 1.10 >= 1).
// Fixed: refused only when the health after is below minHealth AND below the health before (or below 1).

const DUST: Address = getAddress("0x00000000000000000000000000000000000000d1")

/** WETH (LT 86 %), USDC (the debt) and DUST (1 USD), all enabled for the account: the reserves of every case below. */
const RESERVES = {
  reserves: {
    [WETH]: { id: 0, configuration: reserveConfig(8_000n, 18n), decimals: 18, price: 3_000n * 10n ** 8n },
    [USDC]: { id: 1, configuration: reserveConfig(0n, 6n), decimals: 6, price: 10n ** 8n },
    [DUST]: { id: 2, configuration: reserveConfig(7_000n, 18n), decimals: 18, price: 10n ** 8n },
  },
  userConfiguration: (1n << 1n) | (1n << 2n) | (1n << 5n),
}

describe("the owner's dust fix on an account below its band", () => {
  // 10 WETH at 3,000 (LT 86 %), 23,454 USDC debt: health 30,000 x 0.86 / 23,454 = 1.1000, below minHealth 1.2.
  // 1 wei of aDUST (price 1 USD): worth 0 base units, enabled as collateral.
  const { client } = mockAaveClient(
    mockAaveChain({
      ...RESERVES,
      accountData: [30_000n * 10n ** 8n, 23_454n * 10n ** 8n, 0n, 8_600n, 8_000n, (30_000n * 8_600n * 10n ** 18n) / (23_454n * 10_000n)],
      supplied: { [WETH]: 10n * 10n ** 18n, [DUST]: 1n },
    }),
  )
  const subAccounts = [{ collateralToken: WETH, policy: { minHealth: h(1.2) } }]

  test("switching off dust worth 0 is built (the health after equals the health before)", async () => {
    const { calls, reserves, healthAfter } = await buildAaveDustCollateralDisable(client, { deployment, safe: SAFE, subAccounts })
    expect(reserves.map((r) => r.asset)).toEqual([DUST])
    expect(calls).toHaveLength(1)
    // Aave's arithmetic (percentMul, wadDiv half up) on 30,000 USD at 8,600 bps over 23,454 USD: unchanged by the switch-off.
    const debt = 23_454n * 10n ** 8n
    expect(healthAfter).toBe((((30_000n * 10n ** 8n * 8_600n + 5_000n) / 10_000n) * 10n ** 18n + debt / 2n) / debt)
  })

  test("a switch-off that lowers the health of an account below its band is still refused", async () => {
    // The same account with 0.99 USD of DUST (at 8,600 bps): switching it off takes 0.99 x 0.86 USD of health.
    const total = 30_000n * 10n ** 8n + 99_000_000n
    const { client: dusted } = mockAaveClient(
      mockAaveChain({
        ...RESERVES,
        accountData: [total, 23_454n * 10n ** 8n, 0n, 8_600n, 8_000n, (total * 8_600n * 10n ** 18n) / (23_454n * 10_000n)],
        supplied: { [WETH]: 10n * 10n ** 18n, [DUST]: 99n * 10n ** 16n },
      }),
    )
    await expect(buildAaveDustCollateralDisable(dusted, { deployment, safe: SAFE, subAccounts })).rejects.toMatchObject({ name: "AaveDustDisableUnhealthyError", minHealth: h(1.2) })
    // Inside its band (minHealth 1.05) the same switch-off is built.
    const built = await buildAaveDustCollateralDisable(dusted, { deployment, safe: SAFE, subAccounts: [{ collateralToken: WETH, policy: { minHealth: h(1.05) } }] })
    expect(built.calls).toHaveLength(1)
  })
})
