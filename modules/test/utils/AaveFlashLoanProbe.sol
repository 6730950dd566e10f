// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IAaveV3Adapter} from "../../src/interfaces/IAaveV3Adapter.sol";
import {IVenueAdapter, VenueCall} from "../../src/interfaces/IVenueAdapter.sol";
import {ISafe} from "../../src/interfaces/ISafe.sol";

/// @notice Test stand-in for the module's flash-loan path (docs/aave.md), installed on a test Safe as both its enabled
/// module and its fallback handler, exactly as the module is: it starts an Aave `flashLoanSimple` from the Safe and,
/// when the pool calls `executeOperation` on the Safe, receives it through the Safe's fallback, checks it (an operation of
/// this Safe is running and expects exactly this loan; the adapter's caller / initiator / scope / premium checks), runs
/// the inner venue actions from the Safe, and approves exactly what the pool pulls. Storage, not transient storage, so
/// it compiles with any 0.8 shim; it is cleared at the end of the operation.
contract AaveFlashLoanProbe {
    struct Step {
        IVenueAdapter adapter;
        uint8 kind;
        bytes32 market;
        uint256 amount;
    }

    struct Expected {
        bytes32 market;
        address asset;
        uint256 amount;
    }

    /// @notice Thrown when `executeOperation` reaches `safe` while no operation of it expects a flash loan.
    error NoFlashLoanExpected(address safe);
    /// @notice Thrown when the callback's asset or amount is not the loan the running operation asked for.
    error UnexpectedFlashLoan(address asset, uint256 amount);
    /// @notice Thrown when a Safe call fails (its revert data).
    error SafeCallFailed(bytes reason);

    IAaveV3Adapter public immutable AAVE;
    mapping(address safe => Expected) public expected;
    mapping(address safe => Step[]) internal _steps;
    uint256 public callbacks;

    constructor(IAaveV3Adapter aave) {
        AAVE = aave;
    }

    /// @notice Borrows `amount` of `asset` from Aave for `safe`, runs `steps` inside the callback, repays the pool.
    function run(address safe, bytes32 market, address asset, uint256 amount, Step[] calldata steps) external {
        expected[safe] = Expected(market, asset, amount);
        for (uint256 i; i < steps.length; ++i) {
            _steps[safe].push(steps[i]);
        }
        (VenueCall memory loan,) = AAVE.encodeFlashLoan(market, asset, amount, safe, "");
        _call(safe, loan.target, loan.data);
        // The pool pulled amount + premium after the callback returned; nothing may stay approved.
        _call(safe, asset, abi.encodeCall(IERC20.approve, (loan.target, 0)));
        delete expected[safe];
        delete _steps[safe];
    }

    /// @notice Aave's IFlashLoanSimpleReceiver callback, reached through the Safe's fallback: `msg.sender` is the Safe,
    /// and the Safe appended its own caller (the pool, if genuine) as the last 20 bytes of calldata.
    function executeOperation(address asset, uint256 amount, uint256 premium, address initiator, bytes calldata)
        external
        returns (bool)
    {
        address safe = msg.sender;
        Expected memory loan = expected[safe];
        if (loan.asset == address(0)) revert NoFlashLoanExpected(safe);
        address caller = address(bytes20(msg.data[msg.data.length - 20:]));
        uint256 owed = AAVE.checkFlashLoanCallback(loan.market, safe, caller, asset, amount, premium, initiator);
        if (asset != loan.asset || amount != loan.amount) revert UnexpectedFlashLoan(asset, amount);
        delete expected[safe]; // one callback per loan

        Step[] memory steps = _steps[safe];
        for (uint256 i; i < steps.length; ++i) {
            VenueCall memory call = steps[i].adapter.encode(steps[i].kind, steps[i].market, steps[i].amount, safe);
            if (call.approveToken != address(0)) {
                _call(safe, call.approveToken, abi.encodeCall(IERC20.approve, (call.target, call.approveAmount)));
            }
            _call(safe, call.target, call.data);
            if (call.approveToken != address(0)) {
                _call(safe, call.approveToken, abi.encodeCall(IERC20.approve, (call.target, 0)));
            }
        }
        _call(safe, asset, abi.encodeCall(IERC20.approve, (caller, owed)));
        ++callbacks;
        return true;
    }

    function _call(address safe, address target, bytes memory data) internal {
        (bool success, bytes memory reason) = ISafe(safe).execTransactionFromModuleReturnData(target, 0, data, 0);
        if (!success) revert SafeCallFailed(reason);
    }
}
