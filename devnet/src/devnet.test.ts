import { waitForReceipt } from "./receipt.js"
import { createSmartAccountClient } from "permissionless"
import { type ToSafeSmartAccountReturnType, toSafeSmartAccount } from "permissionless/accounts"
import { createPimlicoClient } from "permissionless/clients/pimlico"
import {
  type Address,
  type PublicClient,
  createPublicClient,
  createWalletClient,
  encodeDeployData,
  getAddress,
  http,
  parseAbi,
  parseEther,
} from "viem"
import { createPaymasterClient, entryPoint07Abi, entryPoint07Address } from "viem/account-abstraction"
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, test } from "vitest"
import { deployArtifact, getCreate2Address, readArtifact } from "./artifact.js"
import { devnetArtifacts, verifyingPaymasterAbi } from "./deploy.js"
import { ArtifactError } from "./errors.js"
import { type Devnet, startDevnet } from "./index.js"
import { type PaymasterServer, createVerifyingPaymasterSigner, startPaymasterServer } from "./paymaster.js"

let devnet: Devnet
let publicClient: PublicClient
let paymasterServer: PaymasterServer
let safe: ToSafeSmartAccountReturnType<"0.7">

const depositOf = (account: Address) =>
  publicClient.readContract({ address: entryPoint07Address, abi: entryPoint07Abi, functionName: "balanceOf", args: [account] })

function safeClient({ sponsored }: { sponsored: boolean }) {
  const pimlico = createPimlicoClient({
    transport: http(devnet.bundlerUrl),
    entryPoint: { address: entryPoint07Address, version: "0.7" },
  })
  return createSmartAccountClient({
    account: safe,
    chain: devnet.chain,
    client: publicClient,
    bundlerTransport: http(devnet.bundlerUrl),
    pollingInterval: 100,
    ...(sponsored ? { paymaster: createPaymasterClient({ transport: http(paymasterServer.url) }) } : {}),
    userOperation: { estimateFeesPerGas: async () => (await pimlico.getUserOperationGasPrice()).fast },
  })
}

beforeAll(async () => {
  devnet = await startDevnet()
  publicClient = createPublicClient({ chain: devnet.chain, transport: http(), pollingInterval: 100 })
  const signer = createVerifyingPaymasterSigner({
    client: publicClient,
    paymaster: devnet.addresses.verifyingPaymaster,
    entryPoint: devnet.addresses.entryPoint,
    signerPrivateKey: devnet.keys.paymasterSigner,
  })
  paymasterServer = await startPaymasterServer({ signer })
  const { addresses } = devnet
  safe = await toSafeSmartAccount({
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
    saltNonce: 0n,
  })
  const funder = createWalletClient({
    chain: devnet.chain,
    transport: http(),
    account: privateKeyToAccount(devnet.keys.deployer),
  })
  await waitForReceipt(publicClient, {
    hash: await funder.sendTransaction({ to: safe.address, value: parseEther("1") }),
  })
})

afterAll(async () => {
  await paymasterServer?.stop()
  await devnet?.stop()
})

describe("devnet", () => {
  test("deploys the canonical EntryPoint v0.7, Safe 1.4.1, safe-4337 0.3.0 and a funded paymaster", async () => {
    const { addresses } = devnet
    expect(addresses.entryPoint).toBe("0x0000000071727De22E5E9d8BAf0edAc6f37da032")
    for (const [name, address] of Object.entries(addresses)) {
      const code = await publicClient.getCode({ address })
      expect(code?.length ?? 0, `${name} has code`).toBeGreaterThan(2)
    }
    const version = await publicClient.readContract({
      address: addresses.safeSingleton,
      abi: parseAbi(["function VERSION() view returns (string)"]),
      functionName: "VERSION",
    })
    expect(version).toBe("1.4.1")
    const supportedEntryPoint = await publicClient.readContract({
      address: addresses.safe4337Module,
      abi: parseAbi(["function SUPPORTED_ENTRYPOINT() view returns (address)"]),
      functionName: "SUPPORTED_ENTRYPOINT",
    })
    expect(supportedEntryPoint).toBe(addresses.entryPoint)
    const verifyingSigner = await publicClient.readContract({
      address: addresses.verifyingPaymaster,
      abi: verifyingPaymasterAbi,
      functionName: "verifyingSigner",
    })
    expect(verifyingSigner).toBe(privateKeyToAccount(devnet.keys.paymasterSigner).address)
    expect(await depositOf(addresses.verifyingPaymaster)).toBe(parseEther("100"))
  })

  test("deploys a forge-style artifact (bytecode.object) through CREATE2 with constructor args", async () => {
    const hardhat = readArtifact(devnetArtifacts.safe4337Module)
    const forgePath = join(mkdtempSync(join(tmpdir(), "devnet-artifact-")), "Safe4337Module.json")
    writeFileSync(forgePath, JSON.stringify({ abi: hardhat.abi, bytecode: { object: hardhat.bytecode.slice(2) } }))
    const walletClient = createWalletClient({
      chain: devnet.chain,
      transport: http(),
      account: privateKeyToAccount(devnet.keys.spare[0]),
    })
    const salt = "0x00000000000000000000000000000000000000000000000000000000000000aa"
    const otherEntryPoint = "0x000000000000000000000000000000000000bEEF"
    const { address, hash, wait } = await deployArtifact({
      artifact: forgePath,
      args: [otherEntryPoint],
      salt,
      publicClient,
      walletClient,
    })
    expect(hash).toBeDefined()
    expect(await wait()).toBe(address)
    expect(address).not.toBe(devnet.addresses.safe4337Module)
    const supportedEntryPoint = await publicClient.readContract({
      address,
      abi: parseAbi(["function SUPPORTED_ENTRYPOINT() view returns (address)"]),
      functionName: "SUPPORTED_ENTRYPOINT",
    })
    expect(supportedEntryPoint).toBe(otherEntryPoint)
    const again = await deployArtifact({ artifact: forgePath, args: [otherEntryPoint], salt, publicClient, walletClient })
    expect(again).toMatchObject({ address, hash: undefined })
    const initCode = encodeDeployData({ abi: hardhat.abi, bytecode: hardhat.bytecode, args: [otherEntryPoint] })
    expect(getCreate2Address({ initCode, salt })).toBe(address)
  })

  test("rejects an artifact without creation bytecode", () => {
    expect(() => readArtifact("@account-abstraction/contracts/artifacts/IEntryPoint.json")).toThrow(ArtifactError)
    expect(() => readArtifact("@account-abstraction/contracts/artifacts/DoesNotExist.json")).toThrow(
      "Cannot read the contract artifact.",
    )
  })

  test("sends an ETH transfer UserOperation from a new Safe through Alto", async () => {
    const recipient = privateKeyToAccount(generatePrivateKey()).address
    const value = parseEther("0.1")
    const balanceBefore = await publicClient.getBalance({ address: safe.address })
    expect(await publicClient.getCode({ address: safe.address })).toBeUndefined()

    const client = safeClient({ sponsored: false })
    const hash = await client.sendUserOperation({ calls: [{ to: recipient, value }] })
    const receipt = await client.waitForUserOperationReceipt({ hash })

    expect(receipt.success).toBe(true)
    expect(getAddress(receipt.sender)).toBe(safe.address)
    expect(receipt.paymaster).toBeUndefined()
    expect(await publicClient.getCode({ address: safe.address })).not.toBeUndefined()
    expect(await publicClient.getBalance({ address: recipient })).toBe(value)
    const balanceAfter = await publicClient.getBalance({ address: safe.address })
    const leftInEntryPoint = await depositOf(safe.address)
    expect(receipt.actualGasCost).toBeGreaterThan(0n)
    expect(balanceAfter + leftInEntryPoint).toBe(balanceBefore - value - receipt.actualGasCost)
  })

  test("sponsors a UserOperation through the ERC-7677 paymaster, so the Safe pays no gas", async () => {
    const recipient = privateKeyToAccount(generatePrivateKey()).address
    const value = parseEther("0.05")
    const safeBalanceBefore = await publicClient.getBalance({ address: safe.address })
    const safeDepositBefore = await depositOf(safe.address)
    const paymasterDepositBefore = await depositOf(devnet.addresses.verifyingPaymaster)

    const client = safeClient({ sponsored: true })
    const hash = await client.sendUserOperation({ calls: [{ to: recipient, value }] })
    const receipt = await client.waitForUserOperationReceipt({ hash })

    expect(receipt.success).toBe(true)
    expect(receipt.paymaster && getAddress(receipt.paymaster)).toBe(devnet.addresses.verifyingPaymaster)
    expect(await publicClient.getBalance({ address: recipient })).toBe(value)
    expect(await publicClient.getBalance({ address: safe.address })).toBe(safeBalanceBefore - value)
    expect(await depositOf(safe.address)).toBe(safeDepositBefore)
    expect(receipt.actualGasCost).toBeGreaterThan(0n)
    expect(await depositOf(devnet.addresses.verifyingPaymaster)).toBe(paymasterDepositBefore - receipt.actualGasCost)
  })

  test("does not send a UserOperation when the paymaster refuses sponsorship", async () => {
    const recipient = privateKeyToAccount(generatePrivateKey()).address
    const safeBalanceBefore = await publicClient.getBalance({ address: safe.address })
    const blockBefore = await publicClient.getBlockNumber()
    paymasterServer.setSponsoring(false)
    try {
      const client = safeClient({ sponsored: true })
      await expect(
        client.sendUserOperation({ calls: [{ to: recipient, value: parseEther("0.01") }] }),
      ).rejects.toThrow(/refused to sponsor/)
    } finally {
      paymasterServer.setSponsoring(true)
    }
    expect(await publicClient.getBalance({ address: recipient })).toBe(0n)
    expect(await publicClient.getBalance({ address: safe.address })).toBe(safeBalanceBefore)
    const userOperationEvents = await publicClient.getContractEvents({
      address: entryPoint07Address,
      abi: entryPoint07Abi,
      eventName: "UserOperationEvent",
      args: { sender: safe.address },
      fromBlock: blockBefore,
    })
    expect(userOperationEvents.filter((event) => event.blockNumber > blockBefore)).toEqual([])
  })

  test("restarts the bundler on the same port", async () => {
    const alto = devnet.alto
    if (!alto) throw new TypeError("the devnet was started without a bundler")
    const supported = () =>
      fetch(devnet.bundlerUrl, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_supportedEntryPoints", params: [] }),
      }).then(async (response) => ((await response.json()) as { result: Address[] }).result)

    await alto.stop()
    expect(alto.running()).toBe(false)
    await expect(supported()).rejects.toThrow()
    await alto.restart()
    expect(alto.running()).toBe(true)
    expect(await supported()).toEqual([devnet.addresses.entryPoint])

    const recipient = privateKeyToAccount(generatePrivateKey()).address
    const client = safeClient({ sponsored: true })
    const receipt = await client.waitForUserOperationReceipt({
      hash: await client.sendUserOperation({ calls: [{ to: recipient, value: 1n }] }),
    })
    expect(receipt.success).toBe(true)
    expect(await publicClient.getBalance({ address: recipient })).toBe(1n)
  })
})
