import { readdirSync, readFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import ts from "typescript"
import { describe, expect, test } from "vitest"

// Helper nu49: the README's owner and keeper examples were the bodies of src/examples/*.ts without their first imports
// (createSmartAccountClient, http, parseEther, parseUnits and the types PublicClient, LocalAccount, Address, Hex,
// LeverageDeployments), so a user who copied one into a file got "Cannot find name" errors. Every ```ts block of
// sdk/README.md (except one marked "Not run", a fragment) is compiled here on its own, as a file of the user's project
// would be, with the repository's compiler options (strict).

const here = dirname(fileURLToPath(import.meta.url))
const root = resolve(here, "../../..")

/** The README's TypeScript blocks with the heading they sit under. */
function snippets(): { heading: string; code: string }[] {
  const text = readFileSync(join(here, "../../README.md"), "utf8")
  const out: { heading: string; code: string }[] = []
  let heading = ""
  const re = /^(#{1,4} .*)$|^```ts\n([\s\S]*?)^```$/gm
  for (const m of text.matchAll(re)) {
    if (m[1] !== undefined) heading = m[1]
    else out.push({ heading, code: m[2] as string })
  }
  return out
}

/**
 * Type errors of each code block, each compiled as a module of its own inside the repository (so `@levpilot/sdk`
 * resolves), all in one program.
 */
function typeErrors(codes: string[]): string[][] {
  const config = ts.readConfigFile(join(root, "tsconfig.json"), ts.sys.readFile)
  const { options } = ts.parseJsonConfigFileContent(config.config, ts.sys, root)
  const files = new Map(codes.map((code, i) => [join(here, `__readme_${i}.ts`), code]))
  const host = ts.createCompilerHost(options)
  const getSourceFile = host.getSourceFile.bind(host)
  host.getSourceFile = (fileName, language, onError, shouldCreate) => {
    const code = files.get(fileName)
    return code !== undefined ? ts.createSourceFile(fileName, code, language) : getSourceFile(fileName, language, onError, shouldCreate)
  }
  const fileExists = host.fileExists.bind(host)
  host.fileExists = (fileName) => files.has(fileName) || fileExists(fileName)
  const readFile = host.readFile.bind(host)
  host.readFile = (fileName) => files.get(fileName) ?? readFile(fileName)
  const program = ts.createProgram({ rootNames: [...files.keys()], options: { ...options, noEmit: true }, host })
  const diagnostics = ts.getPreEmitDiagnostics(program)
  return [...files.keys()].map((file) =>
    diagnostics
      .filter((d) => d.file?.fileName === file)
      .map((d) => `line ${(d.file as ts.SourceFile).getLineAndCharacterOfPosition(d.start ?? 0).line + 1}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`),
  )
}

describe("sdk/README.md's TypeScript examples compile as written", () => {
  const blocks = snippets()
  test("the README has the owner and keeper examples", () => {
    expect(blocks.map((b) => b.heading)).toEqual(expect.arrayContaining(["## Owner: create a Safe, configure automation, read state", "## Keeper: a sponsored rebalance"]))
  })
  test("every example but the fragment marked \"Not run\" typechecks on its own, every name imported", () => {
    const examples = blocks.filter((b) => !/^\/\/ Not run\b/.test(b.code))
    expect(examples.length).toBeGreaterThanOrEqual(2)
    const errors = typeErrors(examples.map((b) => b.code))
    expect(Object.fromEntries(examples.map((b, i) => [b.heading, errors[i]]))).toEqual(Object.fromEntries(examples.map((b) => [b.heading, []])))
  }, 180_000)
})

// Helper nu49: sdk/README.md named `readAaveCollateralHeld` "of `@levpilot/sdk/utils`" (renamed readAaveCollateral), and
// said the root entry holds "everything below" (its /rules and /constants exports are not re-exported).
describe("the Markdown files name SDK exports that exist", () => {
  const markdown = ["README.md", "sdk/README.md", "bundler-client/README.md", ...readdirSync(join(root, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)]
  test("every `name` of / from / in `@levpilot/sdk[/subpath]` is exported by that entry", async () => {
    const named = markdown.flatMap((file) =>
      [...readFileSync(join(root, file), "utf8").matchAll(/`([A-Za-z][A-Za-z0-9]+)` (?:of|from|in) `(@levpilot\/sdk(?:\/[a-z]+)?)`/g)].map((m) => ({ file, name: m[1] as string, entry: m[2] as string })),
    )
    expect(named.length).toBeGreaterThan(0)
    const missing: string[] = []
    for (const { file, name, entry } of named) if (!(name in ((await import(/* @vite-ignore */ entry)) as object))) missing.push(`${file}: ${name} of ${entry}`)
    expect(missing).toEqual([])
  })

  test("the root entry re-exports every subpath but /constants and /rules, as sdk/README.md says", async () => {
    const rootEntry = (await import("@levpilot/sdk")) as object
    for (const sub of ["accounts", "actions", "decorators", "errors", "types", "deployments", "abis", "utils"]) {
      const entry = (await import(/* @vite-ignore */ `@levpilot/sdk/${sub}`)) as object
      expect(Object.keys(entry).filter((k) => !(k in rootEntry)), sub).toEqual([])
    }
    expect(readFileSync(join(here, "../../README.md"), "utf8")).toContain("| `@levpilot/sdk` | everything below except `/constants` and `/rules`")
  })
})

