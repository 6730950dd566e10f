import { BaseError } from "viem"

export type KeeperConfigErrorType = KeeperConfigError & { name: "KeeperConfigError" }
/** The keeper configuration is missing a field or has a wrong value; `field` is its JSON path (e.g. `safes[0].address`). */
export class KeeperConfigError extends BaseError {
  field: string
  constructor({ field, reason, source }: { field: string; reason: string; source?: string | undefined }) {
    super(`Invalid keeper configuration: "${field}" ${reason}`, {
      metaMessages: [...(source ? [`File: ${source}`] : []), `Field: ${field}`, "See `levpilot keeper --help` for every field."],
      name: "KeeperConfigError",
    })
    this.field = field
  }
}

export type SelfPayNotAllowedErrorType = SelfPayNotAllowedError & { name: "SelfPayNotAllowedError" }
/** The paymaster refused and the keeper may not fall back to the Safe paying its own gas. */
export class SelfPayNotAllowedError extends BaseError {
  constructor({ safe, reason, cause }: { safe: string; reason: string; cause?: Error | undefined }) {
    super("The paymaster refused and self-pay is not allowed for this Safe.", {
      cause,
      metaMessages: [`Safe: ${safe}`, `Why self-pay is off: ${reason}`, "Nothing was sent; the keeper alerts and retries on the next block."],
      name: "SelfPayNotAllowedError",
    })
  }
}

export type DemoUnavailableErrorType = DemoUnavailableError & { name: "DemoUnavailableError" }
/** `levpilot start` ran from an installed package: the devnet demo needs the repository. */
export class DemoUnavailableError extends BaseError {
  constructor({ cause }: { cause?: Error | undefined } = {}) {
    super("levpilot start runs the local devnet demo, which needs the leverage-autopilot repository.", {
      cause,
      metaMessages: [
        "The devnet (anvil, Alto, the forge-built LeverageModule, Morpho Blue, paymasters) is the repository's private",
        "@levpilot/devnet workspace and is not part of the published levpilot package. Clone the repository, then:",
        "  npm ci && npm start",
        "The installed package runs `keeper`, `status` and `backtest` against any chain.",
      ],
      name: "DemoUnavailableError",
    })
  }
}
