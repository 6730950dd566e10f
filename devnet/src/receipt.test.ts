import { createClient, custom, type Hash, WaitForTransactionReceiptTimeoutError } from "viem"
import { waitForTransactionReceipt } from "viem/actions"
import { describe, expect, test } from "vitest"
import { readSettled, waitForHead, waitForReceipt } from "./receipt.js"

const hash: Hash = `0x${"ab".repeat(32)}`
const receiptJson = {
  transactionHash: hash, transactionIndex: "0x0", blockHash: `0x${"cd".repeat(32)}`, blockNumber: "0x7", from: `0x${"11".repeat(20)}`,
  to: `0x${"22".repeat(20)}`, cumulativeGasUsed: "0x5208", gasUsed: "0x5208", effectiveGasPrice: "0x1", contractAddress: null,
  logs: [], logsBloom: `0x${"00".repeat(256)}`, status: "0x1", type: "0x2",
}

const txJson = {
  hash, nonce: "0x4", blockHash: receiptJson.blockHash, blockNumber: "0x7", transactionIndex: "0x0", from: receiptJson.from, to: receiptJson.to,
  value: "0x0", gas: "0x5208", gasPrice: "0x1", maxFeePerGas: "0x1", maxPriorityFeePerGas: "0x1", input: "0x", type: "0x2", chainId: "0x7a69",
  v: "0x0", r: `0x${"01".repeat(32)}`, s: `0x${"02".repeat(32)}`, accessList: [],
}

/** The sender's nonce once the state has the transaction (nonce 4 sent: 5), asked at the receipt's block or `latest`. */
function countAfter(params: unknown): string {
  const [, block] = params as [string, string]
  if (block !== "0x7" && block !== "latest") throw new Error(`unexpected block ${block}`)
  return "0x5"
}

/** A fake node: the head, the receipt and the sender's nonce come from the given answers; the chain id and the transaction are fixed. */
function fakeNode(answer: { head: () => string; receipt: () => unknown; count: (params: unknown) => string }) {
  const transport = custom({
    async request({ method, params }: { method: string; params?: unknown }) {
      if (method === "eth_blockNumber") return answer.head()
      if (method === "eth_chainId") return "0x7a69"
      if (method === "eth_getTransactionReceipt") return answer.receipt()
      if (method === "eth_getTransactionByHash") return txJson
      if (method === "eth_getTransactionCount") return answer.count(params)
      throw new Error(`unexpected ${method}`)
    },
  })
  return createClient({ transport, pollingInterval: 20 })
}

/** Anvil's race (foundry-rs/foundry#10944): the block is already the head, its receipt is readable only after `misses` asks. */
function racingNode(misses: number) {
  let asked = 0
  const client = fakeNode({ head: () => "0x7", receipt: () => (++asked > misses ? receiptJson : null), count: countAfter })
  return { client, asked: () => asked }
}

/** The other order (anvil 1.7, before foundry-rs/foundry#16027): the receipt of block 7 is served while the head still says 6. */
function laggingHead(lagAsks: number) {
  let heads = 0
  const client = fakeNode({ head: () => (++heads > lagAsks ? "0x7" : "0x6"), receipt: () => receiptJson, count: countAfter })
  return { client, heads: () => heads }
}

/**
 * CI stop 39: head and receipt at block 7, yet the state read at block 7 (`atBlockLag` asks) and then at `latest`
 * (`latestLag` asks) still lacks the transaction (the sender's nonce is still 4).
 */
function laggingState(atBlockLag: number, latestLag: number) {
  const asked = { atBlock: 0, latest: 0 }
  const count = (params: unknown) => {
    const block = (params as [string, string])[1]
    if (block === "latest") return ++asked.latest > latestLag ? countAfter(params) : "0x4"
    return ++asked.atBlock > atBlockLag ? countAfter(params) : "0x4"
  }
  return { client: fakeNode({ head: () => "0x7", receipt: () => receiptJson, count }), asked }
}

describe("waitForReceipt", () => {
  test("returns only once the state at the receipt's block and at latest has the transaction (sender's nonce past it)", async () => {
    const atBlock = laggingState(3, 0)
    await waitForReceipt(atBlock.client, { hash, pollingInterval: 10 })
    expect(atBlock.asked.atBlock).toBe(4)
    const latest = laggingState(0, 5)
    await waitForReceipt(latest.client, { hash, pollingInterval: 10 })
    expect(latest.asked.latest).toBe(6)
    await expect(waitForReceipt(laggingState(Number.POSITIVE_INFINITY, 0).client, { hash, timeout: 200, pollingInterval: 10 })).rejects.toBeInstanceOf(
      WaitForTransactionReceiptTimeoutError,
    )
  })

  test("a block whose state the node no longer keeps (pruned) counts once latest has the transaction", async () => {
    const client = fakeNode({
      head: () => "0x200",
      receipt: () => receiptJson,
      count: (params) => {
        if ((params as [string, string])[1] === "latest") return "0x5"
        throw new Error("state for block 7 is not available (pruned)")
      },
    })
    const receipt = await waitForReceipt(client, { hash, timeout: 500, pollingInterval: 10 })
    expect(receipt.blockNumber).toBe(7n)
  })

  test("waitForHead with the receipt: waits for the state too, and names the transaction when it never shows", async () => {
    const node = laggingState(2, 2)
    const receipt = await waitForReceipt(laggingState(0, 0).client, { hash, pollingInterval: 10 })
    await waitForHead(node.client, { blockNumber: 7n, receipt, pollingInterval: 10 })
    expect(node.asked).toEqual({ atBlock: 3, latest: 5 }) // latest first; the block's state asked once latest has it
    await expect(waitForHead(laggingState(0, Number.POSITIVE_INFINITY).client, { blockNumber: 7n, receipt, timeout: 100, pollingInterval: 10 })).rejects.toThrow(
      `the node's state did not show transaction ${hash} (block 7) within 100 ms`,
    )
  })

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

describe("readSettled", () => {
  test("reads again until the value shows the effect, and returns that value", async () => {
    const answers = ["above", "above", "below", "above"]
    let reads = 0
    const value = await readSettled(async () => answers[reads++] as string, (v) => v === "below", { pollingInterval: 1 })
    expect(value).toBe("below")
    expect(reads).toBe(3)
  })
  test("a state that never settles: returns the last value after the timeout, for the caller's assertion to fail on", async () => {
    let reads = 0
    const value = await readSettled(async () => (reads++, "above"), (v) => v === "below", { timeout: 50, pollingInterval: 5 })
    expect(value).toBe("above")
    expect(reads).toBeGreaterThan(1)
  })
})
