// SPDX-License-Identifier: MIT
pragma solidity >=0.8.0;

import {VenueCall} from "./IVenueAdapter.sol";

/// @notice One exact-input swap the module asks a swap adapter to encode.
/// @dev `minAmountOut` is computed by the module from the oracle price and the policy's `maxSlippageBps`, never taken
/// from the keeper. `route` is the keeper's choice among the routes the adapter allows (its layout is the adapter's);
/// the keeper never names a router, a pool or a recipient.
struct SwapRequest {
    address tokenIn;
    address tokenOut;
    uint256 amountIn;
    uint256 minAmountOut;
    address account;
    bytes32 route;
}

/// @title ISwapAdapter
/// @notice A stateless, view-only translator between the module's swap action and one swap venue: it returns the
/// call the Safe must make and the exact allowance that call needs, as a `VenueCall` (the same shape the venue
/// adapters return, so the module executes both the same way).
/// @dev Trust assumptions:
/// - Swap adapters are fixed at module deployment (no admin can add one later) and are reviewed code.
/// - An adapter never holds funds, approvals or state and is never called with value: the module calls `encodeSwap`
///   with STATICCALL semantics (view) and executes the returned call from the Safe with CALL, never DELEGATECALL.
/// - The returned call targets `router()` and nothing else, pays out to `request.account` and to nobody else (the
///   recipient is not a parameter of the route), spends exactly `request.amountIn` of `request.tokenIn` at most, and
///   makes the venue itself revert when fewer than `request.minAmountOut` of `request.tokenOut` would arrive. The
///   approval it asks for is exactly `amountIn` of `tokenIn` to `router()`.
/// - The venue may pull less than `amountIn` (a pool that runs out of liquidity fills partially), so the module must
///   reset the approval to zero after the call, and must not trust the venue's reported output: it measures the
///   Safe's `tokenOut` balance before and after and re-checks it against `minAmountOut`.
/// - Routes are validated against the venue's canonical registry (for Uniswap v3, pools the canonical factory
///   created, with fee tiers and intermediate tokens fixed at deployment). A canonical pool can still be thin or
///   manipulated (sandwiched): only `minAmountOut`, derived from the oracle, bounds the loss of one swap, and only
///   the module's per-epoch loss budget bounds repeated losses.
/// - The adapter does not restrict `tokenIn` / `tokenOut`: the module limits them to the touched sub-accounts' loan
///   and collateral tokens. Intermediate tokens of a multi-hop route are fixed at deployment, because a hostile token
///   in the path could re-enter the Safe during the swap.
/// - The deadline is the current block: the call is executed in the transaction that encoded it.
interface ISwapAdapter {
    /// @notice Thrown by `encodeSwap` when `amountIn` is zero.
    error ZeroAmountIn();

    /// @notice Thrown by `encodeSwap` when `minAmountOut` is zero: every swap must carry an on-chain minimum.
    error ZeroMinAmountOut();

    /// @notice Thrown by `encodeSwap` when `account` (the payer and recipient) is the zero address.
    error InvalidAccount(address account);

    /// @notice Thrown when a route's input and output token are the same.
    error SameToken(address token);

    /// @notice The only contract the calls returned by `encodeSwap` target (and the spender of their approvals).
    function router() external view returns (address);

    /// @notice The pools, in order, that `route` swaps `tokenIn` to `tokenOut` through.
    /// @dev Reverts with the adapter's named error when the route is not allowed (see the implementation's interface).
    function routePools(address tokenIn, address tokenOut, bytes32 route) external view returns (address[] memory pools);

    /// @notice True when `route` is an allowed route from `tokenIn` to `tokenOut` whose pools all exist.
    function isRoute(address tokenIn, address tokenOut, bytes32 route) external view returns (bool);

    /// @notice The call `request.account` must make to swap exactly `request.amountIn` of `request.tokenIn` for at
    /// least `request.minAmountOut` of `request.tokenOut` along `request.route`, paid to `request.account`, and the
    /// exact allowance it needs (`approveToken = tokenIn`, spender `call.target = router()`, `approveAmount = amountIn`).
    /// @dev Reverts with `ZeroAmountIn`, `ZeroMinAmountOut`, `InvalidAccount`, `SameToken` or a route error.
    function encodeSwap(SwapRequest calldata request) external view returns (VenueCall memory call);
}
