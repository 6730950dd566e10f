// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IPool} from "@aave/core-v3/contracts/interfaces/IPool.sol";

import {AaveTestBase} from "../utils/AaveTestBase.sol";
import {MarketState} from "../../src/interfaces/IVenueAdapter.sol";
import {Action, ActionKind, Plan, Policy} from "../../src/interfaces/ILeverageModule.sol";

/// @notice Review rr17b B1: the module's side of `sdk/src/rules/planRules.aaveEMode18Module.rr17b.test.ts`. The Safe's
/// Aave account in the "ETH correlated" e-mode holds only wstETH (threshold 9,500, the market's) and owes WETH (18
/// decimals). Its WETH debt balance is not a whole number of Aave base units (1e-8 USD = 3,333,333.3 wei at 3,000 USD),
/// so the adapter's `equity + debt` exceeds the frame collateral's value by millions of wei, beyond the rule book's
/// slack (4 wei + one wstETH wei's value): the SDK reads the average as 9,499 (1/9,500 = 1.05e-4 low). A rescue repaying
/// idle WETH that lands Aave's factor 5e-5 above minHealth is ACCEPTED by the module (it reads Aave's factor); the SDK's
/// rule book refuses the same plan from the same marketState (HealthOutOfBand). The figures this test logs are the TS
/// test's inputs. These tests PASS today: they pin the module's behaviour the SDK must mirror.
contract Rr17bAaveEMode18Test is AaveTestBase {
    bytes32 internal id;
    uint256 internal constant DEBT = 82_098_765_432_109_876_543; // health ~1.35 before the price move
    uint256 internal constant REPAY_WETH = 6e18;

    function setUp() public override {
        super.setUp();
        installModuleWithAave();
        aaveSetEMode(safe, AAVE_ETH_EMODE);
        aaveSupply(safe, wsteth, 100e18 + 123_456_789);
        aaveBorrow(safe, weth, DEBT);
        // wstETH / WETH ratio falls ~22 %: Aave's factor about 1.05, below the band.
        wstethOracle.setPrice(2730e18);
        weth.mint(safe, REPAY_WETH);
    }

    function _plan() internal view returns (Plan memory plan) {
        plan.subAccounts = new bytes32[](1);
        plan.subAccounts[0] = module.subAccountId(address(aaveAdapter), wstethWethEMode);
        plan.actions = new Action[](1);
        plan.actions[0] = action(ActionKind.Repay, 0, address(0), REPAY_WETH);
    }

    function _aaveAfter() internal returns (uint256 aaveAfter) {
        uint256 snapshot = vm.snapshotState();
        safeExec(safe, address(weth), 0, abi.encodeCall(IERC20.approve, (address(aavePool), REPAY_WETH)), 0);
        safeExec(safe, address(aavePool), 0, abi.encodeCall(IPool.repay, (address(weth), REPAY_WETH, 2, safe)), 0);
        aaveAfter = aaveHealthFactor(safe);
        vm.revertToState(snapshot);
    }

    function test_AdapterFrame_EquityPlusDebtIsMillionsOfWeiOffTheFrameValue() public {
        MarketState memory s = aaveAdapter.marketState(wstethWethEMode, safe);
        (,,, uint256 lt,,) = aavePool.getUserAccountData(safe);
        assertEq(lt, 9_500, "Aave's average is the market's threshold");
        assertEq(s.lltv, 0.95e18);
        uint256 value = s.collateral * s.price / 1e36; // frame collateral value, WETH wei
        uint256 total = uint256(s.equity) + s.debt;
        emit log_named_uint("collateral", s.collateral);
        emit log_named_uint("debt", s.debt);
        emit log_named_int("equity", s.equity);
        emit log_named_uint("price", s.price);
        emit log_named_uint("health", s.health);
        emit log_named_uint("total - value (wei)", total - value);
        assertGt(total - value, 1_000, "beyond the rule book's slack (4 wei + one wstETH wei's value)");
    }

    function test_ModuleAcceptsRescueLandingHalfABpAboveMinHealth() public {
        uint256 aaveAfter = _aaveAfter();
        emit log_named_uint("aave after", aaveAfter);
        Policy memory policy = aavePolicy(wstethWethEMode, address(0), address(0));
        policy.minHealth = uint64(aaveAfter * 99_995 / 100_000);
        policy.targetHealth = policy.minHealth + 0.1e18;
        policy.maxHealth = policy.minHealth + 0.4e18;
        policy.maxOracleAge = 0;
        id = setPolicyFor(safe, policy);
        emit log_named_uint("minHealth", policy.minHealth);
        assertLt(module.health(safe, id), policy.minHealth, "due");
        executeAsEntryPoint(safe, keeper, _plan());
        assertEq(module.health(safe, id), aaveAfter, "landed at Aave's factor, inside the band");
    }
}
