// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IMorpho, MarketParams, Id} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {MarketParamsLib} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";
import {SwapBase} from "../utils/SwapBase.sol";
import {MisbehavingVenue, RedirectingAdapter} from "../utils/CallbackProbes.sol";
import {ILeverageModule, Plan, Action, ActionKind} from "../../src/interfaces/ILeverageModule.sol";
import {ISwapAdapter, SwapRequest} from "../../src/interfaces/ISwapAdapter.sol";
import {IVenueAdapter} from "../../src/interfaces/IVenueAdapter.sol";
import {RebalanceLib} from "../../src/libraries/RebalanceLib.sol";

/// @notice TEST ONLY (review rr16c). A callback venue like `MisbehavingVenue` (same `repayWithCallback`, so
/// `RedirectingAdapter` routes the module's RepayWithCallback here): it repays the Safe's debt on the real Morpho Blue
/// from its own liquidity, calls the Safe back once with `onMorphoRepay(assets, data')`, then pulls `assets`. `data'` is
/// the armed data itself (`Honest`, recorded in `lastData`), a replacement the test chose (`Replace`), or the armed data
/// with one byte XORed (`Flip`).
contract ForgingVenue {
    enum Mode {
        Honest,
        Replace,
        Flip
    }

    IMorpho public immutable MORPHO;
    Mode public mode;
    bytes public replacement;
    uint256 public flipAt;
    bytes1 public flipMask;
    bytes public lastData;

    constructor(IMorpho morpho) {
        MORPHO = morpho;
    }

    function setHonest() external {
        mode = Mode.Honest;
    }

    function setReplace(bytes calldata data) external {
        mode = Mode.Replace;
        replacement = data;
    }

    function setFlip(uint256 at, bytes1 mask) external {
        mode = Mode.Flip;
        flipAt = at;
        flipMask = mask;
    }

    function repayWithCallback(bytes32 market, uint256 assets, address account, bytes calldata data) external {
        lastData = data;
        MarketParams memory params = MORPHO.idToMarketParams(Id.wrap(market));
        IERC20(params.loanToken).approve(address(MORPHO), assets);
        MORPHO.repay(params, assets, 0, account, "");
        bytes memory sent = data;
        if (mode == Mode.Replace) {
            sent = replacement;
        } else if (mode == Mode.Flip) {
            sent[flipAt] = sent[flipAt] ^ flipMask;
        }
        ILeverageModule(msg.sender).onMorphoRepay(assets, sent);
        IERC20(params.loanToken).transferFrom(msg.sender, address(this), assets);
    }
}

/// @notice Break-it review rr16c of lo16 (4b9fa6a: the callback data carries `RebalanceLib.CallbackRun`s, not whole
/// `Run`s). A venue adapter's callback venue that forges the data it hands back (a module deployed with a
/// `RedirectingAdapter` to a `ForgingVenue`; positions, plain actions and swaps on the real Morpho Blue and Uniswap v3),
/// each keeper operation sent through EntryPoint.handleOps: every change of the armed bytes is refused with
/// `ActionFailed(0, UnexpectedCallback(onMorphoRepay))` and nothing leaves the Safe, whether the change loosens what the
/// inner actions read (the swap's price or bound, the venue adapter, the market), adds an inner action,
/// re-encodes the same values differently, flips any one byte, or replays the data another run armed. Controls: the same
/// venue handing back the armed bytes (recorded, or given back as a replacement) completes the deleverage, and the
/// inner swap's request is built from the carried run (tokens, pre-trade price, the policy's 50 bps bound).
contract CallbackDataRr16cTest is SwapBase {
    using MarketParamsLib for MarketParams;

    ForgingVenue internal venue;
    RedirectingAdapter internal redirecting;

    function setUp() public override {
        super.setUp();
        venue = new ForgingVenue(morpho);
        usdc.mint(address(venue), 1_000_000e6); // its own liquidity, as Morpho's
        redirecting = new RedirectingAdapter(adapter, MisbehavingVenue(address(venue)));
        address[] memory venues = new address[](2);
        venues[0] = address(redirecting);
        venues[1] = address(adapter); // a second allowlisted adapter a forged CallbackRun could name
        installModule(venues, address(redirecting));
    }

    /* HELPERS */

    function _deleverage() internal returns (Plan memory plan) {
        (plan,,) = swapDeleverage(1.4e18);
    }

    function _refusedErr() internal pure returns (bytes memory) {
        return actionFailed(
            0, abi.encodeWithSelector(ILeverageModule.UnexpectedCallback.selector, ILeverageModule.onMorphoRepay.selector)
        );
    }

    /// @dev The bytes `plan`'s RepayWithCallback arms, from one honest run on a snapshot (rolled back).
    function _armed(Plan memory plan) internal returns (bytes memory armed) {
        uint256 snapshot = vm.snapshotState();
        venue.setHonest();
        handleOk(keeperOp(safe, keeper, plan, keeperKey));
        armed = venue.lastData();
        vm.revertToState(snapshot);
        assertGt(armed.length, 0, "the dry run armed a callback");
    }

    function _decode(bytes memory armed)
        internal
        pure
        returns (uint256 start, address settleToken, RebalanceLib.CallbackRun[] memory runs, Action[] memory inner)
    {
        (start, settleToken, runs, inner) = abi.decode(armed, (uint256, address, RebalanceLib.CallbackRun[], Action[]));
    }

    /// @dev The venue hands back `forged` instead of the armed bytes: refused, nothing left the Safe, no standing
    /// approval to the venue, the data the module armed is the one `armed` names.
    function _expectForgeryRefused(Plan memory plan, bytes memory armed, bytes memory forged, string memory what) internal {
        assertTrue(keccak256(forged) != keccak256(armed), what);
        venue.setReplace(forged);
        expectOpFails(plan, _refusedErr());
        assertEq(usdc.allowance(safe, address(venue)), 0, "standing USDC approval to the venue");
    }

    /* CONTROLS */

    /// @dev The harness reaches the module: handing back exactly the armed bytes as a replacement completes the
    /// deleverage (so each refusal below is the binding's, not the harness's).
    function test_RR16C_ReplacementWithTheArmedBytesCompletes() public {
        Plan memory plan = _deleverage();
        bytes memory armed = _armed(plan);
        venue.setReplace(armed);
        handleOk(keeperOp(safe, keeper, plan, keeperKey));
        assertApproxEqAbs(module.health(safe, wethId), 1.4e18, 0.005e18, "deleveraged to the target");
        assertEq(usdc.allowance(safe, address(venue)), 0, "approval reset");
    }

    /// @dev What held: the inner SellCollateral's request is built from the carried CallbackRun (WETH -> USDC, the
    /// pre-trade oracle price, the vetted policy's 50 bps bound: `minOutSelling`), exactly once.
    function test_RR16C_InnerSwapRequestIsBuiltFromTheCarriedRun() public {
        Plan memory plan = _deleverage();
        uint256 sold = plan.actions[2].amount;
        SwapRequest memory request = SwapRequest({
            tokenIn: address(weth),
            tokenOut: address(usdc),
            amountIn: sold,
            minAmountOut: minOutSelling(sold),
            account: safe,
            route: bytes32(uint256(uint160(plan.actions[2].pool)))
        });
        vm.expectCall(address(swapAdapter), abi.encodeCall(ISwapAdapter.encodeSwap, (request)), 1);
        venue.setHonest();
        handleOk(keeperOp(safe, keeper, plan, keeperKey));
    }

    /* FORGED FIELDS */

    /// @dev Each field the inner actions read, changed to what would loosen or redirect them: refused by the hash.
    function test_RR16C_ForgedCallbackRunFieldsAreRefused() public {
        Plan memory plan = _deleverage();
        bytes memory armed = _armed(plan);
        (uint256 start, address settleToken, RebalanceLib.CallbackRun[] memory runs, Action[] memory inner) =
            _decode(armed);
        assertEq(abi.encode(start, settleToken, runs, inner), armed, "canonical");

        // The pre-trade price halved: the sale's minimum output halves.
        RebalanceLib.CallbackRun[] memory forged = _copy(runs);
        forged[0].state.price = runs[0].state.price / 2;
        _expectForgeryRefused(plan, armed, abi.encode(start, settleToken, forged, inner), "price");

        // A looser swap bound (review rr16c I2: the callback carries the vetted maxSlippageBps itself): the whole value,
        // a sale with no minimum output.
        assertEq(runs[0].maxSlippageBps, MAX_SLIPPAGE_BPS, "the vetted bound");
        forged = _copy(runs);
        forged[0].maxSlippageBps = 10_000;
        _expectForgeryRefused(plan, armed, abi.encode(start, settleToken, forged, inner), "maxSlippageBps");

        // Another allowlisted venue adapter (the real Morpho adapter, not the policy's).
        forged = _copy(runs);
        forged[0].adapter = IVenueAdapter(address(adapter));
        _expectForgeryRefused(plan, armed, abi.encode(start, settleToken, forged, inner), "adapter");

        // Another market (WBTC's): the inner WithdrawCollateral would withdraw WBTC.
        forged = _copy(runs);
        forged[0].market = Id.unwrap(wbtcMarket.id());
        _expectForgeryRefused(plan, armed, abi.encode(start, settleToken, forged, inner), "market");

        // The tokens swapped in the state: the "sale" would buy.
        forged = _copy(runs);
        (forged[0].state.collateralToken, forged[0].state.loanToken) =
            (runs[0].state.loanToken, runs[0].state.collateralToken);
        _expectForgeryRefused(plan, armed, abi.encode(start, settleToken, forged, inner), "tokens");

        // Another start index, another settle token.
        _expectForgeryRefused(plan, armed, abi.encode(start + 1, settleToken, runs, inner), "start");
        _expectForgeryRefused(plan, armed, abi.encode(start, address(weth), runs, inner), "settleToken");

        // One inner action more: a second WithdrawCollateral of the same amount.
        Action[] memory more = new Action[](inner.length + 1);
        for (uint256 k; k < inner.length; ++k) {
            more[k] = inner[k];
        }
        more[inner.length] = inner[0];
        _expectForgeryRefused(plan, armed, abi.encode(start, settleToken, runs, more), "an extra inner action");

        // The sale's amount cut (keeping the withdrawn WETH idle).
        Action[] memory cut = new Action[](inner.length);
        for (uint256 k; k < inner.length; ++k) {
            cut[k] = inner[k];
        }
        cut[1].amount = inner[1].amount / 2;
        _expectForgeryRefused(plan, armed, abi.encode(start, settleToken, runs, cut), "the sale's amount");
    }

    /// @dev The binding is on the bytes, not the values: the same four values encoded otherwise (32 trailing zero bytes,
    /// which abi.decode ignores) are refused.
    function test_RR16C_SameValuesOtherBytesAreRefused() public {
        Plan memory plan = _deleverage();
        bytes memory armed = _armed(plan);
        bytes memory padded = bytes.concat(armed, bytes32(0));
        (uint256 start, address settleToken, RebalanceLib.CallbackRun[] memory runs, Action[] memory inner) =
            _decode(padded);
        assertEq(abi.encode(start, settleToken, runs, inner), armed, "the padded bytes decode to the armed values");
        _expectForgeryRefused(plan, armed, padded, "padded");
        _expectForgeryRefused(plan, armed, _truncated(armed), "one byte short");
    }

    /// @dev Any one byte of the armed data changed (position and XOR mask fuzzed): refused.
    /// forge-config: default.fuzz.runs = 48
    function testFuzz_RR16C_AnyFlippedByteIsRefused(uint256 at, uint8 mask) public {
        mask = uint8(bound(mask, 1, 255));
        Plan memory plan = _deleverage();
        bytes memory armed = _armed(plan);
        at = bound(at, 0, armed.length - 1);
        venue.setFlip(at, bytes1(mask));
        expectOpFails(plan, _refusedErr());
        assertEq(usdc.allowance(safe, address(venue)), 0, "standing USDC approval to the venue");
    }

    /* REPLAY */

    /// @dev The data one run armed, handed back in a later run (the first landed; the price then fell and a second
    /// deleverage is due): refused; the second run's own data then completes it.
    function test_RR16C_CallbackDataOfAnEarlierRunIsRefused() public {
        Plan memory first = _deleverage();
        venue.setHonest();
        handleOk(keeperOp(safe, keeper, first, keeperKey));
        bytes memory firstData = venue.lastData();
        assertApproxEqAbs(module.health(safe, wethId), 1.4e18, 0.005e18, "first deleverage landed");

        vm.warp(block.timestamp + 1 days + 1); // past the cooldown and into the next epoch
        moveWethHealthTo(CRASH_HEALTH);
        Plan memory second = _deleverage();
        bytes memory secondData = _armed(second);
        _expectForgeryRefused(second, secondData, firstData, "the first run's data");

        // And the first run's data with the second run's plan index and runs: only its inner actions are the first's.
        (,, RebalanceLib.CallbackRun[] memory runs2,) = _decode(secondData);
        (uint256 start1, address settle1,, Action[] memory inner1) = _decode(firstData);
        _expectForgeryRefused(second, secondData, abi.encode(start1, settle1, runs2, inner1), "the first run's inner actions");

        venue.setHonest();
        handleOk(keeperOp(safe, keeper, second, keeperKey));
        assertApproxEqAbs(module.health(safe, wethId), 1.4e18, 0.005e18, "second deleverage landed");
    }

    /* UTILS */

    function _copy(RebalanceLib.CallbackRun[] memory runs) internal pure returns (RebalanceLib.CallbackRun[] memory c) {
        c = abi.decode(abi.encode(runs), (RebalanceLib.CallbackRun[]));
    }

    function _truncated(bytes memory data) internal pure returns (bytes memory t) {
        t = new bytes(data.length - 1);
        for (uint256 i; i < t.length; ++i) {
            t[i] = data[i];
        }
    }
}
