#!/usr/bin/env node
// Runs the forge binary shipped by @foundry-rs/forge, after making sure the offline solc shims exist.
import { spawnSync } from "node:child_process"
import { existsSync, readFileSync, readdirSync } from "node:fs"
import { homedir } from "node:os"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..")
const svm = process.env.SVM_HOME ?? join(homedir(), ".svm")
const versions = readdirSync(join(root, "node_modules"))
  .filter((name) => /^solc-\d+\.\d+\.\d+$/.test(name))
  .map((name) => name.slice(5))
// Re-written when missing or pointing at another checkout (the shims name this checkout's solc packages).
const current = (v) => {
  const marker = join(svm, v, "shim-source.txt")
  return existsSync(join(svm, v, `solc-${v}`)) && existsSync(marker) && readFileSync(marker, "utf8").trim() === join(root, "node_modules", `solc-${v}`)
}
if (versions.some((v) => !current(v))) {
  const setup = spawnSync(process.execPath, [join(root, "scripts/setup-toolchain.mjs")], { stdio: "inherit" })
  if (setup.status !== 0) process.exit(setup.status ?? 1)
}

export const toolPath = (tool) =>
  join(root, "node_modules", "@foundry-rs", `${tool}-${process.platform}-${process.arch === "x64" ? "amd64" : process.arch}`, "bin", tool)

/**
 * Artifacts tests deploy by name (`deployCode("Morpho.sol:Morpho")`) from a file no test imports (Morpho Blue needs solc
 * 0.8.19 exactly): a filtered `forge test --match-path ...` compiles only what the matched tests import, so on a fresh
 * clone it failed in setUp with "vm.getCode: no matching artifact found". Built first when missing (~15 s).
 */
const namedArtifacts = [{ source: "modules/test/utils/MorphoArtifacts.sol", artifact: "out/Morpho.sol/Morpho.json" }]

if (import.meta.url === `file://${process.argv[1]}`) {
  const command = process.argv[2]
  if (command === "test" || command === "snapshot" || command === "coverage") {
    const missing = namedArtifacts.filter((a) => !existsSync(join(root, a.artifact))).map((a) => a.source)
    if (missing.length > 0) {
      const build = spawnSync(toolPath("forge"), ["build", ...missing], { stdio: "inherit", cwd: root })
      if (build.status !== 0) process.exit(build.status ?? 1)
    }
  }
  const run = spawnSync(toolPath("forge"), process.argv.slice(2), { stdio: "inherit", cwd: root })
  process.exit(run.status ?? 1)
}
