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
/** Switching the reserves off would leave the Aave account's health factor below the policies' minHealth. */
export class AaveDustDisableUnhealthyError extends BaseError {
  /** Health factor after the change (WAD, a lower bound). */
  healthAfter: bigint
  /** The highest minHealth of the Safe's Aave policies (WAD). */
  minHealth: bigint
  constructor({ healthAfter, minHealth, assets, cause }: { healthAfter: bigint; minHealth: bigint; assets: readonly Address[] } & Cause) {
    super(`Disabling ${assets.join(", ")} as collateral would leave the Aave health factor at ${healthAfter} (WAD), below minHealth ${minHealth}.`, {
      cause,
      metaMessages: ["These reserves are not dust for this account: they carry health. Repay debt first or keep them enabled."],
      name: "AaveDustDisableUnhealthyError",
    })
    this.healthAfter = healthAfter
    this.minHealth = minHealth
  }
}
