// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {HandlerContext} from "@safe-global/safe-contracts/contracts/handler/HandlerContext.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IMorpho, IMorphoBase, MarketParams} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {IOracle} from "@morpho-org/morpho-blue/src/interfaces/IOracle.sol";
import {ISafe} from "../../src/interfaces/ISafe.sol";
import {VenueCall} from "../../src/interfaces/IVenueAdapter.sol";
import {ISwapAdapter, SwapRequest} from "../../src/interfaces/ISwapAdapter.sol";

/// @notice TEST ONLY. A plain Safe module + fallback handler that runs one swap deleverage of a Morpho Blue position
/// (repay, withdraw collateral, swap collateral to the loan token, settle) in one UserOperation with no idle loan
/// token, in the two shapes Morpho Blue allows: its repay callback and its flash loan. It has none of the
/// LeverageModule's policy checks (no policy, no band, no caps, one signer for every Safe) and exists to measure the
/// gas budget of the sequence through the real EntryPoint, Safe, Morpho Blue and Uniswap v3, and to try the
/// transient-storage callback guard that docs/swaps.md proposes for the module. Never deploy it.
contract SwapDeleverageProbe is HandlerContext {
    /// @notice One deleverage: repay `repayAssets` of the loan token, withdraw and sell `collateralToSell` along
    /// `route`; the swap must return at least the oracle value less `maxSlippageBps`.
    struct Deleverage {
        MarketParams params;
        uint256 repayAssets;
        uint256 collateralToSell;
        bytes32 route;
        uint16 maxSlippageBps;
    }

    /// @notice Thrown when a venue callback reaches the module while no deleverage of the calling Safe is running.
    error CallbackOutsideRebalance(address safe);
    /// @notice Thrown when a callback during a deleverage comes from anyone but the venue the plan called.
    error CallbackFromUntouchedVenue(address caller);
    /// @notice Thrown when a callback's selector or data is not the one the running deleverage armed (or it repeats).
    error UnexpectedCallback(bytes4 selector);
    /// @notice Thrown when a deleverage starts while another is running.
    error RebalanceActive(address safe);
    error NotEntryPoint(address caller);
    error ExecutionFailed(address target);
    error SlippageExceeded(uint256 received, uint256 minAmountOut);

    uint8 internal constant CALL = 0;
    uint256 internal constant BPS = 10_000;

    address public immutable ENTRY_POINT;
    address public immutable SIGNER;
    IMorpho public immutable MORPHO;
    ISwapAdapter public immutable SWAP_ADAPTER;

    /// @dev The Safe whose deleverage is running, the venue allowed to call back, and the one callback it may make
    /// (hash of selector and data). Transient: cleared at the end of the transaction, and reset explicitly on exit
    /// because one EntryPoint bundle runs several operations in one transaction.
    address transient activeSafe;
    address transient expectedVenue;
    bytes32 transient expectedCallback;

    constructor(address entryPoint, address signer, IMorpho morpho, ISwapAdapter swapAdapter) {
        ENTRY_POINT = entryPoint;
        SIGNER = signer;
        MORPHO = morpho;
        SWAP_ADAPTER = swapAdapter;
    }

    modifier onlyEntryPoint() {
        if (_msgSender() != ENTRY_POINT) revert NotEntryPoint(_msgSender());
        _;
    }

    /* ERC-4337 */

    /// @dev Plain ECDSA over the EntryPoint's userOpHash by `SIGNER`; pays the prefund from the Safe.
    function validateUserOp(PackedUserOperation calldata userOp, bytes32 userOpHash, uint256 missingAccountFunds)
        external
        onlyEntryPoint
        returns (uint256 validationData)
    {
        (address recovered, ECDSA.RecoverError error,) = ECDSA.tryRecover(userOpHash, userOp.signature);
        validationData = error == ECDSA.RecoverError.NoError && recovered == SIGNER ? 0 : 1;
        if (missingAccountFunds != 0) {
            ISafe(msg.sender).execTransactionFromModule(ENTRY_POINT, missingAccountFunds, "", CALL);
        }
    }

    /* ENTRY POINTS */

    /// @notice Repay-callback shape: Morpho.repay(data) -> onMorphoRepay -> withdraw, swap, approve -> Morpho pulls.
    function deleverageWithRepayCallback(Deleverage calldata d) external onlyEntryPoint {
        bytes memory data = abi.encode(d);
        _enter(this.onMorphoRepay.selector, data);
        _exec(address(MORPHO), abi.encodeCall(IMorphoBase.repay, (d.params, d.repayAssets, 0, msg.sender, data)));
        _exec(d.params.loanToken, abi.encodeCall(IERC20.approve, (address(MORPHO), 0)));
        _exit();
    }

    /// @notice Flash-loan shape: Morpho.flashLoan -> onMorphoFlashLoan -> repay, withdraw, swap, approve -> Morpho pulls.
    function deleverageWithFlashLoan(Deleverage calldata d) external onlyEntryPoint {
        bytes memory data = abi.encode(d);
        _enter(this.onMorphoFlashLoan.selector, data);
        _exec(address(MORPHO), abi.encodeCall(IMorphoBase.flashLoan, (d.params.loanToken, d.repayAssets, data)));
        _exec(d.params.loanToken, abi.encodeCall(IERC20.approve, (address(MORPHO), 0)));
        _exit();
    }

    /* CALLBACKS */

    function onMorphoRepay(uint256 assets, bytes calldata data) external {
        Deleverage memory d = _acceptCallback(this.onMorphoRepay.selector, data);
        _withdrawAndSwap(d);
        _exec(d.params.loanToken, abi.encodeCall(IERC20.approve, (address(MORPHO), assets)));
    }

    function onMorphoFlashLoan(uint256 assets, bytes calldata data) external {
        Deleverage memory d = _acceptCallback(this.onMorphoFlashLoan.selector, data);
        address safe = msg.sender;
        _exec(d.params.loanToken, abi.encodeCall(IERC20.approve, (address(MORPHO), assets)));
        _exec(address(MORPHO), abi.encodeCall(IMorphoBase.repay, (d.params, assets, 0, safe, "")));
        _withdrawAndSwap(d);
        _exec(d.params.loanToken, abi.encodeCall(IERC20.approve, (address(MORPHO), assets)));
    }

    /* GUARD */

    function _enter(bytes4 callbackSelector, bytes memory data) internal {
        if (activeSafe != address(0)) revert RebalanceActive(activeSafe);
        activeSafe = msg.sender;
        expectedVenue = address(MORPHO);
        expectedCallback = keccak256(abi.encodePacked(callbackSelector, data));
    }

    function _exit() internal {
        activeSafe = address(0);
        expectedVenue = address(0);
        expectedCallback = bytes32(0);
    }

    function _acceptCallback(bytes4 selector, bytes calldata data) internal returns (Deleverage memory d) {
        if (activeSafe == address(0) || msg.sender != activeSafe) revert CallbackOutsideRebalance(msg.sender);
        if (_msgSender() != expectedVenue) revert CallbackFromUntouchedVenue(_msgSender());
        if (keccak256(abi.encodePacked(selector, data)) != expectedCallback) revert UnexpectedCallback(selector);
        expectedCallback = bytes32(0);
        d = abi.decode(data, (Deleverage));
    }

    /* ACTIONS */

    function _withdrawAndSwap(Deleverage memory d) internal {
        address safe = msg.sender;
        _exec(
            address(MORPHO), abi.encodeCall(IMorphoBase.withdrawCollateral, (d.params, d.collateralToSell, safe, safe))
        );
        uint256 minAmountOut =
            d.collateralToSell * IOracle(d.params.oracle).price() / 1e36 * (BPS - d.maxSlippageBps) / BPS;
        VenueCall memory call = SWAP_ADAPTER.encodeSwap(
            SwapRequest({
                tokenIn: d.params.collateralToken,
                tokenOut: d.params.loanToken,
                amountIn: d.collateralToSell,
                minAmountOut: minAmountOut,
                account: safe,
                route: d.route
            })
        );
        uint256 before = IERC20(d.params.loanToken).balanceOf(safe);
        _exec(call.approveToken, abi.encodeCall(IERC20.approve, (call.target, call.approveAmount)));
        _exec(call.target, call.data);
        _exec(call.approveToken, abi.encodeCall(IERC20.approve, (call.target, 0)));
        uint256 received = IERC20(d.params.loanToken).balanceOf(safe) - before;
        if (received < minAmountOut) revert SlippageExceeded(received, minAmountOut);
    }

    function _exec(address target, bytes memory data) internal {
        (bool ok, bytes memory ret) = ISafe(msg.sender).execTransactionFromModuleReturnData(target, 0, data, CALL);
        if (!ok) {
            if (ret.length == 0) revert ExecutionFailed(target);
            assembly ("memory-safe") {
                revert(add(ret, 0x20), mload(ret))
            }
        }
    }
}
