// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Fixture} from "../utils/Fixture.sol";
import {ILeverageModule, Policy, StopLoss} from "../../src/interfaces/ILeverageModule.sol";
import {PolicyData} from "../../src/libraries/ModuleStorage.sol";
import {OwnerControlsLib} from "../../src/libraries/OwnerControlsLib.sol";

/// @dev Creates policy data contracts the way setPolicy does (OwnerControlsLib.writePolicy, by DELEGATECALL) and reads
/// them back with the module's readers, so the code format is tested without setPolicy's checks.
contract PolicyDataHarness {
    function store(Policy calldata policy) external returns (address) {
        return OwnerControlsLib.writePolicy(policy);
    }

    function readAll(address data) external view returns (Policy memory) {
        return PolicyData.readAll(data);
    }

    function read(address data) external view returns (Policy memory) {
        return PolicyData.read(data);
    }
}

/// @notice The module's policy storage since issue 15 (gas): one slot per sub-account, `policies[id][safe]` at
/// keccak256(safe . keccak256(id . 4)) (ModuleStorage starts at slot 2; `policies` is its third member), holding the
/// address of the data contract whose code is the policy (bits 0-159) and the stop flag (bits 160-167; 168-255 zero);
/// the data contract's code is STOP, the Policy's six fixed storage words exactly as the compiler lays the struct out in
/// storage, then one word per pool.
contract ModuleStorageLayoutTest is Fixture {
    uint256 internal constant POLICIES_SLOT = 4;

    PolicyDataHarness internal harness;
    /// @dev A Policy in this contract's storage: the compiler's layout, which the data contract's words must equal.
    Policy internal stored;

    function setUp() public override {
        super.setUp();
        harness = new PolicyDataHarness();
    }

    function _recordSlot(address account, bytes32 id) internal pure returns (bytes32) {
        return keccak256(abi.encode(account, keccak256(abi.encode(id, POLICIES_SLOT))));
    }

    function _record(bytes32 id) internal view returns (uint256) {
        return uint256(vm.load(address(module), _recordSlot(safe, id)));
    }

    function _word(bytes memory code, uint256 offset) internal pure returns (uint256 w) {
        assembly {
            w := mload(add(add(code, 0x20), offset))
        }
    }

    /// Any policy the ABI decoder accepts (pools cut to MAX_POOLS) is stored as STOP, the compiler's six storage words
    /// of the struct, one word per pool; the readers give it back exactly (getPolicy's readAll: every field and the
    /// pools; the engine's read: the fixed fields, no pools; the callback's maxSlippageBps).
    function testFuzz_PolicyData_IsTheStorageLayoutAndReadsBack(Policy memory policy) public {
        if (policy.pools.length > 8) {
            address[] memory pools = policy.pools;
            assembly {
                mstore(pools, 8)
            }
        }
        stored = policy;
        address data = harness.store(policy);
        bytes memory code = data.code;
        assertEq(code.length, 1 + 192 + 32 * policy.pools.length, "STOP, six words, one word per pool");
        assertEq(uint8(code[0]), 0, "first byte STOP: a call runs nothing");
        bytes32 base;
        assembly {
            base := stored.slot
        }
        for (uint256 k; k < 6; ++k) {
            assertEq(_word(code, 1 + 32 * k), uint256(vm.load(address(this), bytes32(uint256(base) + k))), "word = storage slot");
        }
        for (uint256 k; k < policy.pools.length; ++k) {
            assertEq(_word(code, 193 + 32 * k), uint256(uint160(policy.pools[k])), "pool word");
        }
        assertEq(keccak256(abi.encode(harness.readAll(data))), keccak256(abi.encode(policy)), "readAll: the policy");
        Policy memory fixedOnly = harness.read(data);
        assertEq(fixedOnly.pools.length, 0, "read: no pools");
        fixedOnly.pools = policy.pools;
        assertEq(keccak256(abi.encode(fixedOnly)), keccak256(abi.encode(policy)), "read: every fixed field");
    }

    /// No data contract (no policy): readAll is the zero policy, as getPolicy returned for an unknown sub-account.
    function test_PolicyData_ZeroAddressReadsAsNoPolicy() public view {
        Policy memory none;
        assertEq(keccak256(abi.encode(harness.readAll(address(0)))), keccak256(abi.encode(none)));
    }

    /// The record's slot, its bits and its pointer through setPolicy, setStopLoss, a replacement and removePolicy: the
    /// data contract is the module's own CREATE (at the module's nonce; ETH sent there first does not block it), a
    /// replacement points to a new one (the old one's code unchanged, no longer read), the stop flag follows the stop,
    /// and removePolicy zeroes the slot so the sub-account is unknown again.
    function test_PolicyRecord_SlotBitsAndPointer() public {
        Policy memory policy = defaultPolicy(wethMarket, address(usdcVault));
        address predicted = vm.computeCreateAddress(address(module), vm.getNonce(address(module)));
        vm.deal(predicted, 1 ether); // anyone can fund the next CREATE address: it does not block the creation
        bytes32 id = setPolicyFor(safe, policy);
        uint256 word = _record(id);
        assertEq(address(uint160(word)), predicted, "bits 0-159: the module's CREATE at its nonce");
        assertEq(word >> 160, 0, "no stop: bits 160-255 zero");
        assertEq(predicted.code.length, 1 + 192 + 32, "STOP, six words, one pool");
        assertEq(keccak256(abi.encode(module.getPolicy(safe, id))), keccak256(abi.encode(policy)), "getPolicy");

        vm.prank(safe);
        ILeverageModule(safe).setStopLoss(id, 1, 3e18);
        word = _record(id);
        assertEq(address(uint160(word)), predicted, "pointer kept by setStopLoss");
        assertEq(word >> 160, 1, "stop set: bit 160, nothing above");

        bytes32 oldCode = keccak256(predicted.code);
        address next = vm.computeCreateAddress(address(module), vm.getNonce(address(module)));
        policy.cooldown = 60;
        policy.pools = new address[](0);
        assertEq(setPolicyFor(safe, policy), id);
        word = _record(id);
        assertEq(address(uint160(word)), next, "a replacement points to new data");
        assertTrue(next != predicted);
        assertEq(word >> 160, 1, "the stop's flag rewritten from the stored stop");
        assertEq(keccak256(predicted.code), oldCode, "the old data contract is unchanged");
        assertEq(next.code.length, 1 + 192, "no pools");
        assertEq(module.getPolicy(safe, id).cooldown, 60);
        assertEq(module.getPolicy(safe, id).pools.length, 0);

        vm.prank(safe);
        ILeverageModule(safe).removePolicy(id);
        assertEq(_record(id), 0, "removePolicy zeroes the record: pointer and flag");
        assertEq(module.getPolicy(safe, id).adapter, address(0), "getPolicy: none");
        StopLoss memory stop = module.getStopLoss(safe, id);
        assertEq(stop.exitHealth, 0);
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.UnknownSubAccount.selector, id));
        module.health(safe, id);
        vm.prank(safe);
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.UnknownSubAccount.selector, id));
        ILeverageModule(safe).setStopLoss(id, 1, 3e18);
    }

    /// A data contract runs nothing: a call (with data, with value) succeeds, returns nothing and leaves its code.
    function test_PolicyData_ContractRunsNothing() public {
        bytes32 id = setPolicyFor(safe, defaultPolicy(wethMarket, address(usdcVault)));
        address data = address(uint160(_record(id)));
        bytes32 code = keccak256(data.code);
        (bool ok, bytes memory out) = data.call{value: 1}(abi.encodeCall(ILeverageModule.removePolicy, (id)));
        assertTrue(ok);
        assertEq(out.length, 0);
        assertEq(keccak256(data.code), code);
        assertEq(address(uint160(_record(id))), data, "the record is only the module's to write");
    }

    /// A creation that runs out of gas reverts PolicyStoreFailed (the record is never written with a zero address).
    function test_WritePolicy_FailedCreationReverts() public {
        Policy memory policy = defaultPolicy(wethMarket, address(usdcVault));
        // Enough for the call and the creation code's memory, not for CREATE (32,000) plus the code deposit.
        (bool ok, bytes memory reason) = address(harness).call{gas: 60_000}(abi.encodeCall(PolicyDataHarness.store, (policy)));
        assertFalse(ok);
        assertEq(bytes4(reason), ILeverageModule.PolicyStoreFailed.selector);
    }
}
