import { mkdirSync, writeFileSync } from "node:fs"
import { resolve } from "node:path"
import { type Hex, decodeFunctionData } from "viem"
import { entryPoint07Abi } from "viem/account-abstraction"
import { privateKeyToAccount } from "viem/accounts"
import { leverageModuleAbi } from "@levpilot/sdk/abis"
import { startDemoEnv } from "../src/devnet/env.js"
import { runDemo } from "../src/devnet/run.js"
import { ensureContractsOrExit, readBenchCommandLine } from "./benchArgs.js"
import { parseSwapGasArgs, swapGasUsage } from "./devnetBenchArgs.js"

/*
 * What a sponsored swap deleverage is billed on the devnet (anvil, Alto, the verifying paymaster, Uniswap v3): the
 * no-idle Safe of `npm start` is rescued twice (WETH -16%, then -17% more), each by ONE keeper UserOperation
 * `RepayWithCallback { WithdrawCollateral, SellCollateral } EndCallback`. Per operation, the EntryPoint's
 * `actualGasUsed` (what the paymaster pays) split into the bundler's preVerificationGas, the Safe's and the paymaster's
 * validation, the execution (the Safe's `executeRebalance`, from a callTracer trace), the 10% EntryPoint v0.7 charges
 * on call gas left unused, and the EntryPoint's own work (the rest); plus the storage slots written from zero (the
 * priciest writes). Prints a table, writes reports/gas-devnet.json.
 */

// The command line first, then the contract build (helper nu49: `--help` or any other flag crashed after the build).
const out = resolve(readBenchCommandLine("bench:gas:devnet", swapGasUsage, parseSwapGasArgs).out)
// forge's out/ (the devnet deploys from it): built when missing or changed, once the command line is known good.
await ensureContractsOrExit("bench:gas:devnet")

type Frame = { to?: string; input: string; gasUsed: Hex; calls?: Frame[] }
type Diff = { pre?: Record<string, { storage?: Record<string, Hex> }>; post?: Record<string, { storage?: Record<string, Hex> }> }

const env = await startDemoEnv({ blockTime: 1, twin: false, settings: { swapProtection: true } })
try {
  const start = await env.publicClient.getBlockNumber({ cacheTime: 0 })
  const hold = (WETH: number, n: number) => Array.from({ length: n }, () => ({ WETH, WBTC: 60000 }))
  const run = await runDemo({ env, scenario: { name: "two swap rescues", steps: [{ WETH: 3000, WBTC: 60000 }, ...hold(2520, 4), ...hold(2100, 4)] }, settleBlocks: 3 })
  const key = await env.publicClient.readContract({ address: env.deployment.leverageModule, abi: leverageModuleAbi, functionName: "keeperNonceKey", args: [env.managed.address, privateKeyToAccount(env.keys.keeper).address] })
  const events = await env.publicClient.getContractEvents({
    address: env.devnet.addresses.entryPoint,
    abi: entryPoint07Abi,
    eventName: "UserOperationEvent",
    args: { sender: env.managed.address },
    fromBlock: start,
  })
  const rows = []
  for (const event of events.filter((e) => (e.args.nonce ?? 0n) >> 64n === key)) {
    const hash = event.transactionHash
    const [tx, receipt] = await Promise.all([env.publicClient.getTransaction({ hash }), env.publicClient.getTransactionReceipt({ hash })])
    const { args } = decodeFunctionData({ abi: entryPoint07Abi, data: tx.input })
    const op = (args as unknown as [readonly { accountGasLimits: Hex; preVerificationGas: bigint; paymasterAndData: Hex; callData: Hex }[]])[0][0] as {
      accountGasLimits: Hex
      preVerificationGas: bigint
      paymasterAndData: Hex
      callData: Hex
    }
    const limits = BigInt(op.accountGasLimits)
    const callGasLimit = limits & ((1n << 128n) - 1n)
    const postOpGasLimit = op.paymasterAndData.length >= 106 ? BigInt(`0x${op.paymasterAndData.slice(74, 106)}`) : 0n
    const trace = (await env.publicClient.request({ method: "debug_traceTransaction", params: [hash, { tracer: "callTracer" }] } as never)) as Frame
    const calls = trace.calls ?? []
    const [account, paymaster] = calls
    const inner = calls.find((c) => c.input.startsWith("0x0042dc53")) // innerHandleOp
    const execution = BigInt(inner?.gasUsed ?? 0)
    const penalty = callGasLimit + postOpGasLimit > execution ? (callGasLimit + postOpGasLimit - execution) / 10n : 0n
    const validation = BigInt(account?.gasUsed ?? 0) + BigInt(paymaster?.gasUsed ?? 0)
    const actual = event.args.actualGasUsed ?? 0n
    const diff = (await env.publicClient.request({ method: "debug_traceTransaction", params: [hash, { tracer: "prestateTracer", tracerConfig: { diffMode: true } }] } as never)) as Diff
    const fromZero: string[] = []
    for (const [address, post] of Object.entries(diff.post ?? {}))
      for (const [slot, value] of Object.entries(post.storage ?? {})) {
        const before = diff.pre?.[address]?.storage?.[slot]
        if ((before === undefined || BigInt(before) === 0n) && BigInt(value) !== 0n) fromZero.push(`${address}:${slot}`)
      }
    rows.push({
      block: Number(receipt.blockNumber),
      actions: run.rebalances.find((r) => r.block === Number(receipt.blockNumber))?.actions.map((a) => a.split(" ")[0]) ?? [],
      success: event.args.success,
      actualGasUsed: Number(actual),
      preVerificationGas: Number(op.preVerificationGas),
      validation: Number(validation),
      execution: Number(execution),
      unusedGasPenalty: Number(penalty),
      entryPoint: Number(actual - op.preVerificationGas - validation - execution - penalty),
      callGasLimit: Number(callGasLimit),
      handleOpsGas: Number(receipt.gasUsed),
      slotsWrittenFromZero: fromZero,
    })
  }
  const result = { date: new Date().toISOString(), target: 600_000, operations: rows }
  process.stdout.write(
    "\n| op | actualGasUsed | preVerificationGas | validation (Safe + paymaster) | execution | unused-gas penalty | EntryPoint | callGasLimit | handleOps tx | slots written from zero |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n" +
      rows
        .map(
          (r, i) =>
            `| ${i + 1} ${r.actions.join(",")} | ${r.actualGasUsed.toLocaleString("en-US")} | ${r.preVerificationGas.toLocaleString("en-US")} | ${r.validation.toLocaleString("en-US")} | ${r.execution.toLocaleString("en-US")} | ${r.unusedGasPenalty.toLocaleString("en-US")} | ${r.entryPoint.toLocaleString("en-US")} | ${r.callGasLimit.toLocaleString("en-US")} | ${r.handleOpsGas.toLocaleString("en-US")} | ${r.slotsWrittenFromZero.length} |`,
        )
        .join("\n") +
      `\n\ntarget <= 600,000 billed gas per swap deleverage: ${rows.every((r) => r.actualGasUsed <= 600_000) ? "met" : "NOT met"} (${rows.map((r) => r.actualGasUsed).join(", ")})\n`,
  )
  mkdirSync(resolve(out, ".."), { recursive: true })
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`)
  process.stdout.write(`wrote ${out}\n`)
} finally {
  await env.stop()
}
