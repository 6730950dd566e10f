import { existsSync, readFileSync } from "node:fs"
import { createRequire } from "node:module"
import {
  type Abi,
  type Account,
  type Address,
  type Chain,
  type Hex,
  type PublicClient,
  type Transport,
  type WalletClient,
  BaseError,
  isHex,
  keccak256,
  parseAbi,
  toHex,
} from "viem"
import { type Artifact, deployArtifact } from "./artifact.js"

const require = createRequire(import.meta.url)

/** npm package (exact devDependency) whose generated ethers factory carries the published AdaptiveCurveIrm bytecode. */
export const adaptiveCurveIrmPackage = "@morpho-org/morpho-blue-bundlers@1.1.2"

/** The factory file inside that package; read as text, never imported (it requires ethers). */
export const adaptiveCurveIrmFactory =
  "@morpho-org/morpho-blue-bundlers/types/factories/lib/morpho-blue-irm/src/adaptive-curve-irm/AdaptiveCurveIrm__factory.js"

/** The part of the AdaptiveCurveIrm ABI the devnet and the demo use. `borrowRate` stores `rateAtTarget`. */
export const adaptiveCurveIrmAbi = parseAbi([
  "struct MarketParams { address loanToken; address collateralToken; address oracle; address irm; uint256 lltv; }",
  "struct Market { uint128 totalSupplyAssets; uint128 totalSupplyShares; uint128 totalBorrowAssets; uint128 totalBorrowShares; uint128 lastUpdate; uint128 fee; }",
  "function MORPHO() view returns (address)",
  "function rateAtTarget(bytes32 id) view returns (int256)",
  "function borrowRateView(MarketParams marketParams, Market market) view returns (uint256)",
  "function borrowRate(MarketParams marketParams, Market market) returns (uint256)",
])

export type IrmArtifactErrorType = IrmArtifactError & { name: "IrmArtifactError" }
/** The AdaptiveCurveIrm bytecode cannot be read from the npm package. */
export class IrmArtifactError extends BaseError {
  constructor(shortMessage: string, { file, cause }: { file: string; cause?: Error | undefined }) {
    super(shortMessage, {
      cause,
      metaMessages: [
        `File: ${file}`,
        "This could arise when:",
        `- \`npm install\` has not been run since ${adaptiveCurveIrmPackage} became a devDependency;`,
        "- the package version changed and no longer ships the generated factory (the version is pinned exactly).",
      ],
      name: "IrmArtifactError",
    })
  }
}

/** Path of the factory file (`require.resolve`, so hoisting and workspaces are handled like any import). */
export function adaptiveCurveIrmFactoryPath(): string {
  try {
    return require.resolve(adaptiveCurveIrmFactory)
  } catch (error) {
    throw new IrmArtifactError(`${adaptiveCurveIrmPackage} is not installed.`, { file: adaptiveCurveIrmFactory, cause: error as Error })
  }
}

/**
 * Reads the production AdaptiveCurveIrm (Morpho's IRM; `constructor(address morpho)`) from the typechain factory that
 * `@morpho-org/morpho-blue-bundlers` publishes: the `_bytecode` string and the `_abi` literal, parsed as text (the
 * literal's keys are unquoted; they are quoted and trailing commas dropped, then it is JSON). Nothing is evaluated.
 *
 * @param file - Factory file; {@link adaptiveCurveIrmFactoryPath} by default.
 * @returns A deployable artifact (full ABI from the package, creation bytecode).
 * @throws {IrmArtifactError} When the file, the bytecode or the ABI is missing or malformed.
 */
export function loadAdaptiveCurveIrmArtifact(file: string = adaptiveCurveIrmFactoryPath()): Artifact {
  if (!existsSync(file)) throw new IrmArtifactError("The AdaptiveCurveIrm factory file is missing.", { file })
  const text = readFileSync(file, "utf8")
  const bytecode = /const _bytecode = "(0x[0-9a-fA-F]*)";/.exec(text)?.[1]
  // A creation code shorter than 1 KB is not the IRM (the published one is about 2.6 KB).
  if (!bytecode || !isHex(bytecode) || bytecode.length < 2_000 || bytecode.length % 2 !== 0)
    throw new IrmArtifactError("The AdaptiveCurveIrm factory has no creation bytecode (`_bytecode`).", { file })
  const literal = /const _abi = (\[[\s\S]*?\n\]);/.exec(text)?.[1]
  let abi: Abi
  try {
    if (!literal) throw new Error("no `_abi` literal")
    abi = JSON.parse(literal.replace(/^(\s*)([A-Za-z_$][\w$]*):/gm, '$1"$2":').replace(/,(\s*[}\]])/g, "$1")) as Abi
  } catch (error) {
    throw new IrmArtifactError("The AdaptiveCurveIrm factory has no readable ABI (`_abi`).", { file, cause: error as Error })
  }
  const names = new Set(abi.map((item) => ("name" in item ? item.name : undefined)))
  for (const name of ["MORPHO", "borrowRate", "borrowRateView", "rateAtTarget"])
    if (!names.has(name)) throw new IrmArtifactError(`The AdaptiveCurveIrm ABI lacks \`${name}\`.`, { file })
  return { abi, bytecode: bytecode as Hex, contractName: "AdaptiveCurveIrm", path: file }
}

export type DeployAdaptiveCurveIrmParameters = {
  publicClient: PublicClient
  walletClient: WalletClient<Transport, Chain | undefined, Account>
  /** The Morpho Blue the IRM serves (only Morpho may call `borrowRate`). */
  morpho: Address
  /** CREATE2 salt; a fixed devnet salt by default, so the address repeats and a second call sends nothing. */
  salt?: Hex | undefined
  /** Factory file; {@link adaptiveCurveIrmFactoryPath} by default. */
  file?: string | undefined
}

/**
 * Deploys the published AdaptiveCurveIrm for `morpho` through the CREATE2 deployer (idempotent) and checks that the
 * contract answers `MORPHO()` with that address.
 *
 * @returns The IRM address.
 * @example
 * const irm = await deployAdaptiveCurveIrm({ publicClient, walletClient: deployer, morpho })
 */
export async function deployAdaptiveCurveIrm(parameters: DeployAdaptiveCurveIrmParameters): Promise<Address> {
  const { publicClient, walletClient, morpho, salt = keccak256(toHex("levpilot.devnet.adaptiveCurveIrm")), file } = parameters
  const artifact = loadAdaptiveCurveIrmArtifact(file)
  const deployment = await deployArtifact({ artifact, args: [morpho], salt, publicClient, walletClient })
  const irm = await deployment.wait()
  const answer = await publicClient.readContract({ address: irm, abi: adaptiveCurveIrmAbi, functionName: "MORPHO" })
  if (answer.toLowerCase() !== morpho.toLowerCase())
    throw new IrmArtifactError(`The deployed AdaptiveCurveIrm answers MORPHO() = ${answer}, not ${morpho}.`, { file: artifact.path ?? adaptiveCurveIrmFactory })
  return irm
}

/** Seconds per year Morpho's APR figures use (365 days). */
export const SECONDS_PER_YEAR = 365n * 86_400n

/**
 * Simple borrow APR (fraction, 0.04 = 4%) from a per-second WAD rate as `borrowRateView` returns it.
 *
 * @returns rate * seconds per year / 1e18.
 */
export function borrowAprOf(ratePerSecondWad: bigint): number {
  return Number(ratePerSecondWad * SECONDS_PER_YEAR) / 1e18
}
