#!/usr/bin/env node
// Keeps `npm ci` working against a registry that does not serve every platform build: packages such as
// @foundry-rs/forge, rollup and msgpackr-extract list one optional dependency per platform, and when the
// registry answers 404 for the platforms we do not run on, `npm install` leaves them out of the lock file,
// after which `npm ci` refuses the lock ("Missing: ... from lock file"). This adds a lock entry for each
// missing optional platform package, with its os/cpu/libc, so `npm ci` accepts the lock and skips them.
// Run after every `npm install`: `node scripts/fix-lock.mjs`.
import { readFileSync, writeFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..")
const lockPath = join(root, "package-lock.json")
const lock = JSON.parse(readFileSync(lockPath, "utf8"))
const packages = lock.packages

const OS = ["darwin", "linux", "win32", "freebsd", "openbsd", "netbsd", "android", "openharmony", "sunos", "aix"]
const CPU = { x64: "x64", amd64: "x64", arm64: "arm64", aarch64: "arm64", arm: "arm", ia32: "ia32", loong64: "loong64", ppc64: "ppc64", riscv64: "riscv64", s390x: "s390x" }

function platformOf(name) {
  const tokens = name.split("/").pop().split("-")
  const os = tokens.find((t) => OS.includes(t))
  const cpu = tokens.map((t) => CPU[t]).find(Boolean)
  const libc = tokens.includes("musl") ? "musl" : tokens.includes("gnu") || tokens.includes("gnueabihf") ? "glibc" : undefined
  return { os, cpu, libc }
}

const here = `${process.platform}-${process.arch}`
let added = 0
for (const [path, pkg] of Object.entries(packages)) {
  for (const [dep, spec] of Object.entries(pkg.optionalDependencies ?? {})) {
    const base = path === "" ? "" : `${path}/`
    const candidates = [`${base}node_modules/${dep}`, `node_modules/${dep}`]
    if (candidates.some((c) => packages[c])) continue
    const { os, cpu, libc } = platformOf(dep)
    if (!os || !cpu) continue
    if (`${os}-${cpu}` === here && !libc) continue
    packages[`node_modules/${dep}`] = {
      version: spec.replace(/^[\^~=]/, ""),
      dev: pkg.dev ?? undefined,
      optional: true,
      os: [os],
      cpu: [cpu],
      ...(libc ? { libc: [libc] } : {}),
    }
    added++
  }
}
writeFileSync(lockPath, JSON.stringify(lock, null, 2) + "\n")
console.log(`fix-lock: added ${added} platform entries the registry did not serve`)
