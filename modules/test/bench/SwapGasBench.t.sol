// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SwapBase} from "../utils/SwapBase.sol";
import {Plan} from "../../src/interfaces/ILeverageModule.sol";
import {ConstantsLib} from "../../src/libraries/ConstantsLib.sol";

/// @notice Gas of a swap deleverage (Morpho repay callback + withdraw + Uniswap v3 swap + settle, no idle loan token)
/// and of a one-pass boost (borrow + swap + supply), each one keeper UserOperation through EntryPoint.handleOps with
/// every policy check, the Safe paying its own prefund. Every contract the operation touches is cooled first
/// (`vm.cool`), as in a bundler's own transaction, except the linked RebalanceLib (its first access, 2,600 gas, is not
/// counted) and the beneficiary, which is the bundler itself (tx.origin: warm, and holding ETH, so paying it creates no
/// account). The EntryPoint is cooled although it is the transaction's `to` (2,600 gas on the high side). Gas is
/// `gasleft()` around handleOps: storage refunds (approvals and balances that return to zero) are not deducted.
/// `npm run bench:gas` runs this with GAS_REPORT set and adds `swapDeleverage` and `boost` to reports/gas.json.
contract SwapGasBenchTest is SwapBase {
    function setUp() public override {
        super.setUp();
        vm.deal(bundler, 1 ether);
    }

    function _measure(PackedUserOperation memory op) internal returns (uint256 used) {
        address[13] memory touched = [
            address(entryPoint), safe, address(module), safeSingleton, address(morpho), address(adapter),
            address(usdc), address(weth), address(wethOracle), address(wethPool), address(swapRouter),
            address(swapAdapter), address(uniswapFactory)
        ];
        for (uint256 i; i < touched.length; ++i) vm.cool(touched[i]);
        PackedUserOperation[] memory ops = new PackedUserOperation[](1);
        ops[0] = op;
        uint256 nonce = entryPoint.getNonce(op.sender, uint192(op.nonce >> 64));
        vm.cool(address(entryPoint));
        vm.prank(bundler, bundler);
        uint256 start = gasleft();
        entryPoint.handleOps(ops, payable(bundler));
        used = start - gasleft();
        assertEq(entryPoint.getNonce(op.sender, uint192(op.nonce >> 64)), nonce + 1, "the operation was included");
    }

    function _lossBps(int256 valueBefore, uint256 swappedValue) internal view returns (uint256) {
        return Math.mulDiv(uint256(valueBefore - safeValue(wethVault)), 1e6, swappedValue); // hundredths of a bp
    }

    function test_Gas_SwapDeleverageKeeperLane() public {
        uint256 start = vm.snapshotState();
        (Plan memory plan, uint256 sold, uint256 repaid) = swapDeleverage(1.4e18);
        int256 valueBefore = safeValue(wethVault);
        uint256 first = _measure(keeperOp(safe, keeper, plan, keeperKey));
        uint256 swappedValue = Math.mulDiv(sold, wethOracle.price(), 1e36);
        uint256 lossCentiBps = _lossBps(valueBefore, swappedValue);
        assertApproxEqAbs(healthOf(safe, wethMarket), 1.4e18, 0.002e18, "deleveraged to the target");
        assertLe(first, 600_000, "target: <= 600,000 gas for the swap deleverage");

        moveWethHealthTo(1.15e18); // a later rescue in the same epoch
        (plan,,) = swapDeleverage(1.4e18);
        uint256 later = _measure(keeperOp(safe, keeper, plan, keeperKey));
        assertApproxEqAbs(healthOf(safe, wethMarket), 1.4e18, 0.002e18, "deleveraged again");

        // The same first rescue with the sale-minimum repayment (issue 13: RepayWithCallback amount 0 carrying
        // REPAY_PLUS_SALE_MINIMUMS; the module adds the sale's minimum at the inclusion oracle), from the same state,
        // measured last so the trace's first two handleOps stay the rows above.
        vm.revertToState(start);
        (plan,,) = swapDeleverage(1.4e18);
        plan.actions[0].pool = address(uint160(ConstantsLib.REPAY_PLUS_SALE_MINIMUMS));
        plan.actions[0].amount = 0;
        uint256 saleMinimum = _measure(keeperOp(safe, keeper, plan, keeperKey));
        assertGe(healthOf(safe, wethMarket), 1.2e18, "the sale-minimum rescue lands in the band");

        string memory obj = "swapDeleverage";
        vm.serializeUint(obj, "keeperLaneSaleMinimum", saleMinimum);
        vm.serializeUint(obj, "keeperLane", first);
        vm.serializeUint(obj, "keeperLaneLater", later);
        vm.serializeUint(obj, "wethSold", sold);
        vm.serializeUint(obj, "usdcRepaid", repaid);
        vm.serializeUint(obj, "maxSlippageBps", MAX_SLIPPAGE_BPS);
        string memory out = vm.serializeUint(obj, "valueLossCentiBpsOfSwap", lossCentiBps);
        _write("swapDeleverage", out);
    }

    function test_Gas_BoostKeeperLane() public {
        (Plan memory plan, uint256 borrowed, uint256 bought) = boostFromHealth18();
        int256 valueBefore = safeValue(wethVault);
        uint256 used = _measure(keeperOp(safe, keeper, plan, keeperKey));
        uint256 lossCentiBps = _lossBps(valueBefore, borrowed);
        assertApproxEqAbs(healthOf(safe, wethMarket), 1.4e18, 0.002e18, "levered to the target");

        string memory obj = "boost";
        vm.serializeUint(obj, "keeperLane", used);
        vm.serializeUint(obj, "usdcBorrowed", borrowed);
        vm.serializeUint(obj, "wethBought", bought);
        string memory out = vm.serializeUint(obj, "valueLossCentiBpsOfSwap", lossCentiBps);
        _write("boost", out);
    }

    function _write(string memory key, string memory value) internal {
        string memory path = vm.envOr("GAS_REPORT", string(""));
        if (bytes(path).length == 0) return;
        vm.writeJson(value, string.concat(path, ".", key, ".json"));
    }
}
