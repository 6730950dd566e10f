import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { getFreePort, spawnManaged } from "@levpilot/devnet"
import type { Address } from "viem"
import { parseAbiItem, parseEther, parseUnits } from "viem"
import { privateKeyToAccount } from "viem/accounts"
import { defaultAutomationConfig } from "@levpilot/sdk/actions"
import { toPolicy } from "@levpilot/sdk/utils"
import { createFleetSafes } from "@levpilot/devnet/fleet"
import { maxUint256 } from "viem"
import { morphoAbi, testTokenAbi } from "@levpilot/devnet/leverage"
import { demoPolicy, startDemoEnv } from "../src/devnet/env.js"
import { demoKeeperConfigJson } from "../src/devnet/keeperConfig.js"
import { PriceDriver } from "../src/devnet/scenario.js"
import { parseKeeperConfig } from "../src/keeper/config.js"
import type { KeeperEvent } from "../src/keeper/events.js"
import { FleetNode } from "../src/keeper/fleet/queueNode.js"
import { startCountingProxy, startWorkerProcesses } from "./fleetWorkers.js"
import { writeReport } from "./report.js"
import { fleetUsage, parseFleetArgs } from "./fleetArgs.js"
import { ensureContractsOrExit, readBenchCommandLine } from "./benchArgs.js"

const userOperationEventAbi = parseAbiItem("event UserOperationEvent(bytes32 indexed userOpHash, address indexed sender, address indexed paymaster, uint256 nonce, bool success, uint256 actualGasCost, uint256 actualGasUsed)")

/*
 * The keeper fleet on anvil (interval mining, `--block-time` s blocks), Alto and the ERC-7677 paymaster, on BullMQ + a
 * Redis server this bench starts (redis-server on PATH). For each fleet size, 90% "calm" Safes (health 1.6) and 10%
 * "edge" Safes (health 1.33, band [1.25, 1.45, 1.8]) are created in bulk; then for 1 and for 4 worker nodes: a steady block is measured (time from the head seen to the last Safe
 * checked, JSON-RPC requests to the node per block), then the WETH price drops 10%, which puts exactly the edge Safes
 * (10%) out of band, and the time from the shock's block to the last rebalance included is measured. The price is set
 * back afterwards; each run gets fresh edge Safes, and starts once the previous run's operations have left Alto's
 * mempool and the node's pool. Alto runs with `--executors` executor keys and skips the VerifyingPaymaster's pending
 * operations in its simulations (`--ignored-paymasters`), see the README's fleet section for why.
 *
 * Worker nodes (`--worker-mode`): with `processes` (the default), a run with N > 1 workers is the leading `FleetNode` in
 * this process (its block stats and events are what the bench measures) plus N - 1 separate OS processes of the real CLI,
 * `levpilot keeper --mode fleet --worker-only`, on the same Redis queue: their requests to the node go through a
 * counting loopback proxy, their keeper events are read from their log lines, and they are stopped (SIGTERM, then
 * SIGKILL) at the end of the run or when the bench exits, fails or is killed. With `in-process`, all N are `FleetNode`s
 * in this process (each with its own Redis connections). Each run records which (`workerMode`).
 */

// The command line first, before anything is built or started (helper nu49: `--safes 0`, `--workers two` or `--help`
// ran the contract build and the devnet first, then crashed or ran with NaN).
const args = readBenchCommandLine("bench:fleet", fleetUsage, parseFleetArgs)
const { sizes, workerCounts, blockTime, batchSize, callGas, stallBlocks, logLevel, inclusionBlocks, pollIntervalMs, headWaitShare, edgeShare } = args
/**
 * Alto's executor keys (one bundle transaction in flight per key: with one key, bundles made every second queue behind
 * the one in flight, one per block) and its `--max-gas-per-bundle`; `--alto-queue-paymaster` keeps Alto simulating the
 * VerifyingPaymaster's pending operations ahead of each new one (its default; the bench passes `--ignored-paymasters`).
 */
const { executors, maxBundleGas, workerMode, workerCount } = args
const altoSettings = { executors, ignoredPaymasters: args.altoQueuePaymaster ? [] : ["VerifyingPaymaster"], maxGasPerBundle: maxBundleGas ?? "20000000 (Alto's default)" }
// forge's out/ (the devnet deploys from it): built when missing or changed, once the command line is known good.
await ensureContractsOrExit("bench:fleet")
const benchStart = Date.now()
const log = (line: string) => process.stdout.write(`[${((Date.now() - benchStart) / 1_000).toFixed(0).padStart(5)} s] ${line}\n`)


const redisPort = await getFreePort()
// spawnManaged: killed when the bench exits or gets SIGINT / SIGTERM / SIGHUP.
const redis = spawnManaged("redis-server", ["--port", String(redisPort), "--bind", "127.0.0.1", "--dir", mkdtempSync(join(tmpdir(), "levpilot-bench-redis-")), "--save", "", "--appendonly", "no"])
redis.child.once("error", (e) => {
  process.stderr.write(`redis-server could not be started (${e.message}); install it (apt-get install redis-server)\n`)
  process.exit(1)
})
const redisUrl = `redis://127.0.0.1:${redisPort}`
await new Promise((r) => setTimeout(r, 500))

const env = await startDemoEnv({
  blockTime: 0,
  twin: false,
  alto: { executors, ignoreVerifyingPaymaster: !args.altoQueuePaymaster, extraArgs: maxBundleGas ? ["--max-gas-per-bundle", maxBundleGas] : [], logFile: args.altoLog },
})
const rpc = (method: string, params: unknown[]) =>
  fetch(env.devnet.rpcUrl, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }) }).then((r) => r.json())
const driver = new PriceDriver(env)
const owner = privateKeyToAccount(env.keys.owner).address
const keeper = privateKeyToAccount(env.keys.keeper).address
const policy = toPolicy(demoPolicy(env.markets.WETH, env.stack.vaults.usdc, env.settings), env.deployment)
let prices = { WETH: 3000, WBTC: 60000 }
let salt = 10_000n

/** USDC for every fleet Safe's loan (about 19k each): the bench supplies it to the WETH market first. */
const supplyLiquidity = async (usdc: bigint) => {
  const { params } = env.stack.markets.weth
  const send = async (request: Parameters<typeof env.deployer.writeContract>[0]) => {
    const hash = await env.deployer.writeContract({ ...request, gas: 500_000n } as Parameters<typeof env.deployer.writeContract>[0])
    const receipt = await env.publicClient.waitForTransactionReceipt({ hash })
    if (receipt.status !== "success") throw new Error(`bench set-up transaction ${request.functionName} reverted`)
  }
  const me = env.deployer.account.address
  await send({ address: params.loanToken, abi: testTokenAbi, functionName: "mint", args: [me, usdc] } as never)
  await send({ address: params.loanToken, abi: testTokenAbi, functionName: "approve", args: [env.stack.morpho, maxUint256] } as never)
  await send({ address: env.stack.morpho, abi: morphoAbi, functionName: "supply", args: [params, usdc, 0n, me, "0x"] } as never)
}

/** Creates `count` Safes at `health`, in slices of 600 with a progress line each. */
const create = async (count: number, health: number): Promise<Address[]> => {
  const out: Address[] = []
  while (out.length < count) {
    out.push(...(await createSlice(Math.min(600, count - out.length), health)))
    log(`  created ${out.length}/${count} Safes (health ${health})`)
  }
  return out
}

const createSlice = async (count: number, health: number): Promise<Address[]> => {
  const now = Number((await env.publicClient.getBlock()).timestamp)
  const position = { collateral: parseEther("10"), debt: parseUnits(((10 * prices.WETH * 0.86) / health).toFixed(6), 6), deposit: parseUnits("5000", 6) }
  const safes = await createFleetSafes({
    publicClient: env.publicClient,
    deployer: env.deployer,
    addresses: env.devnet.addresses,
    stack: env.stack,
    owner,
    keeper,
    keeperValidUntil: now + 365 * 86_400,
    policy,
    automation: { ...defaultAutomationConfig, paused: false, requiredPaymaster: "0x0000000000000000000000000000000000000000", keyGeneration: 0 },
    market: "weth",
    sponsor: env.devnet.addresses.verifyingPaymaster,
    positions: Array.from({ length: count }, () => position),
    firstSaltNonce: salt,
    // 1.5M gas per Safe: 15 per transaction stays under anvil's 30M block gas limit.
    perTransaction: 15,
  })
  salt += BigInt(count)
  return safes
}

/** Counts JSON-RPC requests this process makes to the node (viem's http transport uses fetch), in all and by method. */
let nodeRequests = 0
const byMethod = new Map<string, number>()
const originalFetch = globalThis.fetch
const countRequest = (method: string, n = 1) => {
  nodeRequests += n
  byMethod.set(method, (byMethod.get(method) ?? 0) + n)
}
globalThis.fetch = (input, init) => {
  const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url
  if (url.startsWith(env.devnet.rpcUrl)) countRequest(typeof init?.body === "string" ? (/"method":"([^"]+)"/.exec(init.body)?.[1] ?? "?") : "?")
  return originalFetch(input, init)
}
/** The worker processes' way to the node (started for the first run that has them), counted like this process's requests. */
let proxy: Awaited<ReturnType<typeof startCountingProxy>> | undefined
/** The keeper's requests by method since `since` (a copy of `byMethod`), the bench's own `eth_blockNumber` polls left out. */
const methodsSince = (since: Map<string, number>, ownSince: number, blocks: number) =>
  Object.fromEntries(
    [...byMethod]
      .map(([m, n]) => [m, (n - (since.get(m) ?? 0) - (m === "eth_blockNumber" ? ownRequests - ownSince : 0)) / blocks] as const)
      .filter(([, n]) => n > 0),
  )

/** The bench's own block polls (one request each), left out of the keeper's count. */
let ownRequests = 0
const head = async () => {
  ownRequests += 1
  return (await env.publicClient.getBlockNumber({ cacheTime: 0 })) as bigint
}
const keeperRequests = () => nodeRequests - ownRequests
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

type Run = {
  safes: number
  workers: number
  /** `in-process`: every worker node in the bench's process; `processes`: the leader here, the others `levpilot keeper --worker-only` processes. */
  workerMode: "in-process" | "processes"
  scanMs: number
  rpcRequestsPerBlock: number
  /** ms from the shock's oracle update to the last out-of-band Safe's rebalance included; null when not all were within `inclusionBlocks`. */
  shockToLastInclusionMs: number | null
  shockScanMs: number
  shockBlockRpcRequests: number
  /** The shock block's requests (to the last Safe of its block checked) by JSON-RPC method. */
  shockRequestsByMethod: Record<string, number>
  /** Out-of-band Safes with a rebalance included and successful (`UserOperationEvent.success`). */
  rebalanced: number
  /**
   * Keeper operations of out-of-band Safes included but reverted (paid for, nothing done), and the Safes they were for;
   * a Safe whose operation reverted and that a later operation rebalanced counts in `rebalanced` too.
   */
  reverted: { operations: number; safes: number; reasons: Record<string, number>; details: RevertDetail[] }
  outOfBand: number
  /** The steady block's requests by JSON-RPC method. */
  requestsByMethod: Record<string, number>
  /** The machine's 1-minute load average when the steady block was measured (2 cores, shared). */
  loadAverage: number
  /** The 1-minute load average when the wait for the shock's inclusions ended. */
  loadAverageAfterShock: number
  /** From the shock's block to the end of the wait, per block: edge Safes' operations included (reverted ones too), `handleOps` bundles, gas used. */
  inclusion: {
    blocks: number
    opsPerBlock: number[]
    bundlesPerBlock: number[]
    gasUsedPerBlock: number[]
    maxOpsPerBlock: number
    opsPerBundle: number
    /**
     * Edge Safes with a successful operation on chain in the window (the EntryPoint's logs), whatever the keeper
     * reported (before issue 16's fix an operation that landed while its Safe was being resubmitted got no `included`
     * event, so `rebalanced`, from the events, could be lower; the two should now agree).
     */
    rebalancedOnChain: number
    /** Edge Safes with more than one keeper operation included in the window (expected 0). */
    safesWithSeveralOps: number
  }
  /** Alerts after the shock by kind, message and reason (first 160 characters), with counts. */
  alerts: Record<string, number>
  /** What the previous run left in Alto's mempool and the node's pool when this run started (after the drain). */
  leftoverAtStart: { altoMempool: number; nodePending: number }
}
/**
 * A reverted operation, for diagnosis: its gas limits (from the bundler), the gas the EntryPoint charged, and the
 * innermost failing call of its bundle transaction (`debug_traceTransaction`, callTracer): an out-of-gas shows as
 * `error: "out of gas"` there, a revert without data as `execution reverted` with its target.
 */
type RevertDetail = {
  safe: string
  userOpHash: string
  block: string
  actualGasUsed: string
  revert: string | undefined
  callGasLimit?: string | undefined
  verificationGasLimit?: string | undefined
  innermostFailure?: { to: string; input: string; error: string; gas: string; gasUsed: string; depth: number } | undefined
  /** The Safe's keeper events (sent, included, resubmit, tracking, alert) in this run, for the order of its operations. */
  history?: string[] | undefined
  /** The Safe's `UserOperationEvent`s on chain (block, nonce, success). */
  onChain?: string[] | undefined
}
type CallFrame = { to?: string; input?: string; error?: string; gas?: string; gasUsed?: string; calls?: CallFrame[] }
/** One Safe's keeper events in order, one line each (for a reverted operation's diagnosis). */
const historyOf = (safe: string, events: KeeperEvent[]): string[] =>
  events
    .filter((x) => "safe" in x && x.safe.toLowerCase() === safe.toLowerCase())
    .map((x) => {
      const { type, block } = x as { type: string; block: bigint }
      const extra =
        x.type === "sent" ? `nonce ${x.nonce & 0xffffffffn} attempt ${x.attempt} hash ${x.userOpHash.slice(0, 10)}`
        : x.type === "included" ? `${x.success ? "ok" : "REVERTED"} hash ${x.userOpHash.slice(0, 10)}`
        : x.type === "alert" ? `${x.kind}: ${x.message.slice(0, 100)}`
        : x.type === "resubmit" || x.type === "tracking" ? x.reason
        : ""
      return `${type}@${block} ${extra}`
    })
/** A Safe's `UserOperationEvent`s on chain, one line each. */
const onChainOf = async (safe: string): Promise<string[]> => {
  try {
    const logs = await env.publicClient.getLogs({ address: env.devnet.addresses.entryPoint, event: userOperationEventAbi, args: { sender: safe as Address }, fromBlock: 0n })
    return logs.map((l) => `block ${l.blockNumber} nonce ${(l.args.nonce ?? 0n) & 0xffffffffn} ${l.args.success ? "ok" : "REVERTED"} hash ${l.args.userOpHash?.slice(0, 10)} tx ${l.transactionHash.slice(0, 10)}`)
  } catch (error) {
    return [`could not be read: ${error instanceof Error ? error.message.slice(0, 100) : String(error)}`]
  }
}
const explainRevert = async (e: KeeperEvent & { type: "included" }, events: KeeperEvent[]): Promise<RevertDetail> => {
  const detail: RevertDetail = { safe: e.safe, userOpHash: e.userOpHash, block: e.block.toString(), actualGasUsed: e.actualGasUsed.toString(), revert: e.revert }
  detail.history = historyOf(e.safe, events)
  detail.onChain = await onChainOf(e.safe)
  try {
    const byHash = (await fetch(env.devnet.bundlerUrl, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_getUserOperationByHash", params: [e.userOpHash] }) }).then((r) => r.json())) as {
      result?: { transactionHash?: string; userOperation?: { callGasLimit?: string; verificationGasLimit?: string } }
    }
    const op = byHash.result?.userOperation
    detail.callGasLimit = op?.callGasLimit && BigInt(op.callGasLimit).toString()
    detail.verificationGasLimit = op?.verificationGasLimit && BigInt(op.verificationGasLimit).toString()
    const tx = byHash.result?.transactionHash
    if (!tx) return detail
    const trace = ((await rpc("debug_traceTransaction", [tx, { tracer: "callTracer" }])) as { result?: CallFrame }).result
    // Depth-first: the deepest failing frame under a frame whose input names this Safe's operation's sender.
    const innermost = (frame: CallFrame, depth: number): RevertDetail["innermostFailure"] => {
      for (const c of frame.calls ?? []) {
        const found = c.error ? innermost(c, depth + 1) : undefined
        if (found) return found
      }
      return frame.error ? { to: frame.to ?? "", input: (frame.input ?? "").slice(0, 10), error: frame.error, gas: BigInt(frame.gas ?? 0).toString(), gasUsed: BigInt(frame.gasUsed ?? 0).toString(), depth } : undefined
    }
    const safeFrame = (frame: CallFrame): CallFrame | undefined =>
      frame.to?.toLowerCase() === e.safe.toLowerCase() && frame.error ? frame : (frame.calls ?? []).map(safeFrame).find((f) => f !== undefined)
    const start = trace && safeFrame(trace)
    detail.innermostFailure = start ? innermost(start, 0) : undefined
  } catch (error) {
    detail.innermostFailure = { to: "", input: "", error: `could not be traced: ${error instanceof Error ? error.message : String(error)}`, gas: "0", gasUsed: "0", depth: -1 }
  }
  return detail
}
const runs: Run[] = []
let leftover: Run["leftoverAtStart"] = { altoMempool: 0, nodePending: 0 }
const started = Date.now()
const maxSize = Math.max(...sizes)
const calmCount = Math.round(maxSize * (1 - edgeShare))
const edgeTotal = sizes.reduce((sum, size) => sum + Math.round(size * edgeShare) * workerCounts.length, 0)
await supplyLiquidity(BigInt(Math.ceil((calmCount + edgeTotal) * 1.1 + 100)) * 25_000n * 1_000_000n)
log(`creating ${calmCount} calm Safes in bulk...`)
const calm = await create(calmCount, 1.6)
log(`  ${calm.length} Safes in ${((Date.now() - started) / 1_000).toFixed(0)} s`)

try {
  for (const size of sizes) {
    for (const workers of workerCounts) {
      const leftoverAtStart = leftover
      const edgeCount = Math.round(size * edgeShare)
      await rpc("evm_setIntervalMining", [0])
      await rpc("evm_setAutomine", [true])
      const edge = await create(edgeCount, 1.33)
      const allowlist = [...calm.slice(0, size - edgeCount), ...edge]
      // Automine does not put block timestamps ahead of the wall clock (anvil 1.7 gives blocks mined in the same second
      // the same timestamp), so the interval-mined blocks after it carry wall-clock timestamps. What does mix timestamps
      // is anvil itself: an eth_call at the latest block (by tag or number) that runs while the next block is mined is
      // answered with that next block's state under the latest block's header, so Morpho Blue's accrual
      // (`block.timestamp - lastUpdate`) can revert with Panic 0x11 in the keeper's send-time reads or Alto's
      // simulation at a heavy block (the shock's). The keeper plans such a send again at the next block
      // (ARITHMETIC_PANIC_ALERT_ATTEMPTS in keeper/sender.ts); bench/anvilReadRace.mjs shows the race on a bare anvil
      // (devnet README: "anvil (1.7.1) race at the block boundary", from anvil's source).
      await rpc("evm_setAutomine", [false])
      await rpc("evm_setIntervalMining", [blockTime])
      const configJson = demoKeeperConfigJson(env, {
          safes: [],
          allowlist,
          discovery: { fromBlock: 0, logWindow: 2_000 },
          risk: { tolerance: 0.01, horizon: 3_600, sigma: 0.8, mode: "threshold" },
          resubmitAfterBlocks: 10,
          pollIntervalMs,
          logLevel,
          fleet: { batchSize, callGas, headWaitShare, readConcurrency: 4, refreshEveryBlocks: 1_000_000, queue: { redisUrl, prefix: `bench-${size}-${workers}`, leaseMs: 30_000, workerConcurrency: 32 } },
        })
      const config = parseKeeperConfig(configJson, { source: "bench" })
      const mode: Run["workerMode"] = workers > 1 && workerMode === "processes" ? "processes" : "in-process"
      const events: KeeperEvent[] = []
      /** When each edge Safe's first successful inclusion was reported (ms). */
      const rebalancedAt = new Map<string, number>()
      const revertDetails: Promise<RevertDetail>[] = []
      /** One keeper event, of this process's nodes (now) or of a worker process (`at`: its log line's time). */
      const record = (e: KeeperEvent, at = Date.now()) => {
        if (e.type === "observed") return
        events.push(e)
        if (e.type === "included" && e.success && !rebalancedAt.has(e.safe.toLowerCase())) rebalancedAt.set(e.safe.toLowerCase(), at)
        if (e.type === "included" && !e.success && edgeSet.has(e.safe.toLowerCase())) revertDetails.push(explainRevert(e, events))
      }
      let processes: Awaited<ReturnType<typeof startWorkerProcesses>> | undefined
      if (mode === "processes") {
        // Worker requests are counted in the workers (the default) or by a loopback proxy in this process, which puts
        // the bench's event loop (also the leader's) on every worker request's path (`--worker-count proxy`).
        if (workerCount === "proxy") proxy ??= await startCountingProxy(env.devnet.rpcUrl, countRequest, originalFetch)
        const t = Date.now()
        // The worker processes log at info at least: their sent / included / ALERT lines are the bench's events.
        const childLevel = logLevel === "trace" || logLevel === "debug" ? logLevel : "info"
        processes = await startWorkerProcesses(workers - 1, { ...configJson, rpcUrl: proxy?.url ?? env.devnet.rpcUrl, logLevel: childLevel }, {
          logLevel,
          countRequests: workerCount === "in-worker" ? { url: env.devnet.rpcUrl, onCount: (_, method, n) => countRequest(method, n) } : undefined,
          onEvent: ({ event, at }) => record(event, at),
          print: (line) => process.stdout.write(`${line}\n`),
          logFile: args.workerLog,
        })
        log(`  ${workers - 1} worker process(es) (levpilot keeper --mode fleet --worker-only, pids ${processes.workers.map((w) => w.proc.child.pid).join(", ")}) started in ${((Date.now() - t) / 1_000).toFixed(0)} s`)
      }
      const nodes = Array.from({ length: mode === "processes" ? 1 : workers }, (_, i) => new FleetNode(config, { chain: env.devnet.chain, lead: i === 0, onEvent: (e) => record(e) }))
      for (const n of nodes) await n.start()
      const leader = nodes[0] as FleetNode
      log(`run: ${allowlist.length} Safes (${edge.length} at the edge), ${workers} worker node(s) (${mode === "processes" ? `the leader in this process, ${workers - 1} worker process(es)` : "in this process"}), ${blockTime} s blocks`)
      const edgeSet = new Set(edge.map((s) => s.toLowerCase()))
      const edgeInclusions = () => events.filter((e): e is KeeperEvent & { type: "included" } => e.type === "included" && edgeSet.has(e.safe.toLowerCase()))
      /** Edge Safes rebalanced: an operation included and successful (a reverted one did nothing). */
      const included = () => new Set(edgeInclusions().filter((e) => e.success).map((e) => e.safe.toLowerCase()))
      /** What the fleet did so far (progress lines, stall detection). */
      const progress = async () => {
        const { leader: id, head: h } = await leader.leaderStatus()
        const stats = h === undefined ? undefined : await leader.blockStats(h)
        const failed = events.filter((e) => e.type === "alert").length
        return `leader ${id ? id.slice(0, 8) : "none"}, leader head ${h ?? "none"}: ${stats ? `${stats.checked}/${stats.safes} Safes checked${stats.failed ? `, ${stats.failed} failed` : ""}${stats.doneAt ? ` in ${stats.doneAt - stats.seenAt} ms` : ""}` : "no block stats"}; edge Safes included ${included().size}/${edge.length}; alerts ${failed}`
      }
      /**
       * Polls `check` until it gives a value; logs progress once per block and throws when the chain advanced
       * `stallBlocks` blocks and nothing the fleet reports changed.
       */
      const waitFor = async <T>(what: string, check: () => Promise<T | undefined>): Promise<T> => {
        let last = await progress()
        let lastChange = await head()
        let lastLogged = lastChange
        for (;;) {
          const v = await check()
          if (v !== undefined) return v
          const [b, p] = [await head(), await progress()]
          if (p !== last) {
            last = p
            lastChange = b
          }
          if (b > lastLogged) {
            lastLogged = b
            log(`  block ${b}: ${p} (waiting for ${what})`)
          }
          if (b - lastChange >= BigInt(stallBlocks))
            throw new Error(`bench stalled: waiting for ${what}, no progress for ${stallBlocks} blocks (chain at ${b}); ${p}. Run with --log-level info for the fleet's logs.`)
          await sleep(100)
        }
      }
      /** The first block from `from` on whose scan finished (the leader may collapse heads that came while it was busy). */
      const doneFrom = (from: bigint, what: string) =>
        waitFor(what, async () => {
          const { head: h } = await leader.leaderStatus()
          for (let b = from; h !== undefined && b <= h; b += 1n) {
            const s = await leader.blockStats(b)
            if (s?.doneAt !== undefined) {
              if (s.failed > 0) throw new Error(`block ${b}: ${s.failed} of ${s.safes} Safes not read (scan jobs failed); run with --log-level info`)
              return s
            }
            if (s) return undefined
          }
          return undefined
        })
      try {
        // The first pass solves every Safe (all new); then a steady block: nothing changed, every Safe checked.
        const first = await head()
        const firstPass = await doneFrom(first + 1n, "the first pass (every Safe new)")
        log(`  first pass: block ${firstPass.block}, ${firstPass.safes} Safes in ${(firstPass.doneAt as number) - firstPass.seenAt} ms`)
        const steady0 = await head()
        await waitBlock(steady0 + 1n)
        const r0 = keeperRequests()
        const m0 = new Map(byMethod)
        const own0 = ownRequests
        await waitBlock(steady0 + 3n)
        const steadyRequests = (keeperRequests() - r0) / 2
        const requestsByMethod = methodsSince(m0, own0, 2)
        const loadAverage = (await import("node:os")).loadavg()[0] as number
        const steady = await doneFrom(steady0 + 2n, "a steady block's scan")
        const scanMs = (steady.doneAt as number) - steady.seenAt
        log(`  steady block ${steady.block}: ${steady.safes} Safes in ${scanMs} ms, ${steadyRequests} RPC requests per block ${JSON.stringify(requestsByMethod)}, load ${loadAverage.toFixed(1)}`)

        prices = { WETH: prices.WETH * 0.9, WBTC: prices.WBTC * 0.9 }
        const rShock = keeperRequests()
        const [mShock, ownShock] = [new Map(byMethod), ownRequests]
        const shockBlock = await driver.set(prices)
        const shockSeen = Date.now()
        const shockStats = await doneFrom(shockBlock, "the shock block's scan")
        // The keeper's requests from the oracle update to the last Safe of its block checked (the update's own included).
        const shockBlockRpcRequests = keeperRequests() - rShock
        const shockRequestsByMethod = methodsSince(mShock, ownShock, 1)
        log(`  shock block ${shockStats.block}: scanned in ${(shockStats.doneAt as number) - shockStats.seenAt} ms`)
        const all = await waitFor(`inclusion of the ${edge.length} out-of-band Safes' rebalances`, async () =>
          included().size === edge.length ? true : (await head()) > shockBlock + BigInt(inclusionBlocks) ? false : undefined,
        )
        const loadAverageAfterShock = (await import("node:os")).loadavg()[0] as number
        // The last edge Safe's first successful inclusion (a Safe whose first operation reverted counts at its success).
        const lastInclusionMs = all ? Math.max(...[...edgeSet].map((s) => rebalancedAt.get(s) ?? Number.NaN)) - shockSeen : null
        const reverts = edgeInclusions().filter((e) => !e.success)
        const reverted: Run["reverted"] = { operations: reverts.length, safes: new Set(reverts.map((e) => e.safe.toLowerCase())).size, reasons: {}, details: await Promise.all(revertDetails.map(async (d) => { const x = await d; return { ...x, history: historyOf(x.safe, events), onChain: await onChainOf(x.safe) } })) }
        for (const e of reverts) reverted.reasons[e.revert ?? "unknown"] = (reverted.reasons[e.revert ?? "unknown"] ?? 0) + 1
        const inclusion = await inclusionStats(shockBlock, await head(), edgeSet)
        const alerts: Record<string, number> = {}
        for (const e of events)
          if (e.type === "alert" && e.block >= shockBlock) {
            const key = `${e.kind}: ${e.message}${e.reason ? ` (${e.reason.replace(/\s+/g, " ").slice(0, 160)})` : ""}`
            alerts[key] = (alerts[key] ?? 0) + 1
          }
        log(all ? `  all ${edge.length} out-of-band Safes rebalanced ${lastInclusionMs} ms after the shock` : `  ${included().size}/${edge.length} out-of-band Safes rebalanced within ${inclusionBlocks} blocks of the shock`)
        if (reverted.operations > 0) log(`  ${reverted.operations} operation(s) of ${reverted.safes} out-of-band Safe(s) included but reverted: ${JSON.stringify(reverted.reasons)}\n${reverted.details.map((d) => `    ${JSON.stringify(d)}`).join("\n")}`)
        const run: Run = {
          safes: allowlist.length,
          workers,
          workerMode: mode,
          scanMs,
          rpcRequestsPerBlock: steadyRequests,
          shockToLastInclusionMs: lastInclusionMs,
          shockScanMs: (shockStats.doneAt as number) - shockStats.seenAt,
          shockBlockRpcRequests,
          shockRequestsByMethod,
          rebalanced: included().size,
          reverted,
          outOfBand: edge.length,
          requestsByMethod,
          loadAverage,
          loadAverageAfterShock,
          inclusion,
          alerts,
          leftoverAtStart,
        }
        runs.push(run)
        log(JSON.stringify(run))
        // Written after every run, so a long bench that is stopped keeps what it measured.
        writeReport(args.out, { workerMode, workerCount, blockTimeSeconds: blockTime, batchSize, callGas, pollIntervalMs, headWaitShare, alto: altoSettings, targets: { scanMs: blockTime * 1_000, rpcRequestsPer100Safes: 1 }, runs, partial: true })
      } finally {
        await Promise.all([...nodes.map((n) => n.stop()), processes?.stop()])
      }
      // The next run starts with an empty mempool: this run's operations still in flight are included or dropped first.
      leftover = await drain()
      // Back to the start price for the next run (the calm Safes return to health 1.6).
      prices = { WETH: prices.WETH / 0.9, WBTC: prices.WBTC / 0.9 }
      await driver.set(prices)
    }
  }
} finally {
  globalThis.fetch = originalFetch
  await proxy?.stop()
  await env.stop()
  redis.child.kill("SIGKILL")
}

/**
 * Waits until the previous run's operations are gone: Alto's mempool empty (`debug_bundler_dumpMempool`) and no
 * transaction pending in the node, seen twice a block apart; after 20 blocks whatever is left is cleared
 * (`debug_bundler_clearState`) and reported.
 *
 * @returns What was left when the wait ended (0 and 0 when drained).
 */
async function drain(): Promise<{ altoMempool: number; nodePending: number }> {
  const altoMempool = async () => {
    const res = (await fetch(env.devnet.bundlerUrl, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "debug_bundler_dumpMempool", params: [env.devnet.addresses.entryPoint] }) }).then((r) => r.json())) as { result?: unknown[] }
    return res.result?.length ?? 0
  }
  const nodePending = async () => Number(((await rpc("txpool_status", [])) as { result?: { pending?: string } }).result?.pending ?? 0)
  const start = await head()
  let clean = 0
  for (;;) {
    const [a, n] = [await altoMempool(), await nodePending()]
    const b = await head()
    if (a === 0 && n === 0) {
      clean += 1
      if (clean >= 2) return { altoMempool: 0, nodePending: 0 }
      await waitBlock(b + 1n)
      continue
    }
    clean = 0
    if (b - start >= 20n) {
      log(`  drain: ${a} operations in Alto's mempool and ${n} pending transactions left after 20 blocks; clearing Alto's state`)
      await fetch(env.devnet.bundlerUrl, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "debug_bundler_clearState", params: [] }) })
      return { altoMempool: a, nodePending: n }
    }
    if (a + n > 0) log(`  drain: ${a} operations in Alto's mempool, ${n} pending transactions (block ${b})`)
    await waitBlock(b + 1n)
  }
}

/** Per block from `from` to `to`: the edge Safes' `UserOperationEvent`s, distinct bundle transactions, gas used. */
async function inclusionStats(from: bigint, to: bigint, edge: Set<string>): Promise<Run["inclusion"]> {
  const logs = await env.publicClient.getLogs({ address: env.devnet.addresses.entryPoint, event: userOperationEventAbi, fromBlock: from, toBlock: to })
  const blocks = Number(to - from) + 1
  const opsPerBlock = new Array<number>(blocks).fill(0)
  const txs = Array.from({ length: blocks }, () => new Set<string>())
  const succeeded = new Set<string>()
  const opsOf = new Map<string, number>()
  for (const l of logs) {
    const i = Number(l.blockNumber - from)
    const sender = l.args.sender?.toLowerCase()
    if (sender && edge.has(sender)) {
      opsPerBlock[i] = (opsPerBlock[i] ?? 0) + 1
      opsOf.set(sender, (opsOf.get(sender) ?? 0) + 1)
      if (l.args.success) succeeded.add(sender)
    }
    txs[i]?.add(l.transactionHash)
  }
  const gasUsedPerBlock: number[] = []
  for (let b = from; b <= to; b += 1n) gasUsedPerBlock.push(Number((await env.publicClient.getBlock({ blockNumber: b })).gasUsed))
  const bundlesPerBlock = txs.map((t) => t.size)
  const ops = opsPerBlock.reduce((a, b) => a + b, 0)
  const bundles = bundlesPerBlock.reduce((a, b) => a + b, 0)
  return {
    blocks,
    opsPerBlock,
    bundlesPerBlock,
    gasUsedPerBlock,
    maxOpsPerBlock: Math.max(0, ...opsPerBlock),
    opsPerBundle: bundles ? ops / bundles : 0,
    rebalancedOnChain: succeeded.size,
    safesWithSeveralOps: [...opsOf.values()].filter((n) => n > 1).length,
  }
}

async function waitBlock(n: bigint) {
  while ((await head()) < n) await sleep(100)
}

const fmt = (n: number | null) => (n !== null && Number.isFinite(n) ? n.toFixed(0) : "not reached")
const lines = [
  `Keeper fleet on anvil (${blockTime} s blocks), BullMQ + Redis, ${(await import("node:os")).cpus().length} cores; worker nodes: ${workerMode === "processes" ? "the leader in the bench's process, the others levpilot keeper --worker-only processes" : "all in the bench's process"}`,
  `Alto: ${executors} executor key(s), ${args.altoQueuePaymaster ? "simulating the paymaster's pending operations" : "--ignored-paymasters VerifyingPaymaster"}`,
  "| Safes | workers | mode | scan ms (steady block) | RPC requests / block | per 100 Safes | shock block scan ms | shock -> last inclusion ms | rebalanced | reverted ops | max ops / block | load |",
  "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  ...runs.map(
    (r) =>
      `| ${r.safes} | ${r.workers} | ${r.workerMode} | ${fmt(r.scanMs)} | ${r.rpcRequestsPerBlock.toFixed(1)} | ${((r.rpcRequestsPerBlock * 100) / r.safes).toFixed(2)} | ${fmt(r.shockScanMs)} | ${fmt(r.shockToLastInclusionMs)} | ${r.rebalanced}/${r.outOfBand} (on chain ${r.inclusion.rebalancedOnChain}) | ${r.reverted.operations} | ${r.inclusion.maxOpsPerBlock} | ${r.loadAverage.toFixed(1)} |`,
  ),
]
const ratios = sizes.map((size) => {
  const one = runs.find((r) => r.workers === 1 && Math.abs(r.safes - size) <= 1)
  const four = runs.find((r) => r.workers === 4 && Math.abs(r.safes - size) <= 1)
  return { safes: size, scanMs4over1: one && four ? four.scanMs / one.scanMs : undefined, shockToLastInclusion4over1: one && four && four.shockToLastInclusionMs !== null && one.shockToLastInclusionMs !== null ? four.shockToLastInclusionMs / one.shockToLastInclusionMs : undefined }
})
// Only with runs of 1 and 4 workers (helper nu49: `--workers 1,2` printed "4 workers / 1 worker: scan -x").
if (ratios.some((r) => r.scanMs4over1 !== undefined))
  lines.push("", "4 workers / 1 worker:", ...ratios.map((r) => `  ${r.safes} Safes: scan ${r.scanMs4over1?.toFixed(2) ?? "-"}x, shock to last inclusion ${r.shockToLastInclusion4over1?.toFixed(2) ?? "-"}x`))
process.stdout.write(`\n${lines.join("\n")}\n`)
const path = writeReport(args.out, { workerMode, workerCount, blockTimeSeconds: blockTime, batchSize, callGas, pollIntervalMs, headWaitShare, alto: altoSettings, targets: { scanMs: blockTime * 1_000, rpcRequestsPer100Safes: 1 }, runs, ratios })
process.stdout.write(`\nwrote ${path}\n`)
process.exit(0)
