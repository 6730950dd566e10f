import { expect, test } from "vitest"
import { type IsolationVerdict, isolateRefusals } from "./refusalIsolation.js"
import { random } from "./aaveMath.testing.js"

// Random plans of 1..12 sub-accounts with random refusal models and budgets (0..12), through `isolateRefusals`:
// - monotone culprits: any subset listing one is refused plan-wide;
// - non-monotone loss budgets: each id has a loss, a subset is refused when its total exceeds a shared budget (a pair may
//   be refused together though each is accepted alone);
// - named refusals: some ids are named by the simulation whenever listed;
// - no-plan ids (a rescue funded by a donor): a subset listing one without its donor has nothing to simulate.
// Checked every time: no id blamed unless that id alone was refused; no id named unless the simulation named it; at
// most `budget` simulations; every id in exactly one list; the sent subset accepted; the same verdicts give the same
// calls (deterministic).


type Model = { ids: string[]; verdict: (subset: string[]) => IsolationVerdict }

function model(r: () => number): Model {
  const n = 1 + Math.floor(r() * 12)
  const ids = Array.from({ length: n }, (_, i) => `s${i}`)
  const kind = Math.floor(r() * 4)
  const culprits = new Set(ids.filter(() => r() < 0.3))
  const named = new Set(ids.filter((id) => !culprits.has(id) && r() < 0.1))
  const loss = new Map(ids.map((id) => [id, Math.floor(r() * 10)]))
  const cap = 5 + Math.floor(r() * 20)
  const donorOf = new Map<string, string>()
  if (kind === 3) for (const id of ids) if (r() < 0.2) donorOf.set(id, ids[Math.floor(r() * n)] as string)
  const verdict = (subset: string[]): IsolationVerdict => {
    if (subset.some((id) => donorOf.has(id) && donorOf.get(id) !== id && !subset.includes(donorOf.get(id) as string))) return { kind: "empty" }
    const n1 = subset.find((id) => named.has(id))
    if (n1 !== undefined) return { kind: "named", id: n1 }
    if (kind === 1 || kind === 2) {
      const total = subset.reduce((a, id) => a + (loss.get(id) ?? 0), 0)
      if (total > cap || (kind === 2 && subset.some((id) => culprits.has(id)))) return { kind: "refused" }
      return { kind: "accepted" }
    }
    return subset.some((id) => culprits.has(id)) ? { kind: "refused" } : { kind: "accepted" }
  }
  return { ids, verdict }
}

test("isolateRefusals: 5,000 random plans, refusal models and budgets: no wrong blame, budget held, a partition, deterministic", async () => {
  const r = random(11)
  let blamed = 0
  let sentAfterRefusal = 0
  for (let c = 0; c < 5_000; c++) {
    const { ids, verdict } = model(r)
    const budget = Math.floor(r() * 13)
    const calls: string[][] = []
    const simulate = async (subset: string[]) => {
      calls.push(subset)
      return verdict(subset)
    }
    const out = await isolateRefusals({ ids, budget, simulate })
    expect(calls.length).toBeLessThanOrEqual(budget)
    expect(out.simulations).toBe(calls.length)
    for (const id of out.culprits) {
      expect(calls.some((s) => s.length === 1 && s[0] === id)).toBe(true)
      expect(verdict([id]).kind).toBe("refused")
    }
    for (const id of out.named) expect(calls.some((s) => s.includes(id) && verdict(s).kind === "named" && (verdict(s) as { id: string }).id === id)).toBe(true)
    const all = [...(out.send ?? []), ...out.culprits, ...out.named, ...out.untried].sort()
    expect(all).toEqual([...ids].sort())
    if (out.send !== undefined) {
      expect(verdict(out.send).kind).toBe("accepted")
      expect(calls[calls.length - 1]).toEqual(out.send)
    }
    if (out.untried.length > 0) expect(out.why).toBeDefined()
    // Subsets tried keep the input's order (most urgent first).
    for (const s of calls) expect(s).toEqual(ids.filter((id) => s.includes(id)))
    // Deterministic.
    const again: string[][] = []
    const out2 = await isolateRefusals({ ids, budget, simulate: async (s) => (again.push(s), verdict(s)) })
    expect(again).toEqual(calls)
    expect(out2).toEqual(out)
    blamed += out.culprits.length
    if (out.send !== undefined && calls.length > 1) sentAfterRefusal += 1
  }
  // The generator reaches the interesting cases.
  expect(blamed).toBeGreaterThan(500)
  expect(sentAfterRefusal).toBeGreaterThan(500)
})

test("isolateRefusals: everyone accepted: one simulation, everyone sent", async () => {
  const calls: string[][] = []
  const out = await isolateRefusals({ ids: ["a", "b", "c", "d", "e"], budget: 8, simulate: async (s) => (calls.push(s), { kind: "accepted" }) })
  expect(calls).toEqual([["a", "b", "c", "d", "e"]])
  expect(out).toEqual({ send: ["a", "b", "c", "d", "e"], culprits: [], named: [], untried: [], why: undefined, simulations: 1 })
})

test("isolateRefusals: non-monotone pair (refused together, each accepted alone): nobody blamed, the most urgent sent", async () => {
  const calls: string[][] = []
  const out = await isolateRefusals({ ids: ["a", "b"], budget: 8, simulate: async (s) => (calls.push(s), s.length === 2 ? { kind: "refused" } : { kind: "accepted" }) })
  expect(calls).toEqual([["a", "b"], ["a"]])
  expect(out).toMatchObject({ send: ["a"], culprits: [], untried: ["b"], why: "sent" })
})

test("isolateRefusals: one most-urgent culprit among five (rr11l L3): the other four sent together in 5 simulations", async () => {
  const calls: string[][] = []
  const out = await isolateRefusals({ ids: ["x1", "x2", "x3", "i1", "i2"], budget: 8, simulate: async (s) => (calls.push(s), s.includes("x1") ? { kind: "refused" } : { kind: "accepted" }) })
  expect(out).toMatchObject({ send: ["x2", "x3", "i1", "i2"], culprits: ["x1"], untried: [], simulations: 7 })
})

test("isolateRefusals: the budget spent: the undecided ones are untried (why: budget), never blamed", async () => {
  const out = await isolateRefusals({ ids: ["a", "b", "c", "d"], budget: 2, simulate: async () => ({ kind: "refused" }) })
  expect(out).toMatchObject({ culprits: [], untried: ["a", "b", "c", "d"], why: "budget", simulations: 2 })
  const known = await isolateRefusals({ ids: ["a"], budget: 0, simulate: async () => ({ kind: "accepted" }), whole: { kind: "refused" } })
  expect(known).toMatchObject({ culprits: ["a"], untried: [], simulations: 0 })
})

test("isolateRefusals: a rescue with no plan without its donor (rr11l L2): untried with why no-plan, not blamed", async () => {
  const out = await isolateRefusals({ ids: ["r", "d"], budget: 8, simulate: async (s) => (s.length === 2 ? { kind: "refused" } : { kind: "empty" }) })
  expect(out).toMatchObject({ culprits: [], untried: ["r", "d"], why: "no-plan", simulations: 3 })
})

test("isolateRefusals: an accepted subset whose plan lists fewer ids (rr11m M1): only those sent, the rest untried (why sent)", async () => {
  // r has no plan without d: a subset holding r but not d is accepted with the plan of the others only.
  const out = await isolateRefusals({
    ids: ["r", "a1", "a2", "d"],
    budget: 8,
    whole: { kind: "refused" },
    simulate: async (s) => (s.includes("d") ? { kind: "refused" } : { kind: "accepted", sent: s.filter((id) => id !== "r") }),
  })
  expect(out).toMatchObject({ send: ["a1"], culprits: [], untried: ["r", "a2", "d"], why: "sent", simulations: 1 })
})
