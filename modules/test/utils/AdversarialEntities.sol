// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {IPaymaster} from "@account-abstraction/contracts/interfaces/IPaymaster.sol";
import {IEntryPoint} from "@account-abstraction/contracts/interfaces/IEntryPoint.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";

/// @notice A sponsoring paymaster that accepts every operation and, when told to, reverts in postOp (the EntryPoint
/// must then roll the operation back and charge the paymaster's own deposit).
contract ToggleRevertPaymaster is IPaymaster {
    error PostOpSabotage(uint256 actualGasCost);

    IEntryPoint public immutable ENTRY_POINT;
    bool public revertInPostOp;
    uint256 public postOpCalls;

    constructor(IEntryPoint entryPoint) {
        ENTRY_POINT = entryPoint;
    }

    function setRevertInPostOp(bool on) external {
        revertInPostOp = on;
    }

    function deposit() external payable {
        ENTRY_POINT.depositTo{value: msg.value}(address(this));
    }

    function validatePaymasterUserOp(PackedUserOperation calldata, bytes32, uint256)
        external
        view
        returns (bytes memory context, uint256 validationData)
    {
        require(msg.sender == address(ENTRY_POINT), "only entry point");
        return (hex"01", 0);
    }

    function postOp(PostOpMode, bytes calldata, uint256 actualGasCost, uint256) external {
        require(msg.sender == address(ENTRY_POINT), "only entry point");
        if (revertInPostOp) revert PostOpSabotage(actualGasCost);
        ++postOpCalls;
    }
}

/// @notice An ERC-1271 contract that approves any signature: registered as a "keeper", it must still never sign.
contract ApproveAllSigner {
    bytes4 internal constant MAGIC = 0x1626ba7e;

    function isValidSignature(bytes32, bytes calldata) external pure returns (bytes4) {
        return MAGIC;
    }

    function isValidSignature(bytes calldata, bytes calldata) external pure returns (bytes4) {
        return 0x20c13b0b;
    }
}
