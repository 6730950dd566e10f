import { type Account, type Address, type Chain, type Client, type ContractFunctionParameters, type Hex, type Transport, erc20Abi, isAddressEqual, parseAbi, zeroAddress } from "viem"
import type { LeverageDeployments } from "../constants/deployments.js"
import { PriceFeedReadError, SubAccountOracleError, type SubAccountOracleErrorType } from "../errors/read.js"
import { type RuleFeed, checkSubAccountOracle } from "../rules/planRules.js"
import { resolveLeverageDeployment } from "../utils/getLeverageDeployment.js"
import { type ReadResult, readMany } from "../utils/multicall.js"
import { getReadClient } from "../utils/reader.js"
import type { SubAccountState } from "./getSubAccountState.js"

/** A Chainlink-style aggregator: what the module reads of a policy's `priceFeed`. */
export const priceFeedAbi = parseAbi([
  "function latestRoundData() view returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)",
  "function decimals() view returns (uint8)",
])

/** The two reads of a price feed the module makes (`latestRoundData`, `decimals`), for a multicall. */
export function priceFeedCalls(feed: Address): ContractFunctionParameters[] {
  return [
    { address: feed, abi: priceFeedAbi, functionName: "latestRoundData" },
    { address: feed, abi: priceFeedAbi, functionName: "decimals" },
  ]
}

/**
 * The feed answer from the results of {@link priceFeedCalls}.
 *
 * @returns The answer, its update time (unix seconds) and the feed's decimals.
 * @throws {PriceFeedReadError} when either read failed.
 */
export function priceFeedAnswerOf(subAccount: Hex, feed: Address, round: ReadResult | undefined, decimals: ReadResult | undefined): Pick<RuleFeed, "answer" | "updatedAt" | "decimals"> {
  if (round?.status !== "success" || decimals?.status !== "success") throw new PriceFeedReadError({ subAccount, feed, cause: round?.error ?? decimals?.error })
  const [, answer, , updatedAt] = round.result as readonly [bigint, bigint, bigint, bigint, bigint]
  return { answer, updatedAt, decimals: decimals.result as number }
}

export type CheckSubAccountOraclesParameters = {
  /** Sub-accounts as read (`getSubAccountState`, `getSafeStates`): policy and venue price. */
  states: readonly SubAccountState[]
  /** The time the checks run at (unix seconds): the block's timestamp the states were read at. */
  timestamp: bigint
  /** The block to read the feeds at; the latest by default. */
  blockNumber?: bigint | undefined
  deployments?: LeverageDeployments | undefined
}

export type CheckSubAccountOraclesReturnType = {
  /** The sub-accounts whose oracle passes every check, in the order given. */
  passing: SubAccountState[]
  /** The others, each with the check it fails ({@link SubAccountOracleError}). */
  failing: SubAccountOracleError[]
}

export type CheckSubAccountOraclesErrorType = SubAccountOracleErrorType | Error

/**
 * Judges each sub-account's oracle with the module's own checks (`checkSubAccountOracle` of @levpilot/sdk/rules, the
 * rule book's function): the venue price must be non-zero and, with a policy `priceFeed`, its answer positive, inside
 * `minFeedAnswer`/`maxFeedAnswer`, at most `maxOracleAge` seconds old, with usable decimals and within
 * `maxOracleDeviationBps` of the venue price. A sub-account failing one is a sub-account every plan listing it reverts
 * for (the feed does not revert, it is stale or zero): a keeper leaves it out of its plans like an unreadable one.
 * One multicall reads every feed (`latestRoundData`, `decimals`) and the tokens' decimals.
 *
 * @param client - Any client of the chain.
 * @param parameters - {@link CheckSubAccountOraclesParameters}
 * @returns {@link CheckSubAccountOraclesReturnType}
 * @example
 * const { passing, failing } = await checkSubAccountOracles(publicClient, { states, timestamp: block.timestamp, deployments })
 * for (const f of failing) console.warn(f.subAccount, f.check)
 */
export async function checkSubAccountOracles(
  client: Client<Transport, Chain | undefined, Account | undefined>,
  parameters: CheckSubAccountOraclesParameters,
): Promise<CheckSubAccountOraclesReturnType> {
  const { states, timestamp, blockNumber } = parameters
  const reader = getReadClient(client)
  const withFeed = states.filter((s) => !isAddressEqual(s.policy.priceFeed, zeroAddress))
  const tokens = [...new Set(withFeed.flatMap((s) => [s.loanToken.toLowerCase(), s.collateralToken.toLowerCase()]))] as Address[]
  let reads: ReadResult[] = []
  if (withFeed.length > 0) {
    const { deployment } = await resolveLeverageDeployment(reader, parameters.deployments)
    reads = await readMany(
      reader,
      deployment,
      [...withFeed.flatMap((s) => priceFeedCalls(s.policy.priceFeed)), ...tokens.map((token) => ({ address: token, abi: erc20Abi, functionName: "decimals" }) as const)],
      blockNumber,
    )
  }
  const tokenDecimals = (token: Address): number => {
    const r = reads[withFeed.length * 2 + tokens.indexOf(token.toLowerCase() as Address)]
    return r?.status === "success" ? Number(r.result) : 0
  }
  const passing: SubAccountState[] = []
  const failing: SubAccountOracleError[] = []
  for (const s of states) {
    const k = withFeed.indexOf(s)
    let feed: RuleFeed | undefined
    if (k >= 0) {
      try {
        feed = { ...priceFeedAnswerOf(s.subAccount, s.policy.priceFeed, reads[2 * k], reads[2 * k + 1]), loanDecimals: tokenDecimals(s.loanToken), collateralDecimals: tokenDecimals(s.collateralToken) }
      } catch (error) {
        failing.push(new SubAccountOracleError({ subAccount: s.subAccount, adapter: s.policy.adapter, check: "PriceFeedRead", cause: error as Error }))
        continue
      }
    }
    const violation = checkSubAccountOracle({ id: s.subAccount, policy: s.policy, state: s, usage: s.epochUsage, feed }, timestamp)
    if (violation === undefined) passing.push(s)
    else failing.push(new SubAccountOracleError({ subAccount: s.subAccount, adapter: s.policy.adapter, check: violation.name, args: violation.args }))
  }
  return { passing, failing }
}
