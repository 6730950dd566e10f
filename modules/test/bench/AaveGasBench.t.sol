// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {Vm} from "forge-std/Test.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC4626} from "@openzeppelin/contracts/interfaces/IERC4626.sol";
import {IPool} from "@aave/core-v3/contracts/interfaces/IPool.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";

import {AaveTestBase} from "../utils/AaveTestBase.sol";
import {VenueCall, MarketState} from "../../src/interfaces/IVenueAdapter.sol";
import {IMorphoBase} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {ILeverageModule, Action, ActionKind, Plan, Policy} from "../../src/interfaces/ILeverageModule.sol";
import {HealthLib} from "../../src/libraries/HealthLib.sol";

/// @notice Gas of the Aave adapter's actions on the real Aave v3.0.2 Pool, each in its own test (so storage starts cold,
/// as in a real transaction), measured part by part in the order the module runs them from a Safe: the adapter's
/// encode (a view call), the exact approval and its reset (Safe module calls), the Aave call (a Safe module call); the
/// adapter's reads; and an Aave rescue (pool withdrawal + repay) through the owner lane and the keeper lane of
/// EntryPoint.handleOps.
/// `npm run bench:gas:aave` runs this with GAS_REPORT set, prints the table and writes reports/aave-gas.json.
contract AaveGasBenchTest is AaveTestBase {
    function setUp() public override {
        super.setUp();
        aaveSupply(aaveSafe, weth, 10e18);
        aaveBorrow(aaveSafe, usdc, 10_000e6);
        weth.mint(aaveSafe, 1e18);
        vm.warp(block.timestamp + 1 days); // interest accrues, as between real rebalances
    }

    /* ACTIONS FROM A SAFE */

    /// @dev The action as RebalanceLib runs it, in its order, with each part measured.
    function _action(string memory key, uint8 kind, uint256 amount) internal {
        uint256 start = gasleft();
        VenueCall memory call = aaveAdapter.encode(kind, wethUsdc, amount, aaveSafe);
        uint256 encodeGas = start - gasleft();
        uint256 approvalsGas;
        if (call.approveToken != address(0)) {
            start = gasleft();
            moduleCall(aaveSafe, call.approveToken, abi.encodeCall(IERC20.approve, (call.target, call.approveAmount)));
            approvalsGas = start - gasleft();
        }
        start = gasleft();
        moduleCall(aaveSafe, call.target, call.data);
        uint256 callGas = start - gasleft();
        if (call.approveToken != address(0)) {
            start = gasleft();
            moduleCall(aaveSafe, call.approveToken, abi.encodeCall(IERC20.approve, (call.target, 0)));
            approvalsGas += start - gasleft();
        }
        vm.serializeUint(key, "encode", encodeGas);
        vm.serializeUint(key, "approvals", approvalsGas);
        vm.serializeUint(key, "aaveCall", callGas);
        string memory out = vm.serializeUint(key, "throughAdapter", encodeGas + approvalsGas + callGas);
        writeGasPart(key, out);
    }

    function test_Gas_Supply() public {
        _action("supply", SUPPLY, 1e18);
    }

    function test_Gas_Withdraw() public {
        _action("withdraw", WITHDRAW, 1e18);
    }

    function test_Gas_Borrow() public {
        _action("borrow", BORROW, 1000e6);
    }

    function test_Gas_Repay() public {
        _action("repay", REPAY, 1000e6);
    }

    /* READS */

    function test_Gas_Reads() public {
        uint256 start = gasleft();
        aaveAdapter.marketState(wethUsdc, aaveSafe);
        uint256 marketStateGas = start - gasleft();
        start = gasleft();
        aaveAdapter.health(wethUsdc, aaveSafe);
        uint256 healthGas = start - gasleft();
        start = gasleft();
        aaveAdapter.encode(REPAY, wethUsdc, 1000e6, aaveSafe);
        uint256 encodeGas = start - gasleft();
        vm.serializeUint("reads", "marketState", marketStateGas);
        vm.serializeUint("reads", "health", healthGas);
        string memory out = vm.serializeUint("reads", "encodeRepayWarm", encodeGas);
        writeGasPart("reads", out);
    }

}

/// @notice `marketState` (cold) of an account with two collateral reserves (the bench's 10 WETH plus 0.2 WBTC): the
/// adapter reads each collateral reserve for the exact threshold-weighted sum (issue 10 rev10q), where the one-collateral
/// account of `AaveGasBenchTest.test_Gas_Reads` needs no read per reserve. State built in setUp, so the call is cold.
contract AaveTwoCollateralReadGasBenchTest is AaveTestBase {
    function setUp() public override {
        super.setUp();
        aaveSupply(aaveSafe, weth, 10e18);
        aaveSupply(aaveSafe, wbtc, 0.2e8);
        aaveBorrow(aaveSafe, usdc, 10_000e6);
        vm.warp(block.timestamp + 1 days);
    }

    function test_Gas_ReadsTwoCollaterals() public {
        uint256 start = gasleft();
        aaveAdapter.marketState(wethUsdc, aaveSafe);
        uint256 marketStateGas = start - gasleft();
        writeGasPart("readsTwoCollaterals", vm.serializeUint("readsTwoCollaterals", "marketState", marketStateGas));
    }
}

/// @notice An Aave rescue (pool withdrawal + repay to health 1.404) through EntryPoint.handleOps, from the same state:
/// the owner lane (MultiSend signed by the owner) and the keeper lane (executeRebalance with every policy check). The
/// state is built in setUp, so each measured operation starts cold.
contract AaveRescueGasBenchTest is AaveTestBase {
    bytes32 internal id;
    uint256 internal amount;

    function setUp() public override {
        super.setUp();
        installModuleWithAave();
        aaveSupply(safe, weth, 10e18);
        aaveBorrow(safe, usdc, 18_000e6);
        depositToVault(safe, usdcVault, 10_000e6);
        safeExec(safe, address(usdc), 0, abi.encodeCall(IERC20.transfer, (lender, 18_000e6)), 0);
        id = setPolicyFor(safe, aavePolicy(wethUsdc, address(wethOracle), address(usdcVault)));
        vm.warp(block.timestamp + 1 hours);
        wethOracle.setPrice(2400e18);
        MarketState memory state = aaveAdapter.marketState(wethUsdc, safe);
        amount = state.debt - HealthLib.collateralValue(state.collateral, state.price) * state.lltv / 1.404e18;
    }

    function test_Gas_RescueOwnerLane() public {
        bytes memory batch = bytes.concat(
            _tx(address(usdcVault), abi.encodeCall(IERC4626.withdraw, (amount, safe, safe))),
            _tx(address(usdc), abi.encodeCall(IERC20.approve, (address(aavePool), amount))),
            _tx(address(aavePool), abi.encodeCall(IPool.repay, (address(usdc), amount, 2, safe))),
            _tx(address(usdc), abi.encodeCall(IERC20.approve, (address(aavePool), 0)))
        );
        PackedUserOperation memory op = baseOp(
            safe,
            abi.encodeCall(
                ILeverageModule.executeUserOp, (multiSendCallOnly, 0, abi.encodeWithSignature("multiSend(bytes)", batch), 1)
            ),
            0
        );
        op.signature = sign(op, ownerKey, 0, 0);
        uint256 used = _measure(op);
        assertApproxEqAbs(aaveHealthFactor(safe), 1.404e18, 0.002e18, "owner lane reached target");
        writeGasPart("rescueOwnerLane", vm.serializeUint("rescueOwnerLane", "handleOps", used));
    }

    function test_Gas_RescueKeeperLane() public {
        Plan memory plan = plan1(
            module.subAccountId(address(aaveAdapter), wethUsdc),
            action(ActionKind.WithdrawFromPool, 0, address(usdcVault), amount),
            action(ActionKind.Repay, 0, address(0), amount)
        );
        uint256 used = _measure(keeperOp(safe, keeper, plan, keeperKey));
        assertApproxEqAbs(aaveHealthFactor(safe), 1.404e18, 0.002e18, "keeper lane reached target");
        assertGt(module.getEpochUsage(safe, id).rebalances, 0);
        writeGasPart("rescueKeeperLane", vm.serializeUint("rescueKeeperLane", "handleOps", used));
    }

    function _measure(PackedUserOperation memory op) internal returns (uint256 used) {
        uint256 start = gasleft();
        handleOk(op);
        used = start - gasleft();
    }

    function _tx(address to, bytes memory data) internal pure returns (bytes memory) {
        return abi.encodePacked(uint8(0), to, uint256(0), data.length, data);
    }
}

/// @notice A cross-venue plan (issue 17) through EntryPoint.handleOps, from the CrossVenue.t.sol state: a Morpho Blue
/// market at 1.65 (above its target 1.4, boosts allowed) and an Aave account at 1.107 (below its band): 2.6 WETH
/// withdrawn from Morpho and supplied to Aave, or 3,000 USDC borrowed on Morpho and repaid on Aave, each through the
/// owner lane (MultiSend signed by the owner, with the exact approval and its reset) and the keeper lane
/// (executeRebalance with every policy check on both sub-accounts). Each measured operation starts cold.
contract CrossVenueGasBenchTest is AaveTestBase {
    bytes32 internal morphoId;
    bytes32 internal aaveId;

    function setUp() public override {
        super.setUp();
        installModuleWithAave();
        openPosition(safe, wethMarket, 20e18, 25_018e6);
        aaveSupply(safe, weth, 10e18);
        aaveBorrow(safe, usdc, 18_000e6);
        Policy memory donor = defaultPolicy(wethMarket, address(0));
        donor.boostAllowed = true;
        morphoId = setPolicyFor(safe, donor);
        aaveId = setPolicyFor(safe, aavePolicy(wethUsdc, address(wethOracle), address(0)));
        vm.warp(block.timestamp + 1 hours);
        wethOracle.setPrice(2400e18);
    }

    function _plan(ActionKind take, ActionKind give, uint256 amount) internal view returns (Plan memory plan) {
        plan.subAccounts = new bytes32[](2);
        plan.subAccounts[0] = morphoId;
        plan.subAccounts[1] = aaveId;
        plan.actions = new Action[](2);
        plan.actions[0] = action(take, 0, address(0), amount);
        plan.actions[1] = action(give, 1, address(0), amount);
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

    function _collateralBatch(uint256 amount) internal view returns (bytes memory) {
        return bytes.concat(
            _tx(address(morpho), abi.encodeCall(IMorphoBase.withdrawCollateral, (wethMarket, amount, safe, safe))),
            _tx(address(weth), abi.encodeCall(IERC20.approve, (address(aavePool), amount))),
            _tx(address(aavePool), abi.encodeCall(IPool.supply, (address(weth), amount, safe, 0))),
            _tx(address(weth), abi.encodeCall(IERC20.approve, (address(aavePool), 0)))
        );
    }

    function _debtBatch(uint256 amount) internal view returns (bytes memory) {
        return bytes.concat(
            _tx(address(morpho), abi.encodeCall(IMorphoBase.borrow, (wethMarket, amount, 0, safe, safe))),
            _tx(address(usdc), abi.encodeCall(IERC20.approve, (address(aavePool), amount))),
            _tx(address(aavePool), abi.encodeCall(IPool.repay, (address(usdc), amount, 2, safe))),
            _tx(address(usdc), abi.encodeCall(IERC20.approve, (address(aavePool), 0)))
        );
    }

    function test_Gas_CrossVenueCollateralOwnerLane() public {
        uint256 used = _measure(_ownerOp(_collateralBatch(2.6e18)));
        _assertLanded();
        writeGasPart("crossCollateralOwnerLane", vm.serializeUint("crossCollateralOwnerLane", "handleOps", used));
    }

    function test_Gas_CrossVenueCollateralKeeperLane() public {
        Plan memory plan = _plan(ActionKind.WithdrawCollateral, ActionKind.SupplyCollateral, 2.6e18);
        uint256 used = _measure(keeperOp(safe, keeper, plan, keeperKey));
        _assertLanded();
        assertEq(module.getEpochUsage(safe, aaveId).rebalances, 1);
        writeGasPart("crossCollateralKeeperLane", vm.serializeUint("crossCollateralKeeperLane", "handleOps", used));
    }

    function test_Gas_CrossVenueDebtOwnerLane() public {
        uint256 used = _measure(_ownerOp(_debtBatch(3000e6)));
        _assertLanded();
        writeGasPart("crossDebtOwnerLane", vm.serializeUint("crossDebtOwnerLane", "handleOps", used));
    }

    function test_Gas_CrossVenueDebtKeeperLane() public {
        Plan memory plan = _plan(ActionKind.Borrow, ActionKind.Repay, 3000e6);
        uint256 used = _measure(keeperOp(safe, keeper, plan, keeperKey));
        _assertLanded();
        assertEq(module.getEpochUsage(safe, aaveId).rebalances, 1);
        assertEq(module.getEpochUsage(safe, morphoId).rebalances, 0, "the donor was not due");
        assertGt(module.getEpochUsage(safe, morphoId).amountMoved, 0, "its amount counts");
        writeGasPart("crossDebtKeeperLane", vm.serializeUint("crossDebtKeeperLane", "handleOps", used));
    }

    /// @dev Both lanes end in the same place: Aave inside its landing zone, Morpho not past its target, nothing idle.
    function _assertLanded() internal view {
        assertGe(aaveHealthFactor(safe), 1.3e18, "Aave in its landing zone");
        assertLe(aaveHealthFactor(safe), 1.55e18);
        assertGe(module.health(safe, morphoId), 1.4e18, "the donor did not cross its target");
        assertEq(weth.allowance(safe, address(aavePool)), 0);
        assertEq(usdc.allowance(safe, address(aavePool)), 0);
    }

    function _measure(PackedUserOperation memory op) internal returns (uint256 used) {
        uint256 start = gasleft();
        handleOk(op);
        used = start - gasleft();
    }

    function _tx(address to, bytes memory data) internal pure returns (bytes memory) {
        return abi.encodePacked(uint8(0), to, uint256(0), data.length, data);
    }
}

/// @dev Writes one part of the report when GAS_REPORT is set (the script merges the parts).
function writeGasPart(string memory key, string memory value) {
    Vm vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));
    string memory path = vm.envOr("GAS_REPORT", string(""));
    if (bytes(path).length == 0) return;
    vm.writeJson(value, string.concat(path, ".", key, ".json"));
}
