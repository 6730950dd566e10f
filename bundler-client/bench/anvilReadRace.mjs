// anvil's read race, on a bare anvil (no project contracts): `node bundler-client/bench/anvilReadRace.mjs [blockTime s] [duration s]`.
//
// A contract stores block.timestamp (`lastUpdate`, as Morpho Blue's accrual does) in every transaction and burns ~1M gas
// so blocks take a while to mine; its view returns (block.timestamp, lastUpdate, block.number). With interval mining and
// ~20 such transactions per block, eth_calls at "latest", at the latest block's number and at "pending" are sent in a
// loop. A consistent node never answers block.timestamp < lastUpdate (a block's state is read under its own header).
// anvil 1.7.1 does, for "latest" and the latest number: a call that runs while the next block is mined sees that
// block's state (lastUpdate = its timestamp) under the latest block's header (an earlier timestamp). In Morpho Blue
// `block.timestamp - lastUpdate` then reverts with Panic 0x11, which bench:fleet's keeper met at its price shock.
// Prints each such answer (the first 3 per tag) and the counts; 30 s with 2 s blocks showed 6-7 per tag. Each racing
// answer at a block number is read again at that number once the head has moved past it ("settledOk" / "settledBad",
// "settleWaitMs" the longest wait): 25 s with 2 s blocks, 11 of 11 consistent, waited <= 59 ms (the fleet's readChunk
// confirms a Panic(0x11) read so).
import { spawn } from "node:child_process"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
const port = 19545 + Math.floor(Math.random() * 1000)
const a = spawn(join(dirname(fileURLToPath(import.meta.url)), "../../node_modules/.bin/anvil"), ["--port", String(port), "--silent", "--gas-limit", "60000000"], { stdio: "ignore" })
await new Promise(r => setTimeout(r, 2500))
const url = `http://127.0.0.1:${port}`
let id = 0
const rpc = async (method, params=[]) => { const r = await (await fetch(url, {method:"POST", headers:{"content-type":"application/json"}, body: JSON.stringify({jsonrpc:"2.0", id: ++id, method, params})})).json(); if (r.error) throw new Error(JSON.stringify(r.error)); return r.result }
const [from] = await rpc("eth_accounts")
const runtime = "3660155742600055619c405b600190038060" + "0b" + "5700" + "5b4260005260005460205243604052606060" + "00f3"
const init = "0x6029600c60003960296000f3" + runtime
const h = await rpc("eth_sendTransaction", [{ from, data: init, gas: "0x100000" }])
await new Promise(r => setTimeout(r, 500)); const rc = await rpc("eth_getTransactionReceipt", [h])
const to = rc.contractAddress
console.log("contract", to, "runtime bytes", runtime.length/2)
await rpc("evm_setAutomine", [false]); await rpc("evm_setIntervalMining", [Number(process.argv[2] ?? 2)])
let stop = false; const bad = {}; let calls = 0
const hammer = async (tagf, name) => {
  while (!stop) {
    try {
      const tag = await tagf()
      const r = await rpc("eth_call", [{ to, data: "0x01" }, tag])
      const ts = parseInt(r.slice(2, 66), 16), last = parseInt(r.slice(66, 130), 16), num = parseInt(r.slice(130), 16)
      calls++
      if (ts < last) {
        bad[name] = (bad[name] ?? 0) + 1
        if (bad[name] < 4) console.log("UNDERFLOW", name, { tag, ts, last, num })
        if (tag.startsWith("0x")) {
          const t0 = Date.now()
          while (parseInt(await rpc("eth_blockNumber")) <= parseInt(tag, 16)) await new Promise(r => setTimeout(r, 20))
          const again = await rpc("eth_call", [{ to, data: "0x01" }, tag])
          const k = parseInt(again.slice(2, 66), 16) < parseInt(again.slice(66, 130), 16) ? "settledBad" : "settledOk"
          bad[k] = (bad[k] ?? 0) + 1
          bad.settleWaitMs = Math.max(bad.settleWaitMs ?? 0, Date.now() - t0)
        }
      }
    } catch (e) { console.log(name, e.message.slice(0, 100)) }
  }
}
const sender = async () => {
  let nonce = parseInt(await rpc("eth_getTransactionCount", [from, "pending"]))
  while (!stop) {
    const pend = await rpc("eth_getBlockByNumber", ["pending", false])
    if (pend.transactions.length < 40) for (let i = 0; i < 20; i++) await rpc("eth_sendTransaction", [{ from, to, gas: "0x130000", nonce: "0x" + (nonce++).toString(16) }])
    await new Promise(r => setTimeout(r, 200))
  }
}
const latestNum = async () => rpc("eth_blockNumber")
const ps = [hammer(async () => "latest", "latest"), hammer(latestNum, "byNumber"), hammer(async () => "pending", "pending"), hammer(async () => "latest", "latest2"), sender()]
await new Promise(r => setTimeout(r, Number(process.argv[3] ?? 30) * 1000))
stop = true; await Promise.allSettled(ps)
const b = await rpc("eth_getBlockByNumber", ["latest", false])
console.log("calls", calls, "bad", JSON.stringify(bad), "head", parseInt(b.number), "gasUsed", parseInt(b.gasUsed))
a.kill()
