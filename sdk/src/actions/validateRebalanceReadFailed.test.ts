import { type AbiParameter, type Address, type Hex, createClient, custom, decodeFunctionData, encodeFunctionResult, multicall3Abi, numberToHex, parseAbi } from "viem"
import { anvil } from "viem/chains"
import { describe, expect, test } from "vitest"
import { leverageModuleAbi } from "../abis/leverageModule.js"
import { ReadFailedError } from "../errors/read.js"
import { validateRebalance } from "./validateRebalance.js"

// bench:fleet 5,000 x 4 alerted 4 send-failed "Cannot read properties of undefined (reading 'paused')": the send-time
// validation's first multicall returned a failed entry for getAutomationConfig and the SDK used it as the config.
// A node whose multicall fails exactly the named module reads (success = false), and answers the rest with zero values
// (the keeper key active and valid for ever).

const MODULE = "0x00000000000000000000000000000000000000a0" as Address
const MULTICALL = "0xcA11bde05977b3631167028862bE2a173976CA11" as Address
const SAFE = "0x00000000000000000000000000000000000000a1" as Address
const KEEPER = "0x00000000000000000000000000000000000000a2" as Address
const SUB = `0x${"11".repeat(32)}` as Hex

/** The zero value of an ABI parameter (structs as objects, arrays empty). */
function zeroOf(param: AbiParameter): unknown {
  if (param.type === "tuple") return Object.fromEntries((param as { components: readonly AbiParameter[] }).components.map((c) => [c.name, zeroOf(c)]))
  if (param.type.endsWith("]")) return []
  if (param.type === "bool") return false
  if (param.type === "address") return "0x0000000000000000000000000000000000000000"
  if (param.type.startsWith("bytes")) return param.type === "bytes" ? "0x" : `0x${"00".repeat(Number(param.type.slice(5)))}`
  if (param.type === "string") return ""
  return param.type.startsWith("uint") && Number(param.type.slice(4) || 256) <= 48 ? 0 : 0n
}

function nodeFailing(failing: readonly string[]) {
  const seen: string[] = []
  const transport = custom({
    async request({ method, params }) {
      if (method === "eth_chainId") return numberToHex(anvil.id)
      if (method === "eth_blockNumber") return "0x64"
      if (method === "eth_getBlockByNumber") return { number: "0x64", timestamp: numberToHex(1_700_000_000), hash: `0x${"ab".repeat(32)}`, parentHash: `0x${"cd".repeat(32)}`, transactions: [], baseFeePerGas: "0x1", gasLimit: "0x1c9c380", gasUsed: "0x0" }
      if (method !== "eth_call") throw new Error(`unexpected ${method}`)
      const { to, data } = (params as [{ to: Address; data: Hex }])[0]
      if (to.toLowerCase() !== MULTICALL.toLowerCase()) throw new Error(`unexpected call to ${to}`)
      const { args } = decodeFunctionData({ abi: multicall3Abi, data })
      const calls = (args as unknown as [readonly { target: Address; callData: Hex }[]])[0]
      const results = calls.map(({ callData }) => {
        const { functionName } = decodeFunctionData({ abi: leverageModuleAbi, data: callData })
        seen.push(functionName)
        if (failing.includes(functionName)) return { success: false, returnData: "0x" as Hex }
        const item = leverageModuleAbi.find((x) => x.type === "function" && x.name === functionName) as { outputs: readonly AbiParameter[] }
        const values = item.outputs.map(zeroOf)
        if (functionName === "getKeeper") Object.assign(values[0] as object, { active: true, validAfter: 0, validUntil: 2 ** 48 - 1 })
        return { success: true, returnData: encodeFunctionResult({ abi: [{ ...item, type: "function", name: functionName, inputs: [], stateMutability: "view" }], functionName, result: values.length === 1 ? values[0] : values } as never) }
      })
      return encodeFunctionResult({ abi: parseAbi(["function aggregate3((address target, bool allowFailure, bytes callData)[] calls) payable returns ((bool success, bytes returnData)[] returnData)"]), functionName: "aggregate3", result: results })
    },
  })
  return { client: createClient({ chain: anvil, transport }), seen }
}

const deployments = { [anvil.id]: { leverageModule: MODULE, multicall3: MULTICALL, adapters: {} } } as never
const plan = { subAccounts: [SUB], actions: [{ kind: "Repay", subAccount: 0, amount: 1n }] } as const

describe("validateRebalance: a failed entry of its multicall", () => {
  for (const functionName of ["getAutomationConfig", "getKeeper", "swapAdapter", "getPolicy", "getEpochUsage", "getStopLoss"]) {
    test(`${functionName} failing is a ReadFailedError naming it (never used as a value)`, async () => {
      const { client, seen } = nodeFailing([functionName])
      const error = await validateRebalance(client, { safe: SAFE, keeper: KEEPER, plan, deployments }).catch((e: unknown) => e)
      expect(seen).toContain(functionName)
      expect(error).toBeInstanceOf(ReadFailedError)
      expect(error).toMatchObject({ name: "ReadFailedError", functionName, address: MODULE })
      expect((error as ReadFailedError).shortMessage).toBe(`Could not read ${functionName} on ${MODULE}: the read failed in its batch.`)
    })
  }
})
