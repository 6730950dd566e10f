// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {ISwapRouter} from "@uniswap/v3-periphery/contracts/interfaces/ISwapRouter.sol";
import {IPeripheryImmutableState} from "@uniswap/v3-periphery/contracts/interfaces/IPeripheryImmutableState.sol";
import {IUniswapV3Factory} from "@uniswap/v3-core/contracts/interfaces/IUniswapV3Factory.sol";
import {VenueCall} from "../interfaces/IVenueAdapter.sol";
import {ISwapAdapter, SwapRequest} from "../interfaces/ISwapAdapter.sol";
import {IUniswapV3SwapAdapter} from "../interfaces/IUniswapV3SwapAdapter.sol";

/// @title UniswapV3SwapAdapter
/// @notice Encodes exact-input swaps through Uniswap v3's SwapRouter for the module, over the router's own factory.
/// @dev Security considerations:
/// - Stateless and view-only: everything it knows is immutable, it never receives funds or approvals.
/// - The recipient of every encoded swap is `request.account`; the keeper's route only selects fee tiers and a hub
///   position fixed at deployment, so it cannot redirect output, name a router, a token or a pool outside the factory.
/// - Every encoded swap carries `request.minAmountOut` (refused when zero), which the router enforces.
contract UniswapV3SwapAdapter is IUniswapV3SwapAdapter {
    /// @inheritdoc IUniswapV3SwapAdapter
    uint256 public constant MAX_FEE_TIERS = 4;
    /// @inheritdoc IUniswapV3SwapAdapter
    uint256 public constant MAX_HUBS = 2;

    uint256 internal constant FEE_MASK = type(uint24).max;
    uint256 internal constant HUB_SHIFT = 24;
    uint256 internal constant HUB_FEE_SHIFT = 32;
    uint256 internal constant RESERVED_SHIFT = 56;

    address internal immutable ROUTER;
    IUniswapV3Factory internal immutable FACTORY;
    /// @dev Up to four fee tiers, 24 bits each, low bits first; a zero tier ends the list (zero is never a tier).
    uint256 internal immutable FEE_TIERS;
    address internal immutable HUB0;
    address internal immutable HUB1;

    /// @param swapRouter Uniswap v3 SwapRouter; its `factory()` becomes the pool registry.
    /// @param allowedFeeTiers Fee tiers a route may use, each enabled in the factory.
    /// @param allowedHubs Tokens a two-hop route may go through (may be empty).
    constructor(address swapRouter, uint24[] memory allowedFeeTiers, address[] memory allowedHubs) {
        if (swapRouter.code.length == 0) revert InvalidRouter(swapRouter);
        if (allowedFeeTiers.length > MAX_FEE_TIERS || allowedHubs.length > MAX_HUBS) {
            revert TooManyRouteOptions(allowedFeeTiers.length, allowedHubs.length);
        }
        ROUTER = swapRouter;
        FACTORY = IUniswapV3Factory(IPeripheryImmutableState(swapRouter).factory());
        uint256 packed;
        for (uint256 i; i < allowedFeeTiers.length; ++i) {
            uint24 fee = allowedFeeTiers[i];
            if (fee == 0 || FACTORY.feeAmountTickSpacing(fee) == 0 || _hasFee(packed, fee)) revert FeeTierNotEnabled(fee);
            packed |= uint256(fee) << (24 * i);
        }
        FEE_TIERS = packed;
        for (uint256 i; i < allowedHubs.length; ++i) {
            address hub = allowedHubs[i];
            if (hub.code.length == 0 || (i == 1 && hub == allowedHubs[0])) revert InvalidHub(hub);
        }
        HUB0 = allowedHubs.length > 0 ? allowedHubs[0] : address(0);
        HUB1 = allowedHubs.length > 1 ? allowedHubs[1] : address(0);
    }

    /* ROUTES */

    /// @inheritdoc ISwapAdapter
    function router() external view returns (address) {
        return ROUTER;
    }

    /// @inheritdoc IUniswapV3SwapAdapter
    function factory() external view returns (address) {
        return address(FACTORY);
    }

    /// @inheritdoc IUniswapV3SwapAdapter
    function feeTiers() external view returns (uint24[] memory fees) {
        uint256 count;
        while (count < MAX_FEE_TIERS && (FEE_TIERS >> (24 * count)) & FEE_MASK != 0) ++count;
        fees = new uint24[](count);
        for (uint256 i; i < count; ++i) fees[i] = uint24(FEE_TIERS >> (24 * i));
    }

    /// @inheritdoc IUniswapV3SwapAdapter
    function hubs() external view returns (address[] memory list) {
        uint256 count = HUB0 == address(0) ? 0 : HUB1 == address(0) ? 1 : 2;
        list = new address[](count);
        if (count > 0) list[0] = HUB0;
        if (count > 1) list[1] = HUB1;
    }

    /// @inheritdoc IUniswapV3SwapAdapter
    function encodeRoute(uint24 fee, uint8 hub, uint24 hubFee) public pure returns (bytes32 route) {
        route = bytes32(uint256(fee) | uint256(hub) << HUB_SHIFT | uint256(hubFee) << HUB_FEE_SHIFT);
        decodeRoute(route);
    }

    /// @inheritdoc IUniswapV3SwapAdapter
    function decodeRoute(bytes32 route) public pure returns (uint24 fee, uint8 hub, uint24 hubFee) {
        uint256 word = uint256(route);
        fee = uint24(word);
        hub = uint8(word >> HUB_SHIFT);
        hubFee = uint24(word >> HUB_FEE_SHIFT);
        if (word >> RESERVED_SHIFT != 0 || (hub == 0) != (hubFee == 0)) revert MalformedRoute(route);
    }

    /// @inheritdoc ISwapAdapter
    function routePools(address tokenIn, address tokenOut, bytes32 route) public view returns (address[] memory pools) {
        if (tokenIn == tokenOut) revert SameToken(tokenIn);
        (uint24 fee, uint8 hubIndex, uint24 hubFee) = decodeRoute(route);
        if (hubIndex == 0) {
            pools = new address[](1);
            pools[0] = _pool(tokenIn, tokenOut, fee);
        } else {
            address hub = _hub(hubIndex);
            if (hub == tokenIn || hub == tokenOut) revert HubNotAllowed(hub);
            pools = new address[](2);
            pools[0] = _pool(tokenIn, hub, fee);
            pools[1] = _pool(hub, tokenOut, hubFee);
        }
    }

    /// @inheritdoc ISwapAdapter
    function isRoute(address tokenIn, address tokenOut, bytes32 route) external view returns (bool) {
        try this.routePools(tokenIn, tokenOut, route) returns (address[] memory) {
            return true;
        } catch {
            return false;
        }
    }

    /* ENCODING */

    /// @inheritdoc ISwapAdapter
    function encodeSwap(SwapRequest calldata request) external view returns (VenueCall memory call) {
        if (request.amountIn == 0) revert ZeroAmountIn();
        if (request.minAmountOut == 0) revert ZeroMinAmountOut();
        if (request.account == address(0)) revert InvalidAccount(request.account);
        address[] memory pools = routePools(request.tokenIn, request.tokenOut, request.route);
        (uint24 fee, uint8 hubIndex, uint24 hubFee) = decodeRoute(request.route);
        call.target = ROUTER;
        call.approveToken = request.tokenIn;
        call.approveAmount = request.amountIn;
        if (pools.length == 1) {
            call.data = abi.encodeCall(
                ISwapRouter.exactInputSingle,
                (
                    ISwapRouter.ExactInputSingleParams({
                        tokenIn: request.tokenIn,
                        tokenOut: request.tokenOut,
                        fee: fee,
                        recipient: request.account,
                        deadline: block.timestamp,
                        amountIn: request.amountIn,
                        amountOutMinimum: request.minAmountOut,
                        sqrtPriceLimitX96: 0
                    })
                )
            );
        } else {
            call.data = abi.encodeCall(
                ISwapRouter.exactInput,
                (
                    ISwapRouter.ExactInputParams({
                        path: abi.encodePacked(request.tokenIn, fee, _hub(hubIndex), hubFee, request.tokenOut),
                        recipient: request.account,
                        deadline: block.timestamp,
                        amountIn: request.amountIn,
                        amountOutMinimum: request.minAmountOut
                    })
                )
            );
        }
    }

    /* INTERNAL */

    function _pool(address tokenA, address tokenB, uint24 fee) internal view returns (address pool) {
        if (!_hasFee(FEE_TIERS, fee)) revert FeeTierNotAllowed(fee);
        pool = FACTORY.getPool(tokenA, tokenB, fee);
        if (pool == address(0)) revert PoolNotFound(tokenA, tokenB, fee);
    }

    function _hub(uint8 hubIndex) internal view returns (address hub) {
        hub = hubIndex == 1 ? HUB0 : hubIndex == 2 ? HUB1 : address(0);
        if (hub == address(0)) revert UnknownHub(hubIndex);
    }

    function _hasFee(uint256 packed, uint24 fee) internal pure returns (bool) {
        for (uint256 i; i < MAX_FEE_TIERS; ++i) {
            if ((packed >> (24 * i)) & FEE_MASK == fee) return fee != 0;
        }
        return false;
    }
}
