import { describe, expect, test } from "vitest"
import { DEFAULT_STATE_HISTORY, startAnvil } from "./anvil.js"

const rpc = async (url: string, method: string, params: unknown[]) => {
  const res = (await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }) }).then((r) => r.json())) as {
    result?: unknown
    error?: { message: string }
  }
  return res
}
const hex = (n: number) => `0x${n.toString(16)}`
const WHO = "0x00000000000000000000000000000000000000b0"

describe("startAnvil: block states in memory only (--prune-history)", () => {
  test("state at the last `stateHistory` blocks is readable, older state is refused (nothing kept on disk)", async () => {
    expect(DEFAULT_STATE_HISTORY).toBeGreaterThanOrEqual(64)
    await expect(startAnvil({ stateHistory: 0 })).rejects.toThrow(/stateHistory/)
    const anvil = await startAnvil({ stateHistory: 16 })
    try {
      // 40 blocks, each mined explicitly with one tx sending 1 wei to WHO: block n holds balance n. Automine is off:
      // under load anvil's automine can fold two quick transactions into one block (clean-clone CI read head 39 of 40).
      const from = ((await rpc(anvil.rpcUrl, "eth_accounts", [])).result as string[])[0]
      expect((await rpc(anvil.rpcUrl, "evm_setAutomine", [false])).error).toBeUndefined()
      for (let n = 1; n <= 40; n++) {
        expect((await rpc(anvil.rpcUrl, "eth_sendTransaction", [{ from, to: WHO, value: "0x1" }])).error).toBeUndefined()
        expect((await rpc(anvil.rpcUrl, "evm_mine", [])).error).toBeUndefined()
      }
      expect(Number((await rpc(anvil.rpcUrl, "eth_blockNumber", [])).result)).toBe(40)
      const head = 40
      const at = (n: number) => rpc(anvil.rpcUrl, "eth_getBalance", [WHO, hex(n)])
      expect(Number((await at(head)).result)).toBe(40)
      expect(Number((await at(head - 10)).result)).toBe(30)
      // 30 blocks back: beyond the 16 kept.
      const old = await at(head - 30)
      expect(old.result).toBeUndefined()
      expect(old.error?.message).toMatch(/block|state|range/i)
    } finally {
      await anvil.stop()
    }
  })
})
