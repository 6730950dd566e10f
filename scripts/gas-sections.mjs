// Per-section gas of one UserOperation, read from forge's call trace (`forge test --json -vvvv`).
//
// A trace node carries `gas_used` and `gas_limit` (what the CALL handed over: 63/64 of the caller's gas left after the
// opcode's own cost). So inside the rebalance engine's frame, the gas left just before each child call is about
// `gas_limit * 64 / 63`, which turns the frame into a timeline: every child call, and the frame's own work (SLOAD,
// SSTORE, memory, hashing, math) between two calls, can be put in a section. A gap of own work goes to the section of
// the call before it, except where noted below. Precision: a few gas per call (the 63/64 rounding and the CALL
// opcode's own cost, which lands in the gap before the call).
//
// Keeper lane sections (in the order the engine runs them, modules/src/libraries/RebalanceLib.sol `execute`):
//   validation     validateUserOp (signature, nonce key, gas caps, self-pay charge, prefund)
//   entry          executeRebalance before the engine runs: Safe fallback dispatch, canonical-plan check, key re-check,
//                  the DELEGATECALL into the engine
//   load           venue adapter marketState (with health and repayable) per listed sub-account (maxRepayable until 2026-12-01)
//   oracle         the second feed's latestRoundData/decimals and the tokens' decimals, and the rescale/deviation math
//   vet            own work between the last oracle call and the first holding read: cooldown, trigger, plan vetting
//   netValue       the holdings valued before and after the plan (idle tokens, pool assets)
//   actions        the plan's Safe calls, adapter encode calls, pool sanity reads, approval checks, swap bounds
//   postState      venue adapter positionHealth (position and health) per sub-account, and the health rules judged on it
//   usageWrite     own work after the last holding read: loss bound, epoch usage checks and write
//   event          the Rebalanced log (375 + 375 per topic + 8 per data byte; memory expansion not separated)
//   entryPoint     the rest of handleOps (EntryPoint bookkeeping, nonce, prefund accounting, beneficiary payment)
// Owner lane: validation, actions (the executeUserOp call: MultiSendCallOnly batch), entryPoint.
import { readFileSync } from "node:fs"
import { join } from "node:path"

const selectorsOf = (root, file, contract) => {
  const artifact = JSON.parse(readFileSync(join(root, "out", file, `${contract}.json`), "utf8"))
  const bySig = {}
  for (const [signature, selector] of Object.entries(artifact.methodIdentifiers)) bySig[signature.split("(")[0]] = `0x${selector}`
  return bySig
}

/** Selectors the analysis classifies calls by, from forge's artifacts in out/. */
export function loadSelectors(root) {
  const lib = selectorsOf(root, "RebalanceLib.sol", "RebalanceLib")
  const module = selectorsOf(root, "LeverageModule.sol", "LeverageModule")
  const venue = selectorsOf(root, "IVenueAdapter.sol", "IVenueAdapter")
  const feed = selectorsOf(root, "IPriceFeed.sol", "IPriceFeed")
  const erc4626 = selectorsOf(root, "IERC4626.sol", "IERC4626")
  const entryPoint = selectorsOf(root, "IEntryPoint.sol", "IEntryPoint")
  return {
    handleOps: entryPoint.handleOps,
    execute: lib.execute,
    validateUserOp: module.validateUserOp,
    executeRebalance: module.executeRebalance,
    executeUserOp: module.executeUserOp,
    load: new Set([venue.marketState, venue.maxRepayable]),
    oracle: new Set([feed.latestRoundData, feed.decimals]),
    holdings: new Set([erc4626.balanceOf, erc4626.convertToAssets, erc4626.asset]),
    postState: new Set([venue.positionHealth]),
  }
}

/** The test's node arena (its "Execution" trace) from `forge test --json -vvvv` output. */
export function arenaOf(forgeJson, contract, test) {
  const suite = Object.entries(forgeJson).find(([name]) => name.endsWith(`:${contract}`))
  if (!suite) throw new Error(`gas-sections: no test contract ${contract} in forge's output`)
  const result = suite[1].test_results[`${test}()`]
  if (!result) throw new Error(`gas-sections: no test ${contract}.${test} in forge's output`)
  const execution = result.traces.find(([kind]) => kind === "Execution")
  if (!execution) throw new Error(`gas-sections: no execution trace for ${test} (run forge with -vvvv)`)
  return execution[1].arena
}

const sel = (node) => node.trace.data.slice(0, 10)

function find(arena, node, predicate) {
  if (predicate(node)) return node
  for (const child of node.children) {
    const found = find(arena, arena[child], predicate)
    if (found) return found
  }
  return undefined
}

const logGas = (log) => {
  const raw = log.raw_log
  return 375 + 375 * raw.topics.length + 8 * ((raw.data.length - 2) / 2)
}

/**
 * Sections of every handleOps call in `arena`, in call order.
 * @returns {{ lane: "owner" | "keeper", total: number, sections: Record<string, number> }[]}
 */
export function handleOpsSections(arena, s) {
  return arena
    .filter((node) => sel(node) === s.handleOps)
    .map((handleOps) => {
      const total = handleOps.trace.gas_used
      const validation = find(arena, handleOps, (n) => sel(n) === s.validateUserOp && n.trace.kind === "CALL")
      const engine = find(arena, handleOps, (n) => sel(n) === s.execute)
      const sections = { validation: validation.trace.gas_used }
      if (!engine) {
        const execution = find(arena, handleOps, (n) => sel(n) === s.executeUserOp && n.trace.kind === "CALL")
        sections.actions = execution.trace.gas_used
        sections.entryPoint = total - sections.validation - sections.actions
        return { lane: "owner", total, sections }
      }
      const rebalance = find(arena, handleOps, (n) => sel(n) === s.executeRebalance && n.trace.kind === "CALL")
      Object.assign(sections, engineSections(arena, engine, s))
      sections.entry = rebalance.trace.gas_used - engine.trace.gas_used
      sections.entryPoint = total - sections.validation - rebalance.trace.gas_used
      // A section below zero (beyond the 63/64 rounding) means a call was put in the wrong place: fail loudly.
      for (const [name, gas] of Object.entries(sections)) {
        if (gas < -8) throw new Error(`gas-sections: section ${name} is ${gas} gas: the trace did not match the engine's order`)
      }
      return { lane: "keeper", total, sections }
    })
}

/** Sections of the engine's frame (RebalanceLib.execute), see the file header. */
function engineSections(arena, engine, s) {
  const out = { load: 0, oracle: 0, vet: 0, netValue: 0, actions: 0, postState: 0, usageWrite: 0, event: 0 }
  const frame = engine.trace
  let phase = "load" // load -> before (holdings valued) -> actions -> post -> after (holdings valued again)
  const calls = engine.children.map((i) => arena[i]).map((child) => {
    const selector = sel(child)
    let section
    if (s.load.has(selector)) section = "load"
    else if (s.oracle.has(selector) && phase === "load") section = "oracle"
    else if (s.postState.has(selector)) section = "postState"
    else if (s.holdings.has(selector) && (phase === "load" || phase === "before")) section = "netValue:before"
    else if (s.holdings.has(selector) && (phase === "post" || phase === "after")) section = "netValue:after"
    else section = "actions"
    if (section === "netValue:before") phase = "before"
    else if (section === "actions") phase = "actions"
    else if (section === "postState") phase = "post"
    else if (section === "netValue:after") phase = "after"
    return { section, before: Math.floor((child.trace.gas_limit * 64) / 63), used: child.trace.gas_used }
  })
  const name = (section) => section.split(":")[0]
  let left = frame.gas_limit
  let previous = "load"
  let previousUsed = 0
  for (const call of calls) {
    const gap = left - call.before - previousUsed
    const vetting = (previous === "load" || previous === "oracle") && call.section === "netValue:before"
    out[vetting ? "vet" : name(previous)] += gap
    out[name(call.section)] += call.used
    left = call.before
    previous = call.section
    previousUsed = call.used
  }
  const tail = left - (frame.gas_limit - frame.gas_used) - previousUsed
  const event = engine.logs.reduce((sum, log) => sum + logGas(log), 0)
  out.event = event
  out.usageWrite = tail - event
  return out
}
