import { createClient, custom, type Hash, WaitForTransactionReceiptTimeoutError } from "viem"
import { waitForTransactionReceipt } from "viem/actions"
import { describe, expect, test } from "vitest"
import { waitForHead, waitForReceipt } from "./receipt.js"

const hash: Hash = `0x${"ab".repeat(32)}`
const receiptJson = {
  transactionHash: hash, transactionIndex: "0x0", blockHash: `0x${"cd".repeat(32)}`, blockNumber: "0x7", from: `0x${"11".repeat(20)}`,
  to: `0x${"22".repeat(20)}`, cumulativeGasUsed: "0x5208", gasUsed: "0x5208", effectiveGasPrice: "0x1", contractAddress: null,
  logs: [], logsBloom: `0x${"00".repeat(256)}`, status: "0x1", type: "0x2",
}

/** Anvil's race (foundry-rs/foundry#10944): the block is already the head, its receipt is readable only after `misses` asks. */
function racingNode(misses: number) {
  let asked = 0
  const transport = custom({
    async request({ method }: { method: string }) {
      if (method === "eth_blockNumber") return "0x7"
      if (method === "eth_chainId") return "0x7a69"
      if (method === "eth_getTransactionReceipt") return ++asked > misses ? receiptJson : null
      if (method === "eth_getTransactionByHash") return null
      throw new Error(`unexpected ${method}`)
    },
  })
  return { client: createClient({ transport, pollingInterval: 20 }), asked: () => asked }
}

/** The other order (anvil 1.7, before foundry-rs/foundry#16027): the receipt of block 7 is served while the head still says 6. */
function laggingHead(lagAsks: number) {
  let heads = 0
  const transport = custom({
    async request({ method }: { method: string }) {
      if (method === "eth_blockNumber") return ++heads > lagAsks ? "0x7" : "0x6"
      if (method === "eth_chainId") return "0x7a69"
      if (method === "eth_getTransactionReceipt") return receiptJson
      throw new Error(`unexpected ${method}`)
    },
  })
  return { client: createClient({ transport, pollingInterval: 20 }), heads: () => heads }
}

describe("waitForReceipt", () => {
  test("returns only once the head has reached the receipt's block (a read pinned to the head sees the transaction)", async () => {
    const node = laggingHead(3)
    const receipt = await waitForReceipt(node.client, { hash, pollingInterval: 10 })
    expect(receipt.blockNumber).toBe(7n)
    expect(node.heads()).toBe(4)
    await expect(waitForReceipt(laggingHead(Number.POSITIVE_INFINITY).client, { hash, timeout: 200, pollingInterval: 10 })).rejects.toBeInstanceOf(
      WaitForTransactionReceiptTimeoutError,
    )
  })

  test("returns the receipt once the node has it, though no new block comes (viem's wait would not)", async () => {
    const node = racingNode(3)
    const receipt = await waitForReceipt(node.client, { hash, pollingInterval: 10 })
    expect(receipt.status).toBe("success")
    expect(receipt.blockNumber).toBe(7n)
    expect(node.asked()).toBe(4)
    // The same race through viem's own wait: no block after 0x7, so it times out.
    await expect(waitForTransactionReceipt(racingNode(3).client, { hash, timeout: 500 })).rejects.toBeInstanceOf(WaitForTransactionReceiptTimeoutError)
  })

  test("times out with viem's error when the receipt never comes", async () => {
    await expect(waitForReceipt(racingNode(Number.POSITIVE_INFINITY).client, { hash, timeout: 200, pollingInterval: 10 })).rejects.toBeInstanceOf(
      WaitForTransactionReceiptTimeoutError,
    )
  })

  test("waitForHead: returns once the head reaches the block, names both numbers when it does not", async () => {
    const node = laggingHead(2)
    await waitForHead(node.client, { blockNumber: 7n, pollingInterval: 10 })
    expect(node.heads()).toBe(3)
    await expect(waitForHead(laggingHead(Number.POSITIVE_INFINITY).client, { blockNumber: 7n, timeout: 100, pollingInterval: 10 })).rejects.toThrow(
      "did not reach block 7 within 100 ms (it is at 6)",
    )
  })
})
