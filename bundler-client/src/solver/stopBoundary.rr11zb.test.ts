import { expect, test } from "vitest"
import { stopStateOf } from "@levpilot/sdk/rules"
import { stopHolds } from "./solver.js"

// Review rr11zb B4 ("one rule book"; k13s): `stopHolds` (solver.ts) re-implements the module's stop rule
// (RebalanceLib `_trigger`, the SDK's exact `stopStateOf`) in floats, on prices converted as the keeper converts them
// (portfolio.ts: Number(price) / 1e36 x 10^(cd - ld)). Searched: random 1e36-scaled stop prices, the price exactly at the
// re-arm bound (price x 10,000 = stopPrice x (10,000 + 100)) and one unit above: the count of disagreements is printed;
// a disagreement where the float says "not held" and the chain says "held" is a boost the solver plans and the module
// (and the keeper's clamp judge) refuses with NoTrigger. Low: only within ~1e-16 relative of the bound.
// Gated by RR11ZB_FAILING (FAILS TODAY).
const failing = process.env.RR11ZB_FAILING === "true"
const conv = (x: bigint, cd: number, ld: number) => (Number(x) / 1e36) * 10 ** (cd - ld)

function disagreements(n: number) {
  let seed = 12345
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648)
  const found: { stop: bigint; price: bigint; chain: boolean; float: boolean }[] = []
  for (let i = 0; i < n; i++) {
    const [cd, ld] = [[18, 6], [18, 18], [8, 6], [18, 8]][i % 4] as [number, number]
    // A stop price around 3,000 loan per collateral at the venue's 1e36 scale, times 100 so the re-arm bound is exact.
    const human = 100 + rnd() * 60_000
    const stop = (BigInt(Math.floor(human * 1e6)) * 10n ** BigInt(30 + ld - cd + 6)) / 10n ** 6n / 100n * 100n
    for (const price of [(stop * 10_100n) / 10_000n, (stop * 10_100n) / 10_000n + 1n, (stop * 10_100n) / 10_000n - 1n]) {
      const chain = stopStateOf({ stopPrice: stop, exitHealth: 2n * 10n ** 18n }, price, 0) !== 0n
      const float = stopHolds({ state: { price: conv(price, cd, ld) }, policy: { stopPrice: conv(stop, cd, ld), maxOracleDeviationBps: 0 } })
      if (chain !== float) found.push({ stop, price, chain, float })
    }
  }
  return found
}

test.skipIf(!failing)("rr11zb B4 FAILS TODAY (measured: of 12,000 cases at the re-arm bound and one unit either side, 5,056 disagree, 2,112 of them held on chain and not held by the solver): the solver's stop rule agrees with the module's exactly at the re-arm bound", () => {
  expect(disagreements(4000).filter((f) => f.chain && !f.float)).toEqual([])
})
