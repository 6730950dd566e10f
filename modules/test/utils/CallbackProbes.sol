// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IMorpho, MarketParams, Id} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {ILeverageModule, ActionKind} from "../../src/interfaces/ILeverageModule.sol";
import {IVenueAdapter, MarketState, VenueCall} from "../../src/interfaces/IVenueAdapter.sol";

/// @notice Safe v1.4.1 `StorageAccessible.simulateAndRevert`: anyone can make a Safe DELEGATECALL any code; the frame
/// always reverts, with `abi.encodePacked(success, returndatasize, returndata)` as its revert data.
interface IStorageAccessible {
    function simulateAndRevert(address targetContract, bytes calldata calldataPayload) external;
}

/// @notice TEST ONLY. Code an attacker has a Safe DELEGATECALL through `simulateAndRevert`: it makes one call from the
/// Safe's own address (so Morpho Blue calls the Safe back, or the module sees the Safe as `msg.sender` with whatever
/// ERC-2771 suffix the attacker appends) and bubbles the callee's revert data unchanged.
contract SafeContextCaller {
    function callFromSafe(address target, bytes calldata data) external returns (bytes memory ret) {
        bool ok;
        (ok, ret) = target.call(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(ret, 0x20), mload(ret))
            }
        }
    }
}

/// @notice TEST ONLY. A venue that answers the module's RepayWithCallback the way the real Morpho Blue never does (the
/// real one always calls back exactly once, with the data it was given, from `repay`), so the callback guard's
/// defence-in-depth errors can be reached: no callback, other data, another callback kind, twice. `Honest` behaves like
/// Morpho (one callback with the data, then pulls the assets and repays the Safe's debt on the real Morpho Blue), so
/// the harness itself is shown to work.
contract MisbehavingVenue {
    enum Mode {
        Honest,
        Silent,
        OtherData,
        SupplyCollateralKind,
        FlashLoanKind,
        Twice
    }

    IMorpho public immutable MORPHO;
    Mode public mode;

    constructor(IMorpho morpho) {
        MORPHO = morpho;
    }

    function setMode(Mode newMode) external {
        mode = newMode;
    }

    /// @dev Called by the Safe (RedirectingAdapter.encodeWithCallback). Like Morpho's `repay(.., data)`: first repays
    /// `assets` of `account`'s debt on the real Morpho Blue (from this venue's own liquidity), then calls the Safe back
    /// per `mode`, then pulls `assets` from the Safe.
    function repayWithCallback(bytes32 market, uint256 assets, address account, bytes calldata data) external {
        Mode current = mode;
        if (current == Mode.Silent) return;
        MarketParams memory params = MORPHO.idToMarketParams(Id.wrap(market));
        IERC20(params.loanToken).approve(address(MORPHO), assets);
        MORPHO.repay(params, assets, 0, account, "");
        ILeverageModule account_ = ILeverageModule(msg.sender);
        if (current == Mode.OtherData) account_.onMorphoRepay(assets, bytes.concat(data, hex"00"));
        else if (current == Mode.SupplyCollateralKind) account_.onMorphoSupplyCollateral(assets, data);
        else if (current == Mode.FlashLoanKind) account_.onMorphoFlashLoan(assets, data);
        else account_.onMorphoRepay(assets, data);
        if (current == Mode.Twice) account_.onMorphoRepay(assets, data);
        IERC20(params.loanToken).transferFrom(msg.sender, address(this), assets);
    }
}

/// @notice TEST ONLY. A venue adapter over the real MorphoBlueAdapter (markets, positions, plain actions all real) whose
/// RepayWithCallback goes to a MisbehavingVenue instead of Morpho Blue.
contract RedirectingAdapter is IVenueAdapter {
    IVenueAdapter public immutable INNER;
    MisbehavingVenue public immutable VENUE;

    constructor(IVenueAdapter inner, MisbehavingVenue misbehaving) {
        INNER = inner;
        VENUE = misbehaving;
    }

    function venue() external view returns (address) {
        return INNER.venue();
    }

    function isMarket(bytes32 market) external view returns (bool) {
        return INNER.isMarket(market);
    }

    function accountKey(bytes32 market) external view returns (bytes32) {
        return INNER.accountKey(market);
    }

    function marketTokens(bytes32 market) external view returns (address, address) {
        return INNER.marketTokens(market);
    }

    function marketState(bytes32 market, address account) external view returns (MarketState memory) {
        return INNER.marketState(market, account);
    }

    function liquidationIncentiveFactor(bytes32 market) external view returns (uint256) {
        return INNER.liquidationIncentiveFactor(market);
    }

    function maxRepayable(bytes32 market, address account) external view returns (uint256) {
        return INNER.maxRepayable(market, account);
    }

    function minBorrowHealth(bytes32 market, address account) external view returns (uint256) {
        return INNER.minBorrowHealth(market, account);
    }

    function position(bytes32 market, address account) external view returns (uint256, uint256) {
        return INNER.position(market, account);
    }

    function health(bytes32 market, address account) external view returns (uint256) {
        return INNER.health(market, account);
    }

    function positionHealth(bytes32 market, address account, uint256 price, uint256 lltv)
        external
        view
        returns (uint256, uint256, uint256)
    {
        return INNER.positionHealth(market, account, price, lltv);
    }

    function encode(uint8 kind, bytes32 market, uint256 assets, address account)
        external
        view
        returns (VenueCall memory)
    {
        return INNER.encode(kind, market, assets, account);
    }

    function encodeWithCallback(uint8 kind, bytes32 market, uint256 assets, address account, bytes calldata data)
        external
        view
        returns (VenueCall memory call, bytes4 callbackSelector)
    {
        if (kind != uint8(ActionKind.RepayWithCallback)) revert UnsupportedAction(kind);
        (address loanToken,) = INNER.marketTokens(market);
        call = VenueCall({
            target: address(VENUE),
            data: abi.encodeCall(MisbehavingVenue.repayWithCallback, (market, assets, account, data)),
            approveToken: loanToken,
            approveAmount: assets
        });
        callbackSelector = ILeverageModule.onMorphoRepay.selector;
    }
}
