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
