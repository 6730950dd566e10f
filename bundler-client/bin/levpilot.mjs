#!/usr/bin/env node
// The installed package runs the compiled CLI (dist/, plain JavaScript, no TypeScript loader). In the repository,
// where src/ sits next to this file (the package does not ship it), it runs the TypeScript sources through tsx, with
// the workspace packages (@levpilot/sdk, @levpilot/devnet) resolved to their sources: the "@levpilot/source" export
// condition, listed first in every exports map, is added to each resolution (as `tsx --conditions=@levpilot/source`).
import { existsSync } from "node:fs"
import { register as registerHooks } from "node:module"

const source = new URL("../src/cli/main.ts", import.meta.url)
// `levpilot start` deploys contracts from forge's out/: it checks its flags and files first, then brings out/ up to date
// itself (scripts/ensure-contracts.mjs, in the repository), so a wrong command line is refused before any build.
if (existsSync(source)) {
  const { register } = await import("tsx/esm/api")
  register()
  const hook =
    'export async function resolve(specifier, context, next) { return next(specifier, { ...context, conditions: [...new Set([...context.conditions, "@levpilot/source"])] }) }'
  registerHooks(`data:text/javascript,${encodeURIComponent(hook)}`)
  await import(source.href)
} else {
  await import("../dist/cli/main.js")
}
