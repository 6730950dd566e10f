// solcjs behind solc's command-line interface, for forge's offline compiler detection.
// `~/.svm/<v>/solc-<v>` (written by setup-toolchain.mjs) calls `main(packageDir, argv)`.
// solc-js passes the standard-JSON input to WebAssembly through emscripten's `ccall`, which copies string
// arguments onto the 5 MB wasm stack (4 bytes reserved per character): a project-wide input over ~1.3 MB then
// crashes with "memory access out of bounds". The input is therefore written to the wasm heap (`_malloc`) and
// `solidity_compile` is called directly. Every source is in the input (forge resolves imports), so no callback.
"use strict"
const fs = require("node:fs")
const path = require("node:path")

function readStdin() {
  return new Promise((resolve) => {
    const chunks = []
    process.stdin.on("data", (c) => chunks.push(c))
    process.stdin.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")))
  })
}

async function main(packageDir, args) {
  if (args.includes("--version")) {
    const solc = require(packageDir)
    const long = solc.version().replace(/\.Emscripten\.clang$/, "")
    process.stdout.write("solc, the solidity compiler commandline interface\nVersion: " + long + ".Linux.g++\n")
    return
  }
  if (!args.includes("--standard-json")) {
    process.stderr.write("this solc shim only supports --version and --standard-json\n")
    process.exitCode = 1
    return
  }
  const input = await readStdin()
  if (process.env.LEVPILOT_SOLC_DUMP) fs.writeFileSync(process.env.LEVPILOT_SOLC_DUMP, input)
  process.stdout.write(compileOnHeap(path.join(packageDir, "soljson.js"), input))
}

function compileOnHeap(soljsonPath, input) {
  const soljson = require(soljsonPath)
  const length = soljson.lengthBytesUTF8(input) + 1
  const pointer = soljson._malloc(length)
  soljson.stringToUTF8(input, pointer, length)
  const output = soljson.UTF8ToString(soljson._solidity_compile(pointer, 0, 0))
  soljson._free(pointer)
  soljson._solidity_reset()
  return output
}

module.exports = { main }
