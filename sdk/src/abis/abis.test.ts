import { spawnSync } from "node:child_process"
import { existsSync } from "node:fs"
import { join, resolve } from "node:path"
import { expect, test } from "vitest"

const root = resolve(import.meta.dirname, "../../..")

// `npm test` builds with forge before vitest runs, so out/ holds the artifacts of the sources being tested.
test("the generated ABIs and the lens bytecode match the forge artifacts", () => {
  expect(existsSync(join(root, "out/LeverageLens.sol/LeverageLens.json")), "run `node scripts/forge.mjs build` first").toBe(true)
  const check = spawnSync(process.execPath, [join(root, "sdk/scripts/gen-abis.mjs"), "--check"], { cwd: root, encoding: "utf8" })
  expect(check.stderr).toBe("")
  expect(check.status).toBe(0)
})
