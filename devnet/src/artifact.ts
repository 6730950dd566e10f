import { waitForReceipt } from "./receipt.js"
import { existsSync, readFileSync } from "node:fs"
import { dirname, isAbsolute, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import {
  type Abi,
  type Account,
  type Address,
  type Chain,
  type ContractConstructorArgs,
  type Hex,
  type PublicClient,
  type Transport,
  type WalletClient,
  concatHex,
  encodeDeployData,
  getContractAddress,
  isHex,
} from "viem"
import { ArtifactError, DeploymentError } from "./errors.js"

/** The deterministic deployment proxy (Arachnid), pre-deployed by anvil. */
export const create2Deployer = "0x4e59b44847b379578588920cA78FbF26c0B4956C" as const satisfies Address

/** Salt used for every devnet CREATE2 deployment except the EntryPoint. */
export const devnetSalt = "0x0000000000000000000000000000000000000000000000000000000000000000" as const satisfies Hex

/** Library placeholders of a forge artifact: source file -> library name -> byte ranges in the creation code. */
export type LinkReferences = Record<string, Record<string, readonly { start: number; length: number }[]>>

export type Artifact<abi extends Abi = Abi> = {
  abi: abi
  bytecode: Hex
  contractName: string
  /** Where the artifact was read from (needed to find linked libraries next to it). */
  path?: string | undefined
  linkReferences?: LinkReferences | undefined
}

const here = dirname(fileURLToPath(import.meta.url))

function resolveArtifactPath(spec: string): string {
  if (isAbsolute(spec)) return spec
  if (spec.startsWith(".")) return resolve(process.cwd(), spec)
  for (let dir = here; ; dir = dirname(dir)) {
    const candidate = join(dir, "node_modules", spec)
    if (existsSync(candidate)) return candidate
    if (dirname(dir) === dir) break
  }
  return join(here, "..", "..", "node_modules", spec)
}

/**
 * Reads a compiled contract artifact: Hardhat style (`bytecode: "0x..."`) or forge `out/`
 * style (`bytecode: { object: "0x..." }`).
 *
 * @param spec - Absolute path, path relative to the working directory (`./out/X.sol/X.json`),
 * or a path inside `node_modules` (`@account-abstraction/contracts/artifacts/EntryPoint.json`).
 * @returns The ABI, creation bytecode and contract name.
 * @example
 * const entryPoint = readArtifact("@account-abstraction/contracts/artifacts/EntryPoint.json")
 */
export function readArtifact<abi extends Abi = Abi>(spec: string): Artifact<abi> {
  const path = resolveArtifactPath(spec)
  let json: { abi?: unknown; bytecode?: unknown; contractName?: unknown }
  try {
    json = JSON.parse(readFileSync(path, "utf8"))
  } catch (error) {
    throw new ArtifactError("Cannot read the contract artifact.", { artifact: path, cause: error as Error })
  }
  const raw = typeof json.bytecode === "object" && json.bytecode !== null ? (json.bytecode as { object?: unknown }).object : json.bytecode
  const bytecode = typeof raw === "string" && raw.length > 0 && !raw.startsWith("0x") ? `0x${raw}` : raw
  if (!Array.isArray(json.abi)) throw new ArtifactError("The artifact has no ABI.", { artifact: path })
  const linkReferences =
    typeof json.bytecode === "object" && json.bytecode !== null
      ? ((json.bytecode as { linkReferences?: LinkReferences }).linkReferences ?? undefined)
      : undefined
  const linkable = linkReferences !== undefined && Object.keys(linkReferences).length > 0
  if (typeof bytecode === "string" && bytecode.includes("__$") && !linkable)
    throw new ArtifactError("The artifact's bytecode has unlinked libraries.", { artifact: path })
  if (typeof bytecode !== "string" || !isHex(bytecode.replace(/__\$[0-9a-fA-F]{34}\$__/g, "0".repeat(40))) || bytecode.length <= 2)
    throw new ArtifactError("The artifact has no creation bytecode.", { artifact: path })
  const contractName =
    typeof json.contractName === "string" ? json.contractName : (path.split("/").pop()?.replace(/\.json$/, "") ?? path)
  return { abi: json.abi as unknown as abi, bytecode: bytecode as Hex, contractName, path, linkReferences: linkable ? linkReferences : undefined }
}

/**
 * Deploys (idempotently, CREATE2) every library a forge artifact links against, found beside it in `out/`
 * (`out/<File>.sol/<Library>.json`), and returns the artifact with the addresses written into its bytecode.
 */
async function linkLibraries<abi extends Abi>(
  artifact: Artifact<abi>,
  parameters: Omit<DeployArtifactParameters, "artifact" | "args" | "nonce" | "gas">,
): Promise<Artifact<abi>> {
  if (!artifact.linkReferences || !artifact.path) return artifact
  const out = dirname(dirname(artifact.path))
  let code = artifact.bytecode.slice(2)
  for (const [file, libraries] of Object.entries(artifact.linkReferences)) {
    for (const [name, ranges] of Object.entries(libraries)) {
      const library = await deployArtifact({ ...parameters, artifact: join(out, file.split("/").pop() ?? file, `${name}.json`) })
      const address = (await library.wait()).slice(2).toLowerCase()
      for (const { start, length } of ranges) code = code.slice(0, start * 2) + address + code.slice((start + length) * 2)
    }
  }
  return { ...artifact, bytecode: `0x${code}`, linkReferences: undefined }
}

/**
 * Address a CREATE2 deployment through {@link create2Deployer} lands on.
 *
 * @returns The counterfactual address.
 */
export function getCreate2Address({ initCode, salt = devnetSalt }: { initCode: Hex; salt?: Hex }): Address {
  return getContractAddress({ opcode: "CREATE2", from: create2Deployer, salt, bytecode: initCode })
}

export type DeployArtifactParameters<abi extends Abi = Abi> = {
  /** Artifact object or a spec for {@link readArtifact}. */
  artifact: Artifact<abi> | string
  args?: ContractConstructorArgs<abi> | readonly unknown[] | undefined
  salt?: Hex | undefined
  publicClient: PublicClient
  walletClient: WalletClient<Transport, Chain | undefined, Account>
  /** Explicit nonce to pipeline several deployments without waiting for each one. */
  nonce?: number | undefined
  /** Skip gas estimation (needed when pipelining deployments that depend on each other). */
  gas?: bigint | undefined
}

export type DeployArtifactReturnType = {
  address: Address
  /** `undefined` when code already existed at the address. */
  hash: Hex | undefined
  /** Resolves once the deployment is mined and the code is verified. */
  wait: () => Promise<Address>
}

/**
 * Deploys an artifact through the deterministic CREATE2 deployer with constructor arguments.
 * Idempotent: when code already exists at the CREATE2 address nothing is sent.
 *
 * @param parameters - {@link DeployArtifactParameters}
 * @returns The address and a `wait()` that checks the receipt and the deployed code.
 * @example
 * const { wait } = await deployArtifact({
 *   artifact: "@safe-global/safe-4337/build/artifacts/contracts/Safe4337Module.sol/Safe4337Module.json",
 *   args: [entryPoint07Address],
 *   publicClient,
 *   walletClient,
 * })
 * const module = await wait()
 */
export async function deployArtifact<const abi extends Abi>(
  parameters: DeployArtifactParameters<abi>,
): Promise<DeployArtifactReturnType> {
  const { publicClient, walletClient, salt = devnetSalt, nonce, gas } = parameters
  const read = typeof parameters.artifact === "string" ? readArtifact<abi>(parameters.artifact) : parameters.artifact
  const artifact = await linkLibraries(read, { publicClient, walletClient, salt })
  const initCode = encodeDeployData({
    abi: artifact.abi as Abi,
    bytecode: artifact.bytecode,
    args: (parameters.args ?? []) as readonly unknown[],
  })
  const address = getCreate2Address({ initCode, salt })
  const existing = await publicClient.getCode({ address })
  if (existing && existing !== "0x") return { address, hash: undefined, wait: async () => address }
  let hash: Hex
  try {
    hash = await walletClient.sendTransaction({
      to: create2Deployer,
      data: concatHex([salt, initCode]),
      chain: walletClient.chain,
      ...(nonce !== undefined ? { nonce } : {}),
      ...(gas !== undefined ? { gas } : {}),
    })
  } catch (error) {
    throw new DeploymentError("Sending the CREATE2 deployment failed.", {
      contract: artifact.contractName,
      cause: error as Error,
    })
  }
  const wait = async () => {
    const receipt = await waitForReceipt(publicClient, { hash })
    const code = await publicClient.getCode({ address })
    if (receipt.status !== "success" || !code || code === "0x")
      throw new DeploymentError("The CREATE2 deployment did not produce code at the expected address.", {
        contract: artifact.contractName,
        metaMessages: [`Expected address: ${address}`, `Transaction: ${hash} (${receipt.status})`],
      })
    return address
  }
  return { address, hash, wait }
}
