import { afterEach, describe, expect, it, vi } from "vitest"

// Review rr17h (d): the keeper's aaveBase must come from ONE block with the lens's frame and state. readAaveLimits
// pins its reads to the block it is given and takes the frame (`frameCollateral`) from the lens entries it is handed.
// The fleet path reads both at `item.block` (getSafeStates pinned). The single-Safe path (`readPortfolio`, safeStep.ts)
// took `getBlock("latest")` first, then read the lens with `getSubAccountStateSettled(client, { safe, deployments })`
// without a block (the node's latest at that call, possibly a later block) and pinned readAaveLimits to the first block;
// fixed: the lens is read at the header's block.

const captured: { blockNumber?: bigint | undefined; called: boolean } = { called: false }
class Stop extends Error {}
vi.mock("viem/actions", async (original) => ({ ...(await original<typeof import("viem/actions")>()), getBlock: vi.fn(async () => ({ number: 1_234n, timestamp: 1_700_000_000n })) }))
vi.mock("@levpilot/sdk/actions", async (original) => ({
  ...(await original<typeof import("@levpilot/sdk/actions")>()),
  getSubAccountStateSettled: vi.fn(async (_client: unknown, parameters: { blockNumber?: bigint }) => {
    captured.called = true
    captured.blockNumber = parameters.blockNumber
    throw new Stop("stop after the lens call")
  }),
}))

afterEach(() => {
  captured.called = false
  captured.blockNumber = undefined
})

async function lensBlockOfReadPortfolio() {
  const { readPortfolio } = await import("./portfolio.js")
  const deployment = { adapters: { morphoBlue: "0x0000000000000000000000000000000000000001", aaveV3: "0x0000000000000000000000000000000000000002" } } as never
  await expect(readPortfolio({ chain: { id: 31_337 } } as never, { safe: "0x00000000000000000000000000000000000005af", deployment, risk: {} as never, costs: {} as never })).rejects.toBeInstanceOf(Stop)
  expect(captured.called).toBe(true)
  return captured.blockNumber
}

describe("rr17h (d): readPortfolio's lens read and its Aave limits (aaveBase) at one block", () => {
  // Was FAILS TODAY (rr17h D1): the lens was read without a block (the node's latest at that call).
  it("readPortfolio reads the lens at the block its readAaveLimits (aaveBase, frameCollateral) is pinned to", async () => {
    expect(await lensBlockOfReadPortfolio()).toBe(1_234n)
  })
})

// Why it matters (the rule book reading a mix of two blocks): sdk/src/rules/planRules.aaveBaseBlocks.rr17h.test.ts.
