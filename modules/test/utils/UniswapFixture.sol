// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {Test} from "forge-std/Test.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IUniswapV3Factory} from "@uniswap/v3-core/contracts/interfaces/IUniswapV3Factory.sol";
import {IUniswapV3Pool} from "@uniswap/v3-core/contracts/interfaces/IUniswapV3Pool.sol";
import {ISwapRouter} from "@uniswap/v3-periphery/contracts/interfaces/ISwapRouter.sol";
import {IQuoterV2} from "@uniswap/v3-periphery/contracts/interfaces/IQuoterV2.sol";
import {IPoolInitializer} from "@uniswap/v3-periphery/contracts/interfaces/IPoolInitializer.sol";
import {TestToken} from "./TestToken.sol";
import {UniswapV3SwapAdapter} from "../../src/adapters/UniswapV3SwapAdapter.sol";

/// @notice The part of NonfungiblePositionManager these tests call (its published interface imports OpenZeppelin 3,
/// which does not compile with solc 0.8).
interface IPositionManager is IPoolInitializer {
    struct MintParams {
        address token0;
        address token1;
        uint24 fee;
        int24 tickLower;
        int24 tickUpper;
        uint256 amount0Desired;
        uint256 amount1Desired;
        uint256 amount0Min;
        uint256 amount1Min;
        address recipient;
        uint256 deadline;
    }

    function mint(MintParams calldata params)
        external
        payable
        returns (uint256 tokenId, uint128 liquidity, uint256 amount0, uint256 amount1);
}

/// @notice Real Uniswap v3 for forge tests: UniswapV3Factory (npm uniswap v3-core 1.0.1), SwapRouter, QuoterV2 and
/// NonfungiblePositionManager (npm uniswap v3-periphery 1.4.4) deployed from their published artifacts; pools
/// initialised exactly at a Morpho oracle price (1e36-scaled loan base units per collateral base unit) with liquidity
/// spread over several tick ranges around it, so depth is finite and price impact grows with size; an arbitrageur
/// that moves a pool onto a new oracle price, and a sandwicher. Mix it into `Fixture` (both are `Test`s); it needs only
/// `TestToken`s (open minting).
abstract contract UniswapFixture is Test {
    string internal constant UNISWAP_CORE = "node_modules/@uniswap/v3-core/artifacts/contracts/";
    string internal constant UNISWAP_PERIPHERY = "node_modules/@uniswap/v3-periphery/artifacts/contracts/";
    uint24 internal constant FEE_LOW = 500;
    uint24 internal constant FEE_MEDIUM = 3000;
    uint256 internal constant Q192 = 1 << 192;
    uint256 internal constant ORACLE_SCALE = 1e36;
    /// @dev What the arbitrageur and sandwicher hold of each token they sell (minted on demand; never runs out).
    uint256 internal constant TRADER_FLOAT = 1e36;

    /// @notice One liquidity position of a spread: `halfWidth` ticks either side of the price (rounded out to the
    /// tick spacing), holding `shareBps` of the pool's depth.
    struct LiquidityRange {
        uint24 halfWidth;
        uint16 shareBps;
    }

    /// @notice A front-run waiting for its back-run.
    struct Sandwich {
        address tokenIn;
        address tokenOut;
        uint24 fee;
        uint256 frontIn;
        uint256 frontOut;
    }

    IUniswapV3Factory internal uniswapFactory;
    ISwapRouter internal swapRouter;
    IQuoterV2 internal quoter;
    IPositionManager internal positionManager;
    address internal liquidityProvider = makeAddr("uniswapLiquidityProvider");
    address internal arbitrageur = makeAddr("arbitrageur");
    address internal sandwicher = makeAddr("sandwicher");

    /* DEPLOYMENT */

    /// @dev Deploys the factory (owner: this test), SwapRouter, QuoterV2 and NonfungiblePositionManager (no token
    /// descriptor: tokenURI is never called). `weth9` is only used by the periphery's ETH paths, which nothing here takes.
    function deployUniswap(address weth9) internal {
        uniswapFactory = IUniswapV3Factory(deployCode(string.concat(UNISWAP_CORE, "UniswapV3Factory.sol/UniswapV3Factory.json")));
        bytes memory args = abi.encode(address(uniswapFactory), weth9);
        swapRouter = ISwapRouter(deployCode(string.concat(UNISWAP_PERIPHERY, "SwapRouter.sol/SwapRouter.json"), args));
        quoter = IQuoterV2(deployCode(string.concat(UNISWAP_PERIPHERY, "lens/QuoterV2.sol/QuoterV2.json"), args));
        positionManager = IPositionManager(
            deployCode(
                string.concat(UNISWAP_PERIPHERY, "NonfungiblePositionManager.sol/NonfungiblePositionManager.json"),
                abi.encode(address(uniswapFactory), weth9, address(0))
            )
        );
        vm.label(address(uniswapFactory), "UniswapV3Factory");
        vm.label(address(swapRouter), "SwapRouter");
        vm.label(address(quoter), "QuoterV2");
        vm.label(address(positionManager), "NonfungiblePositionManager");
    }

    /// @dev `deployUniswap(address(0))`, then the module's UniswapV3SwapAdapter over that SwapRouter with the 0.05% and
    /// 0.3% fee tiers and no hub tokens.
    function deployUniswapSwapAdapter() internal returns (UniswapV3SwapAdapter) {
        deployUniswap(address(0));
        uint24[] memory fees = new uint24[](2);
        (fees[0], fees[1]) = (FEE_LOW, FEE_MEDIUM);
        return new UniswapV3SwapAdapter(address(swapRouter), fees, new address[](0));
    }

    /// @dev The default spread: 10% of the depth within ±0.5%, 20% within ±2%, 30% within ±10%, 40% from half to
    /// twice the price (±7,000 ticks; 1.0001^7000 = 2.01).
    function defaultSpread() internal pure returns (LiquidityRange[] memory ranges) {
        ranges = new LiquidityRange[](4);
        ranges[0] = LiquidityRange(50, 1000);
        ranges[1] = LiquidityRange(200, 2000);
        ranges[2] = LiquidityRange(1000, 3000);
        ranges[3] = LiquidityRange(7000, 4000);
    }

    /// @dev Creates the `collateral`/`loan` pool at `fee` through the position manager, initialised at the oracle
    /// price, and spreads `depth` (loan-token base units of value, half in each token) over `ranges`.
    function createPoolAtOraclePrice(
        address collateral,
        address loan,
        uint24 fee,
        uint256 price,
        uint256 depth,
        LiquidityRange[] memory ranges
    ) internal returns (IUniswapV3Pool pool) {
        pool = _createPool(collateral, loan, fee, sqrtPriceX96Of(price, collateral < loan));
        addSpreadLiquidity(pool, collateral, price, depth, ranges);
    }

    function _createPool(address collateral, address loan, uint24 fee, uint160 sqrtPriceX96)
        internal
        returns (IUniswapV3Pool pool)
    {
        (address token0, address token1) = collateral < loan ? (collateral, loan) : (loan, collateral);
        pool = IUniswapV3Pool(positionManager.createAndInitializePoolIfNecessary(token0, token1, fee, sqrtPriceX96));
        vm.label(address(pool), string.concat("UniswapV3Pool ", vm.toString(uint256(fee))));
    }

    /// @dev Mints `depth` of value (loan base units, valued at `price`) as positions around the pool's current tick.
    function addSpreadLiquidity(
        IUniswapV3Pool pool,
        address collateral,
        uint256 price,
        uint256 depth,
        LiquidityRange[] memory ranges
    ) internal {
        (, int24 tick,,,,,) = pool.slot0();
        IPositionManager.MintParams memory params;
        (params.token0, params.token1, params.fee) = (pool.token0(), pool.token1(), pool.fee());
        (params.recipient, params.deadline) = (liquidityProvider, block.timestamp);
        for (uint256 i; i < ranges.length; ++i) {
            uint256 loanAmount = depth * ranges[i].shareBps / 20_000;
            uint256 collateralAmount = Math.mulDiv(loanAmount, ORACLE_SCALE, price);
            (params.amount0Desired, params.amount1Desired) =
                params.token0 == collateral ? (collateralAmount, loanAmount) : (loanAmount, collateralAmount);
            (params.tickLower, params.tickUpper) = _rangeAround(tick, int24(ranges[i].halfWidth), pool.tickSpacing());
            _mintPosition(params);
        }
    }

    /// @dev [tick - halfWidth, tick + halfWidth] rounded outwards to the tick spacing.
    function _rangeAround(int24 tick, int24 halfWidth, int24 spacing) internal pure returns (int24 lower, int24 upper) {
        lower = _floorToSpacing(tick - halfWidth, spacing);
        upper = _floorToSpacing(tick + halfWidth, spacing) + spacing;
    }

    function _mintPosition(IPositionManager.MintParams memory params) internal {
        vm.startPrank(liquidityProvider);
        _fund(params.token0, liquidityProvider, params.amount0Desired, address(positionManager));
        _fund(params.token1, liquidityProvider, params.amount1Desired, address(positionManager));
        positionManager.mint(params);
        vm.stopPrank();
    }

    /* PRICES */

    /// @notice sqrtPriceX96 of a pool whose price equals a Morpho oracle price: token1 per token0 in base units as a
    /// Q64.96 square root, rounded down. Exact: floor(sqrt(floor(x))) == floor(sqrt(x)), so one rounding only.
    function sqrtPriceX96Of(uint256 price, bool collateralIsToken0) internal pure returns (uint160) {
        uint256 ratioX192 =
            collateralIsToken0 ? Math.mulDiv(price, Q192, ORACLE_SCALE) : Math.mulDiv(ORACLE_SCALE, Q192, price);
        return uint160(Math.sqrt(ratioX192));
    }

    /// @notice The pool's price as a Morpho oracle price of `collateral` (1e36-scaled loan base units per collateral
    /// base unit), rounded down.
    function poolPrice(IUniswapV3Pool pool, address collateral) internal view returns (uint256) {
        (uint160 sqrtPriceX96,,,,,,) = pool.slot0();
        uint256 ratioX128 = Math.mulDiv(sqrtPriceX96, sqrtPriceX96, 1 << 64);
        return pool.token0() == collateral
            ? Math.mulDiv(ratioX128, ORACLE_SCALE, 1 << 128)
            : Math.mulDiv(1 << 128, ORACLE_SCALE, ratioX128);
    }

    /* TRADERS */

    /// @dev The arbitrageur swaps through the router until the pool's sqrtPriceX96 is exactly the oracle `price`
    /// (the router stops at the price limit), as after an oracle move. Returns what it paid in and got out.
    function alignPoolToPrice(IUniswapV3Pool pool, address collateral, uint256 price)
        internal
        returns (uint256 paid, uint256 received)
    {
        uint160 target = sqrtPriceX96Of(price, pool.token0() == collateral);
        (uint160 current,,,,,,) = pool.slot0();
        if (current == target) return (0, 0);
        bool zeroForOne = target < current;
        (paid, received) = _swapToPrice(pool, zeroForOne, target, arbitrageur);
    }

    /// @dev The sandwicher sells `tokenIn` into the `fee` pool until `tokenIn`'s price there has fallen by `bps`, ahead
    /// of a victim selling `tokenIn`.
    function frontRun(address tokenIn, address tokenOut, uint24 fee, uint256 bps) internal returns (Sandwich memory s) {
        IUniswapV3Pool pool = IUniswapV3Pool(uniswapFactory.getPool(tokenIn, tokenOut, fee));
        (uint160 current,,,,,,) = pool.slot0();
        uint256 factor = Math.sqrt((10_000 - bps) * 1e36 / 10_000);
        bool zeroForOne = pool.token0() == tokenIn;
        uint160 target = uint160(zeroForOne ? Math.mulDiv(current, factor, 1e18) : Math.mulDiv(current, 1e18, factor));
        s = Sandwich({tokenIn: tokenIn, tokenOut: tokenOut, fee: fee, frontIn: 0, frontOut: 0});
        (s.frontIn, s.frontOut) = _swapToPrice(pool, zeroForOne, target, sandwicher);
    }

    /// @dev The sandwicher sells back what its front-run bought; returns the `tokenIn` it got back.
    function backRun(Sandwich memory s) internal returns (uint256 returned) {
        vm.startPrank(sandwicher);
        IERC20(s.tokenOut).approve(address(swapRouter), s.frontOut);
        returned = swapRouter.exactInputSingle(
            ISwapRouter.ExactInputSingleParams({
                tokenIn: s.tokenOut,
                tokenOut: s.tokenIn,
                fee: s.fee,
                recipient: sandwicher,
                deadline: block.timestamp,
                amountIn: s.frontOut,
                amountOutMinimum: 0,
                sqrtPriceLimitX96: 0
            })
        );
        vm.stopPrank();
    }

    /// @dev QuoterV2's exact-input quote for one pool (it runs the pool's own swap code and reverts it).
    function quoteExactIn(address tokenIn, address tokenOut, uint24 fee, uint256 amountIn)
        internal
        returns (uint256 amountOut)
    {
        (amountOut,,,) = quoter.quoteExactInputSingle(
            IQuoterV2.QuoteExactInputSingleParams({
                tokenIn: tokenIn, tokenOut: tokenOut, amountIn: amountIn, fee: fee, sqrtPriceLimitX96: 0
            })
        );
    }

    function _swapToPrice(IUniswapV3Pool pool, bool zeroForOne, uint160 target, address trader)
        internal
        returns (uint256 paid, uint256 received)
    {
        (address tokenIn, address tokenOut) = zeroForOne ? (pool.token0(), pool.token1()) : (pool.token1(), pool.token0());
        vm.startPrank(trader);
        _fund(tokenIn, trader, TRADER_FLOAT, address(swapRouter));
        uint256 balanceBefore = IERC20(tokenIn).balanceOf(trader);
        received = swapRouter.exactInputSingle(
            ISwapRouter.ExactInputSingleParams({
                tokenIn: tokenIn,
                tokenOut: tokenOut,
                fee: pool.fee(),
                recipient: trader,
                deadline: block.timestamp,
                amountIn: TRADER_FLOAT,
                amountOutMinimum: 0,
                sqrtPriceLimitX96: target
            })
        );
        paid = balanceBefore - IERC20(tokenIn).balanceOf(trader);
        vm.stopPrank();
        (uint160 reached,,,,,,) = pool.slot0();
        require(reached == target, "UniswapFixture: the pool did not reach the target price");
    }

    /// @dev Tops `holder` up to `amount` of `token` and approves `spender` for it (called inside the holder's prank).
    function _fund(address token, address holder, uint256 amount, address spender) internal {
        uint256 balance = IERC20(token).balanceOf(holder);
        if (balance < amount) TestToken(token).mint(holder, amount - balance);
        IERC20(token).approve(spender, amount);
    }

    function _floorToSpacing(int24 tick, int24 spacing) internal pure returns (int24) {
        int24 floored = tick / spacing * spacing;
        return tick < 0 && floored != tick ? floored - spacing : floored;
    }
}
