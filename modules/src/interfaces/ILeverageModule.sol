// SPDX-License-Identifier: MIT
pragma solidity >=0.8.0;

import {IAccount} from "@account-abstraction/contracts/interfaces/IAccount.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";

/// @notice A user's on-chain rules for one sub-account (one margin position of the Safe).
/// @dev Health values are WAD (1e18 = 1.0). Amounts are in the sub-account's loan-token base units. Feed answers are in
/// the feed's own decimals. Fields are ordered to pack into seven storage slots plus the pools.
/// - minHealth >= the venue's liquidation incentive factor (`IVenueAdapter.liquidationIncentiveFactor`); minHealth +
///   MIN_BAND_GAP <= targetHealth <= maxHealth - MIN_BAND_GAP.
/// - A triggered sub-account must land in its landing zone: moved at least half the distance between the breached band
///   edge and the target (below the band: health after >= health before + (target - min) / 2, and >= min), and no
///   further past the target than half way to the other edge. One that is not due may only move toward its target,
///   never past it.
/// - maxAmountPerRebalance / maxAmountPerEpoch bound the net change of the position a rebalance makes (one rebalance,
///   and summed over the aligned epoch): |collateral change| valued at the pre-trade price + |debt change|, as read back
///   from the venue; gross flows (a repayment undone by a borrow, pool and swap actions) are not charged.
/// - maxLossBps bounds one rebalance's net value loss in bps of the value its positions moved; maxEpochLossBps bounds
///   the loss of all rebalances of an aligned epoch (`block.timestamp / epochLength`) in bps of this sub-account's
///   equity before each of them.
/// - maxSlippageBps (at most MAX_SLIPPAGE_BPS; 0: this sub-account never swaps) sets the minimum output of every swap
///   of the sub-account's tokens: the oracle value of the input at the plan's pre-trade price, less maxSlippageBps.
///   Swap losses also count in maxLossBps and maxEpochLossBps like any other value loss.
/// - With a `priceFeed`, its answer must be fresh (`maxOracleAge`), strictly inside (minFeedAnswer, maxFeedAnswer)
///   (maxFeedAnswer 0: no upper bound) and within maxOracleDeviationBps of the venue price.
/// - rescueBelowTarget (issue 13, owner opt-in; false: the band alone triggers): the sub-account is also due while its
///   health is inside the band but below targetHealth (minHealth <= health < targetHealth), for a rescue only: its
///   landing zone is [health + (targetHealth - minHealth) / 2, targetHealth + (maxHealth - targetHealth) / 2] (since
///   stop 64 not at least the target: continuous with the zone below the band), so it must move at least half the
///   lower band's width (the next such trigger needs a real fall, not interest or a tick, or after a landing under the
///   target another half band), and never ends lower than it started. Every cap, loss bound, count and
///   cooldown applies as to a rescue from below the band. Lets a strategy hold its own floor inside the band: after a
///   gap that leaves it at health 1.18 in [1.15, 1.7] it can be rescued before the next gap (a staircase of gaps
///   liquidated the autopilot where the band rule, rescued to its target by the first, survived; SECURITY.md row 150).
struct Policy {
    address adapter;
    uint64 minHealth;
    uint32 cooldown;
    bytes32 market;
    address priceFeed;
    uint64 targetHealth;
    uint32 epochLength;
    uint64 maxHealth;
    uint64 maxGasPerEpoch;
    uint32 maxOracleAge;
    uint16 maxLossBps;
    uint16 maxEpochLossBps;
    uint16 maxRebalancesPerEpoch;
    uint16 maxOracleDeviationBps;
    bool boostAllowed;
    uint16 maxSlippageBps;
    bool rescueBelowTarget;
    uint128 maxAmountPerRebalance;
    uint128 maxAmountPerEpoch;
    uint128 minFeedAnswer;
    uint128 maxFeedAnswer;
    address[] pools;
}

/// @notice Per-Safe settings of the automation lane, read during UserOperation validation.
/// @dev A zero cap forbids any non-zero value of that field; a Safe that never set this cannot be automated.
/// `keyGeneration` is not set by `setAutomationConfig`: only `revokeAllKeepers` advances it, which invalidates every
/// keeper key and every keeper operation signed before (their nonce key embeds the generation).
struct AutomationConfig {
    bool paused;
    address requiredPaymaster;
    uint32 maxVerificationGasLimit;
    uint32 maxCallGasLimit;
    uint32 maxPreVerificationGas;
    uint32 maxPaymasterVerificationGasLimit;
    uint32 maxPaymasterPostOpGasLimit;
    uint64 maxFeePerGas;
    uint64 maxPriorityFeePerGas;
    uint32 keyGeneration;
}

/// @notice What keeper operations the Safe pays for may cost it per epoch, packed in one slot.
/// @dev Every keeper operation not sponsored by a paymaster the owner listed (`setSponsor`) is charged in validation at
/// its maximum cost (all gas limits, the paymaster's included, x maxFeePerGas). Epochs are aligned
/// (`epoch = time / epochLength`) and pinned without reading the clock: the operation's validity window (the signed one,
/// narrowed to the key's, returned to the EntryPoint) must lie inside one epoch, that epoch is charged, and a newer one
/// starts from zero. Zero `maxWeiPerEpoch`: keeper operations must be sponsored.
struct SelfPayBudget {
    uint96 maxWeiPerEpoch;
    uint32 epochLength;
    uint40 epoch;
    uint88 spentWei;
}

/// @notice A keeper session key registered by a Safe, valid only in the key generation it was added in.
/// @dev `salt` is drawn at each `addKeeper` from the parent block's hash and the previous salt (never 0) and fixes the
/// key's nonce key (`keeperNonceKey`): an operation signed before the parent of the registration's block existed cannot
/// carry the nonce key the registration creates, so re-registering an address (after `revokeKeeper`,
/// `revokeAllKeepers` or a re-install) never revives what it signed before that, whatever generation or sequence the
/// operation named. A signer holding the key when that parent block appears can compute the salt: rotate to a fresh
/// key after a compromise.
struct KeeperKey {
    bool active;
    uint48 validAfter;
    uint48 validUntil;
    uint32 generation;
    uint112 salt;
}

/// @notice An owner-set stop-loss of one sub-account (docs/stop-loss-exit.md), stored beside its policy in one slot;
/// both fields zero: no stop. While the venue price (`MarketState.price`, 1e36-scaled loan base units per collateral
/// base unit, checked against the policy's second feed) is at or below `stopPrice` the stop is engaged: the
/// sub-account is due below `exitHealth` (WAD), may land up to it and must gain at least MIN_BAND_GAP of health per
/// plan. Up to the re-arm price `stopPrice x (BPS + max(maxOracleDeviationBps, MIN_REARM_BPS)) / BPS` no boost is
/// allowed. `stopPrice` is a uint192 (review rr13s S1): the 1e36-scaled base-unit price of WBTC/USDC at 60,000 is 6e38,
/// above uint128; uint192 (6.2e57) + uint64 still fill one slot.
struct StopLoss {
    uint192 stopPrice;
    uint64 exitHealth;
}

/// @notice Cumulative use of a sub-account's epoch caps, packed in one storage slot (amounts, gas and loss saturate).
/// @dev `epoch` is the aligned epoch index (`block.timestamp / policy.epochLength`; 32 bits last until 2106 even with
/// one-second epochs) the counters belong to; a later epoch starts them from zero. Written only for sub-accounts whose
/// position a rebalance changed.
struct EpochUsage {
    uint32 epoch;
    uint40 lastRebalance;
    uint16 rebalances;
    uint32 lossPpb;
    uint40 gasUsed;
    uint96 amountMoved;
}

/// @notice The typed actions a plan is made of. Values are part of the ABI.
/// @dev Swaps (`SellCollateral`: the sub-account's collateral token for its loan token; `BuyCollateral`: the reverse,
/// only where boostAllowed) go through the swap adapter fixed at deployment; `amount` is the exact input and `pool`
/// carries the swap adapter's route word (`address(uint160(uint256(route)))`); the minimum output comes from the oracle
/// and maxSlippageBps, the recipient is the Safe. `RepayWithCallback` / `SupplyCollateralWithCallback` run the venue
/// action with a callback: the actions after it, up to the next `EndCallback`, run inside the venue's callback (Morpho
/// Blue: `onMorphoRepay` after the debt is reduced, `onMorphoSupplyCollateral` after the collateral is credited), which
/// then approves the venue for the `assets` it collects. One level, every callback closed, none empty (PlanLib).
enum ActionKind {
    WithdrawFromPool,
    DepositToPool,
    SupplyCollateral,
    WithdrawCollateral,
    Borrow,
    Repay,
    SellCollateral,
    BuyCollateral,
    RepayWithCallback,
    SupplyCollateralWithCallback,
    EndCallback
}

/// @notice One step of a plan. `subAccount` indexes `Plan.subAccounts`; `pool` is set only for pool actions (and
/// holds the route word of a swap, and may hold a `RepayWithCallback`'s repayment mode word: with
/// ConstantsLib.REPAY_PLUS_SALE_MINIMUMS the callback repays `amount` plus the on-chain minimum output of its block's
/// SellCollateral actions of the same sub-account at the oracle loaded at inclusion); an `EndCallback` has zero `pool`
/// and `amount`.
struct Action {
    ActionKind kind;
    uint8 subAccount;
    address pool;
    uint256 amount;
}

/// @notice A keeper's proposal: the sub-accounts it touches and the ordered actions.
struct Plan {
    bytes32[] subAccounts;
    Action[] actions;
}

/// @title ILeverageModule
/// @notice A Safe v1.4.1 module and fallback handler for ERC-4337 (EntryPoint v0.7) with two lanes:
/// an owner lane equal to Safe4337Module v0.3.0 (except that padded owner signatures are refused, as later
/// Safe4337Module releases do) and an automation lane in which a keeper session key may only execute
/// `executeRebalance`, whose effects the module bounds by the Safe's policies.
/// @dev Trust assumptions and known limits:
/// - Install as both an enabled module and the fallback handler of the Safe. Module storage outlives an uninstall:
///   call `revokeAllKeepers` when uninstalling (the SDK's `uninstallLeverageModule` does), or a re-install brings the
///   old keys back.
/// - Configuration functions are reachable only by the Safe calling itself (the call reaches the module through the
///   fallback handler with the Safe appended as ERC-2771 sender). A direct call to the module configures only the
///   caller's own entry, never another account's.
/// - The keeper is not trusted: it chooses when to act and what plan to send, but every plan must satisfy the
///   policy's trigger, landing zone, target, caps and loss bounds (per operation and per epoch), must change every
///   sub-account it lists, and funds only move between the Safe, its sub-accounts and its allowed pools.
/// - The bundler and paymaster are not trusted: gas fields are capped per Safe and a paymaster can be required.
///   Keeper operations cost the Safe at most its self-pay budget per epoch, whoever pays: every operation not
///   sponsored by a paymaster the owner listed is charged at its maximum cost in validation (an ERC-20 paymaster is
///   charged like self-pay; the ERC-20 it then takes is at its own exchange rate, which the owner accepted by
///   approving it). Keeper operations use their own nonce key (a hash of keeper address, key generation and
///   registration salt), never the owners'.
/// - Oracles are trusted within the policy's sanity bounds: venue price non-zero; with a second feed, its answer
///   positive, fresh, strictly inside the configured bounds and close to the venue price. A feed that keeps updating
///   at an unchanged answer inside its bounds cannot be told from a calm market.
/// - Validation of keeper operations reads only storage keyed by the Safe (ERC-7562 associated storage), reads no
///   oracle and no TIMESTAMP; expiry is returned in validationData and pins the self-pay epoch.
/// - The owner lane never depends on keepers, oracles or venues being live.
interface ILeverageModule is IAccount {
    /* EVENTS */

    /// @notice Emitted when `safe` sets or replaces the policy of `subAccount` (adapter, market).
    event PolicySet(address indexed safe, bytes32 indexed subAccount, address adapter, bytes32 market);
    /// @notice Emitted when `safe` sets (or clears: both zero) the stop-loss of `subAccount`; `stopPrice` 1e36-scaled
    /// venue price, `exitHealth` WAD.
    event StopLossSet(address indexed safe, bytes32 indexed subAccount, uint192 stopPrice, uint64 exitHealth);
    /// @notice Emitted when `safe` removes the policy (and the epoch usage and stop-loss) of `subAccount`.
    event PolicyRemoved(address indexed safe, bytes32 indexed subAccount);
    /// @notice Emitted when `safe` registers `keeper`, valid in [validAfter, validUntil] in the current key generation.
    event KeeperAdded(address indexed safe, address indexed keeper, uint48 validAfter, uint48 validUntil);
    /// @notice Emitted when `safe` revokes one keeper key.
    event KeeperRevoked(address indexed safe, address indexed keeper);
    /// @notice Emitted when `safe` revokes every keeper key at once; keys of older generations never validate again.
    event KeepersReset(address indexed safe, uint32 keyGeneration);
    /// @notice Emitted when `safe` sets its automation settings (the stored key generation is kept).
    event AutomationConfigured(address indexed safe, AutomationConfig config);
    /// @notice Emitted when `safe` pauses (true) or resumes (false) the automation lane.
    event AutomationPausedSet(address indexed safe, bool paused);
    /// @notice Emitted when `safe` sets its self-pay budget; the charge of the current epoch restarts from zero.
    event SelfPayBudgetSet(address indexed safe, uint96 maxWeiPerEpoch, uint32 epochLength);
    /// @notice Emitted when `safe` lists (true) or unlists (false) `paymaster` as a sponsor whose keeper operations are
    /// not charged to the self-pay budget.
    event SponsorSet(address indexed safe, address indexed paymaster, bool sponsored);
    /// @notice Emitted when a keeper's plan executed for `safe`: the sub-accounts it changed, their health (WAD) before
    /// and after, and the operation's execution gas (each sub-account is charged its share against maxGasPerEpoch, pro rata
    /// to its net position change, rounded up).
    event Rebalanced(
        address indexed safe,
        address indexed keeper,
        bytes32[] subAccounts,
        uint256[] healthBefore,
        uint256[] healthAfter,
        uint256 gasUsed
    );

    /* ERRORS: DEPLOYMENT AND CALLERS */

    /// @notice Thrown when the module is deployed without an EntryPoint.
    error InvalidEntryPoint();
    /// @notice Thrown when `validateUserOp` is called for an operation whose sender is not the calling Safe.
    error InvalidCaller();
    /// @notice Thrown when an EntryPoint-only function is called by anything but `SUPPORTED_ENTRYPOINT` through the Safe.
    error UnsupportedEntryPoint();
    /// @notice Thrown when a UserOperation's callData starts with `selector`, which neither lane executes.
    error UnsupportedExecutionFunction(bytes4 selector);
    /// @notice Thrown when an owner-lane `executeUserOp` call fails in the Safe.
    error ExecutionFailed();
    /// @notice Thrown when a configuration function is called by `caller` instead of the Safe calling itself.
    error NotCalledBySafe(address caller);

    /* ERRORS: CONFIGURATION */

    /// @notice Thrown when `adapter` is zero, has no code, or is not one of the adapters fixed at deployment.
    error InvalidAdapter(address adapter);
    /// @notice Thrown when the swap adapter given at deployment has no code.
    error InvalidSwapAdapter(address swapAdapter);
    /// @notice Thrown when the deployment lists `adapter` twice.
    error DuplicateAdapter(address adapter);
    /// @notice Thrown when `adapter` does not know `market`.
    error UnknownMarket(address adapter, bytes32 market);
    /// @notice Thrown when the band is not 1 <= minHealth, minHealth + MIN_BAND_GAP <= targetHealth <= maxHealth -
    /// MIN_BAND_GAP (all WAD).
    error InvalidHealthBand(uint256 minHealth, uint256 targetHealth, uint256 maxHealth);
    /// @notice Thrown when minHealth (WAD) is below the venue's liquidation incentive factor (WAD) for the market: a
    /// keeper could lever the position to where one price tick liquidates it.
    error MinHealthBelowLiquidationIncentive(uint256 minHealth, uint256 liquidationIncentiveFactor);
    /// @notice Thrown when a policy allows boosts and its targetHealth (WAD) is below the lowest health a borrow can reach
    /// on the market for the Safe's position (`IVenueAdapter.minBorrowHealth(market, safe)`, WAD; Aave v3: the account's
    /// average liquidation threshold / average LTV, the market collateral's without collateral): the venue would refuse
    /// every boost to the target (Aave COLLATERAL_CANNOT_COVER_NEW_BORROW, "36").
    error TargetHealthBelowBorrowReach(uint256 targetHealth, uint256 minBorrowHealth);
    /// @notice Thrown when a policy or budget field, named by `name`, is out of range.
    error InvalidPolicyParameter(bytes32 name);
    /// @notice Thrown when a stop-loss field, named by `field` ("stopPrice", "exitHealth"), is out of range: stopPrice 0
    /// with a non-zero exitHealth, or exitHealth outside [maxHealth + MIN_BAND_GAP, MAX_EXIT_HEALTH] (also when a
    /// later setPolicy raises maxHealth past it).
    error InvalidStopLoss(bytes32 field);
    /// @notice Thrown when a policy allows `count` pools, above `max`.
    error TooManyPools(uint256 count, uint256 max);
    /// @notice Thrown when a policy's `pool` is zero, the Safe, the module, or has no code.
    error InvalidPool(address pool);
    /// @notice Thrown when a policy lists `pool` twice.
    error DuplicatePool(address pool);
    /// @notice Thrown when `pool`'s asset is neither the market's loan nor its collateral token.
    error PoolAssetMismatch(address pool, address asset);
    /// @notice Thrown when the Safe has no policy for `subAccount`.
    error UnknownSubAccount(bytes32 subAccount);
    /// @notice Thrown when setPolicy could not create the contract that stores the policy as code (`PolicyData`; out of
    /// gas for the creation).
    error PolicyStoreFailed();
    /// @notice Thrown when a policy for `subAccount` would cover the same venue account as the Safe's policy for
    /// `existing` (`IVenueAdapter.accountKey`: e.g. two market ids of one Aave pool, through one adapter or two): each
    /// would count the whole cross-margined account's health, equity and losses as its own.
    error VenueAccountTaken(bytes32 subAccount, bytes32 existing);
    /// @notice Thrown when `keeper` is zero, the Safe or the module, or (on revoke) not an active key.
    error InvalidKeeper(address keeper);
    /// @notice Thrown when a keeper's validity window is empty or unbounded.
    error InvalidValidity(uint48 validAfter, uint48 validUntil);
    /// @notice Thrown when `paymaster` is zero in `setSponsor`.
    error InvalidSponsor(address paymaster);

    /* ERRORS: KEEPER OPERATION VALIDATION */

    /// @notice Thrown when a keeper operation arrives while `safe` has paused automation.
    error AutomationPaused(address safe);
    /// @notice Thrown when a keeper operation's nonce key is not its keeper's (`keeperNonceKey`): keeper operations
    /// never use key 0, an owner key, another keeper's key or the key of an earlier registration of the same keeper.
    error KeeperNonceKeyInvalid(uint192 nonceKey, uint192 expected);
    /// @notice Thrown when a signed keeper operation's gas field `field` (ConstantsLib.GAS_FIELD_*) is above its cap.
    error GasFieldAboveCap(uint8 field, uint256 value, uint256 cap);
    /// @notice Thrown when a keeper operation's `paymaster` is not the Safe's `required` one.
    error PaymasterNotAllowed(address paymaster, address required);
    /// @notice Thrown when charging an unsponsored keeper operation's maximum cost would take the epoch's charge
    /// `spentWei` + `costWei` above the budget `budgetWei` (zero without a budget).
    error SelfPayBudgetExceeded(uint256 spentWei, uint256 costWei, uint256 budgetWei);
    /// @notice Thrown when an unsponsored keeper operation's validity window [validAfter, validUntil] (as returned to
    /// the EntryPoint) does not lie inside one aligned self-pay epoch of `epochLength` seconds.
    error ValidityWindowSpansEpochs(uint48 validAfter, uint48 validUntil, uint32 epochLength);
    /// @notice Thrown when an unsponsored keeper operation's window lies in self-pay epoch `epoch`, older than the
    /// Safe's `currentEpoch`.
    error SelfPayEpochPassed(uint256 epoch, uint256 currentEpoch);
    /// @notice Thrown when the `executeRebalance` arguments are not the one canonical encoding; `reason` is a
    /// ConstantsLib.MALFORMED_* code.
    error MalformedPlan(uint8 reason);

    /* ERRORS: PLAN EXECUTION */

    /// @notice Thrown at execution when `keeper` is no longer an active, unexpired key of the current generation.
    error KeeperNotAuthorized(address keeper);
    /// @notice Thrown when a plan lists `subAccount` twice.
    error DuplicateSubAccount(bytes32 subAccount);
    /// @notice Thrown when a plan's sub-accounts do not share one loan token (`expected` is the first one's).
    error MixedLoanTokens(address expected, address actual);
    /// @notice Thrown when no listed sub-account is outside its band before the plan.
    error NoTrigger();
    /// @notice Thrown when `subAccount` rebalanced less than its cooldown ago; it is ready at `readyAt` (unix seconds).
    error CooldownActive(bytes32 subAccount, uint256 readyAt);
    /// @notice Thrown when a pool action of `subAccount` names `pool`, which its policy does not allow.
    error PoolNotAllowed(bytes32 subAccount, address pool);
    /// @notice Thrown when action `index` of kind `kind` is not allowed: zero amount, a pool on a venue action, a
    /// Borrow / WithdrawCollateral / BuyCollateral on a deleverage-only policy (a WithdrawCollateral inside a
    /// RepayWithCallback of the same sub-account is a swap deleverage and allowed), a swap where the module has no swap
    /// adapter or the policy's maxSlippageBps is 0, an EndCallback with a pool or amount, or churn on one sub-account
    /// (the later of WithdrawCollateral / SupplyCollateralWithCallback, Borrow / RepayWithCallback, Borrow / Repay).
    error ActionNotAllowed(uint256 index, ActionKind kind);
    /// @notice Thrown when a swap of `subAccount` runs on a plan with no venue action on that sub-account: no material
    /// action uses what it swaps.
    error SwapNotUsed(bytes32 subAccount);
    /// @notice Thrown when a plan both sells and buys `collateralToken`: a round trip only pays fees twice.
    error SwapRoundTrip(address collateralToken);
    /// @notice Thrown when swap action `index` delivered `received` of `tokenOut` to the Safe, below the on-chain minimum
    /// `minAmountOut` (the input's oracle value at the pre-trade price less maxSlippageBps).
    error SlippageExceeded(uint256 index, address tokenOut, uint256 received, uint256 minAmountOut);
    /// @notice Thrown when the SellCollateral actions of `subAccount` must bring at least `minOut` of the loan token (the
    /// sum of their on-chain minimum outputs, base units) but the plan lowers its debt by only `repaid` (its repayments,
    /// each capped at the debt it meets, less its borrows): a sale serves its own sub-account's debt, never a pool, an
    /// idle balance or another sub-account (an over-unwind that sells most of the exposure to park the proceeds).
    error SaleExceedsRepayment(bytes32 subAccount, uint256 minOut, uint256 repaid);
    /// @notice Thrown when the BuyCollateral actions of `subAccount` must bring at least `minOut` of its collateral token
    /// (the sum of their on-chain minimum outputs, base units) but the plan adds only `supplied` to its collateral (its
    /// collateral supplies less its withdrawals): a purchase serves its own sub-account's collateral, never a pool or
    /// another sub-account.
    error PurchaseExceedsSupply(bytes32 subAccount, uint256 minOut, uint256 supplied);
    /// @notice Thrown when a venue callback (`onMorphoRepay`, `onMorphoSupplyCollateral`, `onMorphoFlashLoan`) reaches the
    /// module for `safe` while no `executeRebalance` of that Safe is running: outside any rebalance, from another Safe
    /// during one, or called on the module directly.
    error CallbackOutsideRebalance(address safe);
    /// @notice Thrown when a callback during a rebalance comes from `caller`, not the venue contract the plan's callback
    /// action just called for a touched sub-account (re-entrancy from a swap, a token, a pool, another venue).
    error CallbackFromUntouchedVenue(address caller);
    /// @notice Thrown when the armed venue calls back with `selector` or data other than the plan's callback action
    /// armed, or a second time.
    error UnexpectedCallback(bytes4 selector);
    /// @notice Thrown when a callback action `index` returned without the venue calling back: its inner actions never ran.
    error CallbackNotReceived(uint256 index);
    /// @notice Thrown when an `executeRebalance` starts while one (of `safe`) is running in the same transaction, or
    /// when `safe`'s owner controls setPolicy, removePolicy or setStopLoss run while its rebalance is running (review
    /// rr15p F1: an approved owner transaction executed by a re-entrant pool or token).
    error RebalanceActive(address safe);
    /// @notice Thrown when a plan both withdraws from and deposits into `pool`: a round trip moves nothing and could
    /// only pad the plan.
    error PoolRoundTrip(address pool);
    /// @notice Thrown when a pool action names `pool` for `subAccount`, on which the plan has no venue action, or when
    /// the plan withdraws more of `pool`'s asset from its pools than its repayments and collateral supplies use: no
    /// material action uses what it moves.
    error PoolNotUsed(bytes32 subAccount, address pool);
    /// @notice Thrown when a plan's borrows, collateral withdrawals and swap outputs (at their on-chain minimum) of
    /// `token`, `received` in all (base units), exceed what it repays (up to the debt), supplies, swaps or deposits into
    /// pools of it, `used` in all: the rest would stay idle in the Safe, earning nothing (a borrow left idle costs
    /// interest).
    error IdleInflow(address token, uint256 received, uint256 used);
    /// @notice Thrown when a plan deposits `deposited` of `token` (base units, all its deposits into pools of it) but
    /// brings in only `received` of it that a deposit may park (base units): its borrows and the collateral withdrawals
    /// of sub-accounts that are not due; a due one's withdrawals and swap outputs fund only its own spends (rr10 F2). A
    /// deposit parks only what the same plan brought in, never the Safe's idle reserve, which the next rescue may need
    /// and a pool's exit fee or drained cash could withhold.
    error DepositNotFunded(address token, uint256 deposited, uint256 received);
    /// @notice Thrown when a plan lists `subAccount` but does not change its position materially: collateral value
    /// and debt moved by less than `ConstantsLib.MIN_MATERIAL_CHANGE_BPS` of its collateral value (nothing, or dust).
    /// Usage is charged only to sub-accounts a plan changes, and a plan may not list others.
    error SubAccountUnchanged(bytes32 subAccount);
    /// @notice Thrown when venue or pool call `index` of a plan reverted with `reason`.
    error ActionFailed(uint256 index, bytes reason);
    /// @notice Thrown when `subAccount` ends with `health` outside [minHealth, maxHealth] (WAD).
    error HealthOutOfBand(bytes32 subAccount, uint256 health, uint256 minHealth, uint256 maxHealth);
    /// @notice Thrown when a triggered `subAccount` ends with `health` outside its landing zone [low, high] (WAD): it must
    /// move at least half the distance between the breached band edge and the target (so a trigger the keeper could make
    /// itself needs a landing about half way to the target, and the next trigger a real move), and end no further past
    /// the target than half way to the other edge.
    error HealthOutsideLandingZone(bytes32 subAccount, uint256 health, uint256 low, uint256 high);
    /// @notice Thrown when `subAccount`, not due, ends further from its target than it started.
    error HealthFurtherFromTarget(bytes32 subAccount, uint256 healthBefore, uint256 healthAfter);
    /// @notice Thrown when `subAccount`, not due, is moved past its `targetHealth` (from one side of it to the other).
    error HealthCrossedTarget(bytes32 subAccount, uint256 healthBefore, uint256 healthAfter, uint256 targetHealth);
    /// @notice Thrown when `subAccount`, not due, has its position changed by more than its distance to its target:
    /// `moved` (loan units: |collateral change| at the pre-trade price + |debt change|) exceeds `bound`, the collateral
    /// value change that alone would take it to its targetHealth at the pre-trade price,
    /// ceil(|targetHealth x debt - collateral value x LLTV| / LLTV) (the collateral value when it has no debt).
    error NotDueMoveExceedsDistance(bytes32 subAccount, uint256 moved, uint256 bound);
    /// @notice Thrown when `subAccount`, not due, grows: its collateral and its debt both go up. An honest not-due move
    /// only gives (a donor's borrow or collateral) or takes (a repayment); growth at constant health was charged nothing
    /// and outgrew the per-rebalance cap its own later rescue needs.
    error NotDueGrowth(bytes32 subAccount);
    /// @notice Thrown when the health of `subAccount`, whose policy does not allow boosts, decreases.
    error HealthDecreased(bytes32 subAccount, uint256 healthBefore, uint256 healthAfter);
    /// @notice Thrown when the net change a plan makes to `subAccount`'s position (loan units: |collateral change| at the
    /// pre-trade price + |debt change|) is above maxAmountPerRebalance.
    error AmountCapExceeded(bytes32 subAccount, uint256 amount, uint256 cap);
    /// @notice Thrown when the net position changes charged to `subAccount` in the epoch (loan units) would exceed
    /// maxAmountPerEpoch.
    error EpochAmountCapExceeded(bytes32 subAccount, uint256 amount, uint256 cap);
    /// @notice Thrown when `subAccount` would exceed maxRebalancesPerEpoch.
    error EpochRebalanceCapExceeded(bytes32 subAccount, uint256 count, uint256 cap);
    /// @notice Thrown when the execution gas charged to `subAccount` in the epoch would exceed maxGasPerEpoch.
    error EpochGasCapExceeded(bytes32 subAccount, uint256 gasUsed, uint256 cap);
    /// @notice Thrown when the epoch's cumulative loss charged to `subAccount` would reach `lossPpb` parts per billion of
    /// its equity, above the budget `budgetPpb` (maxEpochLossBps x 1e5).
    error EpochLossBudgetExceeded(bytes32 subAccount, uint256 lossPpb, uint256 budgetPpb);
    /// @notice Thrown when a plan loses `loss` (loan units, at the pre-trade prices) while its positions moved `moved`,
    /// more than `maxLossBps` (the smallest of the listed policies) of `moved`.
    error ValueLossExceeded(uint256 loss, uint256 moved, uint256 maxLossBps);
    /// @notice Thrown when the venue price, or the second feed's answer, of `subAccount` is zero or negative.
    error OraclePriceZero(bytes32 subAccount);
    /// @notice Thrown when the second feed of `subAccount` was updated at `updatedAt`, more than `maxAge` seconds ago or
    /// in the future.
    error OracleStale(bytes32 subAccount, uint256 updatedAt, uint256 maxAge);
    /// @notice Thrown when the second feed of `subAccount` reports `decimals` that cannot price the market's tokens: above
    /// 36, above 36 + the loan token's decimals - the collateral token's, or such that its answer rescaled to the 1e36
    /// venue price (answer x 10^(36 + loan decimals - decimals - collateral decimals)) exceeds 2^256 - 1.
    error OracleDecimals(bytes32 subAccount, uint8 decimals);
    /// @notice Thrown when the venue price and the second feed's price of `subAccount` (both 1e36-scaled) differ by more
    /// than maxOracleDeviationBps.
    error OracleDeviation(bytes32 subAccount, uint256 venuePrice, uint256 feedPrice);
    /// @notice Thrown when the second feed's `answer` for `subAccount` is not strictly inside (minAnswer, maxAnswer):
    /// a feed pinned at its floor or ceiling (maxAnswer 0: no ceiling).
    error OracleAnswerOutOfBounds(bytes32 subAccount, int256 answer, uint256 minAnswer, uint256 maxAnswer);
    /// @notice Thrown when a plan deposits into `pool` while it has fewer than MIN_POOL_SUPPLY shares or a zero rate.
    error PoolUnhealthy(address pool);

    /* OWNER LANE (Safe4337Module v0.3.0 compatible) */

    /// @notice The EntryPoint v0.7 this module accepts calls from.
    function SUPPORTED_ENTRYPOINT() external view returns (address);

    /// @notice Owner lane: executes a call (or delegatecall) from the Safe; reverts `ExecutionFailed` on failure.
    function executeUserOp(address to, uint256 value, bytes memory data, uint8 operation) external;

    /// @notice Owner lane: same as `executeUserOp`, bubbling up the revert data on failure.
    function executeUserOpWithErrorString(address to, uint256 value, bytes memory data, uint8 operation) external;

    /// @notice The EIP-712 domain separator: `EIP712Domain(uint256 chainId,address verifyingContract)` of this module.
    function domainSeparator() external view returns (bytes32);

    /// @notice The SafeOp hash owners (and keepers) sign for `userOp`; signature = validAfter || validUntil || sigs.
    function getOperationHash(PackedUserOperation calldata userOp) external view returns (bytes32);

    /* AUTOMATION LANE */

    /// @notice Executes a keeper's plan for the calling Safe; callable only by the EntryPoint through the Safe.
    /// @dev Reverts unless the keeper is still active, unexpired and of the current key generation, automation is not
    /// paused, the plan is well-formed, a listed sub-account is outside its band, every action is allowed and used,
    /// every listed sub-account changes, and the post-conditions of every listed policy hold (landing zone, target,
    /// caps, loss per operation and per epoch).
    function executeRebalance(address keeper, Plan calldata plan) external;

    /* VENUE CALLBACKS (reached through the Safe's fallback handler; `_msgSender()` is the venue) */

    /// @notice Morpho Blue's repay callback: runs the inner actions of the plan's RepayWithCallback, then approves the
    /// venue for `assets` of the loan token. Only from the venue the running rebalance of this Safe just called, with
    /// the data it armed, once (`CallbackOutsideRebalance`, `CallbackFromUntouchedVenue`, `UnexpectedCallback`).
    function onMorphoRepay(uint256 assets, bytes calldata data) external;

    /// @notice Morpho Blue's supply-collateral callback: as `onMorphoRepay`, for SupplyCollateralWithCallback (approves
    /// `assets` of the collateral token).
    function onMorphoSupplyCollateral(uint256 assets, bytes calldata data) external;

    /// @notice Morpho Blue's flash-loan callback shape, `(assets, data)`: the callback of a callback action on an Aave
    /// sub-account, made by the AaveFlashLoanRouter after it flash-funded the opener's repay or supply (docs/aave.md);
    /// as `onMorphoRepay` otherwise (approves `assets`, the loan plus its premium, of the settle token to the router).
    function onMorphoFlashLoan(uint256 assets, bytes calldata data) external;

    /* OWNER CONTROLS (the Safe calling itself) */

    /// @notice Sets or replaces the policy of the sub-account (adapter, market); resets nothing else.
    /// @dev At most one policy per venue account (`IVenueAdapter.accountKey`): reverts with `VenueAccountTaken` while
    /// another of the Safe's policies covers the same account (remove that one first). The policy is stored as the code
    /// of a new data contract the module creates (`PolicyData`; `PolicyStoreFailed` if that fails), its address in the
    /// sub-account's one storage slot: each call creates a new one (gas: about 71,000 for the creation with no pools,
    /// 6,400 more per pool), a replaced or removed policy's contract is no longer read.
    function setPolicy(Policy calldata policy) external returns (bytes32 subAccount);

    /// @notice Removes a sub-account's policy and its stop-loss; keepers can no longer touch it.
    function removePolicy(bytes32 subAccount) external;

    /// @notice Sets the stop-loss of a sub-account that has a policy (`StopLoss`, docs/stop-loss-exit.md); both zero
    /// clears it. `stopPrice`: venue oracle units (Morpho: 1e36-scaled), > 0; `exitHealth`: WAD, in
    /// [maxHealth + MIN_BAND_GAP, MAX_EXIT_HEALTH]. Reverts `InvalidStopLoss(field)`, `UnknownSubAccount`.
    function setStopLoss(bytes32 subAccount, uint192 stopPrice, uint64 exitHealth) external;

    /// @notice Registers (or re-registers) a keeper session key valid in [validAfter, validUntil], in the current key
    /// generation.
    function addKeeper(address keeper, uint48 validAfter, uint48 validUntil) external;

    /// @notice Revokes a keeper session key; its queued operations fail validation and execution.
    function revokeKeeper(address keeper) external;

    /// @notice Revokes every keeper key at once (O(1)): advances the key generation, so keys added before, and keeper
    /// operations signed before (their nonce key embeds the generation), never validate or execute again, even after a
    /// re-install or a re-registration of the same address. Returns the new generation.
    function revokeAllKeepers() external returns (uint32 keyGeneration);

    /// @notice Sets the automation lane's gas caps, required paymaster and pause flag (the key generation is kept).
    function setAutomationConfig(AutomationConfig calldata config) external;

    /// @notice Pauses (true) or resumes (false) the automation lane.
    function setPaused(bool paused) external;

    /// @notice Sets how much keeper operations may cost the Safe per aligned epoch of `epochLength` seconds, and
    /// clears the current epoch's charge. Without a budget (the default) keeper operations must be sponsored by a
    /// paymaster the owner listed with `setSponsor`.
    /// @dev Bounds griefing by a compromised keeper that sends operations bound to fail: each unsponsored one is
    /// charged at its maximum cost when validated, whether or not it executes. `maxWeiPerEpoch` is at most 2^88 - 1, and
    /// a non-zero budget needs a non-zero `epochLength` (`InvalidPolicyParameter`).
    function setSelfPayBudget(uint96 maxWeiPerEpoch, uint32 epochLength) external;

    /// @notice Lists (true) or unlists (false) `paymaster` as a sponsor: keeper operations it pays for are not charged
    /// to the self-pay budget. List only paymasters that charge the Safe nothing (a verifying paymaster); an ERC-20
    /// paymaster left unlisted is charged like self-pay.
    function setSponsor(address paymaster, bool sponsored) external;

    /* VIEWS */

    /// @notice The sub-account id of (adapter, market): keccak256(abi.encode(adapter, market)).
    function subAccountId(address adapter, bytes32 market) external pure returns (bytes32);

    /// @notice The adapters this module was deployed with.
    function adapters() external view returns (address[] memory);

    /// @notice The swap adapter fixed at deployment (zero: this module never swaps).
    function swapAdapter() external view returns (address);

    /// @notice True when `adapter` is one of this module's adapters.
    function isAdapter(address adapter) external view returns (bool);

    /// @notice The policy of `safe`'s sub-account (adapter zero when none).
    function getPolicy(address safe, bytes32 subAccount) external view returns (Policy memory);

    /// @notice The stop-loss of `safe`'s sub-account (zero when none).
    function getStopLoss(address safe, bytes32 subAccount) external view returns (StopLoss memory);

    /// @notice The sub-accounts `safe` has policies for.
    function getSubAccounts(address safe) external view returns (bytes32[] memory);

    /// @notice The keeper key registered by `safe`; `active` is false for a key of an older generation.
    function getKeeper(address safe, address keeper) external view returns (KeeperKey memory);

    /// @notice The EntryPoint nonce key `keeper`'s operations for `safe` must use:
    /// `uint192(uint256(keccak256(abi.encode(keeper, keyGeneration, key.salt))))`, with the Safe's current key generation
    /// (`getAutomationConfig(safe).keyGeneration`) and the salt of the key's latest registration
    /// (`getKeeper(safe, keeper).salt`). It changes at every `addKeeper`, so it cannot be known before the registration.
    function keeperNonceKey(address safe, address keeper) external view returns (uint192);

    /// @notice The automation settings of `safe`.
    function getAutomationConfig(address safe) external view returns (AutomationConfig memory);

    /// @notice The self-pay budget of `safe` and what was charged to it in its latest epoch.
    function getSelfPayBudget(address safe) external view returns (SelfPayBudget memory);

    /// @notice True when `safe` listed `paymaster` as a sponsor.
    function isSponsor(address safe, address paymaster) external view returns (bool);

    /// @notice The epoch usage of `safe`'s sub-account.
    function getEpochUsage(address safe, bytes32 subAccount) external view returns (EpochUsage memory);

    /// @notice The health (WAD) of `safe`'s sub-account, the one the band checks judge: the adapter's
    /// `IVenueAdapter.health` (Aave v3: `getUserAccountData().healthFactor`, exactly); type(uint256).max when there is
    /// no debt.
    function health(address safe, bytes32 subAccount) external view returns (uint256);
}
