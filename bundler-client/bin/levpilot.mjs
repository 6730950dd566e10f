#!/usr/bin/env node
// The installed package runs the compiled CLI (dist/, plain JavaScript, no TypeScript loader). In the repository,
// where src/ sits next to this file (the package does not ship it), it runs the TypeScript sources through tsx, with
// the workspace packages (@levpilot/sdk, @levpilot/devnet) resolved to their sources: the "@levpilot/source" export
// condition, listed first in every exports map, is added to each resolution (as `tsx --conditions=@levpilot/source`).
import { existsSync } from "node:fs"
import { register as registerHooks } from "node:module"

const source = new URL("../src/cli/main.ts", import.meta.url)
// Commands that deploy contracts from forge's out/ (the devnet demo): in the repository, make sure the artifacts are
// current first (scripts/ensure-contracts.mjs, as `npm start` does), so they work right after `npm ci` on a fresh clone.
const needsArtifacts = new Set(["start"])
if (existsSync(source)) {
  const [command] = process.argv.slice(2)
  const help = process.argv.includes("--help") || process.argv.includes("-h")
  if (command !== undefined && needsArtifacts.has(command) && !help) {
    const { ensureContracts } = await import(new URL("../../scripts/ensure-contracts.mjs", import.meta.url).href)
    try {
      ensureContracts()
    } catch (error) {
      console.error(`levpilot ${command}: ${error instanceof Error ? error.message : String(error)}`)
      process.exit(1)
    }
  }
  const { register } = await import("tsx/esm/api")
  register()
  const hook =
    'export async function resolve(specifier, context, next) { return next(specifier, { ...context, conditions: [...new Set([...context.conditions, "@levpilot/source"])] }) }'
  registerHooks(`data:text/javascript,${encodeURIComponent(hook)}`)
  await import(source.href)
} else {
  await import("../dist/cli/main.js")
}
