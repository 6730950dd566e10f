import { BaseError, type Hex, decodeErrorResult, parseAbi } from "viem"
import { aaveErrorCodes } from "./aaveErrorCodes.js"
import { morphoBlueErrors } from "./morphoBlueErrors.js"

type Cause = { cause?: Error | undefined }

/**
 * The named errors of the Aave v3 venue adapter (`AaveV3Adapter`, IAaveV3Adapter.sol) and of its flash-loan router
 * (`AaveFlashLoanRouter.sol`), as compiled (checked against the forge artifacts by `venue.test.ts`).
 */
export const aaveAdapterErrorsAbi = parseAbi([
  "error UnknownMarket(bytes32 market)",
  "error ReserveNotListed(address asset)",
  "error SameReserve(address asset)",
  "error NotCollateral(address asset)",
  "error NotBorrowable(address asset)",
  "error UnknownEModeCategory(uint8 category)",
  "error DebtNotInEModeCategory(address asset, uint8 category)",
  "error EModeMismatch(bytes32 market, address account, uint8 expected, uint256 actual)",
  "error ReserveInactive(address asset)",
  "error ReservePaused(address asset)",
  "error ReserveFrozen(address asset)",
  "error CollateralNotEnabled(address asset)",
  "error NothingToRepay(address asset)",
  "error ReserveNotInScope(bytes32 market, address asset)",
  "error FlashLoanDisabled(address asset)",
  "error FlashLoanCallerNotPool(address caller)",
  "error FlashLoanInitiatorNotAccount(address initiator, address account)",
  "error FlashLoanPremiumMismatch(uint256 premium, uint256 expected)",
  "error UnsupportedAction(uint8 kind)",
])
export const aaveFlashRouterErrorsAbi = parseAbi([
  "error FlashLoanNotStartedByRouter(address initiator)",
  "error FlashedRepaymentReborrowed(address account, uint256 debtAfterRepay, uint256 debtNow)",
  "error FlashedSupplyWithdrawn(address account, uint256 balanceAfterSupply, uint256 balanceNow)",
  "error FlashLiquidityShort(address asset, uint256 amount, uint256 available)",
  "error FlashRepaymentShort(address account, uint256 owed, uint256 held)",
])

/** Where a venue refusal was raised: the venue adapter, the venue's flash-loan router, or the venue's own contract. */
export type VenueRefusalSource = "adapter" | "flash-router" | "venue"

/** A decoded venue refusal (see {@link decodeVenueRevert}). */
export type DecodedVenueRevert = {
  /** The venue, as the keeper's `venue` label names it (`aave-v3`, `morpho-blue`). */
  venue: "aave-v3" | "morpho-blue"
  source: VenueRefusalSource
  /**
   * The adapter's or router's error name (`EModeMismatch`, `FlashLiquidityShort`), Aave's constant name
   * (`RESERVE_PAUSED`) or Morpho Blue's ErrorsLib constant name (`INSUFFICIENT_LIQUIDITY`).
   */
  errorName: string
  /** The error's arguments by name (adapter / router errors); empty for Aave's `Error(string)` codes. */
  args: Readonly<Record<string, unknown>>
  /** Aave's numeric `Error(string)` code (`"29"`), when the pool itself reverted. */
  code?: string | undefined
  /** Aave's description of that code (Errors.sol's comment), or Morpho's (ErrorsLib.sol's NatSpec). */
  text?: string | undefined
  /** Morpho Blue's revert string (`"insufficient liquidity"`), when Morpho itself reverted. */
  reason?: string | undefined
}

/**
 * Decodes revert data raised by a venue rather than the module: an Aave v3 adapter or flash-router custom error, an
 * Aave pool `Error(string)` whose text is one of Aave v3.0.2's numeric codes (mapped to its Errors.sol name), or a
 * Morpho Blue `Error(string)` whose text is one of its ErrorsLib refusals (`"insufficient liquidity"`,
 * `"insufficient collateral"`, `"market not created"`, ...: {@link morphoBlueErrors} with `refusal`).
 *
 * @param data - Revert data (selector and arguments), e.g. the `reason` of the module's `ActionFailed(index, reason)`.
 * @returns The decoded refusal, or `undefined` when the data is none of these.
 */
export function decodeVenueRevert(data: Hex): DecodedVenueRevert | undefined {
  for (const [abi, source] of [[aaveAdapterErrorsAbi, "adapter"], [aaveFlashRouterErrorsAbi, "flash-router"]] as const) {
    try {
      const { errorName, args, abiItem } = decodeErrorResult({ abi, data })
      const values = (args ?? []) as readonly unknown[]
      if ((errorName as string) === "Error") {
        const code = String(values[0])
        const known = aaveErrorCodes[code]
        if (known) return { venue: "aave-v3", source: "venue", errorName: known.name, args: {}, code, text: known.text }
        const morpho = morphoBlueErrors[code]
        return morpho?.refusal ? { venue: "morpho-blue", source: "venue", errorName: morpho.name, args: {}, reason: code, text: morpho.text } : undefined
      }
      if ((errorName as string) === "Panic") return undefined
      const inputs = "inputs" in abiItem ? abiItem.inputs : []
      return { venue: "aave-v3", source, errorName, args: Object.fromEntries(values.map((v, i) => [inputs[i]?.name ?? String(i), v])) }
    } catch {
      // not this ABI
    }
  }
  return undefined
}

export type VenueRefusedErrorType = VenueRefusedError & { name: "VenueRefusedError" }
/**
 * A venue refused an action of the plan, or a read of a sub-account: Morpho Blue with an ErrorsLib reason
 * (`"insufficient liquidity"` = INSUFFICIENT_LIQUIDITY, inside `ActionFailed`), the Aave v3 adapter (`EModeMismatch`,
 * `ReservePaused`, `ReserveFrozen`, `CollateralNotEnabled`, ...), its flash-loan router (`FlashLiquidityShort`,
 * `FlashRepaymentShort`, ...), or the Aave pool itself with one of its `Error(string)` codes (`"29"` = RESERVE_PAUSED).
 * `index` is the plan's action index when the module wrapped it (`ActionFailed(index, reason)`).
 */
export class VenueRefusedError extends BaseError {
  venue: DecodedVenueRevert["venue"]
  source: VenueRefusalSource
  errorName: string
  args: Readonly<Record<string, unknown>>
  code: string | undefined
  /** Morpho Blue's revert string, when Morpho itself reverted. */
  reason: string | undefined
  index: number | undefined
  constructor({ venue, source, errorName, args, code, text, reason, index, cause }: DecodedVenueRevert & { index?: number | undefined } & Cause) {
    const what =
      code !== undefined
        ? `Aave error ${code} ${errorName}${text ? ` (${text})` : ""}`
        : reason !== undefined
          ? `Morpho Blue "${reason}" (${errorName})`
          : `${errorName}(${Object.entries(args).map(([k, v]) => `${k}: ${String(v)}`).join(", ")})`
    const where = source === "adapter" ? "its venue adapter" : source === "flash-router" ? "its flash-loan router" : venue === "morpho-blue" ? "the Morpho Blue contract" : "the pool"
    super(`The venue ${venue} refused${index !== undefined ? ` action ${index} of the plan` : ""}: ${what}, raised by ${where}.`, {
      cause,
      metaMessages: [
        "This could arise when:",
        "- the Safe's owners switched the Aave account's e-mode category (EModeMismatch) or a reserve off as collateral;",
        "- the pool admin froze or paused a reserve, or raised the flash premium after the plan was sized;",
        "- a reserve lacks free liquidity or its supply / borrow cap is reached;",
        "- a Morpho Blue market's liquidity was borrowed away (insufficient liquidity), or the position's collateral no longer covers the action (insufficient collateral).",
      ],
      name: "VenueRefusedError",
    })
    this.venue = venue
    this.source = source
    this.errorName = errorName
    this.args = args
    this.code = code
    this.reason = reason
    this.index = index
  }
}
