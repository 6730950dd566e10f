// SPDX-License-Identifier: MIT
pragma solidity >=0.8.0;

/// @title ISafe
/// @notice The subset of Safe v1.4.1 the leverage module calls.
interface ISafe {
    /// @notice Executes a call (operation 0) or delegatecall (operation 1) from an enabled module.
    function execTransactionFromModule(address to, uint256 value, bytes calldata data, uint8 operation)
        external
        returns (bool success);

    /// @notice Same as `execTransactionFromModule`, returning the call's return or revert data.
    function execTransactionFromModuleReturnData(address to, uint256 value, bytes calldata data, uint8 operation)
        external
        returns (bool success, bytes memory returnData);

    /// @notice Reverts unless `signatures` are valid owner signatures of `dataHash` (Safe threshold).
    function checkSignatures(bytes32 dataHash, bytes memory data, bytes memory signatures) external view;

    /// @notice The number of owner signatures a Safe transaction needs.
    function getThreshold() external view returns (uint256);

    /// @notice True when `module` is enabled on the Safe.
    function isModuleEnabled(address module) external view returns (bool);
}
