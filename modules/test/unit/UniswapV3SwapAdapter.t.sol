// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {console} from "forge-std/console.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IUniswapV3Pool} from "@uniswap/v3-core/contracts/interfaces/IUniswapV3Pool.sol";
import {ISwapRouter} from "@uniswap/v3-periphery/contracts/interfaces/ISwapRouter.sol";
import {IQuoterV2} from "@uniswap/v3-periphery/contracts/interfaces/IQuoterV2.sol";
import {Fixture} from "../utils/Fixture.sol";
import {UniswapFixture} from "../utils/UniswapFixture.sol";
import {TestToken} from "../utils/TestToken.sol";
import {VenueCall} from "../../src/interfaces/IVenueAdapter.sol";
import {ISwapAdapter, SwapRequest} from "../../src/interfaces/ISwapAdapter.sol";
import {IUniswapV3SwapAdapter} from "../../src/interfaces/IUniswapV3SwapAdapter.sol";
import {UniswapV3SwapAdapter} from "../../src/adapters/UniswapV3SwapAdapter.sol";

/// @notice UniswapV3SwapAdapter against the real Uniswap v3 factory, pools, SwapRouter and QuoterV2 (published npm
/// artifacts), with pools at the fixture's oracle prices and spread liquidity; swaps are made by a real Safe.
contract UniswapV3SwapAdapterTest is Fixture, UniswapFixture {
    uint256 internal constant WETH_DEPTH_LOW = 20_000_000e6;
    uint256 internal constant WETH_DEPTH_MEDIUM = 5_000_000e6;
    uint256 internal constant WBTC_DEPTH_LOW = 10_000_000e6;
    uint256 internal constant WBTC_DEPTH_MEDIUM = 2_000_000e6;

    UniswapV3SwapAdapter internal swapAdapter;
    IUniswapV3Pool internal wethLow;
    IUniswapV3Pool internal wethMedium;
    IUniswapV3Pool internal wbtcLow;
    IUniswapV3Pool internal wbtcMedium;

    function setUp() public override {
        super.setUp();
        deployUniswap(address(weth));
        wethLow = createPoolAtOraclePrice(address(weth), address(usdc), FEE_LOW, wethOracle.price(), WETH_DEPTH_LOW, defaultSpread());
        wethMedium = createPoolAtOraclePrice(
            address(weth), address(usdc), FEE_MEDIUM, wethOracle.price(), WETH_DEPTH_MEDIUM, defaultSpread()
        );
        wbtcLow = createPoolAtOraclePrice(address(wbtc), address(usdc), FEE_LOW, wbtcOracle.price(), WBTC_DEPTH_LOW, defaultSpread());
        wbtcMedium = createPoolAtOraclePrice(
            address(wbtc), address(usdc), FEE_MEDIUM, wbtcOracle.price(), WBTC_DEPTH_MEDIUM, defaultSpread()
        );
        swapAdapter = new UniswapV3SwapAdapter(address(swapRouter), _fees(FEE_LOW, FEE_MEDIUM), _hubs(address(usdc)));
    }

    function _fees(uint24 a, uint24 b) internal pure returns (uint24[] memory fees) {
        fees = new uint24[](2);
        fees[0] = a;
        fees[1] = b;
    }

    function _hubs(address hub) internal pure returns (address[] memory list) {
        list = new address[](1);
        list[0] = hub;
    }

    function _request(address tokenIn, address tokenOut, uint256 amountIn, uint256 minOut, bytes32 route)
        internal
        view
        returns (SwapRequest memory)
    {
        return SwapRequest({
            tokenIn: tokenIn, tokenOut: tokenOut, amountIn: amountIn, minAmountOut: minOut, account: safe, route: route
        });
    }

    /// @dev What the module does with a VenueCall: approve exactly, call from the Safe, reset the approval.
    function _executeFromSafe(VenueCall memory call) internal returns (bool ok, bytes memory ret) {
        vm.startPrank(safe);
        IERC20(call.approveToken).approve(call.target, call.approveAmount);
        (ok, ret) = call.target.call(call.data);
        IERC20(call.approveToken).approve(call.target, 0);
        vm.stopPrank();
    }

    /// @dev Oracle value of `amountIn` of a collateral token in USDC base units, less `bps`.
    function _oracleMin(uint256 amountIn, uint256 price, uint256 bps) internal pure returns (uint256) {
        return amountIn * price / 1e36 * (10_000 - bps) / 10_000;
    }

    /* POOLS */

    function test_Pools_InitialisedExactlyAtTheOraclePrice() public view {
        IUniswapV3Pool[4] memory pools = [wethLow, wethMedium, wbtcLow, wbtcMedium];
        for (uint256 i; i < pools.length; ++i) {
            bool isWeth = i < 2;
            address collateral = isWeth ? address(weth) : address(wbtc);
            uint256 price = isWeth ? wethOracle.price() : wbtcOracle.price();
            (uint160 sqrtPriceX96,,,,,,) = pools[i].slot0();
            assertEq(sqrtPriceX96, sqrtPriceX96Of(price, pools[i].token0() == collateral), "sqrtPriceX96 from the oracle");
            assertApproxEqRel(poolPrice(pools[i], collateral), price, 1e6, "pool price = oracle price (1e-12)");
            assertGt(pools[i].liquidity(), 0, "liquidity at the price");
        }
    }

    function testFuzz_SqrtPriceX96Of_RoundTripsTheOraclePrice(uint256 price, bool collateralIsToken0) public {
        // From 1e-6 to 1e12 loan base units per collateral base unit: every pair of 6..18-decimal tokens at sane prices.
        price = bound(price, 1e30, 1e48);
        uint160 sqrtPriceX96 = sqrtPriceX96Of(price, collateralIsToken0);
        address token0 = collateralIsToken0 ? address(weth) : address(usdc);
        vm.mockCall(address(0xBEEF), abi.encodeWithSignature("slot0()"), abi.encode(sqrtPriceX96, 0, 0, 0, 0, 0, true));
        vm.mockCall(address(0xBEEF), abi.encodeWithSignature("token0()"), abi.encode(token0));
        assertApproxEqRel(poolPrice(IUniswapV3Pool(address(0xBEEF)), address(weth)), price, 1e6, "round trip within 1e-12");
    }

    function test_Pools_LiquidityIsSpreadOverSeveralRanges() public {
        // Crossing out of the narrowest range costs more per unit than staying inside it: depth is finite.
        uint256 small = quoteExactIn(address(weth), address(usdc), FEE_LOW, 1e18);
        uint256 large = quoteExactIn(address(weth), address(usdc), FEE_LOW, 2000e18);
        assertLt(large / 2000, small * 99 / 100, "2,000 WETH sell at least 1% worse per unit than 1 WETH");
        (,, uint32 ticksCrossed,) = quoter.quoteExactInputSingle(
            _quoteParams(address(weth), address(usdc), FEE_LOW, 5000e18)
        );
        assertGe(ticksCrossed, 2, "a large sell crosses several initialised ticks");
    }

    function test_AlignPoolToPrice_FollowsOracleMovesBothWays() public {
        uint256[3] memory prices = [uint256(2400e18), 3300e18, 1500e18];
        for (uint256 i; i < prices.length; ++i) {
            wethOracle.setPrice(prices[i]);
            (uint256 paid, uint256 received) = alignPoolToPrice(wethLow, address(weth), wethOracle.price());
            assertGt(paid, 0, "the arbitrageur traded");
            assertGt(received, 0, "and got something back");
            (uint160 sqrtPriceX96,,,,,,) = wethLow.slot0();
            assertEq(sqrtPriceX96, sqrtPriceX96Of(wethOracle.price(), wethLow.token0() == address(weth)), "exactly on the oracle");
        }
        (uint256 again,) = alignPoolToPrice(wethLow, address(weth), wethOracle.price());
        assertEq(again, 0, "nothing to do when aligned");
    }

    /* SWAPS */

    function test_EncodeSwap_SingleHopPaysTheQuoteIntoTheAccount() public {
        uint256 amountIn = 10e18;
        weth.mint(safe, amountIn);
        uint256 quote = quoteExactIn(address(weth), address(usdc), FEE_LOW, amountIn);
        uint256 usdcBefore = usdc.balanceOf(safe);
        VenueCall memory call = swapAdapter.encodeSwap(
            _request(address(weth), address(usdc), amountIn, _oracleMin(amountIn, wethOracle.price(), 50), bytes32(uint256(FEE_LOW)))
        );
        (bool ok,) = _executeFromSafe(call);
        assertTrue(ok, "swap succeeded");
        assertEq(usdc.balanceOf(safe) - usdcBefore, quote, "the account received exactly the quote");
        assertEq(weth.balanceOf(safe), 0, "the account paid exactly amountIn");
        _assertNothingStuck();
    }

    function test_EncodeSwap_TwoHopThroughTheHubPaysTheQuoteIntoTheAccount() public {
        uint256 amountIn = 1e8;
        wbtc.mint(safe, amountIn);
        bytes32 route = swapAdapter.encodeRoute(FEE_LOW, 1, FEE_MEDIUM);
        (uint256 quote,,,) =
            quoter.quoteExactInput(abi.encodePacked(address(wbtc), FEE_LOW, address(usdc), FEE_MEDIUM, address(weth)), amountIn);
        VenueCall memory call = swapAdapter.encodeSwap(_request(address(wbtc), address(weth), amountIn, 1, route));
        assertEq(bytes4(call.data), ISwapRouter.exactInput.selector, "two hops use exactInput");
        (bool ok,) = _executeFromSafe(call);
        assertTrue(ok, "swap succeeded");
        assertEq(weth.balanceOf(safe), quote, "the account received exactly the quote");
        assertEq(wbtc.balanceOf(safe), 0, "the account paid exactly amountIn");
        _assertNothingStuck();
    }

    function test_EncodeSwap_RevertWhen_OutputBelowTheMinimum() public {
        uint256 amountIn = 10e18;
        weth.mint(safe, amountIn);
        uint256 quote = quoteExactIn(address(weth), address(usdc), FEE_LOW, amountIn);
        VenueCall memory call = swapAdapter.encodeSwap(
            _request(address(weth), address(usdc), amountIn, quote + 1, bytes32(uint256(FEE_LOW)))
        );
        (bool ok, bytes memory ret) = _executeFromSafe(call);
        assertFalse(ok, "swap refused");
        assertEq(ret, abi.encodeWithSignature("Error(string)", "Too little received"), "Uniswap's own error");
        assertEq(weth.balanceOf(safe), amountIn, "nothing left the account");
        assertEq(usdc.balanceOf(safe), 0, "nothing arrived");
    }

    function test_EncodeSwap_RevertWhen_SandwichedBeyondTheOracleMinimum() public {
        uint256 amountIn = 10e18;
        weth.mint(safe, amountIn);
        uint256 minOut = _oracleMin(amountIn, wethOracle.price(), 50); // maxSlippageBps = 50
        VenueCall memory call =
            swapAdapter.encodeSwap(_request(address(weth), address(usdc), amountIn, minOut, bytes32(uint256(FEE_LOW))));

        uint256 snapshot = vm.snapshotState();
        Sandwich memory s = frontRun(address(weth), address(usdc), FEE_LOW, 100);
        (bool ok, bytes memory ret) = _executeFromSafe(call);
        assertFalse(ok, "a 1% front-run pushes the output under the 0.5% oracle minimum");
        assertEq(ret, abi.encodeWithSignature("Error(string)", "Too little received"), "Uniswap's own error");
        assertEq(weth.balanceOf(safe), amountIn, "nothing left the account");
        assertLt(backRun(s), s.frontIn, "the sandwicher loses the fees of both legs");

        vm.revertToState(snapshot);
        frontRun(address(weth), address(usdc), FEE_LOW, 20);
        (ok,) = _executeFromSafe(call);
        assertTrue(ok, "a 0.2% front-run stays inside the 0.5% bound");
        assertGe(usdc.balanceOf(safe), minOut, "output at least the oracle minimum");
    }

    function test_EncodeSwap_ApprovalIsExactlyTheAmountIn() public {
        uint256 amountIn = 3e18;
        weth.mint(safe, amountIn);
        VenueCall memory call =
            swapAdapter.encodeSwap(_request(address(weth), address(usdc), amountIn, 1, bytes32(uint256(FEE_MEDIUM))));
        assertEq(call.target, address(swapRouter), "target is the router");
        assertEq(call.approveToken, address(weth), "approve tokenIn");
        assertEq(call.approveAmount, amountIn, "approve exactly amountIn");

        vm.startPrank(safe);
        weth.approve(call.target, call.approveAmount - 1);
        (bool ok, bytes memory ret) = call.target.call(call.data);
        assertFalse(ok, "one base unit less is not enough");
        assertEq(ret, abi.encodeWithSignature("Error(string)", "STF"), "TransferHelper: safeTransferFrom failed");
        weth.approve(call.target, call.approveAmount);
        (ok,) = call.target.call(call.data);
        vm.stopPrank();
        assertTrue(ok, "the exact amount is enough");
        assertEq(weth.allowance(safe, address(swapRouter)), 0, "the router used the whole approval");
    }

    function test_ImpactGrowsWithSize() public {
        uint256[6] memory sizes = [uint256(1e18), 10e18, 50e18, 100e18, 250e18, 500e18];
        uint24[2] memory fees = [FEE_LOW, FEE_MEDIUM];
        console.log("WETH -> USDC at the oracle price 3,000 USDC (depth: 0.05% pool 20M USDC, 0.3% pool 5M USDC)");
        console.log("fee tier | WETH in | USDC out | shortfall vs oracle (bps) | of which impact (bps)");
        for (uint256 f; f < fees.length; ++f) {
            uint256 previous;
            for (uint256 i; i < sizes.length; ++i) {
                uint256 shortfall = _impactRow(fees[f], sizes[i]);
                assertGe(shortfall, fees[f], "never better than the oracle price less the fee");
                assertGt(shortfall, previous, "a larger sell gets a worse average price");
                previous = shortfall;
            }
        }
    }

    /// @dev Quotes `size` WETH in the `fee` pool, logs a row; returns the shortfall against the oracle in millionths.
    function _impactRow(uint24 fee, uint256 size) internal returns (uint256 shortfall) {
        uint256 out = quoteExactIn(address(weth), address(usdc), fee, size);
        uint256 fair = size * wethOracle.price() / 1e36;
        shortfall = (fair - out) * 1e6 / fair; // millionths, like Uniswap's fee units (500 = 5 bps)
        uint256 impact = shortfall > fee ? shortfall - fee : 0;
        console.log(
            string.concat(
                vm.toString(uint256(fee)), " | ", vm.toString(size / 1e18), " | ", vm.toString(out / 1e6), " | ",
                _bps(shortfall), " | ", _bps(impact)
            )
        );
        assertLt(out, usdc.balanceOf(uniswapFactory.getPool(address(weth), address(usdc), fee)), "the pool is not drained");
    }

    function _bps(uint256 hundredths) internal pure returns (string memory) {
        string memory frac = vm.toString(hundredths % 100);
        return string.concat(vm.toString(hundredths / 100), ".", bytes(frac).length == 1 ? "0" : "", frac);
    }

    /* ROUTES */

    function test_Routes_ListTheAllowedFeeTiersAndHubs() public view {
        uint24[] memory fees = swapAdapter.feeTiers();
        assertEq(fees.length, 2, "two tiers");
        assertEq(fees[0], FEE_LOW, "0.05%");
        assertEq(fees[1], FEE_MEDIUM, "0.3%");
        address[] memory list = swapAdapter.hubs();
        assertEq(list.length, 1, "one hub");
        assertEq(list[0], address(usdc), "USDC hub");
        assertEq(swapAdapter.router(), address(swapRouter), "router");
        assertEq(swapAdapter.factory(), address(uniswapFactory), "the router's factory");
        address[] memory pools = swapAdapter.routePools(address(wbtc), address(weth), swapAdapter.encodeRoute(FEE_LOW, 1, FEE_LOW));
        assertEq(pools[0], address(wbtcLow), "first hop");
        assertEq(pools[1], address(wethLow), "second hop");
        assertTrue(swapAdapter.isRoute(address(weth), address(usdc), bytes32(uint256(FEE_MEDIUM))), "valid single hop");
    }

    function test_Routes_RevertWhen_FeeTierNotAllowed() public {
        // An attacker's own pool on the canonical factory, at the 1% tier, priced at a tenth of the oracle.
        address hostile = uniswapFactory.createPool(address(weth), address(usdc), 10_000);
        IUniswapV3Pool(hostile).initialize(sqrtPriceX96Of(wethOracle.price() / 10, address(weth) < address(usdc)));
        bytes32 route = bytes32(uint256(10_000));
        _expectRouteRevert(address(weth), address(usdc), route, abi.encodeWithSelector(IUniswapV3SwapAdapter.FeeTierNotAllowed.selector, 10_000));
        route = swapAdapter.encodeRoute(FEE_LOW, 1, 10_000);
        _expectRouteRevert(address(wbtc), address(weth), route, abi.encodeWithSelector(IUniswapV3SwapAdapter.FeeTierNotAllowed.selector, 10_000));
    }

    function test_Routes_RevertWhen_HubNotAllowed() public {
        // Hub 2 is not configured: the keeper cannot reach WBTC (or any token) as a hub, even with a WBTC/WETH pool.
        uniswapFactory.createPool(address(wbtc), address(weth), FEE_LOW);
        bytes32 route = swapAdapter.encodeRoute(FEE_LOW, 2, FEE_LOW);
        _expectRouteRevert(address(weth), address(usdc), route, abi.encodeWithSelector(IUniswapV3SwapAdapter.UnknownHub.selector, 2));
        route = swapAdapter.encodeRoute(FEE_LOW, type(uint8).max, FEE_LOW);
        _expectRouteRevert(address(weth), address(usdc), route, abi.encodeWithSelector(IUniswapV3SwapAdapter.UnknownHub.selector, 255));
        // The hub may not be an end of its own route.
        route = swapAdapter.encodeRoute(FEE_LOW, 1, FEE_LOW);
        _expectRouteRevert(address(usdc), address(weth), route, abi.encodeWithSelector(IUniswapV3SwapAdapter.HubNotAllowed.selector, address(usdc)));
        _expectRouteRevert(address(weth), address(usdc), route, abi.encodeWithSelector(IUniswapV3SwapAdapter.HubNotAllowed.selector, address(usdc)));
    }

    function test_Routes_RevertWhen_PoolNotFound() public {
        bytes32 route = bytes32(uint256(FEE_LOW));
        _expectRouteRevert(
            address(wsteth), address(usdc), route,
            abi.encodeWithSelector(IUniswapV3SwapAdapter.PoolNotFound.selector, address(wsteth), address(usdc), FEE_LOW)
        );
        route = swapAdapter.encodeRoute(FEE_LOW, 1, FEE_LOW);
        _expectRouteRevert(
            address(weth), address(wsteth), route,
            abi.encodeWithSelector(IUniswapV3SwapAdapter.PoolNotFound.selector, address(usdc), address(wsteth), FEE_LOW)
        );
    }

    function test_Routes_RevertWhen_Malformed() public {
        bytes32[4] memory routes = [
            bytes32(uint256(FEE_LOW) | 1 << 56), // reserved bits
            bytes32(uint256(FEE_LOW) | 1 << 255), // reserved bits
            bytes32(uint256(FEE_LOW) | uint256(FEE_LOW) << 32), // a second fee without a hub
            bytes32(uint256(FEE_LOW) | 1 << 24) // a hub without a second fee
        ];
        for (uint256 i; i < routes.length; ++i) {
            _expectRouteRevert(
                address(weth), address(usdc), routes[i],
                abi.encodeWithSelector(IUniswapV3SwapAdapter.MalformedRoute.selector, routes[i])
            );
        }
        vm.expectRevert(abi.encodeWithSelector(IUniswapV3SwapAdapter.MalformedRoute.selector, bytes32(uint256(FEE_LOW) | 1 << 24)));
        swapAdapter.encodeRoute(FEE_LOW, 1, 0);
        vm.expectRevert(abi.encodeWithSelector(IUniswapV3SwapAdapter.MalformedRoute.selector, bytes32(uint256(FEE_LOW) | uint256(FEE_LOW) << 32)));
        swapAdapter.encodeRoute(FEE_LOW, 0, FEE_LOW);
    }

    function testFuzz_Routes_DecodeWhatEncodeBuilt(uint24 fee, uint8 hub, uint24 hubFee) public view {
        vm.assume((hub == 0) == (hubFee == 0));
        (uint24 f, uint8 h, uint24 hf) = swapAdapter.decodeRoute(swapAdapter.encodeRoute(fee, hub, hubFee));
        assertEq(f, fee, "fee");
        assertEq(h, hub, "hub");
        assertEq(hf, hubFee, "hub fee");
        assertLt(uint256(swapAdapter.encodeRoute(fee, hub, hubFee)), 1 << 56, "fits an address-sized field");
    }

    /// @dev Any route word the keeper can send either names factory pools at allowed tiers, or is refused by name.
    function testFuzz_Routes_OnlyFactoryPoolsAtAllowedTiers(uint8 feeChoice, uint8 hub, uint8 hubFeeChoice, uint256 junk, bool fromWbtc)
        public
        view
    {
        uint24[5] memory fees = [uint24(0), 100, FEE_LOW, FEE_MEDIUM, 10_000];
        uint256 word = uint256(fees[feeChoice % 5]) | uint256(hub % 4) << 24 | uint256(fees[hubFeeChoice % 5]) << 32;
        if (junk % 4 == 0) word |= junk; // sometimes garbage anywhere
        bytes32 route = bytes32(word);
        address tokenIn = fromWbtc ? address(wbtc) : address(weth);
        try swapAdapter.routePools(tokenIn, address(usdc), route) returns (address[] memory pools) {
            for (uint256 i; i < pools.length; ++i) {
                IUniswapV3Pool pool = IUniswapV3Pool(pools[i]);
                assertTrue(pool.fee() == FEE_LOW || pool.fee() == FEE_MEDIUM, "allowed tier");
                assertEq(uniswapFactory.getPool(pool.token0(), pool.token1(), pool.fee()), pools[i], "a factory pool");
            }
        } catch (bytes memory err) {
            bytes4 selector = bytes4(err);
            assertTrue(
                selector == IUniswapV3SwapAdapter.MalformedRoute.selector
                    || selector == IUniswapV3SwapAdapter.FeeTierNotAllowed.selector
                    || selector == IUniswapV3SwapAdapter.UnknownHub.selector
                    || selector == IUniswapV3SwapAdapter.HubNotAllowed.selector
                    || selector == IUniswapV3SwapAdapter.PoolNotFound.selector,
                "refused with a named route error"
            );
        }
    }

    function test_EncodeSwap_RevertWhen_RequestIsIncomplete() public {
        bytes32 route = bytes32(uint256(FEE_LOW));
        SwapRequest memory request = _request(address(weth), address(usdc), 1e18, 1, route);
        request.amountIn = 0;
        vm.expectRevert(ISwapAdapter.ZeroAmountIn.selector);
        swapAdapter.encodeSwap(request);
        request.amountIn = 1e18;
        request.minAmountOut = 0;
        vm.expectRevert(ISwapAdapter.ZeroMinAmountOut.selector);
        swapAdapter.encodeSwap(request);
        request.minAmountOut = 1;
        request.account = address(0);
        vm.expectRevert(abi.encodeWithSelector(ISwapAdapter.InvalidAccount.selector, address(0)));
        swapAdapter.encodeSwap(request);
        _expectRouteRevert(address(usdc), address(usdc), route, abi.encodeWithSelector(ISwapAdapter.SameToken.selector, address(usdc)));
    }

    /// @dev Whatever the keeper chooses, the call targets the router, pays only the account, and carries the amounts.
    function testFuzz_EncodeSwap_OutputGoesOnlyToTheAccount(
        address account,
        uint256 amountIn,
        uint256 minOut,
        bool twoHop,
        bool mediumTier
    ) public view {
        vm.assume(account != address(0));
        amountIn = bound(amountIn, 1, type(uint128).max);
        minOut = bound(minOut, 1, type(uint256).max);
        uint24 fee = mediumTier ? FEE_MEDIUM : FEE_LOW;
        bytes32 route = twoHop ? swapAdapter.encodeRoute(fee, 1, FEE_LOW) : bytes32(uint256(fee));
        address tokenOut = twoHop ? address(wbtc) : address(usdc);
        VenueCall memory call = swapAdapter.encodeSwap(
            SwapRequest({tokenIn: address(weth), tokenOut: tokenOut, amountIn: amountIn, minAmountOut: minOut, account: account, route: route})
        );
        assertEq(call.target, address(swapRouter), "router only");
        assertEq(call.approveToken, address(weth), "approve tokenIn");
        assertEq(call.approveAmount, amountIn, "approve amountIn");
        bytes memory args = _args(call.data);
        if (twoHop) {
            ISwapRouter.ExactInputParams memory p = abi.decode(args, (ISwapRouter.ExactInputParams));
            assertEq(p.recipient, account, "recipient is the account");
            assertEq(p.amountIn, amountIn, "amountIn");
            assertEq(p.amountOutMinimum, minOut, "minimum");
            assertEq(p.deadline, block.timestamp, "deadline now");
            assertEq(p.path, abi.encodePacked(address(weth), fee, address(usdc), FEE_LOW, address(wbtc)), "path");
        } else {
            ISwapRouter.ExactInputSingleParams memory p = abi.decode(args, (ISwapRouter.ExactInputSingleParams));
            assertEq(p.recipient, account, "recipient is the account");
            assertEq(p.amountIn, amountIn, "amountIn");
            assertEq(p.amountOutMinimum, minOut, "minimum");
            assertEq(p.deadline, block.timestamp, "deadline now");
            assertEq(p.fee, fee, "fee tier");
            assertEq(p.sqrtPriceLimitX96, 0, "no price limit");
        }
    }

    /* CONSTRUCTOR */

    function test_Constructor_RevertWhen_OptionsInvalid() public {
        address[] memory none = new address[](0);
        vm.expectRevert(abi.encodeWithSelector(IUniswapV3SwapAdapter.InvalidRouter.selector, address(0xBAD)));
        new UniswapV3SwapAdapter(address(0xBAD), _fees(FEE_LOW, FEE_MEDIUM), none);
        vm.expectRevert(abi.encodeWithSelector(IUniswapV3SwapAdapter.FeeTierNotEnabled.selector, uint24(100)));
        new UniswapV3SwapAdapter(address(swapRouter), _fees(FEE_LOW, 100), none);
        vm.expectRevert(abi.encodeWithSelector(IUniswapV3SwapAdapter.FeeTierNotEnabled.selector, FEE_LOW));
        new UniswapV3SwapAdapter(address(swapRouter), _fees(FEE_LOW, FEE_LOW), none);
        vm.expectRevert(abi.encodeWithSelector(IUniswapV3SwapAdapter.FeeTierNotEnabled.selector, uint24(0)));
        new UniswapV3SwapAdapter(address(swapRouter), _fees(0, FEE_LOW), none);
        vm.expectRevert(abi.encodeWithSelector(IUniswapV3SwapAdapter.InvalidHub.selector, address(0)));
        new UniswapV3SwapAdapter(address(swapRouter), _fees(FEE_LOW, FEE_MEDIUM), _hubs(address(0)));
        address[] memory twice = new address[](2);
        (twice[0], twice[1]) = (address(usdc), address(usdc));
        vm.expectRevert(abi.encodeWithSelector(IUniswapV3SwapAdapter.InvalidHub.selector, address(usdc)));
        new UniswapV3SwapAdapter(address(swapRouter), _fees(FEE_LOW, FEE_MEDIUM), twice);
        address[] memory three = new address[](3);
        vm.expectRevert(abi.encodeWithSelector(IUniswapV3SwapAdapter.TooManyRouteOptions.selector, 2, 3));
        new UniswapV3SwapAdapter(address(swapRouter), _fees(FEE_LOW, FEE_MEDIUM), three);
    }

    /* HELPERS */

    function _expectRouteRevert(address tokenIn, address tokenOut, bytes32 route, bytes memory err) internal {
        assertFalse(swapAdapter.isRoute(tokenIn, tokenOut, route), "isRoute is false");
        vm.expectRevert(err);
        swapAdapter.routePools(tokenIn, tokenOut, route);
        vm.expectRevert(err);
        swapAdapter.encodeSwap(_request(tokenIn, tokenOut, 1e18, 1, route));
    }

    function _assertNothingStuck() internal view {
        address[3] memory tokens = [address(weth), address(usdc), address(wbtc)];
        for (uint256 i; i < tokens.length; ++i) {
            assertEq(IERC20(tokens[i]).balanceOf(address(swapRouter)), 0, "nothing left in the router");
            assertEq(IERC20(tokens[i]).balanceOf(address(swapAdapter)), 0, "nothing in the adapter");
            assertEq(IERC20(tokens[i]).allowance(safe, address(swapRouter)), 0, "no allowance left");
        }
    }

    function _args(bytes memory data) internal pure returns (bytes memory args) {
        args = new bytes(data.length - 4);
        for (uint256 i; i < args.length; ++i) args[i] = data[i + 4];
    }

    function _quoteParams(address tokenIn, address tokenOut, uint24 fee, uint256 amountIn)
        internal
        pure
        returns (IQuoterV2.QuoteExactInputSingleParams memory)
    {
        return IQuoterV2.QuoteExactInputSingleParams({tokenIn: tokenIn, tokenOut: tokenOut, amountIn: amountIn, fee: fee, sqrtPriceLimitX96: 0});
    }
}
