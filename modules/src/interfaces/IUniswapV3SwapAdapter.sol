// SPDX-License-Identifier: MIT
pragma solidity >=0.8.0;

import {ISwapAdapter} from "./ISwapAdapter.sol";

/// @title IUniswapV3SwapAdapter
/// @notice Swap adapter for Uniswap v3's SwapRouter (npm uniswap v3-periphery 1.4.4): single-hop `exactInputSingle`
/// or two-hop `exactInput` through a hub token, over pools of the router's own factory.
/// @dev Route layout (`bytes32`, read as a uint256; at most 56 bits, so it also fits an address-sized plan field):
/// - bits 0..23: fee tier of the first hop (hundredths of a basis point: 500 = 0.05%, 3000 = 0.3%);
/// - bits 24..31: hub of a two-hop route, as its 1-based position in `hubs()`; zero for a single hop;
/// - bits 32..55: fee tier of the second hop (hub to tokenOut); zero for a single hop;
/// - bits 56..255: zero.
/// So a single hop through the 0.05% pool is `bytes32(uint256(500))`; `encodeRoute` builds any route. The keeper
/// names a hub by position, never by address, so it cannot put a token of its choice in the path.
/// Trust assumptions, in addition to ISwapAdapter's:
/// - The factory is the router's own `factory()`, read once at deployment; pools are looked up there
///   (`getPool`), and the router derives the same addresses from the canonical pool init code hash, so no route can
///   reach a pool of another factory.
/// - Fee tiers and hub tokens are fixed at deployment; each fee tier must be enabled in the factory then.
/// - `sqrtPriceLimitX96` is always 0 (no partial fill by price); `amountOutMinimum` is the only price bound, and the
///   router reverts with `Too little received` below it.
interface IUniswapV3SwapAdapter is ISwapAdapter {
    /// @notice Thrown by the constructor when the router is not a contract.
    error InvalidRouter(address router);

    /// @notice Thrown by the constructor when a fee tier is not enabled in the factory or is listed twice.
    error FeeTierNotEnabled(uint24 fee);

    /// @notice Thrown by the constructor when a hub is the zero address, not a contract, or listed twice.
    error InvalidHub(address hub);

    /// @notice Thrown by the constructor for more than `MAX_FEE_TIERS` fee tiers or `MAX_HUBS` hubs.
    error TooManyRouteOptions(uint256 feeTiers, uint256 hubs);

    /// @notice Thrown when a route's bits 56..255 are set, a single hop carries a second fee, or a hub has none.
    error MalformedRoute(bytes32 route);

    /// @notice Thrown when a route uses a fee tier that was not allowed at deployment.
    error FeeTierNotAllowed(uint24 fee);

    /// @notice Thrown when a route names a hub position that `hubs()` does not have.
    error UnknownHub(uint8 hub);

    /// @notice Thrown when a two-hop route's hub is its own tokenIn or tokenOut.
    error HubNotAllowed(address hub);

    /// @notice Thrown when the factory has no pool for the pair and fee tier.
    error PoolNotFound(address tokenA, address tokenB, uint24 fee);

    /// @notice Most fee tiers an adapter allows.
    function MAX_FEE_TIERS() external view returns (uint256);

    /// @notice Most hub tokens an adapter allows.
    function MAX_HUBS() external view returns (uint256);

    /// @notice The Uniswap v3 factory every pool of a route comes from (the router's `factory()`).
    function factory() external view returns (address);

    /// @notice The fee tiers a route may use, in deployment order.
    function feeTiers() external view returns (uint24[] memory);

    /// @notice The tokens a two-hop route may go through, in deployment order.
    function hubs() external view returns (address[] memory);

    /// @notice The route word for a single hop (`hub == 0`, `hubFee == 0`) or a two-hop route through `hubs()[hub - 1]`.
    /// @dev Reverts with `MalformedRoute` for a hub without a second fee or a second fee without a hub.
    function encodeRoute(uint24 fee, uint8 hub, uint24 hubFee) external pure returns (bytes32 route);

    /// @notice The fields of a route word; reverts with `MalformedRoute` when reserved bits are set or the hops are
    /// inconsistent.
    function decodeRoute(bytes32 route) external pure returns (uint24 fee, uint8 hub, uint24 hubFee);
}
