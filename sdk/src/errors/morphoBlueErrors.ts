/**
 * Morpho Blue's revert reasons (`@morpho-org/morpho-blue@1.0.0` `src/libraries/ErrorsLib.sol`): Morpho reverts with
 * `Error(string)` whose text is one of these; each maps to the constant's name and its NatSpec there. `refusal`: the
 * venue refusing a keeper action on its own state (liquidity, collateral, the market, the input), reported as
 * `VenueRefusedError`; the others are owner / signature / liquidation paths a plan never takes, or the Safe's own token
 * transfer failing inside Morpho (`transferFrom reverted`: a swap paid short of what the venue collects, the plan's
 * funding and not the venue's refusal), and stay the module's `ActionFailed`.
 * Checked against the package's ErrorsLib.sol by `venueMorpho.test.ts`.
 */
export const morphoBlueErrors: Readonly<Record<string, { name: string; text: string; refusal: boolean }>> = {
  "not owner": { name: "NOT_OWNER", text: "Thrown when the caller is not the owner.", refusal: false },
  "max LLTV exceeded": { name: "MAX_LLTV_EXCEEDED", text: "Thrown when the LLTV to enable exceeds the maximum LLTV.", refusal: false },
  "max fee exceeded": { name: "MAX_FEE_EXCEEDED", text: "Thrown when the fee to set exceeds the maximum fee.", refusal: false },
  "already set": { name: "ALREADY_SET", text: "Thrown when the value is already set.", refusal: false },
  "IRM not enabled": { name: "IRM_NOT_ENABLED", text: "Thrown when the IRM is not enabled at market creation.", refusal: false },
  "LLTV not enabled": { name: "LLTV_NOT_ENABLED", text: "Thrown when the LLTV is not enabled at market creation.", refusal: false },
  "market already created": { name: "MARKET_ALREADY_CREATED", text: "Thrown when the market is already created.", refusal: false },
  "no code": { name: "NO_CODE", text: "Thrown when a token to transfer doesn't have code.", refusal: false },
  "market not created": { name: "MARKET_NOT_CREATED", text: "Thrown when the market is not created.", refusal: true },
  "inconsistent input": { name: "INCONSISTENT_INPUT", text: "Thrown when not exactly one of the input amount is zero.", refusal: true },
  "zero assets": { name: "ZERO_ASSETS", text: "Thrown when zero assets is passed as input.", refusal: true },
  "zero address": { name: "ZERO_ADDRESS", text: "Thrown when a zero address is passed as input.", refusal: false },
  unauthorized: { name: "UNAUTHORIZED", text: "Thrown when the caller is not authorized to conduct an action.", refusal: false },
  "insufficient collateral": { name: "INSUFFICIENT_COLLATERAL", text: "Thrown when the collateral is insufficient to `borrow` or `withdrawCollateral`.", refusal: true },
  "insufficient liquidity": { name: "INSUFFICIENT_LIQUIDITY", text: "Thrown when the liquidity is insufficient to `withdraw` or `borrow`.", refusal: true },
  "position is healthy": { name: "HEALTHY_POSITION", text: "Thrown when the position to liquidate is healthy.", refusal: false },
  "invalid signature": { name: "INVALID_SIGNATURE", text: "Thrown when the authorization signature is invalid.", refusal: false },
  "signature expired": { name: "SIGNATURE_EXPIRED", text: "Thrown when the authorization signature is expired.", refusal: false },
  "invalid nonce": { name: "INVALID_NONCE", text: "Thrown when the nonce is invalid.", refusal: false },
  "transfer reverted": { name: "TRANSFER_REVERTED", text: "Thrown when a token transfer reverted.", refusal: false },
  "transfer returned false": { name: "TRANSFER_RETURNED_FALSE", text: "Thrown when a token transfer returned false.", refusal: false },
  "transferFrom reverted": { name: "TRANSFER_FROM_REVERTED", text: "Thrown when a token transferFrom reverted.", refusal: false },
  "transferFrom returned false": { name: "TRANSFER_FROM_RETURNED_FALSE", text: "Thrown when a token transferFrom returned false", refusal: false },
  "max uint128 exceeded": { name: "MAX_UINT128_EXCEEDED", text: "Thrown when the maximum uint128 is exceeded.", refusal: true },
}
