import { waitForReceipt } from "./receipt.js"
import {
  type Abi,
  type Account,
  type Address,
  type Chain,
  type Hex,
  type PublicClient,
  type Transport,
  type WalletClient,
  getAddress,
  getContractAddress,
  parseEther,
} from "viem"
import { entryPoint07Abi, entryPoint07Address } from "viem/account-abstraction"
import { type Artifact, create2Deployer, deployArtifact, readArtifact } from "./artifact.js"
import { DeploymentError } from "./errors.js"

/** Salt that, with the `@account-abstraction/contracts@0.7.0` artifact, yields the canonical EntryPoint v0.7. */
export const entryPoint07Salt = "0x90d8084deab30c2a37c45e8d47f49f2f7965183cb6990a98943ef94940681de3" as const satisfies Hex

/** Artifacts deployed on every devnet, as specs for `readArtifact`. */
export const devnetArtifacts = {
  entryPoint: "@account-abstraction/contracts/artifacts/EntryPoint.json",
  verifyingPaymaster: "@account-abstraction/contracts/artifacts/VerifyingPaymaster.json",
  safeSingleton: "@safe-global/safe-contracts/build/artifacts/contracts/Safe.sol/Safe.json",
  safeProxyFactory: "@safe-global/safe-contracts/build/artifacts/contracts/proxies/SafeProxyFactory.sol/SafeProxyFactory.json",
  multiSend: "@safe-global/safe-contracts/build/artifacts/contracts/libraries/MultiSend.sol/MultiSend.json",
  multiSendCallOnly:
    "@safe-global/safe-contracts/build/artifacts/contracts/libraries/MultiSendCallOnly.sol/MultiSendCallOnly.json",
  compatibilityFallbackHandler:
    "@safe-global/safe-contracts/build/artifacts/contracts/handler/CompatibilityFallbackHandler.sol/CompatibilityFallbackHandler.json",
  signMessageLib: "@safe-global/safe-contracts/build/artifacts/contracts/libraries/SignMessageLib.sol/SignMessageLib.json",
  createCall: "@safe-global/safe-contracts/build/artifacts/contracts/libraries/CreateCall.sol/CreateCall.json",
  safe4337Module: "@safe-global/safe-4337/build/artifacts/contracts/Safe4337Module.sol/Safe4337Module.json",
  safeModuleSetup: "@safe-global/safe-4337/build/artifacts/contracts/SafeModuleSetup.sol/SafeModuleSetup.json",
} as const

/** Every contract the devnet deploys. */
export type DevnetAddresses = {
  create2Deployer: Address
  /** EntryPoint v0.7, canonical address. */
  entryPoint: Address
  /** Safe v1.4.1 singleton (non-L2). */
  safeSingleton: Address
  safeProxyFactory: Address
  multiSend: Address
  multiSendCallOnly: Address
  compatibilityFallbackHandler: Address
  signMessageLib: Address
  createCall: Address
  /** Safe4337Module v0.3.0 bound to {@link DevnetAddresses.entryPoint}. */
  safe4337Module: Address
  safeModuleSetup: Address
  /** VerifyingPaymaster v0.7 from `@account-abstraction/contracts`. */
  verifyingPaymaster: Address
}

export type DeployDevnetContractsParameters = {
  publicClient: PublicClient
  /** Sends the CREATE2 deployments. */
  deployer: WalletClient<Transport, Chain | undefined, Account>
  /** Deploys the paymaster with CREATE (so it becomes `owner()`), deposits and stakes. */
  paymasterOwner: WalletClient<Transport, Chain | undefined, Account>
  verifyingSigner: Address
  /** EntryPoint deposit of the paymaster; 100 ETH by default. */
  paymasterDeposit?: bigint | undefined
  /** Paymaster stake; 1 ETH by default, 0 to skip staking. */
  paymasterStake?: bigint | undefined
}

const verifyingPaymasterStakeDelaySec = 86_400

/**
 * Deploys EntryPoint v0.7 (canonical address), Safe v1.4.1, safe-4337 v0.3.0 and a funded
 * VerifyingPaymaster. Safe and safe-4337 contracts go through the CREATE2 deployer with
 * {@link devnetSalt}, so their addresses are the same on every devnet.
 *
 * @param parameters - {@link DeployDevnetContractsParameters}
 * @returns The typed address map {@link DevnetAddresses}.
 */
export async function deployDevnetContracts(parameters: DeployDevnetContractsParameters): Promise<DevnetAddresses> {
  const {
    publicClient,
    deployer,
    paymasterOwner,
    verifyingSigner,
    paymasterDeposit = parseEther("100"),
    paymasterStake = parseEther("1"),
  } = parameters

  const entryPointDeployment = await deployArtifact({
    artifact: devnetArtifacts.entryPoint,
    salt: entryPoint07Salt,
    publicClient,
    walletClient: deployer,
  })
  const entryPoint = await entryPointDeployment.wait()
  if (entryPoint !== entryPoint07Address)
    throw new DeploymentError("The EntryPoint did not land on its canonical address.", {
      contract: "EntryPoint",
      metaMessages: [`Expected: ${entryPoint07Address}`, `Got: ${entryPoint}`, "The artifact is not the 0.7.0 release build."],
    })

  let nonce = await publicClient.getTransactionCount({ address: deployer.account.address, blockTag: "pending" })
  const deploy = async (artifact: string, args: readonly unknown[] = []) =>
    deployArtifact({ artifact, args, publicClient, walletClient: deployer, nonce: nonce++ }).then((deployment) => {
      if (!deployment.hash) nonce--
      return deployment
    })
  const pending = {
    safeSingleton: await deploy(devnetArtifacts.safeSingleton),
    safeProxyFactory: await deploy(devnetArtifacts.safeProxyFactory),
    multiSend: await deploy(devnetArtifacts.multiSend),
    multiSendCallOnly: await deploy(devnetArtifacts.multiSendCallOnly),
    compatibilityFallbackHandler: await deploy(devnetArtifacts.compatibilityFallbackHandler),
    signMessageLib: await deploy(devnetArtifacts.signMessageLib),
    createCall: await deploy(devnetArtifacts.createCall),
    safe4337Module: await deploy(devnetArtifacts.safe4337Module, [entryPoint]),
    safeModuleSetup: await deploy(devnetArtifacts.safeModuleSetup),
  }
  const verifyingPaymaster = await deployVerifyingPaymaster({
    publicClient,
    owner: paymasterOwner,
    entryPoint,
    verifyingSigner,
    deposit: paymasterDeposit,
    stake: paymasterStake,
  })
  const deployed = Object.fromEntries(
    await Promise.all(Object.entries(pending).map(async ([name, deployment]) => [name, await deployment.wait()])),
  ) as { [name in keyof typeof pending]: Address }
  return { create2Deployer, entryPoint, ...deployed, verifyingPaymaster }
}

/**
 * Deploys the v0.7 VerifyingPaymaster with CREATE from `owner` (CREATE2 through the
 * deterministic deployer would make that proxy the `Ownable` owner and the stake
 * unmanageable), then funds its EntryPoint deposit and stake. The owner's first
 * deployment is reused if it exists, so the address is stable for a fresh anvil.
 *
 * @returns The paymaster address.
 */
export async function deployVerifyingPaymaster({
  publicClient,
  owner,
  entryPoint,
  verifyingSigner,
  deposit,
  stake,
}: {
  publicClient: PublicClient
  owner: WalletClient<Transport, Chain | undefined, Account>
  entryPoint: Address
  verifyingSigner: Address
  deposit: bigint
  stake: bigint
}): Promise<Address> {
  const artifact: Artifact = readArtifact(devnetArtifacts.verifyingPaymaster)
  const firstAddress = getContractAddress({ from: owner.account.address, nonce: 0n })
  const firstCode = await publicClient.getCode({ address: firstAddress })
  let address: Address = firstAddress
  if (!firstCode || firstCode === "0x") {
    const hash = await owner.deployContract({
      abi: artifact.abi as Abi,
      bytecode: artifact.bytecode,
      args: [entryPoint, verifyingSigner],
      chain: owner.chain,
    })
    const receipt = await waitForReceipt(publicClient, { hash })
    if (receipt.status !== "success" || !receipt.contractAddress)
      throw new DeploymentError("Deploying the VerifyingPaymaster failed.", {
        contract: artifact.contractName,
        metaMessages: [`Transaction: ${hash}`],
      })
    address = getAddress(receipt.contractAddress)
  }
  const hashes: Hex[] = []
  if (deposit > 0n)
    hashes.push(
      await owner.writeContract({
        address: entryPoint,
        abi: entryPoint07Abi,
        functionName: "depositTo",
        args: [address],
        value: deposit,
        chain: owner.chain,
      }),
    )
  if (stake > 0n)
    hashes.push(
      await owner.writeContract({
        address,
        abi: verifyingPaymasterAbi,
        functionName: "addStake",
        args: [verifyingPaymasterStakeDelaySec],
        value: stake,
        chain: owner.chain,
      }),
    )
  for (const hash of hashes) {
    const receipt = await waitForReceipt(publicClient, { hash })
    if (receipt.status !== "success")
      throw new DeploymentError("Funding the VerifyingPaymaster failed.", {
        contract: artifact.contractName,
        metaMessages: [`Transaction: ${hash}`],
      })
  }
  return address
}

/** The parts of the v0.7 VerifyingPaymaster ABI the devnet uses. */
export const verifyingPaymasterAbi = [
  {
    type: "function",
    name: "getHash",
    stateMutability: "view",
    inputs: [
      {
        name: "userOp",
        type: "tuple",
        components: [
          { name: "sender", type: "address" },
          { name: "nonce", type: "uint256" },
          { name: "initCode", type: "bytes" },
          { name: "callData", type: "bytes" },
          { name: "accountGasLimits", type: "bytes32" },
          { name: "preVerificationGas", type: "uint256" },
          { name: "gasFees", type: "bytes32" },
          { name: "paymasterAndData", type: "bytes" },
          { name: "signature", type: "bytes" },
        ],
      },
      { name: "validUntil", type: "uint48" },
      { name: "validAfter", type: "uint48" },
    ],
    outputs: [{ name: "", type: "bytes32" }],
  },
  {
    type: "function",
    name: "verifyingSigner",
    stateMutability: "view",
    inputs: [],
    outputs: [{ name: "", type: "address" }],
  },
  {
    type: "function",
    name: "addStake",
    stateMutability: "payable",
    inputs: [{ name: "unstakeDelaySec", type: "uint32" }],
    outputs: [],
  },
  {
    type: "function",
    name: "getDeposit",
    stateMutability: "view",
    inputs: [],
    outputs: [{ name: "", type: "uint256" }],
  },
  {
    type: "function",
    name: "owner",
    stateMutability: "view",
    inputs: [],
    outputs: [{ name: "", type: "address" }],
  },
] as const
