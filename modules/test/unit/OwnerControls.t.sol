// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {Fixture, ISafeTest} from "../utils/Fixture.sol";
import {
    ILeverageModule,
    Policy,
    AutomationConfig,
    KeeperKey,
    EpochUsage
} from "../../src/interfaces/ILeverageModule.sol";
import {LeverageModule} from "../../src/LeverageModule.sol";
import {MorphoBlueAdapter} from "../../src/adapters/MorphoBlueAdapter.sol";
import {YieldVault} from "../utils/YieldVault.sol";
import {TestToken} from "../utils/TestToken.sol";
import {MarketParams} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";

/// @notice Owner controls: every configuration function, its events, and every input it must refuse.
contract OwnerControlsTest is Fixture {
    function test_Constructor_RevertWhen_EntryPointZero() public {
        vm.expectRevert(ILeverageModule.InvalidEntryPoint.selector);
        new LeverageModule(address(0), new address[](0), address(0));
    }

    function test_Constructor_RevertWhen_AdapterZeroOrNotContract() public {
        address[] memory list = new address[](1);
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.InvalidAdapter.selector, address(0)));
        new LeverageModule(address(entryPoint), list, address(0));
        list[0] = makeAddr("eoa");
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.InvalidAdapter.selector, list[0]));
        new LeverageModule(address(entryPoint), list, address(0));
    }

    function test_Constructor_RevertWhen_AdapterDuplicated() public {
        address[] memory list = new address[](2);
        list[0] = address(adapter);
        list[1] = address(adapter);
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.DuplicateAdapter.selector, address(adapter)));
        new LeverageModule(address(entryPoint), list, address(0));
    }

    function test_Constructor_RevertWhen_SwapAdapterNotContract() public {
        address eoa = makeAddr("eoa");
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.InvalidSwapAdapter.selector, eoa));
        new LeverageModule(address(entryPoint), new address[](0), eoa);
    }

    function test_SetPolicy_RevertWhen_SlippageWithoutSwapAdapter() public {
        assertEq(module.swapAdapter(), address(0), "the fixture's module has no swap adapter");
        Policy memory policy = defaultPolicy(wethMarket, address(usdcVault));
        policy.maxSlippageBps = 1;
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.InvalidPolicyParameter.selector, bytes32("maxSlippageBps")));
        setPolicyFor(safe, policy);
    }

    function test_Views_AdaptersAndEntryPoint() public view {
        assertEq(module.SUPPORTED_ENTRYPOINT(), address(entryPoint));
        assertEq(module.adapters().length, 1);
        assertEq(module.adapters()[0], address(adapter));
        assertTrue(module.isAdapter(address(adapter)));
        assertFalse(module.isAdapter(address(this)));
        assertTrue(ISafeTest(safe).isModuleEnabled(address(module)), "installed as module");
    }

    function test_Deploy_FitsTheEip170SizeLimit() public view {
        assertLe(address(module).code.length, 24_576, "module runtime <= 24,576 bytes");
        assertLe(address(adapter).code.length, 24_576, "adapter runtime <= 24,576 bytes");
    }

    /* setPolicy */

    function test_SetPolicy_StoresAndEmits() public {
        Policy memory policy = defaultPolicy(wethMarket, address(usdcVault));
        bytes32 id = idOf(wethMarket);
        vm.expectEmit(address(module));
        emit ILeverageModule.PolicySet(safe, id, address(adapter), policy.market);
        assertEq(setPolicyFor(safe, policy), id, "returned id");

        Policy memory stored = module.getPolicy(safe, id);
        assertEq(stored.adapter, address(adapter));
        assertEq(stored.market, policy.market);
        assertEq(stored.minHealth, policy.minHealth);
        assertEq(stored.targetHealth, policy.targetHealth);
        assertEq(stored.maxHealth, policy.maxHealth);
        assertEq(stored.pools.length, 1);
        assertEq(stored.pools[0], address(usdcVault));
        assertEq(module.getSubAccounts(safe).length, 1);

        setPolicyFor(safe, policy);
        assertEq(module.getSubAccounts(safe).length, 1, "replacing does not duplicate the sub-account");
    }

    /// @dev Issue 15: setPolicy makes the epoch record's slot non-zero once (the current epoch, no counters), so a
    /// sub-account's first rebalance never pays a zero-to-nonzero write; replacing the policy later leaves the record
    /// (and any counters in it) alone, and removing the policy clears it.
    function test_SetPolicy_WritesTheEpochRecordOnce() public {
        Policy memory policy = defaultPolicy(wethMarket, address(usdcVault));
        bytes32 id = setPolicyFor(safe, policy);
        EpochUsage memory usage = module.getEpochUsage(safe, id);
        uint256 epoch = block.timestamp / policy.epochLength;
        assertGt(epoch, 0, "a non-zero epoch makes the slot non-zero");
        assertEq(usage.epoch, epoch, "the current epoch");
        assertEq(usage.lastRebalance, 0, "no cooldown running");
        assertEq(usage.rebalances, 0);
        assertEq(usage.lossPpb, 0);
        assertEq(usage.gasUsed, 0);
        assertEq(usage.amountMoved, 0);

        vm.warp(block.timestamp + 3 days);
        setPolicyFor(safe, policy);
        assertEq(module.getEpochUsage(safe, id).epoch, epoch, "a replaced policy keeps its record");

        vm.prank(safe);
        ILeverageModule(safe).removePolicy(id);
        assertEq(abi.encode(module.getEpochUsage(safe, id)), abi.encode(EpochUsage(0, 0, 0, 0, 0, 0)), "removed");
        setPolicyFor(safe, policy);
        assertEq(module.getEpochUsage(safe, id).epoch, block.timestamp / policy.epochLength, "written again on re-adding");
    }

    function test_SetPolicy_ThroughASignedSafeTransaction() public {
        safeCall(abi.encodeCall(ILeverageModule.setPolicy, (defaultPolicy(wethMarket, address(0)))));
        assertEq(module.getPolicy(safe, idOf(wethMarket)).adapter, address(adapter));
    }

    function test_SetPolicy_RevertWhen_CalledThroughFallbackByOutsider() public {
        address attacker = makeAddr("attacker");
        vm.prank(attacker);
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.NotCalledBySafe.selector, attacker));
        ILeverageModule(safe).setPolicy(defaultPolicy(wethMarket, address(0)));
    }

    function test_SetPolicy_DirectCallOnlyConfiguresTheCaller() public {
        // A direct call has no ERC-2771 suffix: the last 20 bytes of the arguments are not the caller.
        vm.prank(safe);
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.NotCalledBySafe.selector, address(0)));
        module.setPolicy(defaultPolicy(wethMarket, address(0)));
        assertEq(module.getPolicy(safe, idOf(wethMarket)).adapter, address(0), "nothing stored for the Safe");
    }

    function test_SetPolicy_RevertWhen_MinHealthBelowOne() public {
        Policy memory policy = defaultPolicy(wethMarket, address(0));
        policy.minHealth = 0.99e18;
        _expectBand(policy);
    }

    function test_SetPolicy_RevertWhen_MinAboveMax() public {
        Policy memory policy = defaultPolicy(wethMarket, address(0));
        policy.minHealth = 1.8e18;
        policy.targetHealth = 1.8e18;
        _expectBand(policy);
    }

    function test_SetPolicy_RevertWhen_MinEqualsMax() public {
        Policy memory policy = defaultPolicy(wethMarket, address(0));
        policy.minHealth = 1.5e18;
        policy.targetHealth = 1.5e18;
        policy.maxHealth = 1.5e18;
        _expectBand(policy);
    }

    function test_SetPolicy_RevertWhen_TargetBelowBand() public {
        Policy memory policy = defaultPolicy(wethMarket, address(0));
        policy.targetHealth = 1.1e18;
        _expectBand(policy);
    }

    function test_SetPolicy_RevertWhen_TargetAboveBand() public {
        Policy memory policy = defaultPolicy(wethMarket, address(0));
        policy.targetHealth = 1.8e18;
        _expectBand(policy);
    }

    function test_SetPolicy_RevertWhen_AdapterZero() public {
        Policy memory policy = defaultPolicy(wethMarket, address(0));
        policy.adapter = address(0);
        _expectRevertSet(policy, abi.encodeWithSelector(ILeverageModule.InvalidAdapter.selector, address(0)));
    }

    function test_SetPolicy_RevertWhen_AdapterUnknown() public {
        Policy memory policy = defaultPolicy(wethMarket, address(0));
        policy.adapter = address(new MorphoBlueAdapter(morpho));
        _expectRevertSet(policy, abi.encodeWithSelector(ILeverageModule.InvalidAdapter.selector, policy.adapter));
    }

    function test_SetPolicy_RevertWhen_MarketUnknown() public {
        Policy memory policy = defaultPolicy(wethMarket, address(0));
        policy.market = keccak256("no such market");
        _expectRevertSet(
            policy, abi.encodeWithSelector(ILeverageModule.UnknownMarket.selector, address(adapter), policy.market)
        );
    }

    function test_SetPolicy_RevertWhen_TooManyPools() public {
        Policy memory policy = defaultPolicy(wethMarket, address(0));
        policy.pools = new address[](9);
        _expectRevertSet(policy, abi.encodeWithSelector(ILeverageModule.TooManyPools.selector, 9, 8));
    }

    function test_SetPolicy_AcceptsEightPools() public {
        Policy memory policy = defaultPolicy(wethMarket, address(0));
        policy.pools = new address[](8);
        for (uint256 i; i < 8; ++i) {
            policy.pools[i] = address(new YieldVault(usdc, "v", "v"));
        }
        setPolicyFor(safe, policy);
        assertEq(module.getPolicy(safe, idOf(wethMarket)).pools.length, 8);
    }

    function test_SetPolicy_RevertWhen_PoolZeroSafeModuleOrNotContract() public {
        address[4] memory bad = [address(0), safe, address(module), makeAddr("eoa")];
        for (uint256 i; i < bad.length; ++i) {
            Policy memory policy = defaultPolicy(wethMarket, address(0));
            policy.pools = new address[](1);
            policy.pools[0] = bad[i];
            _expectRevertSet(policy, abi.encodeWithSelector(ILeverageModule.InvalidPool.selector, bad[i]));
        }
    }

    function test_SetPolicy_RevertWhen_PoolDuplicated() public {
        Policy memory policy = defaultPolicy(wethMarket, address(0));
        policy.pools = new address[](2);
        policy.pools[0] = address(usdcVault);
        policy.pools[1] = address(usdcVault);
        _expectRevertSet(policy, abi.encodeWithSelector(ILeverageModule.DuplicatePool.selector, address(usdcVault)));
    }

    function test_SetPolicy_RevertWhen_PoolAssetIsNotTheMarketsToken() public {
        YieldVault other = new YieldVault(wbtc, "yWBTC", "yWBTC");
        Policy memory policy = defaultPolicy(wethMarket, address(other));
        _expectRevertSet(
            policy, abi.encodeWithSelector(ILeverageModule.PoolAssetMismatch.selector, address(other), address(wbtc))
        );
    }

    function test_SetPolicy_RevertWhen_MaxLossAboveOneHundredPercent() public {
        Policy memory policy = defaultPolicy(wethMarket, address(0));
        policy.maxLossBps = 10_001;
        _expectRevertSet(policy, abi.encodeWithSelector(ILeverageModule.InvalidPolicyParameter.selector, bytes32("maxLossBps")));
    }

    function test_SetPolicy_RevertWhen_EpochLengthZero() public {
        Policy memory policy = defaultPolicy(wethMarket, address(0));
        policy.epochLength = 0;
        _expectRevertSet(policy, abi.encodeWithSelector(ILeverageModule.InvalidPolicyParameter.selector, bytes32("epochLength")));
    }

    function test_SetPolicy_RevertWhen_DeviationAboveOneHundredPercent() public {
        Policy memory policy = defaultPolicy(wethMarket, address(0));
        policy.maxOracleDeviationBps = 10_001;
        _expectRevertSet(
            policy,
            abi.encodeWithSelector(ILeverageModule.InvalidPolicyParameter.selector, bytes32("maxOracleDeviationBps"))
        );
    }

    function test_SetPolicy_RevertWhen_TargetTooCloseToABandEdge() public {
        // The landing zone needs a real distance: at least MIN_BAND_GAP (0.01) from the target to each edge.
        Policy memory policy = defaultPolicy(wethMarket, address(0));
        policy.targetHealth = policy.minHealth + 0.01e18 - 1;
        _expectBand(policy);
        policy.targetHealth = policy.maxHealth - 0.01e18 + 1;
        _expectBand(policy);
        policy.targetHealth = policy.minHealth + 0.01e18;
        setPolicyFor(safe, policy);
        assertEq(module.getPolicy(safe, idOf(wethMarket)).targetHealth, policy.targetHealth, "exactly the gap is accepted");
    }

    function test_SetPolicy_RevertWhen_EpochLossAboveOneHundredPercent() public {
        Policy memory policy = defaultPolicy(wethMarket, address(0));
        policy.maxEpochLossBps = 10_001;
        _expectRevertSet(policy, abi.encodeWithSelector(ILeverageModule.InvalidPolicyParameter.selector, bytes32("maxEpochLossBps")));
    }

    function test_SetPolicy_RevertWhen_FeedBoundsWithoutAFeed() public {
        Policy memory policy = defaultPolicy(wethMarket, address(0));
        policy.priceFeed = address(0);
        policy.maxOracleAge = 0;
        policy.minFeedAnswer = 1;
        _expectRevertSet(policy, abi.encodeWithSelector(ILeverageModule.InvalidPolicyParameter.selector, bytes32("minFeedAnswer")));
        policy.minFeedAnswer = 0;
        policy.maxFeedAnswer = 1;
        _expectRevertSet(policy, abi.encodeWithSelector(ILeverageModule.InvalidPolicyParameter.selector, bytes32("minFeedAnswer")));
    }

    function test_SetPolicy_RevertWhen_FeedCeilingNotAboveItsFloor() public {
        Policy memory policy = defaultPolicy(wethMarket, address(0));
        policy.minFeedAnswer = 1000e8;
        policy.maxFeedAnswer = 1000e8;
        _expectRevertSet(policy, abi.encodeWithSelector(ILeverageModule.InvalidPolicyParameter.selector, bytes32("maxFeedAnswer")));
        policy.maxFeedAnswer = 0; // no ceiling
        setPolicyFor(safe, policy);
        assertEq(module.getPolicy(safe, idOf(wethMarket)).minFeedAnswer, 1000e8);
    }

    function test_SetPolicy_RevertWhen_FeedWithoutMaxAge() public {
        Policy memory policy = defaultPolicy(wethMarket, address(0));
        policy.maxOracleAge = 0;
        _expectRevertSet(policy, abi.encodeWithSelector(ILeverageModule.InvalidPolicyParameter.selector, bytes32("maxOracleAge")));
    }

    /* removePolicy */

    function test_RemovePolicy_DeletesAndEmits() public {
        bytes32 first = setPolicyFor(safe, defaultPolicy(wethMarket, address(0)));
        bytes32 second = setPolicyFor(safe, defaultPolicy(wbtcMarket, address(0)));
        vm.expectEmit(address(module));
        emit ILeverageModule.PolicyRemoved(safe, first);
        vm.prank(safe);
        ILeverageModule(safe).removePolicy(first);
        assertEq(module.getPolicy(safe, first).adapter, address(0));
        bytes32[] memory ids = module.getSubAccounts(safe);
        assertEq(ids.length, 1);
        assertEq(ids[0], second);
    }

    function test_RemovePolicy_RevertWhen_Unknown() public {
        vm.prank(safe);
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.UnknownSubAccount.selector, bytes32("x")));
        ILeverageModule(safe).removePolicy(bytes32("x"));
    }

    function test_RemovePolicy_RevertWhen_Outsider() public {
        bytes32 id = setPolicyFor(safe, defaultPolicy(wethMarket, address(0)));
        vm.prank(keeper);
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.NotCalledBySafe.selector, keeper));
        ILeverageModule(safe).removePolicy(id);
    }

    /* keepers */

    function test_AddKeeper_StoresAndEmits() public {
        address other = makeAddr("other keeper");
        vm.expectEmit(address(module));
        emit ILeverageModule.KeeperAdded(safe, other, 10, 20);
        vm.prank(safe);
        ILeverageModule(safe).addKeeper(other, 10, 20);
        KeeperKey memory key = module.getKeeper(safe, other);
        assertTrue(key.active);
        assertEq(key.validAfter, 10);
        assertEq(key.validUntil, 20);
    }

    function test_AddKeeper_RevertWhen_KeeperIsZeroSafeOrModule() public {
        address[3] memory bad = [address(0), safe, address(module)];
        for (uint256 i; i < bad.length; ++i) {
            vm.prank(safe);
            vm.expectRevert(abi.encodeWithSelector(ILeverageModule.InvalidKeeper.selector, bad[i]));
            ILeverageModule(safe).addKeeper(bad[i], 0, 100);
        }
    }

    function test_AddKeeper_RevertWhen_ValidityEmptyOrUnbounded() public {
        vm.prank(safe);
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.InvalidValidity.selector, 0, 0));
        ILeverageModule(safe).addKeeper(keeper, 0, 0);
        vm.prank(safe);
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.InvalidValidity.selector, 50, 50));
        ILeverageModule(safe).addKeeper(keeper, 50, 50);
    }

    function test_AddKeeper_RevertWhen_Outsider() public {
        vm.prank(keeper);
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.NotCalledBySafe.selector, keeper));
        ILeverageModule(safe).addKeeper(keeper, 0, 100);
    }

    function test_RevokeKeeper_DeletesAndEmits() public {
        vm.expectEmit(address(module));
        emit ILeverageModule.KeeperRevoked(safe, keeper);
        vm.prank(safe);
        ILeverageModule(safe).revokeKeeper(keeper);
        assertFalse(module.getKeeper(safe, keeper).active);
    }

    function test_RevokeAllKeepers_AdvancesTheGenerationAndDeactivatesEveryKey() public {
        address other = makeAddr("other keeper");
        vm.prank(safe);
        ILeverageModule(safe).addKeeper(other, 0, 100);
        uint192 before = module.keeperNonceKey(safe, keeper);
        KeeperKey memory key = module.getKeeper(safe, keeper);
        assertEq(
            before, uint192(uint256(keccak256(abi.encode(keeper, uint32(0), key.salt)))), "generation 0: keeper, generation, salt"
        );
        assertTrue(key.salt != 0, "a registration's salt is never 0");
        vm.expectEmit(address(module));
        emit ILeverageModule.KeepersReset(safe, 1);
        vm.prank(safe);
        assertEq(ILeverageModule(safe).revokeAllKeepers(), 1);
        assertEq(module.getAutomationConfig(safe).keyGeneration, 1);
        assertFalse(module.getKeeper(safe, keeper).active, "every key of generation 0 is inactive");
        assertFalse(module.getKeeper(safe, other).active);
        assertEq(
            module.keeperNonceKey(safe, keeper),
            uint192(uint256(keccak256(abi.encode(keeper, uint32(1), key.salt)))),
            "a fresh nonce key for the new generation"
        );
        vm.prank(safe);
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.InvalidKeeper.selector, keeper));
        ILeverageModule(safe).revokeKeeper(keeper);
        vm.prank(safe);
        ILeverageModule(safe).addKeeper(keeper, 0, 100);
        KeeperKey memory again = module.getKeeper(safe, keeper);
        assertTrue(again.active, "re-added in the new generation");
        assertEq(again.generation, 1);
        assertTrue(again.salt != key.salt, "a new registration, a new salt");
    }

    function test_RevokeAllKeepers_RevertWhen_Outsider() public {
        vm.prank(keeper);
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.NotCalledBySafe.selector, keeper));
        ILeverageModule(safe).revokeAllKeepers();
    }

    function test_SetAutomationConfig_KeepsTheKeyGeneration() public {
        vm.prank(safe);
        ILeverageModule(safe).revokeAllKeepers();
        AutomationConfig memory config = defaultAutomation();
        config.keyGeneration = 0; // an attempt to bring generation-0 keys back
        vm.prank(safe);
        ILeverageModule(safe).setAutomationConfig(config);
        assertEq(module.getAutomationConfig(safe).keyGeneration, 1, "only revokeAllKeepers moves it");
        assertFalse(module.getKeeper(safe, keeper).active);
    }

    function test_SetSponsor_StoresAndEmits() public {
        address paymaster = makeAddr("paymaster");
        vm.expectEmit(address(module));
        emit ILeverageModule.SponsorSet(safe, paymaster, true);
        vm.prank(safe);
        ILeverageModule(safe).setSponsor(paymaster, true);
        assertTrue(module.isSponsor(safe, paymaster));
        vm.prank(safe);
        ILeverageModule(safe).setSponsor(paymaster, false);
        assertFalse(module.isSponsor(safe, paymaster));
    }

    function test_SetSponsor_RevertWhen_ZeroOrOutsider() public {
        vm.prank(safe);
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.InvalidSponsor.selector, address(0)));
        ILeverageModule(safe).setSponsor(address(0), true);
        vm.prank(keeper);
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.NotCalledBySafe.selector, keeper));
        ILeverageModule(safe).setSponsor(keeper, true);
    }

    function test_RevokeKeeper_RevertWhen_NotActive() public {
        address stranger = makeAddr("stranger");
        vm.prank(safe);
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.InvalidKeeper.selector, stranger));
        ILeverageModule(safe).revokeKeeper(stranger);
    }

    function test_RevokeKeeper_RevertWhen_KeeperRevokesItself() public {
        vm.prank(keeper);
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.NotCalledBySafe.selector, keeper));
        ILeverageModule(safe).revokeKeeper(keeper);
    }

    /* automation config and pause */

    function test_SetAutomationConfig_StoresAndEmits() public {
        AutomationConfig memory config = defaultAutomation();
        config.requiredPaymaster = makeAddr("paymaster");
        config.maxFeePerGas = 7 gwei;
        vm.expectEmit(address(module));
        emit ILeverageModule.AutomationConfigured(safe, config);
        vm.prank(safe);
        ILeverageModule(safe).setAutomationConfig(config);
        AutomationConfig memory stored = module.getAutomationConfig(safe);
        assertEq(stored.requiredPaymaster, config.requiredPaymaster);
        assertEq(stored.maxFeePerGas, 7 gwei);
    }

    function test_SetAutomationConfig_RevertWhen_Outsider() public {
        AutomationConfig memory config = defaultAutomation();
        vm.prank(keeper);
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.NotCalledBySafe.selector, keeper));
        ILeverageModule(safe).setAutomationConfig(config);
    }

    function test_SetPaused_TogglesAndEmits() public {
        vm.expectEmit(address(module));
        emit ILeverageModule.AutomationPausedSet(safe, true);
        vm.prank(safe);
        ILeverageModule(safe).setPaused(true);
        assertTrue(module.getAutomationConfig(safe).paused);
        vm.prank(safe);
        ILeverageModule(safe).setPaused(false);
        assertFalse(module.getAutomationConfig(safe).paused);
    }

    function test_SetPaused_RevertWhen_Outsider() public {
        vm.prank(keeper);
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.NotCalledBySafe.selector, keeper));
        ILeverageModule(safe).setPaused(false);
    }

    function test_SetSelfPayBudget_StoresRestartsAndEmits() public {
        vm.expectEmit(address(module));
        emit ILeverageModule.SelfPayBudgetSet(safe, 1 ether, 3600);
        vm.prank(safe);
        ILeverageModule(safe).setSelfPayBudget(1 ether, 3600);
        assertEq(module.getSelfPayBudget(safe).maxWeiPerEpoch, 1 ether);
        assertEq(module.getSelfPayBudget(safe).epochLength, 3600);
        assertEq(module.getSelfPayBudget(safe).epoch, block.timestamp / 3600, "the current aligned epoch");
        assertEq(module.getSelfPayBudget(safe).spentWei, 0);
    }

    function test_SetSelfPayBudget_RevertWhen_AboveUint88OrWithoutEpoch() public {
        vm.prank(safe);
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.InvalidPolicyParameter.selector, bytes32("maxWeiPerEpoch")));
        ILeverageModule(safe).setSelfPayBudget(uint96(type(uint88).max) + 1, 1 days);
        vm.prank(safe);
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.InvalidPolicyParameter.selector, bytes32("epochLength")));
        ILeverageModule(safe).setSelfPayBudget(1 ether, 0);
        vm.prank(safe);
        ILeverageModule(safe).setSelfPayBudget(0, 0);
        assertEq(module.getSelfPayBudget(safe).maxWeiPerEpoch, 0, "no budget: keepers must be sponsored");
    }

    function test_SetSelfPayBudget_RevertWhen_Outsider() public {
        vm.prank(keeper);
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.NotCalledBySafe.selector, keeper));
        ILeverageModule(safe).setSelfPayBudget(100 ether, 1);
    }

    function test_Health_RevertWhen_UnknownSubAccount() public {
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.UnknownSubAccount.selector, bytes32("nope")));
        module.health(safe, bytes32("nope"));
    }

    function test_Health_InfiniteWithoutDebt() public {
        bytes32 id = setPolicyFor(safe, defaultPolicy(wethMarket, address(0)));
        assertEq(module.health(safe, id), type(uint256).max);
    }

    function test_Uninstall_OwnerDisablesModuleAndHandlerInOneTransaction() public {
        bytes memory batch = abi.encodePacked(
            _multiSendTx(safe, abi.encodeCall(ISafeTest.disableModule, (SENTINEL, address(module)))),
            _multiSendTx(safe, abi.encodeCall(ISafeTest.setFallbackHandler, (address(0))))
        );
        safeExec(safe, multiSendCallOnly, 0, abi.encodeWithSignature("multiSend(bytes)", batch), 1);
        assertFalse(ISafeTest(safe).isModuleEnabled(address(module)), "module disabled");
        vm.prank(safe);
        (bool ok,) = safe.call(abi.encodeCall(ILeverageModule.setPaused, (true)));
        assertTrue(ok, "fallback no longer reaches the module (call is a no-op)");
        assertFalse(module.getAutomationConfig(safe).paused, "module state untouched by the no-op");
    }

    function _multiSendTx(address to, bytes memory data) internal pure returns (bytes memory) {
        return abi.encodePacked(uint8(0), to, uint256(0), data.length, data);
    }

    function _expectBand(Policy memory policy) internal {
        _expectRevertSet(
            policy,
            abi.encodeWithSelector(
                ILeverageModule.InvalidHealthBand.selector, policy.minHealth, policy.targetHealth, policy.maxHealth
            )
        );
    }

    function _expectRevertSet(Policy memory policy, bytes memory err) internal {
        vm.prank(safe);
        vm.expectRevert(err);
        ILeverageModule(safe).setPolicy(policy);
    }
}
