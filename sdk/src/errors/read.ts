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
