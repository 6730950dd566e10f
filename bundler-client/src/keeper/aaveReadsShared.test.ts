import { describe, expect, test } from "vitest"
import { readAaveCollateral } from "@levpilot/sdk/utils"
import { readAaveLimits } from "./aaveLimits.js"
import { SAFE, USDC, WETH, chain, deployment, mockAaveChain, mockAaveClient, reserveConfig } from "./aaveMockChain.testing.js"
import { h } from "./testing.js"

// Review mend (issue 17): at send the keeper's readAaveLimits (the snapshot) and the SDK's readAaveCollateral (inside
// validateRebalance) read the same reserves and account; readAaveLimits read each reserve in ~8 calls over five batched
// rounds (requests). Now readAaveLimits reads in three rounds (a stable debt token's `getSupplyData` also gives its
// supply; the reserve data joins the account round, the prices the balances round), pinned to the snapshot's block, and
// hands the SDK's validation what it read (`collateralShare`, `sendRebalance`'s `aaveCollateral`): a validation at the
// same block sends no request for it. Counted on the transport: eth_call requests.

const BLOCK = 1_234n

/** The chain: one Safe supplying 10 WETH and 10 USDC and borrowing USDC; WETH (id 0, LTV 80 %) and USDC (id 1), reserve factor 10 %. */
const answer = mockAaveChain({
  reserves: {
    [WETH]: { id: 0, configuration: reserveConfig(8_000n, 18n, 1_000n), decimals: 18, price: 3_000n * 10n ** 8n },
    [USDC]: { id: 1, configuration: reserveConfig(0n, 6n, 1_000n), decimals: 6, price: 10n ** 8n },
  },
  userConfiguration: (1n << 1n) | (1n << 2n), // WETH (id 0) as collateral, USDC (id 1) borrowed
  accountData: [30_000n * 10n ** 8n, 15_000n * 10n ** 8n, 9_000n * 10n ** 8n, 8_600n, 8_000n, h(1.72)],
  supplied: { [WETH]: 10n * 10n ** 18n, [USDC]: 10n * 10n ** 6n },
})

describe("one read of the Aave reserves per send: the keeper's snapshot read, shared with the SDK's validation", () => {
  test("readAaveLimits: 3 requests per snapshot (5 before: reserve data, balances and prices each their own round); the SDK's readAaveCollateral at the same block: 0 (3 before), the same figures", async () => {
    const { client, count } = mockAaveClient(answer)
    await readAaveLimits(client, deployment, chain, SAFE, BLOCK) // the adapter's pool and its provider, read once per process
    count.calls = 0
    const limits = await readAaveLimits(client, deployment, chain, SAFE, BLOCK)
    expect(count.calls).toBe(3)
    const l = Object.values(limits)[0]
    expect(l?.ltvBorrowable).toBeGreaterThan(0n)
    expect(l?.ltvGain?.ltvBps).toBe(8_000n)
    const share = l?.collateralShare
    expect(share?.blockNumber).toBe(BLOCK)

    // The validation's own read (what it did on every send before), and with the keeper's read at the same block.
    count.calls = 0
    const read = await readAaveCollateral(client, { deployment, safe: SAFE, collaterals: [WETH], blockNumber: BLOCK })
    const readRequests = count.calls
    expect(readRequests).toBe(3)
    count.calls = 0
    const shared = await readAaveCollateral(client, { deployment, safe: SAFE, collaterals: [WETH], blockNumber: BLOCK, shared: share })
    expect(count.calls).toBe(0)
    expect(shared).toEqual(read)
    expect(read[0]).toEqual({ held: 10n * 10n ** 18n, enabled: true, withdrawBlocked: false })
    // At another block (a block was mined between the snapshot and the send) the validation reads for itself.
    count.calls = 0
    expect(await readAaveCollateral(client, { deployment, safe: SAFE, collaterals: [WETH], blockNumber: BLOCK + 1n, shared: share })).toEqual(read)
    expect(count.calls).toBe(readRequests)
  })
})
