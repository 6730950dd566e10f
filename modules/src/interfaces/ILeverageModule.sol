// SPDX-License-Identifier: MIT
pragma solidity >=0.8.0;

import {IAccount} from "@account-abstraction/contracts/interfaces/IAccount.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";

/// @notice A user's on-chain rules for one sub-account (one margin position of the Safe).
/// @dev Health values are WAD (1e18 = 1.0). Amounts are in the sub-account's loan-token base units.
/// Fields are ordered to pack into six storage slots plus the pools.
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
    uint16 maxRebalancesPerEpoch;
    uint16 maxOracleDeviationBps;
    bool boostAllowed;
    uint128 maxAmountPerRebalance;
    uint128 maxAmountPerEpoch;
    address[] pools;
}

/// @notice Per-Safe settings of the automation lane, read during UserOperation validation.
/// @dev A zero cap forbids any non-zero value of that field; a Safe that never set this cannot be automated.
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
}

/// @notice What keeper operations without a paymaster may charge the Safe, packed in one slot.
/// @dev Charged in validation at the operation's maximum cost; an epoch restarts on the first successful rebalance
/// after `epochLength` seconds (validation may not read the clock). Zero `maxWeiPerEpoch`: keepers must be sponsored.
struct SelfPayBudget {
    uint96 maxWeiPerEpoch;
    uint32 epochLength;
    uint40 epochStart;
    uint88 spentWei;
}

/// @notice A keeper session key registered by a Safe.
struct KeeperKey {
    bool active;
    uint48 validAfter;
    uint48 validUntil;
}

/// @notice Cumulative use of a sub-account's epoch caps, packed in one storage slot (amounts and gas saturate).
struct EpochUsage {
    uint40 epochStart;
    uint40 lastRebalance;
    uint16 rebalances;
    uint48 gasUsed;
    uint112 amountMoved;
}

/// @notice The typed actions a plan is made of. Values are part of the ABI.
enum ActionKind {
    WithdrawFromPool,
    DepositToPool,
    SupplyCollateral,
    WithdrawCollateral,
    Borrow,
    Repay
}

/// @notice One step of a plan. `subAccount` indexes `Plan.subAccounts`; `pool` is set only for pool actions.
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
/// an owner lane identical to Safe4337Module v0.3.0 and an automation lane in which a keeper session key may only
/// execute `executeRebalance`, whose effects the module bounds by the Safe's policies.
/// @dev Trust assumptions and known limits:
/// - Install as both an enabled module and the fallback handler of the Safe.
/// - Configuration functions are reachable only by the Safe calling itself (the call reaches the module through the
///   fallback handler with the Safe appended as ERC-2771 sender). A direct call to the module configures only the
///   caller's own entry, never another account's.
/// - The keeper is not trusted: it chooses when to act and what plan to send, but every plan must satisfy the
///   policy's trigger, band, target, caps and loss bounds, and funds only move between the Safe, its sub-accounts
///   and its allowed pools.
/// - The bundler and paymaster are not trusted: gas fields are capped per Safe and a paymaster can be required.
///   Keeper operations the Safe pays for itself are charged at their maximum cost against a per-epoch budget in
///   validation, so operations bound to fail cannot drain the Safe (without a budget, keepers must be sponsored).
/// - Oracles are trusted within the policy's sanity bounds (non-zero, fresh, close to the second source).
/// - Validation of keeper operations reads only storage keyed by the Safe (ERC-7562 associated storage), reads no
///   oracle and no TIMESTAMP; expiry is returned in validationData.
/// - The owner lane never depends on keepers, oracles or venues being live.
interface ILeverageModule is IAccount {
    /* EVENTS */

    event PolicySet(address indexed safe, bytes32 indexed subAccount, address adapter, bytes32 market);
    event PolicyRemoved(address indexed safe, bytes32 indexed subAccount);
    event KeeperAdded(address indexed safe, address indexed keeper, uint48 validAfter, uint48 validUntil);
    event KeeperRevoked(address indexed safe, address indexed keeper);
    event AutomationConfigured(address indexed safe, AutomationConfig config);
    event AutomationPausedSet(address indexed safe, bool paused);
    event SelfPayBudgetSet(address indexed safe, uint96 maxWeiPerEpoch, uint32 epochLength);
    event Rebalanced(
        address indexed safe,
        address indexed keeper,
        bytes32[] subAccounts,
        uint256[] healthBefore,
        uint256[] healthAfter,
        uint256 gasUsed
    );

    /* ERRORS */

    error InvalidEntryPoint();
    error InvalidCaller();
    error UnsupportedEntryPoint();
    error UnsupportedExecutionFunction(bytes4 selector);
    error ExecutionFailed();
    error NotCalledBySafe(address caller);
    error InvalidAdapter(address adapter);
    error DuplicateAdapter(address adapter);
    error UnknownMarket(address adapter, bytes32 market);
    error InvalidHealthBand(uint256 minHealth, uint256 targetHealth, uint256 maxHealth);
    error InvalidPolicyParameter(bytes32 name);
    error TooManyPools(uint256 count, uint256 max);
    error InvalidPool(address pool);
    error DuplicatePool(address pool);
    error PoolAssetMismatch(address pool, address asset);
    error UnknownSubAccount(bytes32 subAccount);
    error InvalidKeeper(address keeper);
    error InvalidValidity(uint48 validAfter, uint48 validUntil);
    error AutomationPaused(address safe);
    error GasFieldAboveCap(uint8 field, uint256 value, uint256 cap);
    error PaymasterNotAllowed(address paymaster, address required);
    error SelfPayBudgetExceeded(uint256 spentWei, uint256 costWei, uint256 budgetWei);
    error MalformedPlan(uint8 reason);
    error KeeperNotAuthorized(address keeper);
    error DuplicateSubAccount(bytes32 subAccount);
    error MixedLoanTokens(address expected, address actual);
    error NoTrigger();
    error CooldownActive(bytes32 subAccount, uint256 readyAt);
    error PoolNotAllowed(bytes32 subAccount, address pool);
    error ActionNotAllowed(uint256 index, ActionKind kind);
    error ActionFailed(uint256 index, bytes reason);
    error HealthOutOfBand(bytes32 subAccount, uint256 health, uint256 minHealth, uint256 maxHealth);
    error HealthFurtherFromTarget(bytes32 subAccount, uint256 healthBefore, uint256 healthAfter);
    error HealthDecreased(bytes32 subAccount, uint256 healthBefore, uint256 healthAfter);
    error AmountCapExceeded(bytes32 subAccount, uint256 amount, uint256 cap);
    error EpochAmountCapExceeded(bytes32 subAccount, uint256 amount, uint256 cap);
    error EpochRebalanceCapExceeded(bytes32 subAccount, uint256 count, uint256 cap);
    error EpochGasCapExceeded(bytes32 subAccount, uint256 gasUsed, uint256 cap);
    error ValueLossExceeded(int256 valueBefore, int256 valueAfter, uint256 maxLossBps);
    error OraclePriceZero(bytes32 subAccount);
    error OracleStale(bytes32 subAccount, uint256 updatedAt, uint256 maxAge);
    error OracleDecimals(bytes32 subAccount, uint8 decimals);
    error OracleDeviation(bytes32 subAccount, uint256 venuePrice, uint256 feedPrice);
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
    /// @dev Reverts unless the keeper is still active and unexpired, automation is not paused, the plan is
    /// well-formed, a touched sub-account is outside its band, every action is allowed, and the post-conditions of
    /// every touched policy hold (band, target, caps, loss).
    function executeRebalance(address keeper, Plan calldata plan) external;

    /* OWNER CONTROLS (the Safe calling itself) */

    /// @notice Sets or replaces the policy of the sub-account (adapter, market); resets nothing else.
    function setPolicy(Policy calldata policy) external returns (bytes32 subAccount);

    /// @notice Removes a sub-account's policy; keepers can no longer touch it.
    function removePolicy(bytes32 subAccount) external;

    /// @notice Registers (or re-registers) a keeper session key valid in [validAfter, validUntil].
    function addKeeper(address keeper, uint48 validAfter, uint48 validUntil) external;

    /// @notice Revokes a keeper session key; its queued operations fail validation and execution.
    function revokeKeeper(address keeper) external;

    /// @notice Sets the automation lane's gas caps, required paymaster and pause flag.
    function setAutomationConfig(AutomationConfig calldata config) external;

    /// @notice Pauses (true) or resumes (false) the automation lane.
    function setPaused(bool paused) external;

    /// @notice Sets how much keeper operations without a paymaster may cost the Safe per epoch, and restarts the
    /// epoch. Without a budget (the default) keeper operations must be sponsored by a paymaster.
    /// @dev Bounds griefing by a compromised keeper that sends operations bound to fail: each one is charged at its
    /// maximum cost (gas limits x maxFeePerGas) when validated, whether or not it executes.
    function setSelfPayBudget(uint96 maxWeiPerEpoch, uint32 epochLength) external;

    /* VIEWS */

    /// @notice The sub-account id of (adapter, market): keccak256(abi.encode(adapter, market)).
    function subAccountId(address adapter, bytes32 market) external pure returns (bytes32);

    /// @notice The adapters this module was deployed with.
    function adapters() external view returns (address[] memory);

    /// @notice True when `adapter` is one of this module's adapters.
    function isAdapter(address adapter) external view returns (bool);

    /// @notice The policy of `safe`'s sub-account (adapter zero when none).
    function getPolicy(address safe, bytes32 subAccount) external view returns (Policy memory);

    /// @notice The sub-accounts `safe` has policies for.
    function getSubAccounts(address safe) external view returns (bytes32[] memory);

    /// @notice The keeper key registered by `safe`.
    function getKeeper(address safe, address keeper) external view returns (KeeperKey memory);

    /// @notice The automation settings of `safe`.
    function getAutomationConfig(address safe) external view returns (AutomationConfig memory);

    /// @notice The self-pay budget of `safe` and what was charged to it in the current epoch.
    function getSelfPayBudget(address safe) external view returns (SelfPayBudget memory);

    /// @notice The epoch usage of `safe`'s sub-account.
    function getEpochUsage(address safe, bytes32 subAccount) external view returns (EpochUsage memory);

    /// @notice The health (WAD) of a market state; type(uint256).max when there is no debt.
    function health(address safe, bytes32 subAccount) external view returns (uint256);
}
