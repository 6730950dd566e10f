// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC4626} from "@openzeppelin/contracts/interfaces/IERC4626.sol";
import {IMorphoBase, MarketParams} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {AutomationConfig, ILeverageModule, Policy} from "../../src/interfaces/ILeverageModule.sol";
import {TestToken} from "./TestToken.sol";

interface ISafeSetupTarget {
    function enableModule(address module) external;
    function setup(
        address[] calldata owners,
        uint256 threshold,
        address to,
        bytes calldata data,
        address fallbackHandler,
        address paymentToken,
        uint256 payment,
        address payable paymentReceiver
    ) external;
}

interface ISafeProxyFactoryLike {
    function createProxyWithNonce(address singleton, bytes memory initializer, uint256 saltNonce)
        external
        returns (address proxy);
}

/// @notice What every Safe of a fleet shares: the module and its configuration, the keeper, the market and the pool.
struct FleetSafeCommon {
    address module;
    AutomationConfig automation;
    address keeper;
    uint48 keeperValidUntil;
    Policy policy;
    address morpho;
    MarketParams market;
    address pool;
    /// @dev A paymaster listed as the Safe's sponsor (its keeper operations then do not draw on the self-pay budget);
    /// none when zero.
    address sponsor;
}

/// @notice Delegatecalled by `Safe.setup` (its `to`) for a fleet Safe: enables the module (already the fallback
/// handler), configures automation, registers the keeper, the sponsor and the policy, then opens the position from the Safe itself:
/// mints the collateral (open test-token mint), supplies it to Morpho, borrows, and parks part of the loan in the pool.
/// @dev Test environment only (benchmarks and tests that need many real Safes fast).
contract FleetSafeSetup {
    function setUp(FleetSafeCommon calldata c, uint256 collateral, uint256 debt, uint256 deposit) external {
        ISafeSetupTarget(address(this)).enableModule(c.module);
        ILeverageModule(address(this)).setAutomationConfig(c.automation);
        ILeverageModule(address(this)).addKeeper(c.keeper, 0, c.keeperValidUntil);
        if (c.sponsor != address(0)) ILeverageModule(address(this)).setSponsor(c.sponsor, true);
        ILeverageModule(address(this)).setPolicy(c.policy);
        TestToken(c.market.collateralToken).mint(address(this), collateral);
        IERC20(c.market.collateralToken).approve(c.morpho, collateral);
        IMorphoBase(c.morpho).supplyCollateral(c.market, collateral, address(this), "");
        IMorphoBase(c.morpho).borrow(c.market, debt, 0, address(this), address(this));
        if (deposit != 0) {
            IERC20(c.market.loanToken).approve(c.pool, deposit);
            IERC4626(c.pool).deposit(deposit, address(this));
        }
    }
}

/// @notice One fleet Safe's position: collateral supplied, loan borrowed, part of the loan deposited in the pool.
struct FleetPosition {
    uint256 collateral;
    uint256 debt;
    uint256 deposit;
}

/// @notice Creates many configured Safes in one transaction through the real SafeProxyFactory (Safe v1.4.1 proxies,
/// the LeverageModule as module and fallback handler), each set up by `FleetSafeSetup`.
/// @dev Test environment only.
contract FleetSafeFactory {
    event FleetSafeCreated(address indexed safe, uint256 saltNonce);

    function create(
        ISafeProxyFactoryLike proxyFactory,
        address singleton,
        address owner,
        FleetSafeSetup setup,
        FleetSafeCommon calldata common,
        uint256 firstSaltNonce,
        FleetPosition[] calldata positions
    ) external returns (address[] memory safes) {
        address[] memory owners = new address[](1);
        owners[0] = owner;
        safes = new address[](positions.length);
        for (uint256 i; i < positions.length; ++i) {
            bytes memory initializer = _initializer(owners, setup, common, positions[i]);
            safes[i] = proxyFactory.createProxyWithNonce(singleton, initializer, firstSaltNonce + i);
            emit FleetSafeCreated(safes[i], firstSaltNonce + i);
        }
    }

    function _initializer(address[] memory owners, FleetSafeSetup setup, FleetSafeCommon calldata common, FleetPosition calldata p)
        internal
        pure
        returns (bytes memory)
    {
        bytes memory data = abi.encodeCall(FleetSafeSetup.setUp, (common, p.collateral, p.debt, p.deposit));
        return abi.encodeCall(
            ISafeSetupTarget.setup, (owners, 1, address(setup), data, common.module, address(0), 0, payable(address(0)))
        );
    }
}
