// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {Id} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {MarketParamsLib, MarketParams} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";

import {SwapBase} from "../utils/SwapBase.sol";
import {ILeverageModule, Policy, Plan, Action, ActionKind, StopLoss} from "../../src/interfaces/ILeverageModule.sol";
import {MarketState} from "../../src/interfaces/IVenueAdapter.sol";

/// @notice The owner's stop-loss (docs/stop-loss-exit.md, SECURITY.md row 114): the setter's validation, and one attack
/// per row of the design's threat table, keeper operations through EntryPoint.handleOps, each asserting the exact
/// error (or its selector and every argument the test can know before the refused run) and that nothing left the Safe.
contract StopLossAttacksTest is SwapBase {
    using MarketParamsLib for MarketParams;

    uint64 internal constant EXIT = 3e18;
    uint256 internal constant START_HEALTH = 1.5e18; // inside the band [1.2, 1.7]

    function setUp() public virtual override {
        super.setUp();
        moveWethHealthTo(START_HEALTH);
    }

    function _setStop(uint256 stopPrice, uint64 exitHealth) internal {
        vm.prank(safe);
        ILeverageModule(safe).setStopLoss(wethId, uint192(stopPrice), exitHealth);
    }

    function _invalid(bytes32 field) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(ILeverageModule.InvalidStopLoss.selector, field);
    }

    /// @dev Fails through handleOps with error `selector`, nothing left the Safe; returns the revert data to check.
    function _opFailsWith(Plan memory plan, bytes4 selector) internal returns (bytes memory reason) {
        Holdings memory before = holdings(safe);
        PackedUserOperation memory op = keeperOp(safe, keeper, plan, keeperKey);
        bool ok;
        (ok, reason) = handle(op);
        assertFalse(ok, "the keeper operation must fail");
        assertEq(bytes4(reason), selector, "error selector");
        assertNothingLeftBut(before, maxCost(op));
    }

    function _args(bytes memory reason) internal pure returns (bytes memory) {
        return _slice(reason, 4, reason.length - 4);
    }

    function _health() internal view returns (uint256) {
        return module.health(safe, wethId);
    }

    /* SETTER */

    function test_SetStopLoss_StoresEmitsAndClears() public {
        uint256 price = wethState().price;
        vm.expectEmit(true, true, false, true, address(module)); // emitted in the module's context
        emit ILeverageModule.StopLossSet(safe, wethId, uint192(price), EXIT);
        _setStop(price, EXIT);
        StopLoss memory stop = module.getStopLoss(safe, wethId);
        assertEq(stop.stopPrice, price);
        assertEq(stop.exitHealth, EXIT);
        _setStop(0, 0);
        stop = module.getStopLoss(safe, wethId);
        assertEq(stop.stopPrice, 0);
        assertEq(stop.exitHealth, 0);
    }

    function test_SetStopLoss_RevertWhen_FieldOutOfRange() public {
        vm.startPrank(safe);
        vm.expectRevert(_invalid("stopPrice"));
        ILeverageModule(safe).setStopLoss(wethId, 0, EXIT);
        vm.expectRevert(_invalid("exitHealth"));
        ILeverageModule(safe).setStopLoss(wethId, 1, 0);
        // maxHealth 1.7 + MIN_BAND_GAP 0.01 is the lowest exit health.
        vm.expectRevert(_invalid("exitHealth"));
        ILeverageModule(safe).setStopLoss(wethId, 1, 1.71e18 - 1);
        ILeverageModule(safe).setStopLoss(wethId, 1, 1.71e18);
        // Row 7: an absurd exit health (MAX_EXIT_HEALTH 10).
        vm.expectRevert(_invalid("exitHealth"));
        ILeverageModule(safe).setStopLoss(wethId, 1, 10e18 + 1);
        ILeverageModule(safe).setStopLoss(wethId, 1, 10e18);
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.UnknownSubAccount.selector, bytes32(uint256(1))));
        ILeverageModule(safe).setStopLoss(bytes32(uint256(1)), 1, EXIT);
        vm.stopPrank();
        // Only the Safe itself: an outsider calling the Safe's fallback is refused.
        vm.prank(attacker);
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.NotCalledBySafe.selector, attacker));
        ILeverageModule(safe).setStopLoss(wethId, 1, EXIT);
    }

    function test_SetPolicy_RevertWhen_BandReachesTheStop() public {
        _setStop(wethState().price, 1.8e18);
        Policy memory p = swapPolicy(wethMarket, false);
        p.maxHealth = 1.8e18; // 1.8 + 0.01 > 1.8
        vm.prank(safe);
        vm.expectRevert(_invalid("exitHealth"));
        ILeverageModule(safe).setPolicy(p);
        p.maxHealth = 1.79e18;
        setPolicy(p);
    }

    function test_RemovePolicy_ClearsTheStop() public {
        _setStop(wethState().price, EXIT);
        vm.prank(safe);
        ILeverageModule(safe).removePolicy(wethId);
        StopLoss memory stop = module.getStopLoss(safe, wethId);
        assertEq(stop.stopPrice, 0);
        assertEq(stop.exitHealth, 0);
        // A policy set again starts without a stop: the in-band exit is not due.
        wethId = setPolicy(swapPolicy(wethMarket, false));
        (Plan memory plan,,) = swapDeleverage(2.9e18);
        expectOpFails(plan, abi.encodeWithSelector(ILeverageModule.NoTrigger.selector));
    }

    /* STOP FLAG (issue 15 gas: the engine reads the stop only when its policy's flag is set, SECURITY.md row 132) */

    /// @dev The flag: bits 160-167 of the sub-account's PolicyRecord slot (`policies[id][safe]`: its data contract's
    /// address in bits 0-159, checked to hold getPolicy's adapter), found as getPolicy's one storage read. Bits 168-255
    /// stay zero (checked).
    function _stopFlag() internal returns (uint256) {
        vm.record();
        Policy memory stored = module.getPolicy(safe, wethId);
        (bytes32[] memory reads,) = vm.accesses(address(module));
        assertEq(reads.length, 1, "getPolicy reads one slot: the record");
        uint256 word = uint256(vm.load(address(module), reads[0]));
        address data = address(uint160(word));
        assertEq(word >> 168, 0, "bits 168-255 unused");
        assertEq(_adapterInCode(data), stored.adapter, "the record's data contract holds the policy");
        return (word >> 160) & 0xff;
    }

    /// @dev The adapter in the data contract's first word (code bytes 1-32, bits 0-159).
    function _adapterInCode(address data) internal view returns (address adapter) {
        bytes memory code = data.code;
        uint256 w0;
        assembly {
            w0 := mload(add(code, 0x21))
        }
        adapter = address(uint160(w0));
    }

    function test_StopFlag_FollowsTheStopAndLeavesThePolicyAlone() public {
        Policy memory p = swapPolicy(wethMarket, false);
        assertGt(p.maxSlippageBps, 0, "maxSlippageBps set (data word 3, bits 232-247, where the flag was before issue 15)");
        wethId = setPolicy(p);
        assertEq(_stopFlag(), 0, "no stop: flag clear");
        _setStop(wethState().price, EXIT);
        assertEq(_stopFlag(), 1, "stop set: flag set");
        // The flag is not part of any field: getPolicy returns what was set.
        assertEq(keccak256(abi.encode(module.getPolicy(safe, wethId))), keccak256(abi.encode(p)), "policy unchanged");
        _setStop(0, 0);
        assertEq(_stopFlag(), 0, "stop cleared: flag clear");
    }

    /// Setting the policy again (same or changed) keeps a stored stop in force: setPolicy rewrites the record (new data
    /// contract) with the flag from the stop. With the flag lost, the exit below would be NoTrigger.
    function test_StopFlag_SetPolicyAgainKeepsTheStopEngaged() public {
        _setStop(wethState().price, EXIT);
        Policy memory p = swapPolicy(wethMarket, false);
        p.cooldown = 1; // a changed policy
        wethId = setPolicy(p);
        assertEq(_stopFlag(), 1, "flag kept");
        (Plan memory plan,,) = swapDeleverage(2.9e18);
        (bool ok, bytes memory why) = handle(keeperOp(safe, keeper, plan, keeperKey));
        assertTrue(ok, string(why));
        assertGt(_health(), 2.8e18, "the stop exit ran");
    }

    /// removePolicy clears the flag with the stop; a policy set again starts without either.
    function test_StopFlag_RemovePolicyClearsIt() public {
        _setStop(wethState().price, EXIT);
        vm.prank(safe);
        ILeverageModule(safe).removePolicy(wethId);
        wethId = setPolicy(swapPolicy(wethMarket, false));
        assertEq(_stopFlag(), 0, "flag cleared by removePolicy");
    }

    /* THE EXIT ITSELF */

    function test_EngagedStop_ExitsFromInsideTheBandToExitHealth() public {
        (Plan memory plan,,) = swapDeleverage(2.9e18);
        // Without a stop the same plan is refused: in band, nothing is due.
        expectOpFails(plan, abi.encodeWithSelector(ILeverageModule.NoTrigger.selector));
        _setStop(wethState().price, EXIT);
        (bool ok,) = handle(keeperOp(safe, keeper, plan, keeperKey));
        assertTrue(ok, "the exit runs");
        uint256 h = _health();
        assertGt(h, 2.8e18, "landed near exitHealth");
        assertLe(h, EXIT, "never above exitHealth");
    }

    /* THREAT TABLE */

    /// Row 1: the keeper exits a position whose stop is not engaged (price above the stop): not due.
    function test_Attack_ExitWithoutEngagedStop_IsNotDue() public {
        uint256 price = wethState().price;
        _setStop(price * 95 / 100, EXIT);
        (Plan memory plan,,) = swapDeleverage(2.9e18);
        expectOpFails(plan, abi.encodeWithSelector(ILeverageModule.NoTrigger.selector));
        // Inside the hysteresis (stop < price <= stop x 1.01): still not due for an exit.
        _setStop(price * 10_000 / 10_050, EXIT);
        expectOpFails(plan, abi.encodeWithSelector(ILeverageModule.NoTrigger.selector));
    }

    /// Row 1: due below the band but not engaged: the exit may not land above maxHealth.
    function test_Attack_RescueAboveBandWithoutEngagedStop_IsOutOfBand() public {
        _setStop(wethState().price / 2, EXIT);
        moveWethHealthTo(1.1e18);
        (Plan memory plan,,) = swapDeleverage(2.9e18);
        (bytes32 id, uint256 after_, uint256 low, uint256 high) =
            abi.decode(_args(_opFailsWith(plan, ILeverageModule.HealthOutOfBand.selector)), (bytes32, uint256, uint256, uint256));
        assertEq(id, wethId);
        assertGt(after_, 1.7e18);
        assertEq(low, 1.2e18);
        assertEq(high, 1.7e18, "the ordinary band's top");
    }

    /// Row 2: an engaged exit that sells more than needed lands above exitHealth: refused (band top = exitHealth).
    function test_Attack_PaddedExitAboveExitHealth_IsOutOfBand() public {
        _setStop(wethState().price, EXIT);
        (Plan memory plan,,) = swapDeleverage(3.3e18);
        (bytes32 id, uint256 after_, uint256 low, uint256 high) =
            abi.decode(_args(_opFailsWith(plan, ILeverageModule.HealthOutOfBand.selector)), (bytes32, uint256, uint256, uint256));
        assertEq(id, wethId);
        assertGt(after_, EXIT);
        assertEq(low, 1.2e18);
        assertEq(high, EXIT, "the band's top is exitHealth while engaged");
    }

    /// Row 3: dust exits (health up by less than MIN_BAND_GAP) are refused.
    function test_Attack_DustExit_IsOutsideLandingZone() public {
        _setStop(wethState().price, EXIT);
        uint256 before = _health();
        (Plan memory plan,,) = swapDeleverage(before + 0.004e18);
        (bytes32 id, uint256 after_, uint256 low, uint256 high) = abi.decode(
            _args(_opFailsWith(plan, ILeverageModule.HealthOutsideLandingZone.selector)), (bytes32, uint256, uint256, uint256)
        );
        assertEq(id, wethId);
        assertLt(after_, low);
        assertEq(low, before + 0.01e18, "at least MIN_BAND_GAP per plan");
        assertEq(high, EXIT);
    }

    /// Row 4: no boost while the stop is engaged (a borrow on a sub-account due by its stop), nor after an exit while the
    /// price is inside the hysteresis (not due), only past the re-arm price.
    function test_Attack_BoostWhileStopHolds_IsRefused() public {
        wethId = setPolicy(swapPolicy(wethMarket, true));
        uint256 stopPrice = wethState().price;
        _setStop(stopPrice, EXIT);
        Action[] memory actions = new Action[](3);
        actions[0] = action(ActionKind.Borrow, 0, address(0), 1_000e6);
        actions[1] = action(ActionKind.BuyCollateral, 0, route(FEE_LOW), 1_000e6);
        actions[2] = action(ActionKind.SupplyCollateral, 0, address(0), 0.3e18);
        expectOpFails(
            planOf(wethId, actions), abi.encodeWithSelector(ILeverageModule.ActionNotAllowed.selector, 0, ActionKind.Borrow)
        );
        // Exit, then the price recovers inside the hysteresis: health above maxHealth is not due for a boost.
        (Plan memory exitPlan,,) = swapDeleverage(2.9e18);
        (bool ok,) = handle(keeperOp(safe, keeper, exitPlan, keeperKey));
        assertTrue(ok, "exit");
        wethOracle.setPrice(stopPrice * 10_050 / 10_000 / 1e6);
        alignPoolToPrice(wethPool, address(weth), wethOracle.price());
        (Plan memory boost,,) = _boostTo(1.65e18);
        expectOpFails(boost, abi.encodeWithSelector(ILeverageModule.NoTrigger.selector));
        // Past the re-arm price (stop x 1.01) the ordinary boost is due again.
        wethOracle.setPrice(stopPrice * 10_200 / 10_000 / 1e6);
        alignPoolToPrice(wethPool, address(weth), wethOracle.price());
        (boost,,) = _boostTo(1.65e18);
        // (Borrow first, then the purchase is supplied: from health ~3, one pass reaches about 1.65 above health 1.)
        (ok,) = handle(keeperOp(safe, keeper, boost, keeperKey));
        assertTrue(ok, "boost after re-arm");
        assertLt(_health(), 1.7e18);
    }

    function _boostTo(uint256 target) internal returns (Plan memory plan, uint256 borrowed, uint256 bought) {
        borrowed = usdcToBorrow(target);
        bought = quoteExactIn(address(usdc), address(weth), FEE_LOW, borrowed);
        Action[] memory actions = new Action[](3);
        actions[0] = action(ActionKind.Borrow, 0, address(0), borrowed);
        actions[1] = action(ActionKind.BuyCollateral, 0, route(FEE_LOW), borrowed);
        actions[2] = action(ActionKind.SupplyCollateral, 0, address(0), bought);
        plan = planOf(wethId, actions);
    }

    /// Row 5: the venue oracle pushed under the stop while the second feed is not: OracleDeviation before anything moves.
    function test_Attack_VenuePricePushedUnderStop_IsRefused() public {
        uint256 price = wethState().price;
        _setStop(price * 99 / 100, EXIT);
        uint256 pushed = price * 97 / 100;
        wethOracle.setVenuePrice(pushed);
        (Plan memory plan,,) = swapDeleverage(2.9e18);
        (, int256 answer,,,) = wethOracle.latestRoundData();
        uint256 feed = uint256(answer) * 10 ** (36 + 6 - 18 - wethOracle.decimals()); // the module's rescaling
        expectOpFails(plan, abi.encodeWithSelector(ILeverageModule.OracleDeviation.selector, wethId, pushed, feed));
    }

    /// Row 6: the exit's sale at a bad price: the swap's minimum output (maxSlippageBps) refuses it.
    function test_Attack_ExitSoldAtBadPrice_IsRefused() public {
        _setStop(wethState().price, EXIT);
        (Plan memory plan,,) = swapDeleverage(2.9e18);
        frontRun(address(weth), address(usdc), FEE_LOW, 100); // 1% against a 0.5% bound
        expectOpFails(plan, actionFailed(0, actionFailed(2, abi.encodeWithSignature("Error(string)", "Too little received"))));
    }
}
