// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {Fixture} from "./Fixture.sol";
import {IIrm} from "@morpho-org/morpho-blue/src/interfaces/IIrm.sol";
import {IMorphoBase, MarketParams, Market, Position, Id} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {IOracle} from "@morpho-org/morpho-blue/src/interfaces/IOracle.sol";
import {MarketParamsLib} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";
import {SharesMathLib} from "@morpho-org/morpho-blue/src/libraries/SharesMathLib.sol";
import {MathLib} from "@morpho-org/morpho-blue/src/libraries/MathLib.sol";
import {TestToken} from "./TestToken.sol";

/// @notice Morpho's production AdaptiveCurveIrm, as far as these tests use it.
interface IAdaptiveCurveIrm is IIrm {
    function MORPHO() external view returns (address);
    function rateAtTarget(Id id) external view returns (int256);
}

/// @notice The Fixture plus Morpho's production AdaptiveCurveIrm, deployed from the creation code that the npm package
/// morpho-blue-bundlers 1.1.2 (Morpho's) publishes in its generated ethers factory, read as text: nothing is compiled
/// or copied here. Helpers for markets that accrue interest.
abstract contract AdaptiveCurveIrmFixture is Fixture {
    using MarketParamsLib for MarketParams;
    using SharesMathLib for uint256;
    using MathLib for uint256;

    string internal constant IRM_FACTORY = "node_modules/@morpho-org/morpho-blue-bundlers/types/factories/lib/"
        "morpho-blue-irm/src/adaptive-curve-irm/AdaptiveCurveIrm__factory.js";
    /// @dev The IRM's initial rate at target utilisation: 4% a year, per second (what the published contract reports).
    int256 internal constant INITIAL_RATE_AT_TARGET = 0.04e18 / int256(365 days);
    uint256 internal constant ORACLE_PRICE_SCALE = 1e36;

    IAdaptiveCurveIrm internal irm;

    /// @dev Reads `_bytecode = "0x..."` from the factory file, deploys it for `morpho` and enables it there.
    function deployAdaptiveCurveIrm() internal returns (IAdaptiveCurveIrm deployed) {
        string[] memory parts = vm.split(vm.readFile(IRM_FACTORY), 'const _bytecode = "');
        require(parts.length == 2, "AdaptiveCurveIrm factory: no _bytecode (run npm install)");
        bytes memory code = bytes.concat(vm.parseBytes(vm.split(parts[1], '"')[0]), abi.encode(address(morpho)));
        require(code.length > 1000, "AdaptiveCurveIrm factory: bytecode too short");
        address addr;
        assembly ("memory-safe") {
            addr := create(0, add(code, 0x20), mload(code))
        }
        require(addr != address(0), "AdaptiveCurveIrm deployment failed");
        deployed = IAdaptiveCurveIrm(addr);
        morpho.enableIrm(addr);
    }

    /// @dev A USDC market on `collateral` with the IRM, `liquidity` supplied by the lender.
    function createIrmMarket(address collateral, address oracle, uint256 liquidity)
        internal
        returns (MarketParams memory params)
    {
        params = MarketParams({
            loanToken: address(usdc), collateralToken: collateral, oracle: oracle, irm: address(irm), lltv: LLTV
        });
        morpho.createMarket(params);
        usdc.mint(lender, liquidity);
        vm.startPrank(lender);
        usdc.approve(address(morpho), type(uint256).max);
        morpho.supply(params, liquidity, 0, lender, "");
        vm.stopPrank();
    }

    /// @dev Another borrower takes `assets` from the market (collateral worth three times as much at 3,000 USDC/WETH).
    function borrowElsewhere(MarketParams memory params, uint256 assets) internal {
        address whale = makeAddr("whale");
        // 18-decimal collateral at 3,000 USDC a token: 1e9 base units per USDC base unit is three times the loan.
        uint256 collateral = assets * 1e9;
        TestToken(params.collateralToken).mint(whale, collateral);
        vm.startPrank(whale);
        TestToken(params.collateralToken).approve(address(morpho), collateral);
        morpho.supplyCollateral(params, collateral, whale, "");
        morpho.borrow(params, assets, 0, whale, whale);
        vm.stopPrank();
    }

    /// @dev Health as Morpho's own storage says it (shares to assets rounded up, as Morpho charges): exact after an
    /// `accrueInterest` in the same block, stale otherwise.
    function storedHealth(address account, MarketParams memory params) internal view returns (uint256) {
        Market memory m = morpho.market(params.id());
        Position memory p = morpho.position(params.id(), account);
        uint256 debt = uint256(p.borrowShares).toAssetsUp(m.totalBorrowAssets, m.totalBorrowShares);
        uint256 value = uint256(p.collateral).mulDivDown(IOracle(params.oracle).price(), ORACLE_PRICE_SCALE);
        return debt == 0 ? type(uint256).max : value.mulDivDown(params.lltv, debt);
    }

    /// @dev Debt as Morpho's storage says it (stale until the market accrues).
    function storedDebt(address account, MarketParams memory params) internal view returns (uint256) {
        Market memory m = morpho.market(params.id());
        return uint256(morpho.position(params.id(), account).borrowShares)
            .toAssetsUp(m.totalBorrowAssets, m.totalBorrowShares);
    }

    /// @dev Simple borrow APR (WAD) of `params` now, from the IRM's view.
    function borrowApr(MarketParams memory params) internal view returns (uint256) {
        return irm.borrowRateView(params, morpho.market(params.id())) * 365 days;
    }

    function utilization(MarketParams memory params) internal view returns (uint256) {
        Market memory m = morpho.market(params.id());
        return uint256(m.totalBorrowAssets).wDivDown(m.totalSupplyAssets);
    }

    /// @dev Debt that puts `account` at `health` (WAD), at the current price, rounded down.
    function debtAtHealth(address account, MarketParams memory params, uint256 health) internal view returns (uint256) {
        Position memory p = morpho.position(params.id(), account);
        uint256 value = uint256(p.collateral).mulDivDown(IOracle(params.oracle).price(), ORACLE_PRICE_SCALE);
        return value.mulDivDown(params.lltv, health);
    }

    /// @dev The Safe repays `assets` of its debt from the USDC pool through owner transactions (no module).
    function ownerRepayFromPool(address account, MarketParams memory params, address pool, uint256 assets) internal {
        safeExec(
            account, pool, 0, abi.encodeWithSignature("withdraw(uint256,address,address)", assets, account, account), 0
        );
        safeExec(
            account, address(usdc), 0, abi.encodeWithSignature("approve(address,uint256)", address(morpho), assets), 0
        );
        safeExec(account, address(morpho), 0, abi.encodeCall(IMorphoBase.repay, (params, assets, 0, account, "")), 0);
    }
}
