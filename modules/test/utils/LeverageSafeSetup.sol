// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {ILeverageModule, AutomationConfig} from "../../src/interfaces/ILeverageModule.sol";

interface IModuleManagerSelf {
    function enableModule(address module) external;
}

/// @notice Delegatecalled by `Safe.setup` (its `to`): enables the leverage module and configures the automation lane
/// from inside the new Safe, so a counterfactual Safe deployed by initCode can be automated in its first operation.
contract LeverageSafeSetup {
    function setUpLeverage(
        address module,
        AutomationConfig calldata config,
        address keeper,
        uint48 validUntil,
        uint96 selfPayBudget
    ) external {
        IModuleManagerSelf(address(this)).enableModule(module);
        ILeverageModule(address(this)).setAutomationConfig(config);
        ILeverageModule(address(this)).addKeeper(keeper, 0, validUntil);
        if (selfPayBudget != 0) ILeverageModule(address(this)).setSelfPayBudget(selfPayBudget, 1 days);
    }
}
