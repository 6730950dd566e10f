// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {console} from "forge-std/console.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IUniswapV3Pool} from "@uniswap/v3-core/contracts/interfaces/IUniswapV3Pool.sol";
import {MarketParams} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {Fixture} from "../utils/Fixture.sol";
import {UniswapFixture} from "../utils/UniswapFixture.sol";
import {SwapDeleverageProbe} from "../utils/SwapDeleverageProbe.sol";
import {ISwapAdapter} from "../../src/interfaces/ISwapAdapter.sol";
import {UniswapV3SwapAdapter} from "../../src/adapters/UniswapV3SwapAdapter.sol";

/// @notice The gas budget of a swap deleverage with no idle loan token, in one UserOperation through the real
/// EntryPoint v0.7, Safe 1.4.1, Morpho Blue and Uniswap v3 (0.05% WETH/USDC pool, 20M USDC of spread depth), driven
/// by the test-only SwapDeleverageProbe (no policy checks): the floor the LeverageModule's swap lane builds on.
/// Compares Morpho's repay callback with its flash loan, and tries the probe's transient-storage callback guard.
contract SwapDeleverageGasTest is Fixture, UniswapFixture {
    uint256 internal constant CRASH_PRICE = 2490e18; // health 1.0197 for 10 WETH against 21,000 USDC
    uint16 internal constant MAX_SLIPPAGE_BPS = 50;

    UniswapV3SwapAdapter internal swapAdapter;
    SwapDeleverageProbe internal probe;
    IUniswapV3Pool internal pool;
    address internal probeSafe;

    function setUp() public override {
        super.setUp();
        deployUniswap(address(weth));
        pool = createPoolAtOraclePrice(address(weth), address(usdc), FEE_LOW, wethOracle.price(), 20_000_000e6, defaultSpread());
        uint24[] memory fees = new uint24[](2);
        (fees[0], fees[1]) = (FEE_LOW, FEE_MEDIUM);
        swapAdapter = new UniswapV3SwapAdapter(address(swapRouter), fees, new address[](0));
        probe = new SwapDeleverageProbe(address(entryPoint), keeper, morpho, ISwapAdapter(address(swapAdapter)));
        probeSafe = createSafeWith(owner, address(probe), address(probe));
        vm.deal(probeSafe, 1 ether);

        openPosition(probeSafe, wethMarket, 10e18, 21_000e6);
        // No idle loan token: the borrowed USDC is spent elsewhere.
        safeExec(probeSafe, address(usdc), 0, abi.encodeCall(IERC20.transfer, (lender, 21_000e6)), 0);
        wethOracle.setPrice(CRASH_PRICE);
        alignPoolToPrice(pool, address(weth), wethOracle.price());
        assertApproxEqAbs(_health(), 1.0197e18, 0.0001e18, "starts at health 1.02");
    }

    function _health() internal view returns (uint256) {
        (uint256 collateral, uint256 debt) = adapter.position(_marketId(), probeSafe);
        return collateral * wethOracle.price() / 1e36 * LLTV / debt;
    }

    function _marketId() internal view returns (bytes32) {
        return keccak256(abi.encode(wethMarket));
    }

    /// @dev Sells enough collateral to reach health 1.4 at the oracle price, assuming the swap loses 0.1% to fee and
    /// impact, and repays exactly the swap's output (QuoterV2's quote in the same state).
    /// (C - c) P lltv = 1.4 (D - c P 0.999)  =>  c = (1.4 D - C P lltv) / (P (1.4 * 0.999 - lltv))
    function _deleverage() internal returns (SwapDeleverageProbe.Deleverage memory d) {
        (uint256 collateral, uint256 debt) = adapter.position(_marketId(), probeSafe);
        uint256 price = wethOracle.price();
        uint256 numerator = 1.4e18 * debt - collateral * price / 1e36 * LLTV;
        d.params = wethMarket;
        d.collateralToSell = numerator * 1e36 / (price * (1.4e18 * 999 / 1000 - LLTV));
        d.repayAssets = quoteExactIn(address(weth), address(usdc), FEE_LOW, d.collateralToSell);
        d.route = bytes32(uint256(FEE_LOW));
        d.maxSlippageBps = MAX_SLIPPAGE_BPS;
    }

    function _op(bytes memory callData) internal view returns (PackedUserOperation memory op) {
        op = baseOp(probeSafe, callData, 0);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(keeperKey, entryPoint.getUserOpHash(op));
        op.signature = abi.encodePacked(r, s, v);
    }

    /// @dev Gas of handleOps for `op`, with every contract it touches cold, as in a bundler's own transaction (the
    /// test's earlier reads, such as the quote, would otherwise warm them; the EntryPoint, warm as the transaction's
    /// `to` in reality, is cooled too, so this errs by 2,600 gas on the high side).
    function _measure(PackedUserOperation memory op) internal returns (uint256 used) {
        PackedUserOperation[] memory ops = new PackedUserOperation[](1);
        ops[0] = op;
        address[12] memory touched = [
            address(entryPoint), probeSafe, address(probe), safeSingleton, address(morpho), address(usdc), address(weth),
            address(wethOracle), address(pool), address(swapRouter), address(swapAdapter), address(uniswapFactory)
        ];
        for (uint256 i; i < touched.length; ++i) vm.cool(touched[i]);
        vm.prank(bundler, bundler);
        uint256 start = gasleft();
        entryPoint.handleOps(ops, payable(bundler));
        used = start - gasleft();
    }

    function _value() internal view returns (uint256) {
        (uint256 collateral, uint256 debt) = adapter.position(_marketId(), probeSafe);
        return (collateral + weth.balanceOf(probeSafe)) * wethOracle.price() / 1e36 + usdc.balanceOf(probeSafe) - debt;
    }

    function _assertDeleveraged(SwapDeleverageProbe.Deleverage memory d, uint256 valueBefore) internal view {
        assertApproxEqAbs(_health(), 1.4e18, 0.005e18, "health restored to the 1.4 target (impact estimated at 0.1%)");
        assertEq(usdc.balanceOf(probeSafe), 0, "the whole swap output repaid debt");
        assertEq(weth.balanceOf(probeSafe), 0, "no collateral left loose");
        assertEq(usdc.allowance(probeSafe, address(morpho)), 0, "Morpho allowance back to zero");
        assertEq(weth.allowance(probeSafe, address(swapRouter)), 0, "router allowance back to zero");
        uint256 swapped = d.collateralToSell * wethOracle.price() / 1e36;
        assertLe(valueBefore - _value(), swapped * MAX_SLIPPAGE_BPS / 10_000, "value lost <= maxSlippageBps of the swap");
        assertGe(valueBefore - _value(), swapped * FEE_LOW / 1e6, "at least the pool fee was paid");
    }

    function _run(bytes4 shape) internal returns (uint256 gasUsed, SwapDeleverageProbe.Deleverage memory d) {
        d = _deleverage();
        uint256 valueBefore = _value();
        gasUsed = _measure(_op(abi.encodeWithSelector(shape, d)));
        _assertDeleveraged(d, valueBefore);
    }

    function test_Gas_SwapDeleverage() public {
        uint256 snapshot = vm.snapshotState();
        (uint256 repayCallback, SwapDeleverageProbe.Deleverage memory d) =
            _run(SwapDeleverageProbe.deleverageWithRepayCallback.selector);
        // A later deleverage of the same Safe: nonce and Morpho position slots already written.
        wethOracle.setPrice(1815e18);
        alignPoolToPrice(pool, address(weth), wethOracle.price());
        (uint256 later,) = _run(SwapDeleverageProbe.deleverageWithRepayCallback.selector);
        vm.revertToState(snapshot);
        (uint256 flashLoan,) = _run(SwapDeleverageProbe.deleverageWithFlashLoan.selector);

        console.log("swap deleverage of 10 WETH / 21,000 USDC from health 1.02 to 1.40, no idle USDC, one UserOperation,");
        console.log(
            string.concat(
                "selling ", vm.toString(d.collateralToSell / 1e14), "e-4 WETH for ", vm.toString(d.repayAssets / 1e6),
                " USDC in the 0.05% pool; the Safe pays its own prefund (no paymaster)"
            )
        );
        console.log("shape | handleOps gas (probe: no policy checks)");
        console.log(string.concat("Morpho repay callback, first keeper op | ", vm.toString(repayCallback)));
        console.log(string.concat("Morpho flash loan, first keeper op | ", vm.toString(flashLoan)));
        console.log(string.concat("Morpho repay callback, later op (after a further -27%) | ", vm.toString(later)));
        assertLt(repayCallback, flashLoan, "the repay callback saves the flash loan's transfers");
        assertLt(later, repayCallback, "a later operation writes no fresh slots");
    }

    function test_Deleverage_RevertWhen_SandwichedBeyondMaxSlippage() public {
        SwapDeleverageProbe.Deleverage memory d = _deleverage();
        d.repayAssets = d.repayAssets * 99 / 100; // leaves room, so only the minimum output can stop it
        (uint256 collateralBefore, uint256 debtBefore) = adapter.position(_marketId(), probeSafe);
        frontRun(address(weth), address(usdc), FEE_LOW, 100);
        (bool success, bytes memory reason) = handle(_op(abi.encodeCall(SwapDeleverageProbe.deleverageWithRepayCallback, (d))));
        assertFalse(success, "the operation failed");
        assertEq(reason, abi.encodeWithSignature("Error(string)", "Too little received"), "the router refused the swap");
        (uint256 collateralAfter, uint256 debtAfter) = adapter.position(_marketId(), probeSafe);
        assertEq(collateralAfter, collateralBefore, "no collateral left the position");
        assertEq(debtAfter, debtBefore, "nothing was repaid");
        assertEq(usdc.balanceOf(probeSafe) + weth.balanceOf(probeSafe), 0, "nothing moved into or out of the Safe");
    }

    function test_Callback_RevertWhen_CalledOnTheSafeOutsideADeleverage() public {
        bytes memory data = abi.encode(_deleverage());
        vm.prank(address(morpho));
        vm.expectRevert(abi.encodeWithSelector(SwapDeleverageProbe.CallbackOutsideRebalance.selector, probeSafe));
        SwapDeleverageProbe(probeSafe).onMorphoRepay(1, data);
        vm.expectRevert(abi.encodeWithSelector(SwapDeleverageProbe.CallbackOutsideRebalance.selector, probeSafe));
        SwapDeleverageProbe(probeSafe).onMorphoFlashLoan(1, data);
    }

    function test_Callback_RevertWhen_CalledOnTheModuleDirectly() public {
        // Even with Morpho's address forged into the ERC-2771 suffix, the caller is not the running Safe.
        bytes memory call = abi.encodePacked(
            abi.encodeCall(SwapDeleverageProbe.onMorphoRepay, (1, abi.encode(_deleverage()))), address(morpho)
        );
        address attacker = makeAddr("attacker");
        vm.prank(attacker);
        (bool ok, bytes memory ret) = address(probe).call(call);
        assertFalse(ok, "refused");
        assertEq(ret, abi.encodeWithSelector(SwapDeleverageProbe.CallbackOutsideRebalance.selector, attacker), "named error");
    }
}
