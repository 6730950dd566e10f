import { execFileSync, spawnSync } from "node:child_process"
import { existsSync, readFileSync } from "node:fs"
import { expect, test } from "vitest"

// Issue 11 item 11 ("Every README command works right after `npm ci`, in any order"; review brk11u, F4): a documented
// `tsx file.ts` without `--conditions=@levpilot/source` resolves @levpilot/sdk to sdk/dist, which `npm ci` does not
// build, and fails with ERR_MODULE_NOT_FOUND .../sdk/dist/...; a documented `node file` must name a JavaScript file
// that exists and does not import a workspace package (the same dist). Light: nothing here builds the contracts or runs
// a documented command (they write reports/ and take minutes); it reads every tracked Markdown file, checks each
// command's form, and runs tsx once with each documented flag set to resolve @levpilot/sdk without sdk/dist.

const root = new URL("..", import.meta.url).pathname
const CONDITION = "--conditions=@levpilot/source"

/** Every tracked Markdown file (README files, docs/, SECURITY.md), root-relative. */
function markdownFiles(): string[] {
  return execFileSync("git", ["ls-files", "*.md"], { cwd: root, encoding: "utf8" })
    .split("\n")
    .filter((f) => f !== "" && !/^REVIEW_/.test(f))
}

type Command = { file: string; line: number; runner: "tsx" | "node"; flags: string[]; script: string }

/** The `tsx …` / `node …` commands (flags, then a script path) a Markdown file shows, also when wrapped over lines. */
function commandsOf(file: string): Command[] {
  const text = readFileSync(`${root}${file}`, "utf8")
  const out: Command[] = []
  const re = /(?<![\w@/.-])(tsx|node)((?:\s+--?[\w@=/.:-]+(?:\s+(?!-)[\w@/.-]+\.m?js)?)*)\s+([\w./@-]+\.(?:ts|mts|cts|mjs|js|cjs))(?![\w.])/g
  for (const m of text.matchAll(re)) {
    out.push({ file, line: text.slice(0, m.index).split("\n").length, runner: m[1] as "tsx" | "node", flags: (m[2] ?? "").trim().split(/\s+/).filter((f) => f !== ""), script: m[3] as string })
  }
  return out
}

const commands = markdownFiles().flatMap(commandsOf)

test("the Markdown files show tsx and node commands (the scan finds what it checks)", () => {
  expect(commands.filter((c) => c.runner === "tsx").length).toBeGreaterThan(0)
  expect(commands.filter((c) => c.runner === "node").length).toBeGreaterThan(0)
})

test("every documented `tsx file.ts` passes --conditions=@levpilot/source (no sdk/dist after npm ci)", () => {
  const bare = commands.filter((c) => c.runner === "tsx" && !c.flags.includes(CONDITION)).map((c) => `${c.file}:${c.line}: tsx ${[...c.flags, c.script].join(" ")}`)
  expect(bare).toEqual([])
  for (const c of commands.filter((c) => c.runner === "tsx")) expect(existsSync(`${root}${c.script}`), `${c.file}:${c.line}: ${c.script}`).toBe(true)
})

test("every documented `node file` runs a JavaScript file that exists and imports no workspace package", () => {
  for (const c of commands.filter((c) => c.runner === "node")) {
    const where = `${c.file}:${c.line}: node ${c.script}`
    expect(/\.(mjs|js|cjs)$/.test(c.script), `${where}: node cannot run TypeScript`).toBe(true)
    expect(existsSync(`${root}${c.script}`), where).toBe(true)
    if (!c.script.startsWith("node_modules/")) expect(readFileSync(`${root}${c.script}`, "utf8"), `${where} imports @levpilot/* (needs a dist build)`).not.toMatch(/from\s+["']@levpilot\//)
  }
})

test("tsx with each documented flag set resolves @levpilot/sdk from source (works without sdk/dist)", () => {
  const flagSets = [...new Set(commands.filter((c) => c.runner === "tsx").map((c) => c.flags.join(" ")))]
  for (const flags of flagSets) {
    const run = spawnSync("npx", ["tsx", ...flags.split(" ").filter((f) => f !== ""), "--eval", 'import("@levpilot/sdk").then(() => console.log("resolved"))'], { cwd: root, encoding: "utf8", timeout: 120_000 })
    expect(`${run.stderr}`.match(/ERR_MODULE_NOT_FOUND[^\n]*/)?.[0] ?? "", `tsx ${flags}`).toBe("")
    expect(run.stdout, `tsx ${flags}: ${run.stderr.slice(0, 1000)}`).toContain("resolved")
  }
}, 300_000)

// Helper nu48 (a new user installing the packages as the READMEs said): `npm install ... viem permissionless` installed
// viem 2.58 and permissionless 0.4 (outside the SDK's peer range, accepted with --legacy-peer-deps), levpilot kept its
// own viem 2.57.20, and the repository's own consumer example failed `tsc --strict` (TS2345: two viem copies' Client
// types). Every documented install naming viem or permissionless must pin the versions levpilot depends on (the ones
// test/packages.test.ts installs) and pass --legacy-peer-deps.
test("every documented `npm install` of viem / permissionless pins levpilot's versions, with --legacy-peer-deps", () => {
  const deps = JSON.parse(readFileSync(`${root}bundler-client/package.json`, "utf8")).dependencies as Record<string, string>
  const installs = markdownFiles().flatMap((file) =>
    readFileSync(`${root}${file}`, "utf8")
      .split("\n")
      .map((text, i) => ({ where: `${file}:${i + 1}`, words: text.replace(/#.*$/, "").trim().split(/\s+/) }))
      .filter(({ words }) => /^npm$/.test(words[0] ?? "") && /^(install|i|add)$/.test(words[1] ?? "") && words.some((w) => /^(viem|permissionless)(@|$)/.test(w))),
  )
  expect(installs.length).toBeGreaterThan(0)
  for (const { where, words } of installs) {
    expect(words, where).toContain("--legacy-peer-deps")
    for (const name of ["viem", "permissionless"]) {
      const named = words.filter((w) => w === name || w.startsWith(`${name}@`))
      expect(named, `${where}: ${name} must be named as ${name}@${deps[name]}`).toEqual([`${name}@${deps[name]}`])
    }
  }
})

// Helper nu48: `npm run bench:fleet` is a package.json script that the README's script table did not list.
test("every package.json script is named in README.md (`npm run <name>`, or `npm start` / `npm test`)", () => {
  const scripts = Object.keys((JSON.parse(readFileSync(`${root}package.json`, "utf8")) as { scripts: Record<string, string> }).scripts)
  const readme = readFileSync(`${root}README.md`, "utf8")
  const named = (s: string) => readme.includes(`npm run ${s}\``) || readme.includes(`npm run ${s} `) || ((s === "start" || s === "test") && readme.includes(`npm ${s}`))
  expect(scripts.filter((s) => s !== "postinstall" && !named(s))).toEqual([])
})
