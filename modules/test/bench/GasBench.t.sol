// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {Vm} from "forge-std/Test.sol";
import {Fixture} from "../utils/Fixture.sol";
import {INonceManager} from "@account-abstraction/contracts/interfaces/INonceManager.sol";
import {ILeverageModule, Plan, Action, ActionKind} from "../../src/interfaces/ILeverageModule.sol";
import {MarketState} from "../../src/interfaces/IVenueAdapter.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {IMorphoBase, MarketParams} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC4626} from "@openzeppelin/contracts/interfaces/IERC4626.sol";
import {SimOracle} from "../utils/SimOracle.sol";

/// @notice Gas of the same rebalance through the owner lane (a MultiSend batch signed by the owner) and through the
/// keeper lane (executeRebalance with every policy check), both via EntryPoint.handleOps from the same state.
/// Both lanes start from nonce keys already in use (no zero-to-nonzero nonce write in either), and gas is read around
/// `handleOps` alone (the operation is built and its logs are read outside the measurement). `npm run bench:gas` runs
/// this with GAS_REPORT set, reads forge's call trace for the per-section breakdown (scripts/gas-sections.mjs) and
/// prints the table.
/// "first" (`GasBenchTest`) is the sub-accounts' first rebalance of the epoch; "later" (`GasBenchLater1Test`,
/// `GasBenchLater3Test`) a second one in the same epoch, measured in its own transaction: the first keeper rebalance
/// runs in `setUp` (forge commits it and runs the test as a new transaction), so no slot or account it touched is
/// still warm when the later one is measured.
abstract contract GasBenchBase is Fixture {
    struct Leg {
        MarketParams params;
        SimOracle oracle;
        uint256 price;
    }

    Leg[] internal legs;
    string internal json = "gas";
    /// @dev Cool every contract either lane touches before each measured operation (`GasBenchCold*`), as in a
    /// bundler's own transaction. Without it, the test's own view calls that build the plan (`_repayAmount`: the
    /// adapter's marketState) leave Morpho's market params, the oracles and the positions warm for both lanes, which
    /// hides the keeper-only reads (the market params, the oracle) the owner lane never makes.
    bool internal coolFirst;

    /// @dev Every contract either lane touches, but the linked RebalanceLib (as in SwapGasBench) and the bundler.
    function _cool() internal {
        address[15] memory touched = [
            address(entryPoint), safe, address(module), safeSingleton, multiSendCallOnly, address(morpho),
            address(adapter), address(usdc), address(weth), address(wbtc), address(wsteth), address(wethOracle),
            address(wbtcOracle), address(wstethOracle), address(usdcVault)
        ];
        for (uint256 i; i < touched.length; ++i) vm.cool(touched[i]);
    }

    function setUp() public virtual override {
        super.setUp();
        legs.push(Leg(wethMarket, wethOracle, 3000e18));
        legs.push(Leg(wbtcMarket, wbtcOracle, 60_000e18));
        legs.push(Leg(wstethMarket, wstethOracle, 3500e18));
        openPosition(safe, wethMarket, 10e18, 18_000e6);
        openPosition(safe, wbtcMarket, 1e8, 36_000e6);
        openPosition(safe, wstethMarket, 10e18, 21_000e6);
        depositToVault(safe, usdcVault, 40_000e6);
        // Idle loan tokens would fund repayments; park them so every repayment comes from the pool.
        uint256 idle = usdc.balanceOf(safe);
        safeExec(safe, address(usdc), 0, abi.encodeCall(IERC20.transfer, (lender, idle)), 0);
        for (uint256 i; i < legs.length; ++i) {
            setPolicyFor(safe, defaultPolicy(legs[i].params, address(usdcVault)));
        }
        // A Safe that is automated has used both nonce keys before: neither lane pays a first nonce write.
        safeExec(safe, address(entryPoint), 0, abi.encodeCall(INonceManager.incrementNonce, (0)), 0);
        uint192 keeperNonce = module.keeperNonceKey(safe, keeper);
        safeExec(safe, address(entryPoint), 0, abi.encodeCall(INonceManager.incrementNonce, (keeperNonce)), 0);
    }

    function _drop(uint256 count, uint256 bps) internal {
        for (uint256 i; i < count; ++i) {
            legs[i].price = legs[i].price * (10_000 - bps) / 10_000;
            legs[i].oracle.setPrice(legs[i].price);
        }
    }

    /// @dev Repayment that brings the sub-account to health 1.404 (just above the 1.4 target).
    function _repayAmount(MarketParams memory params) internal view returns (uint256) {
        MarketState memory state = adapter.marketState(idOfMarket(params), safe);
        uint256 value = state.collateral * state.price / 1e36;
        uint256 targetDebt = value * LLTV / 1.404e18;
        return state.debt - targetDebt;
    }

    function idOfMarket(MarketParams memory params) internal pure returns (bytes32) {
        return keccak256(abi.encode(params.loanToken, params.collateralToken, params.oracle, params.irm, params.lltv));
    }

    function _keeperPlan(uint256 count) internal view returns (Plan memory plan) {
        plan.subAccounts = new bytes32[](count);
        plan.actions = new Action[](2 * count);
        for (uint256 i; i < count; ++i) {
            uint256 amount = _repayAmount(legs[i].params);
            plan.subAccounts[i] = idOf(legs[i].params);
            plan.actions[2 * i] = action(ActionKind.WithdrawFromPool, uint8(i), address(usdcVault), amount);
            plan.actions[2 * i + 1] = action(ActionKind.Repay, uint8(i), address(0), amount);
        }
    }

    function _ownerBatch(uint256 count) internal view returns (bytes memory batch) {
        for (uint256 i; i < count; ++i) {
            uint256 amount = _repayAmount(legs[i].params);
            batch = bytes.concat(
                batch,
                _tx(address(usdcVault), abi.encodeCall(IERC4626.withdraw, (amount, safe, safe))),
                _tx(address(usdc), abi.encodeCall(IERC20.approve, (address(morpho), amount))),
                _tx(address(morpho), abi.encodeCall(IMorphoBase.repay, (legs[i].params, amount, 0, safe, ""))),
                _tx(address(usdc), abi.encodeCall(IERC20.approve, (address(morpho), 0)))
            );
        }
    }

    function _tx(address to, bytes memory data) internal pure returns (bytes memory) {
        return abi.encodePacked(uint8(0), to, uint256(0), data.length, data);
    }

    function _ownerOp(bytes memory batch) internal view returns (PackedUserOperation memory op) {
        op = baseOp(
            safe,
            abi.encodeCall(
                ILeverageModule.executeUserOp, (multiSendCallOnly, 0, abi.encodeWithSignature("multiSend(bytes)", batch), 1)
            ),
            0
        );
        op.signature = sign(op, ownerKey, 0, 0);
    }

    /// @dev Gas of `handleOps` for `op` alone; reverts unless the operation executed successfully.
    function _measure(PackedUserOperation memory op) internal returns (uint256 used) {
        PackedUserOperation[] memory ops = new PackedUserOperation[](1);
        ops[0] = op;
        if (coolFirst) _cool();
        vm.recordLogs();
        vm.prank(bundler, bundler);
        uint256 start = gasleft();
        entryPoint.handleOps(ops, payable(bundler));
        used = start - gasleft();
        Vm.Log[] memory logs = vm.getRecordedLogs();
        bytes32 eventSig = keccak256("UserOperationEvent(bytes32,address,address,uint256,bool,uint256,uint256)");
        bool success;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics[0] == eventSig) (, success,,) = abi.decode(logs[i].data, (uint256, bool, uint256, uint256));
        }
        assertTrue(success, "the operation executed");
    }

    /// @dev Owner lane and keeper lane from the same state; leaves the keeper's result in place.
    function _compare(uint256 count) internal returns (uint256 ownerGas, uint256 keeperGas) {
        uint256 snapshot = vm.snapshotState();
        ownerGas = _measure(_ownerOp(_ownerBatch(count)));
        for (uint256 i; i < count; ++i) {
            assertApproxEqAbs(healthOf(safe, legs[i].params), 1.404e18, 0.002e18, "owner lane reached target");
        }
        vm.revertToState(snapshot);
        keeperGas = _measure(keeperOp(safe, keeper, _keeperPlan(count), keeperKey));
        for (uint256 i; i < count; ++i) {
            assertApproxEqAbs(healthOf(safe, legs[i].params), 1.404e18, 0.002e18, "keeper lane reached target");
        }
    }

    /// @dev The first rebalance of the epoch for `count` sub-accounts, through both lanes from the same state.
    function _benchFirst(uint256 count, string memory label) internal {
        _drop(count, 2000); // first rebalance: epoch storage is written for the first time
        (uint256 ownerFirst, uint256 keeperFirst) = _compare(count);
        string memory obj = label;
        vm.serializeUint(obj, "subAccounts", count);
        vm.serializeUint(obj, "ownerLaneFirst", ownerFirst);
        string memory out = vm.serializeInt(obj, "overheadFirst", int256(keeperFirst) - int256(ownerFirst));
        _write(label, out);
        assertGt(keeperFirst, 0);
    }

    /// @dev setUp part of a "later" bench: the keeper's first rebalance of the epoch for `count` sub-accounts, committed
    /// before the test's own transaction (the state `_benchFirst` leaves).
    function _firstKeeperRebalance(uint256 count) internal {
        _drop(count, 2000);
        _measure(keeperOp(safe, keeper, _keeperPlan(count), keeperKey));
        for (uint256 i; i < count; ++i) {
            assertApproxEqAbs(healthOf(safe, legs[i].params), 1.404e18, 0.002e18, "first keeper rebalance reached target");
        }
    }

    /// @dev A later rebalance in the same epoch (after `_firstKeeperRebalance` in setUp), through both lanes.
    function _benchLater(uint256 count, string memory label) internal {
        _drop(count, 1500);
        (uint256 ownerLater, uint256 keeperLater) = _compare(count);
        string memory obj = label;
        vm.serializeUint(obj, "subAccounts", count);
        vm.serializeUint(obj, "ownerLaneLater", ownerLater);
        string memory out = vm.serializeInt(obj, "overheadLater", int256(keeperLater) - int256(ownerLater));
        _write(label, out);
        assertGt(keeperLater, 0);
    }

    function _write(string memory key, string memory value) internal {
        string memory path = vm.envOr("GAS_REPORT", string(""));
        if (bytes(path).length == 0) return;
        string memory partPath = string.concat(path, ".", key, ".json");
        vm.writeJson(value, partPath);
    }
}

contract GasBenchTest is GasBenchBase {
    function test_Gas_OwnerLaneTransfer() public {
        PackedUserOperation memory op = baseOp(
            safe, abi.encodeCall(ILeverageModule.executeUserOp, (lender, 0.01 ether, "", 0)), 0
        );
        op.signature = sign(op, ownerKey, 0, 0);
        uint256 used = _measure(op);
        string memory out = vm.serializeUint("transfer", "ownerLaneTransfer", used);
        _write("transfer", out);
    }

    function test_Gas_Rebalance1SubAccount() public {
        _benchFirst(1, "oneSubAccountFirst");
    }

    function test_Gas_Rebalance3SubAccounts() public {
        _benchFirst(3, "threeSubAccountsFirst");
    }
}

/// @notice The later rebalance of 1 sub-account in its own transaction (the first one ran in setUp).
contract GasBenchLater1Test is GasBenchBase {
    function setUp() public override {
        super.setUp();
        _firstKeeperRebalance(1);
    }

    function test_Gas_Rebalance1SubAccountLater() public {
        _benchLater(1, "oneSubAccountLater");
    }
}

/// @notice The later rebalance of 3 sub-accounts in its own transaction (the first one ran in setUp).
contract GasBenchLater3Test is GasBenchBase {
    function setUp() public override {
        super.setUp();
        _firstKeeperRebalance(3);
    }

    function test_Gas_Rebalance3SubAccountsLater() public {
        _benchLater(3, "threeSubAccountsLater");
    }
}

/// @notice `GasBenchLater1Test` with every touched contract cooled before each lane's operation (`coolFirst`).
contract GasBenchColdLater1Test is GasBenchBase {
    function setUp() public override {
        super.setUp();
        _firstKeeperRebalance(1);
        coolFirst = true;
    }

    function test_Gas_Rebalance1SubAccountColdLater() public {
        _benchLater(1, "coldOneSubAccountLater");
    }
}

/// @notice `GasBenchLater3Test` with every touched contract cooled before each lane's operation (`coolFirst`).
contract GasBenchColdLater3Test is GasBenchBase {
    function setUp() public override {
        super.setUp();
        _firstKeeperRebalance(3);
        coolFirst = true;
    }

    function test_Gas_Rebalance3SubAccountsColdLater() public {
        _benchLater(3, "coldThreeSubAccountsLater");
    }
}
