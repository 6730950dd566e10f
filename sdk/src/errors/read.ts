import { type Address, BaseError, type Hex } from "viem"

export type SubAccountReadErrorType = SubAccountReadError & { name: "SubAccountReadError" }
/** The venue adapter reverted while reading a sub-account's market state (price, position). */
export class SubAccountReadError extends BaseError {
  subAccount: Hex
  adapter: Address
  revertData: Hex
  constructor({ subAccount, adapter, revertData }: { subAccount: Hex; adapter: Address; revertData: Hex }) {
    super(`Could not read the market state of sub-account ${subAccount}: adapter ${adapter} reverted.`, {
      details: revertData === "0x" ? "reverted without data" : `revert data ${revertData}`,
      metaMessages: [
        "This could arise when:",
        "- the market's oracle reverts (stale or broken feed);",
        "- the venue's interest rate model reverts while accruing interest.",
      ],
      name: "SubAccountReadError",
    })
    this.subAccount = subAccount
    this.adapter = adapter
    this.revertData = revertData
  }
}

export type SafeReadErrorType = SafeReadError & { name: "SafeReadError" }
/** Reading one Safe of a batch reverted (the module, the EntryPoint or a policy's adapter); the other Safes were read. */
export class SafeReadError extends BaseError {
  safe: Address
  revertData: Hex
  constructor({ safe, revertData }: { safe: Address; revertData: Hex }) {
    super(`Could not read Safe ${safe}: the lens reverted for it.`, {
      details: revertData === "0x" ? "reverted without data" : `revert data ${revertData}`,
      metaMessages: ["This could arise when:", "- the address is not a Safe with the module as fallback handler;", "- a contract the read calls is broken or out of gas."],
      name: "SafeReadError",
    })
    this.safe = safe
    this.revertData = revertData
  }
}

export type PriceFeedReadErrorType = PriceFeedReadError & { name: "PriceFeedReadError" }
/** A policy's second price feed could not be read (`latestRoundData` or `decimals` reverted); the module would revert too. */
export class PriceFeedReadError extends BaseError {
  subAccount: Hex
  feed: Address
  constructor({ subAccount, feed, cause }: { subAccount: Hex; feed: Address; cause?: Error | undefined }) {
    super(`Could not read the price feed ${feed} of sub-account ${subAccount}.`, {
      cause,
      metaMessages: ["This could arise when:", "- the feed is paused, deprecated or not a Chainlink-style aggregator;", "- the policy names a wrong feed address."],
      name: "PriceFeedReadError",
    })
    this.subAccount = subAccount
    this.feed = feed
  }
}

export type SubAccountOracleErrorType = SubAccountOracleError & { name: "SubAccountOracleError" }
/**
 * A sub-account's oracle fails one of the module's oracle checks (`check`: OraclePriceZero, OracleAnswerOutOfBounds,
 * OracleStale, OracleDecimals, OracleDeviation; or PriceFeedRead when its feed cannot be read): every plan listing it
 * reverts, so a keeper leaves it out of its plans.
 */
export class SubAccountOracleError extends BaseError {
  subAccount: Hex
  adapter: Address
  /** The module's check the oracle fails (its custom error's name), or `PriceFeedRead`. */
  check: string
  /** The check's arguments as the module's error carries them. */
  args: readonly (bigint | string | boolean)[]
  constructor({ subAccount, adapter, check, args = [], cause }: { subAccount: Hex; adapter: Address; check: string; args?: readonly (bigint | string | boolean)[]; cause?: Error | undefined }) {
    super(`The oracle of sub-account ${subAccount} fails the module's ${check} check; every plan listing it would revert.`, {
      cause,
      details: args.length > 0 ? `${check}(${args.map(String).join(", ")})` : undefined,
      metaMessages: ["This could arise when:", "- the price feed stopped updating (OracleStale) or answers 0 (OraclePriceZero);", "- the answer left the policy's bounds, or the feed's decimals or price drifted from the venue's oracle."],
      name: "SubAccountOracleError",
    })
    this.subAccount = subAccount
    this.adapter = adapter
    this.check = check
    this.args = args
  }
}

export type ReadFailedErrorType = ReadFailedError & { name: "ReadFailedError" }
/**
 * A read of a batch (one entry of a multicall) failed where its value is needed: the contract and function that failed
 * are named, the entry's own error is the cause. Not a verdict on the plan: a node answering from a state mid-block, a
 * batch out of gas or a transient node failure; read again at a later block.
 */
export class ReadFailedError extends BaseError {
  /** The contract read. */
  address: Address
  /** The function read (its ABI name). */
  functionName: string
  constructor({ address, functionName, cause }: { address: Address; functionName: string; cause?: Error | undefined }) {
    super(`Could not read ${functionName} on ${address}: the read failed in its batch.`, {
      cause,
      metaMessages: ["This could arise when:", "- the node answered from a state in the middle of producing a block, or failed;", "- the batch ran out of gas;", "- the contract reverts for this call."],
      name: "ReadFailedError",
    })
    this.address = address
    this.functionName = functionName
  }
}
