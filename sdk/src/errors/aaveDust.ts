import { type Address, BaseError } from "viem"

type Cause = { cause?: Error | undefined }

export type AaveDustIsMarketCollateralErrorType = AaveDustIsMarketCollateralError & { name: "AaveDustIsMarketCollateralError" }
/** A reserve asked to be switched off as collateral is the collateral of one of the Safe's Aave sub-accounts. */
export class AaveDustIsMarketCollateralError extends BaseError {
  asset: Address
  constructor({ asset, cause }: { asset: Address } & Cause) {
    super(`Reserve ${asset} is the collateral of an Aave sub-account of this Safe: it is not dust and is not switched off.`, {
      cause,
      metaMessages: ["Only reserves outside the Safe's markets (e.g. 1 wei of an aToken sent to the Safe) are disabled as collateral."],
      name: "AaveDustIsMarketCollateralError",
    })
    this.asset = asset
  }
}

export type AaveDustNotCollateralErrorType = AaveDustNotCollateralError & { name: "AaveDustNotCollateralError" }
/** A reserve asked to be switched off is not used as collateral by the Safe (nothing to disable; Aave would revert). */
export class AaveDustNotCollateralError extends BaseError {
  asset: Address
  constructor({ asset, cause }: { asset: Address } & Cause) {
    super(`Reserve ${asset} is not used as collateral by this Safe: nothing to disable.`, { cause, name: "AaveDustNotCollateralError" })
    this.asset = asset
  }
}

export type AaveDustDisableUnhealthyErrorType = AaveDustDisableUnhealthyError & { name: "AaveDustDisableUnhealthyError" }
/**
 * Switching the reserves off would leave the Aave account's health factor below the policies' minHealth and lower it
 * (below its health before, or below 1).
 */
export class AaveDustDisableUnhealthyError extends BaseError {
  /** Health factor after the change (WAD; Aave's arithmetic, a lower bound when a reserve could not be read). */
  healthAfter: bigint
  /** The highest minHealth of the Safe's Aave policies (WAD). */
  minHealth: bigint
  /** Health factor before the change, same arithmetic (WAD); undefined when not given. */
  healthBefore: bigint | undefined
  constructor({ healthAfter, minHealth, healthBefore, assets, cause }: { healthAfter: bigint; minHealth: bigint; healthBefore?: bigint | undefined; assets: readonly Address[] } & Cause) {
    super(`Disabling ${assets.join(", ")} as collateral would leave the Aave health factor at ${healthAfter} (WAD), below minHealth ${minHealth}.`, {
      cause,
      metaMessages: ["These reserves are not dust for this account: they carry health. Repay debt first or keep them enabled."],
      name: "AaveDustDisableUnhealthyError",
    })
    this.healthAfter = healthAfter
    this.minHealth = minHealth
    this.healthBefore = healthBefore
  }
}

export type AaveDustZeroLtvCollateralKeptErrorType = AaveDustZeroLtvCollateralKeptError & { name: "AaveDustZeroLtvCollateralKeptError" }
/**
 * A reserve with LTV > 0 would be switched off while the account keeps a collateral with LTV 0 enabled: Aave v3.0.2's
 * validateHFAndLtv refuses it ("57" LTV_VALIDATION_FAILED), so the owner's batch would revert.
 */
export class AaveDustZeroLtvCollateralKeptError extends BaseError {
  /** The reserves with LTV > 0 asked to be switched off. */
  assets: readonly Address[]
  /** The LTV-0 collaterals that stay enabled. */
  zeroLtv: readonly Address[]
  constructor({ assets, zeroLtv, cause }: { assets: readonly Address[]; zeroLtv: readonly Address[] } & Cause) {
    super(`Disabling ${assets.join(", ")} as collateral reverts while ${zeroLtv.join(", ")} (LTV 0) stays enabled as collateral.`, {
      cause,
      metaMessages: ["Aave refuses to switch off a reserve with LTV > 0 while the account uses a collateral with LTV 0: switch the LTV-0 reserves off too (first), or withdraw them."],
      name: "AaveDustZeroLtvCollateralKeptError",
    })
    this.assets = assets
    this.zeroLtv = zeroLtv
  }
}
