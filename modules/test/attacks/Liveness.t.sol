// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {AttackBase} from "./AttackBase.sol";
import {ISafeTest} from "../utils/Fixture.sol";
import {ILeverageModule, AutomationConfig, Plan} from "../../src/interfaces/ILeverageModule.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {IEntryPoint} from "@account-abstraction/contracts/interfaces/IEntryPoint.sol";
import {IMorphoBase, MarketParams, Id} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {MarketParamsLib} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC4626} from "@openzeppelin/contracts/interfaces/IERC4626.sol";

/// @notice The owner can always get out, and can always stop automation: with keeper, bundler, paymaster and oracle
/// gone the owner repays every debt and withdraws every asset; pause, revocation and uninstall stop queued keeper
/// operations, even ones already validated in the same bundle.
contract LivenessTest is AttackBase {
    using MarketParamsLib for MarketParams;

    /* 16. LIVENESS */

    function test_Attack16_OwnerExitsWithKeeperBundlerPaymasterAndOracleGone() public {
        _breakEverything();
        safeExec(safe, multiSendCallOnly, 0, abi.encodeWithSignature("multiSend(bytes)", _exitBatch()), 1);
        _assertFullyExited();
    }

    function test_Attack16_OwnerLaneUserOpExitsWithAutomationBroken() public {
        _breakEverything();
        bytes memory exit = abi.encodeWithSignature("multiSend(bytes)", _exitBatch());
        PackedUserOperation memory op =
            baseOp(safe, abi.encodeCall(ILeverageModule.executeUserOp, (multiSendCallOnly, 0, exit, 1)), 0);
        op.accountGasLimits = bytes32((uint256(500_000) << 128) | 3_000_000);
        op.signature = sign(op, ownerKey, 0, 0);
        // The owner is its own bundler: no third party is needed.
        PackedUserOperation[] memory ops = new PackedUserOperation[](1);
        ops[0] = op;
        vm.prank(owner, owner);
        entryPoint.handleOps(ops, payable(owner));
        _assertFullyExited();
    }

    /* 17. PAUSE, REVOCATION AND UNINSTALL STOP QUEUED OPERATIONS */

    function test_Attack17_RevertWhen_PauseLandsInTheSameBundle() public {
        _expectQueuedKeeperOpStopped(
            abi.encodeCall(ILeverageModule.setPaused, (true)),
            abi.encodeWithSelector(ILeverageModule.AutomationPaused.selector, safe)
        );
    }

    function test_Attack17_RevertWhen_RevocationLandsInTheSameBundle() public {
        _expectQueuedKeeperOpStopped(
            abi.encodeCall(ILeverageModule.revokeKeeper, (keeper)),
            abi.encodeWithSelector(ILeverageModule.KeeperNotAuthorized.selector, keeper)
        );
    }

    function test_Attack17_OwnerUninstallsInOneSafeTransactionAndQueuedOpsDie() public {
        PackedUserOperation memory queued = keeperOp(safe, keeper, repayPlan(3300e6), keeperKey);
        safeExec(safe, multiSendCallOnly, 0, abi.encodeWithSignature("multiSend(bytes)", _uninstallBatch()), 1);
        assertFalse(ISafeTest(safe).isModuleEnabled(address(module)), "module disabled");
        Holdings memory before = holdings(safe);
        // validateUserOp now reaches a Safe without fallback handler: it returns nothing and the EntryPoint aborts.
        PackedUserOperation[] memory ops = new PackedUserOperation[](1);
        ops[0] = queued;
        vm.prank(bundler, bundler);
        (bool ok, bytes memory ret) = address(entryPoint).call(abi.encodeCall(IEntryPoint.handleOps, (ops, payable(bundler))));
        assertFalse(ok, "the queued keeper operation cannot even be validated");
        assertEq(ret, "", "aborted while decoding the missing validationData");
        assertNothingLeft(before);
    }

    function test_Attack17_UninstallInTheSameBundleLeavesTheQueuedOpWithoutEffect() public {
        PackedUserOperation[] memory ops = new PackedUserOperation[](2);
        ops[0] = baseOp(
            safe,
            abi.encodeCall(
                ILeverageModule.executeUserOp,
                (multiSendCallOnly, 0, abi.encodeWithSignature("multiSend(bytes)", _uninstallBatch()), 1)
            ),
            0
        );
        ops[0].signature = sign(ops[0], ownerKey, 0, 0);
        ops[1] = keeperOp(safe, keeper, repayPlan(3300e6), keeperKey);
        Holdings memory before = holdings(safe);
        uint256 healthBefore = healthOf(safe, wethMarket);
        (bool[] memory success,) = handleBundle(ops);
        assertTrue(success[0], "uninstalled");
        assertFalse(ISafeTest(safe).isModuleEnabled(address(module)), "module disabled");
        // The Safe's empty fallback swallows the call: reported as success, but nothing moved.
        assertEq(healthOf(safe, wethMarket), healthBefore, "the plan did not run");
        assertNothingLeftBut(before, maxCost(ops[0]) + maxCost(ops[1]));
    }

    /* HELPERS */

    function _expectQueuedKeeperOpStopped(bytes memory ownerCall, bytes memory err) internal {
        PackedUserOperation[] memory ops = new PackedUserOperation[](2);
        ops[0] = baseOp(safe, abi.encodeCall(ILeverageModule.executeUserOp, (safe, 0, ownerCall, 0)), 0);
        ops[0].signature = sign(ops[0], ownerKey, 0, 0);
        ops[1] = keeperOp(safe, keeper, repayPlan(3300e6), keeperKey);
        Holdings memory before = holdings(safe);
        (bool[] memory success, bytes[] memory reasons) = handleBundle(ops);
        assertTrue(success[0], "owner operation ran first");
        assertFalse(success[1], "queued keeper operation stopped");
        assertEq(reasons[1], err, "stopped by the re-check at execution");
        assertNothingLeftBut(before, maxCost(ops[0]) + maxCost(ops[1]));
    }

    /// @dev Keeper revoked, automation paused and tied to a paymaster that no longer exists, both oracles at zero
    /// with stale feeds, a day later.
    function _breakEverything() internal {
        safeCall(abi.encodeCall(ILeverageModule.revokeKeeper, (keeper)));
        AutomationConfig memory c = defaultAutomation();
        c.paused = true;
        c.requiredPaymaster = makeAddr("vanished paymaster");
        safeCall(abi.encodeCall(ILeverageModule.setAutomationConfig, (c)));
        vm.warp(block.timestamp + 1 days);
        wethOracle.setVenuePrice(0);
        wbtcOracle.setVenuePrice(0);
    }

    function _exitBatch() internal view returns (bytes memory) {
        uint256 wethShares = morpho.position(wethMarket.id(), safe).borrowShares;
        uint256 wbtcShares = morpho.position(wbtcMarket.id(), safe).borrowShares;
        // Two halves: one seven-argument encodePacked is too deep for the legacy code generator.
        bytes memory repayAll = abi.encodePacked(
            _tx(address(usdcVault), abi.encodeCall(IERC4626.redeem, (usdcVault.balanceOf(safe), safe, safe))),
            _tx(address(usdc), abi.encodeCall(IERC20.approve, (address(morpho), type(uint256).max))),
            _tx(address(morpho), abi.encodeCall(IMorphoBase.repay, (wethMarket, 0, wethShares, safe, ""))),
            _tx(address(morpho), abi.encodeCall(IMorphoBase.repay, (wbtcMarket, 0, wbtcShares, safe, "")))
        );
        return abi.encodePacked(
            repayAll,
            _tx(address(morpho), abi.encodeCall(IMorphoBase.withdrawCollateral, (wethMarket, 10e18, safe, safe))),
            _tx(address(morpho), abi.encodeCall(IMorphoBase.withdrawCollateral, (wbtcMarket, 1e8, safe, safe))),
            _tx(address(usdc), abi.encodeCall(IERC20.approve, (address(morpho), 0)))
        );
    }

    function _uninstallBatch() internal view returns (bytes memory) {
        return abi.encodePacked(
            _tx(safe, abi.encodeCall(ISafeTest.disableModule, (SENTINEL, address(module)))),
            _tx(safe, abi.encodeCall(ISafeTest.setFallbackHandler, (address(0))))
        );
    }

    function _tx(address to, bytes memory data) internal pure returns (bytes memory) {
        return abi.encodePacked(uint8(0), to, uint256(0), data.length, data);
    }

    function _assertFullyExited() internal view {
        assertEq(morpho.position(wethMarket.id(), safe).borrowShares, 0, "WETH debt repaid");
        assertEq(morpho.position(wbtcMarket.id(), safe).borrowShares, 0, "WBTC debt repaid");
        assertEq(morpho.position(wethMarket.id(), safe).collateral, 0, "WETH collateral withdrawn");
        assertEq(morpho.position(wbtcMarket.id(), safe).collateral, 0, "WBTC collateral withdrawn");
        assertEq(weth.balanceOf(safe), 10e18, "all WETH back in the Safe");
        assertEq(wbtc.balanceOf(safe), 1e8, "all WBTC back in the Safe");
        assertEq(usdcVault.balanceOf(safe), 0, "pool exited");
        assertEq(usdc.balanceOf(safe), 10_000e6, "what the pool held is back (the idle USDC repaid the debt)");
        assertEq(usdc.allowance(safe, address(morpho)), 0, "no standing approval");
    }
}
