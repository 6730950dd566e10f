/**
 * Manual smoke run of the devnet: start it, send one Safe UserOperation through Alto, print timings.
 *
 *   npx tsx devnet/src/smoke.ts                 # automine
 *   npx tsx devnet/src/smoke.ts --block-time 1  # interval mining, as `npm start`
 *   npx tsx devnet/src/smoke.ts --safe-mode     # Alto with ERC-7562 tracing (see README: fails on 0.0.20)
 */
import { waitForReceipt } from "./receipt.js"
import { parseArgs } from "node:util"
import { createSmartAccountClient } from "permissionless"
import { toSafeSmartAccount } from "permissionless/accounts"
import { createPimlicoClient } from "permissionless/clients/pimlico"
import { BaseError, createPublicClient, createWalletClient, http, parseEther } from "viem"
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts"
import { startDevnet } from "./index.js"

const { values } = parseArgs({
  options: { "block-time": { type: "string" }, "safe-mode": { type: "boolean", default: false } },
})
const blockTime = values["block-time"] === undefined ? undefined : Number(values["block-time"])
const devnet = await startDevnet({ blockTime, alto: { safeMode: values["safe-mode"] } })
console.log(`devnet up in ${devnet.startupMs} ms: rpc ${devnet.rpcUrl}, bundler ${devnet.bundlerUrl}`)
console.table(devnet.addresses)
try {
  const { addresses } = devnet
  const publicClient = createPublicClient({ chain: devnet.chain, transport: http(), pollingInterval: 100 })
  const safe = await toSafeSmartAccount({
    client: publicClient,
    owners: [privateKeyToAccount(generatePrivateKey())],
    version: "1.4.1",
    entryPoint: { address: addresses.entryPoint, version: "0.7" },
    safe4337ModuleAddress: addresses.safe4337Module,
    safeModuleSetupAddress: addresses.safeModuleSetup,
    safeSingletonAddress: addresses.safeSingleton,
    safeProxyFactoryAddress: addresses.safeProxyFactory,
    multiSendAddress: addresses.multiSend,
    multiSendCallOnlyAddress: addresses.multiSendCallOnly,
  })
  const funder = createWalletClient({ chain: devnet.chain, transport: http(), account: privateKeyToAccount(devnet.keys.deployer) })
  await waitForReceipt(publicClient, { hash: await funder.sendTransaction({ to: safe.address, value: parseEther("1") }) })
  const pimlico = createPimlicoClient({ transport: http(devnet.bundlerUrl), entryPoint: { address: addresses.entryPoint, version: "0.7" } })
  const client = createSmartAccountClient({
    account: safe,
    chain: devnet.chain,
    client: publicClient,
    bundlerTransport: http(devnet.bundlerUrl),
    pollingInterval: 100,
    userOperation: { estimateFeesPerGas: async () => (await pimlico.getUserOperationGasPrice()).fast },
  })
  const sent = Date.now()
  const hash = await client.sendUserOperation({ calls: [{ to: "0x000000000000000000000000000000000000dEaD", value: 1n }] })
  const receipt = await client.waitForUserOperationReceipt({ hash })
  console.log(`UserOperation ${hash} success=${receipt.success} in ${Date.now() - sent} ms`)
} catch (error) {
  process.exitCode = 1
  console.error(error instanceof BaseError ? `${error.shortMessage}\n${error.details}` : error)
  console.error(devnet.alto?.logs().slice(-4_000))
} finally {
  await devnet.stop()
}
