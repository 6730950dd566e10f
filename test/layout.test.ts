import { mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs"
import { builtinModules } from "node:module"
import { tmpdir } from "node:os"
import { dirname, join, relative, resolve, sep } from "node:path"
import ts from "typescript"
import { describe, expect, test } from "vitest"

/**
 * The seams between the workspace packages, checked on every import of every source file (TypeScript's own import
 * scanner, so comments and strings are not imports):
 * - nothing outside `test/` imports from `test/` (production code never depends on the tests);
 * - a package never reaches into another package's files by a relative path (`../../sdk/src/...`): siblings import
 *   each other by name, and only through a subpath their `exports` map names;
 * - the published packages (sdk, bundler-client) import only packages their package.json declares, and their
 *   relative imports name the emitted `.js` file, as Node's ESM resolver needs in the built package.
 */
type Violation = { file: string; specifier: string; rule: string }

const root = resolve(import.meta.dirname, "..")
const sourceExtensions = /\.(ts|mts|mjs|js)$/
const skipDirs = new Set(["node_modules", "dist", "out", "cache", "lib", "reports", ".git", ".scratch"])

type PackageJson = {
  name: string
  exports?: Record<string, unknown>
  dependencies?: Record<string, string>
  peerDependencies?: Record<string, string>
  devDependencies?: Record<string, string>
}

function walk(dir: string, files: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (skipDirs.has(name)) continue
    const path = join(dir, name)
    if (statSync(path).isDirectory()) walk(path, files)
    else if (sourceExtensions.test(name) && !name.endsWith(".d.ts")) files.push(path)
  }
  return files
}

const importsOf = (file: string) => ts.preProcessFile(readFileSync(file, "utf8"), true, true).importedFiles.map((i) => i.fileName)
const isTest = (file: string) => /\.test(-d)?\.ts$/.test(file)
const packageName = (specifier: string) => specifier.split("/").slice(0, specifier.startsWith("@") ? 2 : 1).join("/")
const inside = (path: string, dir: string) => path === dir || path.startsWith(dir + sep)

/**
 * Every import of the repository at `base` that breaks one of the rules above.
 *
 * @param base - Repository root: `package.json` with `workspaces`, `test/`, the workspace folders.
 * @returns The violations, one per offending import.
 */
export function findLayoutViolations(base: string): Violation[] {
  const rootJson = JSON.parse(readFileSync(join(base, "package.json"), "utf8")) as { workspaces: string[] }
  const packages = rootJson.workspaces.map((dir) => ({ dir: join(base, dir), json: JSON.parse(readFileSync(join(base, dir, "package.json"), "utf8")) as PackageJson }))
  const byName = new Map(packages.map((p) => [p.json.name, p]))
  const published = packages.filter((p) => !(p.json as { private?: boolean }).private)
  const testDir = join(base, "test")
  const violations: Violation[] = []
  for (const file of walk(base)) {
    const rel = relative(base, file)
    const owner = packages.find((p) => inside(file, p.dir))
    for (const specifier of importsOf(file)) {
      const add = (rule: string) => violations.push({ file: rel, specifier, rule })
      if (specifier.startsWith(".")) {
        const target = resolve(dirname(file), specifier)
        if (!inside(file, testDir) && inside(target, testDir)) add("imports from test/ outside test/")
        else if (owner && !inside(target, owner.dir)) add(`reaches out of ${owner.json.name} by a relative path`)
        else if (owner && published.includes(owner) && !isTest(file) && inside(file, join(owner.dir, "src")) && !/\.(js|mjs|json)$/.test(specifier))
          add("relative import without the emitted .js extension")
        continue
      }
      if (specifier.startsWith("node:") || builtinModules.includes(specifier)) continue
      const name = packageName(specifier)
      const sibling = byName.get(name)
      if (sibling) {
        const subpath = `.${specifier.slice(name.length)}`
        if (!sibling.json.exports || !(subpath in sibling.json.exports)) add(`${subpath} is not in ${name}'s exports`)
      }
      if (owner && published.includes(owner) && !isTest(file) && inside(file, join(owner.dir, "src"))) {
        const declared = { ...owner.json.dependencies, ...owner.json.peerDependencies, ...owner.json.devDependencies }
        if (!(name in declared) && name !== owner.json.name) add(`${name} is not declared in ${owner.json.name}'s package.json`)
      }
    }
  }
  return violations
}

function fixture(files: Record<string, string>): string {
  const base = mkdtempSync(join(tmpdir(), "levpilot-layout-"))
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(base, path)), { recursive: true })
    writeFileSync(join(base, path), text)
  }
  return base
}

describe("package layout", () => {
  test("the repository follows the rules: no import from test/ outside it, no reaching into another package", () => {
    expect(findLayoutViolations(root)).toEqual([])
  })

  test("flags production code that imports the test harness, and a package that reaches into a sibling's src", () => {
    const pkg = (name: string, extra: object = {}) => JSON.stringify({ name, exports: { ".": "./src/index.ts", "./actions": "./src/actions/index.ts" }, ...extra })
    const base = fixture({
      "package.json": JSON.stringify({ workspaces: ["sdk", "bundler-client"] }),
      "sdk/package.json": pkg("@levpilot/sdk", { peerDependencies: { viem: "2" } }),
      "sdk/src/index.ts": 'import { parseEther } from "viem"\nexport * from "./actions/index.js"\n',
      "sdk/src/actions/index.ts": 'import { helper } from "../../../test/helper.js"\nexport const x = helper\n',
      "bundler-client/package.json": pkg("levpilot", { dependencies: { "@levpilot/sdk": "0.1.0" } }),
      "bundler-client/src/keeper.ts": [
        'import { x } from "../../sdk/src/actions/index.js"',
        'import { y } from "@levpilot/sdk/actions"',
        'import { z } from "@levpilot/sdk/src/errors/index.js"',
        'import { pino } from "pino"',
        'import { risk } from "./risk"',
        "// import { comment } from \"../../test/not-an-import.js\"",
      ].join("\n"),
      "bundler-client/src/risk.ts": "export const risk = 1\n",
      "bundler-client/src/keeper.test.ts": 'import { risk } from "./risk"\nimport { vi } from "vitest"\n',
      "scripts/tool.mjs": 'import "../test/setup.mjs"\n',
      "test/helper.ts": 'import { x } from "../bundler-client/src/keeper.js"\nexport const helper = 1\n',
    })
    expect(findLayoutViolations(base)).toEqual(
      expect.arrayContaining([
        { file: join("sdk/src/actions/index.ts"), specifier: "../../../test/helper.js", rule: "imports from test/ outside test/" },
        { file: join("bundler-client/src/keeper.ts"), specifier: "../../sdk/src/actions/index.js", rule: "reaches out of levpilot by a relative path" },
        { file: join("bundler-client/src/keeper.ts"), specifier: "@levpilot/sdk/src/errors/index.js", rule: "./src/errors/index.js is not in @levpilot/sdk's exports" },
        { file: join("bundler-client/src/keeper.ts"), specifier: "pino", rule: "pino is not declared in levpilot's package.json" },
        { file: join("bundler-client/src/keeper.ts"), specifier: "./risk", rule: "relative import without the emitted .js extension" },
        { file: join("scripts/tool.mjs"), specifier: "../test/setup.mjs", rule: "imports from test/ outside test/" },
      ]),
    )
    // Exactly those six: the sibling import through an exported subpath, the test file's imports, the comment and
    // test/ importing package sources are all allowed.
    expect(findLayoutViolations(base)).toHaveLength(6)
  })
})

/**
 * What the SDK's public subpaths must re-export: every action module's function of the same name
 * (`sdk/src/actions/<name>.ts` exports `<name>`), and every error class declared in `sdk/src/errors/*.ts`.
 *
 * @returns The names missing from `@levpilot/sdk/actions` and `@levpilot/sdk/errors`.
 */
function missingPublicExports(sdkSrc: string): string[] {
  const missing: string[] = []
  const names = (source: string) => new Set(source.match(/\b[A-Za-z_$][\w$]*\b/g) ?? [])
  const actionsIndex = names(readFileSync(join(sdkSrc, "actions/index.ts"), "utf8"))
  for (const file of readdirSync(join(sdkSrc, "actions"))) {
    if (!file.endsWith(".ts") || file.includes(".test") || file === "index.ts") continue
    const name = file.replace(/\.ts$/, "")
    if (new RegExp(`export (async )?function ${name}\\b`).test(readFileSync(join(sdkSrc, "actions", file), "utf8")) && !actionsIndex.has(name))
      missing.push(`actions: ${name}`)
  }
  const errorsIndex = names(readFileSync(join(sdkSrc, "errors/index.ts"), "utf8"))
  for (const file of readdirSync(join(sdkSrc, "errors"))) {
    if (!file.endsWith(".ts") || file.includes(".test") || file === "index.ts") continue
    for (const [, name] of readFileSync(join(sdkSrc, "errors", file), "utf8").matchAll(/^export class (\w+)/gm))
      if (!errorsIndex.has(name as string)) missing.push(`errors: ${name}`)
  }
  return missing
}

describe("SDK public surface", () => {
  test("every action and every error class is exported from its public subpath", () => {
    expect(missingPublicExports(join(root, "sdk/src"))).toEqual([])
  })

  test("flags an action or an error class left out of the index", () => {
    const base = mkdtempSync(join(tmpdir(), "levpilot-surface-"))
    mkdirSync(join(base, "actions"))
    mkdirSync(join(base, "errors"))
    writeFileSync(join(base, "actions/index.ts"), 'export { setPolicy } from "./setPolicy.js"\n')
    writeFileSync(join(base, "actions/setPolicy.ts"), "export async function setPolicy() {}\n")
    writeFileSync(join(base, "actions/setSponsor.ts"), "export async function setSponsor() {}\n")
    writeFileSync(join(base, "errors/index.ts"), 'export { KnownError } from "./plan.js"\n')
    writeFileSync(join(base, "errors/plan.ts"), "export class KnownError extends Error {}\nexport class NewError extends Error {}\n")
    expect(missingPublicExports(base)).toEqual(["actions: setSponsor", "errors: NewError"])
  })
})
