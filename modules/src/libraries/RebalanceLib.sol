// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {IERC4626} from "@openzeppelin/contracts/interfaces/IERC4626.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {ILeverageModule, Policy, EpochUsage, StopLoss, ActionKind, Action, Plan} from "../interfaces/ILeverageModule.sol";
import {IVenueAdapter, MarketState, VenueCall} from "../interfaces/IVenueAdapter.sol";
import {ISwapAdapter, SwapRequest} from "../interfaces/ISwapAdapter.sol";
import {ISafe} from "../interfaces/ISafe.sol";
import {IPriceFeed} from "../interfaces/IPriceFeed.sol";
import {ConstantsLib} from "./ConstantsLib.sol";
import {HealthLib} from "./HealthLib.sol";
import {ActiveRebalance, ModuleStorage, PolicyData} from "./ModuleStorage.sol";

/// @title RebalanceLib
/// @notice The automation lane's execution engine, in four steps: load the listed sub-accounts (oracles, cooldowns,
/// trigger); vet every action before anything is called (allowlists, material use); run the actions from the Safe with
/// CALL only; then judge the result (health rules per sub-account, loss per operation, usage and loss per epoch).
/// @dev An external library (linked at deployment, immutable) so the module fits the EIP-170 size limit; it runs
/// in the module's context through DELEGATECALL from the module itself, never from the Safe.
///
/// Loss accounting (`_holdings`, `_settle`): every holding a plan can change is valued in loan units at the plan's
/// pre-trade prices (each token's net change at the listed price least favourable to the plan), before and after: the Safe's idle loan and collateral tokens, its assets in each pool the plan
/// names, and each listed position (collateral value, debt). The loss is the drop of their sum. It is bounded by
/// `maxLossBps` of what the due positions moved (the larger of the value that went into and out of them, each position
/// netted and counted up to what an honest plan needs for its health change), so neither idle or pool shuffles,
/// unrelated listings, not-due moves nor health-neutral padding raise the allowance; and, summed over an
/// aligned epoch, by `maxEpochLossBps` of each changed sub-account's equity (each charged its share of the loss, pro rata
/// to its net position change; gas likewise against maxGasPerEpoch). A new action kind (a swap) only has to
/// name the holdings it changes for this accounting to cover it.
library RebalanceLib {
    /// @dev Working copy of one listed sub-account during a rebalance. `state` keeps the pre-trade position and the
    /// price every value of the plan is judged at.
    struct Run {
        bytes32 id;
        IVenueAdapter adapter;
        bytes32 market;
        MarketState state;
        uint256 collateralAfter;
        uint256 debtAfter;
        uint256 healthBefore;
        uint256 healthAfter;
        uint256 moved; // net position change charged to the amount caps, set by `_checkPostConditions`
        uint256 repayable; // the most its repayments clear: min(state.debt, the adapter's maxRepayable: state.repayable)
        uint256 swapLossBps; // min(its policy's maxSlippageBps, the plan's maxLossBps): its swaps' loss in `_caps`
        uint256 swapped; // its swaps' inputs, loan units at its pre-trade price, set by `_checkSwapsServeOwnPosition`
        bool due;
        bool boost; // due above its band (boost allowed, health > maxHealth): only such borrows fund deposits (rr10b)
        // Its stop-loss (`_stopOf`): 0 none held; 1 held (price at or below the re-arm price, above the stop): no boost;
        // otherwise engaged (price at or below the stop): its exitHealth (WAD, > 1), and no boost.
        uint256 stop;
        // A due run's counting caps (`_caps`), set by `_checkPostConditions` and read by `_capBound` and `_counted`.
        // Gas (issue 15): computed once per due run (about 950 gas, two maxMoveToHealth), not once per reader; both
        // readers run after its last input (healthAfter, swapped, swapLossBps) is final.
        uint256 cap;
        uint256 honest;
        // Its policy's swap bound (`maxSlippageBps`, bps), copied by `_load` from the policy it read: what every swap of
        // the run reads (`_execute`), outer ones and, through `CallbackRun.maxSlippageBps`, a callback's (review rr16c
        // I2: a field rather than a read of the Policy, so an action that is no swap pays one MLOAD for it, as before).
        uint256 maxSlippageBps;
        // The memory address of its Policy, read once from its data contract (`PolicyRecord.data`) by `_load` and read
        // back by `_policyOf`. Gas (issue 15): every action's vetting, the plan's loss bound, the post-state rules, the
        // swaps' minimum outputs in the checks and the usage write read that one copy (one cold SLOAD and one cold EXTCODECOPY per run instead of six cold slots
        // and their warm re-reads; measured, `npm run bench:gas`: keeper overhead 116,019 -> 107,029 for 1 sub-account,
        // 94,526 -> 85,578 per extra one). Only valid in the frame `_load` ran in: it never leaves that frame (a
        // callback's data carries `CallbackRun`s, which have no such field; review rr15p I1).
        uint256 policyPtr;
        // Its epoch record (`ModuleStorage.usage[id][safe]`): the slot and the packed word (EpochUsage's layout, see
        // `_recordUsage`), read once by `_load` (the cooldown) and used by `_recordUsage`. Gas (issue 15): the
        // record's two mapping hashes and its warm re-read are not repeated (measured, `npm run bench:gas`, later
        // rebalance: keeper overhead -265 gas for 1 sub-account, -768 for 3). Valid because
        // nothing writes the record between the two: only `_recordUsage` writes a usage record in a rebalance, after
        // every check, each run its own (`DuplicateSubAccount`: distinct ids, distinct slots), and setPolicy /
        // removePolicy, the only other writers, refuse while this Safe's rebalance runs (`ActiveRebalance.refuse`,
        // review rr15p F1). modules/test/unit/UsageRecordCache.t.sol.
        uint256 usageSlot;
        uint256 usage;
    }

    /// @dev What a venue callback's data carries of one listed sub-account (`_callbackData`, decoded by `callback`), and
    /// all an action run from the Safe reads of its sub-account (`_execute`): the venue adapter and market, the
    /// pre-trade state (`_swap` reads its tokens and price) and the swap bound, `maxSlippageBps` (bps, at most
    /// ConstantsLib.BPS) of the policy copy `_load` read (`Run.maxSlippageBps`: the vetted snapshot, review rr15p).
    /// Review rr15p I1: the data carried each whole `Run` before, `policyPtr` included, a memory address of the outer
    /// frame that means nothing in the callback's; a `CallbackRun` has no field a callback could misread, and
    /// `_execute` takes these four values, not a `Run`, so no code it runs can reach `_policyOf`. Gas: 12 words a
    /// sub-account instead of 27, in every copy of the data (abi.encode, its hash, the adapter's call, the Safe's call
    /// to the venue, the venue's callback through the Safe's fallback handler, the module's call into this library,
    /// abi.decode). Review rr16c I2: it carries the bound itself, not the policy's data contract, so a swap reads no
    /// code (one warm EXTCODECOPY less per swap).
    struct CallbackRun {
        IVenueAdapter adapter;
        bytes32 market;
        MarketState state;
        uint256 maxSlippageBps;
    }

    /// @notice Executes `plan` for `safe` (the caller already checked encoding, keeper and pause).
    /// Gas is measured from here: the 63/64 rule makes a caller-side start meaningless inside a DELEGATECALL.
    function execute(ModuleStorage storage s, address safe, address keeper, address swapAdapter, Plan calldata plan)
        external
    {
        uint256 gasStart = gasleft();
        _enter(safe);
        Run[] memory runs = _load(s, safe, plan.subAccounts);
        // Every action (inner callback actions included) is vetted before any pool is read, so no unlisted address is
        // ever called.
        _checkSwapsServeOwnPosition(runs, plan.actions, _checkActions(s, safe, swapAdapter, runs, plan.actions));
        // Gas (issue 15): the holdings are read from their contracts before and after, not derived from what the
        // actions were asked to move: the loss bound must also catch what a hostile or faulty pool, venue or router
        // takes beyond its call (extra shares burnt, a short payout), which only a second read sees.
        // The holdings' tokens (pools' assets included) are read once here and reused after the actions.
        address[] memory tokens = _addresses(_newWords(1 + runs.length + plan.actions.length));
        // count: the loan token and the distinct collateral tokens, tokens[0, count) (`_holdings`).
        (uint256[] memory before, uint256 count) = _holdings(safe, runs, plan.actions, tokens, 0);

        _runActions(runs, safe, swapAdapter, plan.actions);
        _checkInflowsUsed(runs, plan.actions, tokens, count);

        // The plan's loss bound (the lowest maxLossBps listed), read first: the cap-bound rule judges a step by its
        // counted move (`_caps`), which takes it as the swaps' loss bound (`Run.swapLossBps`).
        uint256 maxLossBps = ConstantsLib.BPS;
        for (uint256 i; i < runs.length; ++i) {
            uint256 bps = _policyOf()(runs[i]).maxLossBps;
            if (bps < maxLossBps) maxLossBps = bps;
        }
        for (uint256 i; i < runs.length; ++i) {
            Run memory run = runs[i];
            // Health after is the venue's (issue 17: Aave's own health factor, exactly), for a venue without one at the
            // prices the plan was checked against (`positionHealth`). Gas (issue 15): the position is read back from
            // the venue with its health in one call rather than computed from the actions, so the band, landing-zone
            // and loss checks judge what the venue actually holds (interest, rounding, a venue that did less or more).
            (run.collateralAfter, run.debtAfter, run.healthAfter) =
                _positionHealth(run.adapter, run.market, safe, run.state.price, run.state.lltv);
            Policy memory policy = _policyOf()(run);
            run.swapLossBps = Math.min(policy.maxSlippageBps, maxLossBps);
            _checkPostConditions(run, policy);
        }

        (uint256[] memory afterwards,) = _holdings(safe, runs, plan.actions, tokens, count);
        (uint256 loss, uint256 moved) = _settle(runs, before, afterwards, tokens, count);
        if (loss * ConstantsLib.BPS > moved * maxLossBps) revert ILeverageModule.ValueLossExceeded(loss, moved, maxLossBps);

        uint256 gasUsed = gasStart - gasleft();
        _recordUsages(runs, gasUsed, loss);
        _emitRebalanced(safe, keeper, plan.subAccounts, runs, gasUsed);
        _exit();
    }

    /// @dev Emits `ILeverageModule.Rebalanced(safe, keeper, subAccounts, healthBefore, healthAfter, gasUsed)`, each
    /// health array read from `runs` (`Run.healthBefore`, `Run.healthAfter`, WAD; `runs[i]` is `subAccounts[i]`'s: `_load`
    /// builds one Run per listed id, in order, so both have one length).
    /// Gas (issue 15): the log's data is written once, in the ABI encoding `emit` produces (four head words: the three
    /// arrays' offsets 0x80, 0x80 + size, 0x80 + 2 x size and gasUsed; then each array's length word and its words;
    /// size = 32 x (n + 1)), straight from the runs: no two health arrays allocated only to be copied by the encoder.
    /// Same topics (the event's signature hash, safe, keeper) and the same bytes: the SDK and the keeper decode it with
    /// the event's ABI; modules/test/unit/RebalancedLog.t.sol compares the raw log with `abi.encode` of the values for 1
    /// and 3 sub-accounts. Layout read: a `Run` holds healthBefore at word 6 and healthAfter at word 7 (pinned by that
    /// file's test_RunLayout_HealthWords). The data is written past the free memory pointer as scratch (not allocated:
    /// nothing is allocated after it in this frame).
    function _emitRebalanced(
        address safe,
        address keeper,
        bytes32[] calldata subAccounts,
        Run[] memory runs,
        uint256 gasUsed
    ) private {
        bytes32 topic = ILeverageModule.Rebalanced.selector;
        assembly ("memory-safe") {
            let n := mload(runs)
            let size := shl(5, add(n, 1)) // one array's encoding: its length word and n words
            let data := mload(0x40)
            mstore(data, 0x80)
            mstore(add(data, 0x20), add(0x80, size))
            mstore(add(data, 0x40), add(0x80, shl(1, size)))
            mstore(add(data, 0x60), gasUsed)
            let ids := add(data, 0x80)
            mstore(ids, subAccounts.length)
            calldatacopy(add(ids, 0x20), subAccounts.offset, shl(5, subAccounts.length))
            let healthBefore := add(ids, size)
            let healthAfter := add(healthBefore, size)
            mstore(healthBefore, n)
            mstore(healthAfter, n)
            for { let o := 0x20 } iszero(gt(o, shl(5, n))) { o := add(o, 0x20) } {
                let run := mload(add(runs, o))
                mstore(add(healthBefore, o), mload(add(run, 0xc0)))
                mstore(add(healthAfter, o), mload(add(run, 0xe0)))
            }
            log3(
                data,
                add(0x80, mul(size, 3)),
                topic,
                and(safe, 0xffffffffffffffffffffffffffffffffffffffff),
                and(keeper, 0xffffffffffffffffffffffffffffffffffffffff)
            )
        }
    }

    /* LOAD */

    /// @dev Loads every listed sub-account, checks oracles, cooldowns and the trigger.
    function _load(ModuleStorage storage s, address safe, bytes32[] calldata ids) private view returns (Run[] memory runs) {
        runs = _newRuns(ids.length);
        bool triggered;
        address loanToken;
        uint256 loanDecimals = UNREAD; // the loan token's decimals, read by the first feed check that needs them
        for (uint256 i; i < ids.length; ++i) {
            bytes32 id = ids[i];
            for (uint256 j; j < i; ++j) {
                if (ids[j] == id) revert ILeverageModule.DuplicateSubAccount(id);
            }
            // Gas (issue 15): one SLOAD for the data address and the stop's flag, one EXTCODECOPY for the policy.
            (address data, bool stopSet) = PolicyData.load(s.policies[id][safe]);
            if (data == address(0)) revert ILeverageModule.UnknownSubAccount(id);
            Run memory run = runs[i];
            run.id = id;
            run.policyPtr = PolicyData.readPointer(data);
            Policy memory policy = _policyOf()(run);
            run.maxSlippageBps = policy.maxSlippageBps;
            run.adapter = IVenueAdapter(policy.adapter);
            run.market = policy.market;
            _marketState(run.adapter, run.market, safe, run.state);
            run.repayable = Math.min(run.state.debt, run.state.repayable);
            if (i == 0) loanToken = run.state.loanToken;
            else if (run.state.loanToken != loanToken) revert ILeverageModule.MixedLoanTokens(loanToken, run.state.loanToken);
            loanDecimals = _checkOracle(id, policy, run.state, loanDecimals);

            run.healthBefore = run.state.health; // the venue's (issue 17: Aave's health factor, exactly)
            if (_trigger(s, id, safe, stopSet, policy, run)) triggered = true;
            // Its epoch record, read once (`Run.usageSlot`, `Run.usage`): the cooldown below, the usage write after.
            {
                EpochUsage storage record = s.usage[id][safe];
                uint256 slot;
                assembly ("memory-safe") {
                    slot := record.slot
                }
                run.usageSlot = slot;
                run.usage = _readUsage(record);
            }
            // Cooldown (seconds since lastRebalance). Review rr13t T1: a rescue from below minHealth while the owner's
            // stop is engaged is exempt, so a stop-only exit (which starts the cooldown, keeping exits apart from each
            // other) cannot delay the rescue of the same fall. Only deleveraging is allowed while engaged (no boost,
            // health may not fall), and the epoch caps still bound the rescues.
            if (run.stop <= 1 || run.healthBefore >= policy.minHealth) {
                uint256 lastRebalance = uint40(run.usage >> 32); // EpochUsage.lastRebalance (`_recordUsage`)
                uint256 readyAt = lastRebalance + policy.cooldown;
                if (lastRebalance != 0 && block.timestamp < readyAt) revert ILeverageModule.CooldownActive(id, readyAt);
            }
        }
        if (!triggered) revert ILeverageModule.NoTrigger();
    }

    /// @dev Memory words of a Run (its 21 members; `state` is a pointer) and of its MarketState (9 members), and the
    /// member index of `Run.state`: `_newRuns` lays the structs out as the compiler does. Keep in step with `Run` and
    /// `MarketState`: `Rr16gMorphoMath.t.sol` pins them against the compiler's layout (test_NewRunsLayoutConstants_MatchTheCompiler;
    /// a field added to `Run` and never written could otherwise share a word with `state` unnoticed, review rr16g G1).
    uint256 private constant RUN_WORDS = 21;
    uint256 private constant STATE_WORDS = 9;
    uint256 private constant STATE_MEMBER = 3;

    /// @dev `new uint256[](n)`: a fresh array of n zero words. Gas (issue 15): one CALLDATACOPY from past the end of the
    /// call data zeroes them, without the compiler's size and pointer checks, which cannot fail for any caller's n (at
    /// most 5 x (MAX_SUB_ACCOUNTS + 1) = 45 words). Six arrays an operation: measured (forge trace of the bench's
    /// later rebalance) -261 gas for 1 sub-account and for 3.
    function _newWords(uint256 n) private pure returns (uint256[] memory words) {
        assembly ("memory-safe") {
            words := mload(0x40)
            mstore(words, n)
            calldatacopy(add(words, 0x20), calldatasize(), shl(5, n))
            mstore(0x40, add(words, shl(5, add(n, 1))))
        }
    }

    /// @dev `words` as an address[] (zero words are zero addresses: `_newWords` for `new address[](n)`).
    function _addresses(uint256[] memory words) private pure returns (address[] memory list) {
        assembly ("memory-safe") {
            list := words
        }
    }

    /// @dev `new Run[](n)`: n zeroed Runs, each with its own zeroed MarketState, laid out as the compiler does (a length
    /// word, n pointers, then each Run's words followed by its MarketState's). Gas (issue 15): one CALLDATACOPY from past
    /// the end of the call data zeroes every word at once; the compiler's per-member allocation and zeroing cost about
    /// 550 gas more per listed sub-account (measured).
    function _newRuns(uint256 n) private pure returns (Run[] memory runs) {
        uint256 stride = (RUN_WORDS + STATE_WORDS) << 5;
        uint256 stateAt = STATE_MEMBER << 5;
        uint256 stateOffset = RUN_WORDS << 5;
        assembly ("memory-safe") {
            runs := mload(0x40)
            let first := add(runs, shl(5, add(n, 1)))
            let size := mul(n, stride)
            calldatacopy(first, calldatasize(), size)
            mstore(runs, n)
            for { let i := 0 } lt(i, n) { i := add(i, 1) } {
                let run := add(first, mul(i, stride))
                mstore(add(runs, shl(5, add(i, 1))), run)
                mstore(add(run, stateAt), add(run, stateOffset))
            }
            mstore(0x40, add(first, size))
        }
    }

    /// @dev Sets `run`'s stop state, boost and due flags from its pre-trade health and venue price; returns `run.due`.
    /// `Run.stop` at the venue price (1e36-scaled, non-zero and checked against the policy's feed by `_checkOracle`
    /// first): its exitHealth when engaged (`price <= stopPrice`); 1 up to the re-arm price `stopPrice x (BPS +
    /// max(maxOracleDeviationBps, MIN_REARM_BPS)) / BPS` (hysteresis at least MIN_REARM_BPS wide, review rr13s S2;
    /// docs/stop-loss-exit.md rule 5: a price that oscillates around the stop within the feeds' tolerance cannot make it
    /// due for an exit, then a boost, over and over); 0 above it or without a stop (stopPrice 0: never engaged, the price
    /// is never 0; the re-arm product is not computed, so no venue price can overflow it). Due: below minHealth, or below exitHealth while engaged
    /// (> maxHealth > minHealth), or above maxHealth when boosts are allowed and no stop holds.
    /// Gas (issue 15): the stop's slot is read only when the policy's record has its stop flag set (`stopSet`,
    /// PolicyRecord: a cold slot, 2,100 gas, less per listed sub-account without a stop); unset, the stop is none
    /// (stopPrice 0), exactly what its zero slot reads as.
    function _trigger(ModuleStorage storage s, bytes32 id, address safe, bool stopSet, Policy memory policy, Run memory run)
        private
        view
        returns (bool)
    {
        uint256 stopPrice;
        uint256 exitHealth;
        if (stopSet) {
            StopLoss storage stop = s.stops[id][safe];
            (stopPrice, exitHealth) = (stop.stopPrice, stop.exitHealth);
        }
        uint256 price = run.state.price;
        if (price <= stopPrice) {
            run.stop = exitHealth;
        } else if (
            stopPrice != 0
                && price * ConstantsLib.BPS
                    <= stopPrice * (ConstantsLib.BPS + Math.max(policy.maxOracleDeviationBps, ConstantsLib.MIN_REARM_BPS))
        ) {
            run.stop = 1;
        }
        run.boost = policy.boostAllowed && run.stop == 0 && run.healthBefore > policy.maxHealth;
        // In-band rescue (issue 13, `Policy.rescueBelowTarget`): due below the target as well; `landingZone` then requires
        // half the lower band's width of gain (SECURITY.md rows 150, 153).
        uint256 floor = policy.rescueBelowTarget ? policy.targetHealth : policy.minHealth;
        run.due = run.healthBefore < Math.max(floor, run.stop) || run.boost;
        return run.due;
    }

    /// @dev `run`'s Policy, the copy `_load` read (`Run.policyPtr`): its fixed fields (its pools are not read: pool
    /// actions are checked against `ModuleStorage.allowedPools`). Only for runs `_load` built in this frame; a callback's
    /// runs (decoded from its data) carry its swap bound (`CallbackRun.maxSlippageBps`, `Run.maxSlippageBps` of this
    /// copy). Called as `_policyOf()(run)`.
    /// Gas (issue 15): `_policyPtr` typed as returning the Policy at that address. A Solidity function returning a memory
    /// struct zero-allocates its return value on every call (22 words, about 330 gas: measured, once per action vetted,
    /// swap bound, post-state, usage write and loss bound); this one hands back the pointer as it is. Both function types
    /// take one stack word and return one, so only the returned word's type changes.
    function _policyOf() private pure returns (function(Run memory) internal pure returns (Policy memory) typed) {
        function(Run memory) internal pure returns (uint256) raw = _policyPtr;
        assembly ("memory-safe") {
            typed := raw
        }
    }

    /// @dev `run.policyPtr` (see `_policyOf`).
    function _policyPtr(Run memory run) private pure returns (uint256) {
        return run.policyPtr;
    }

    /// @dev `loanDecimals` sentinel: the loan token's decimals not read yet in this operation (a uint8 never equals it).
    uint256 private constant UNREAD = type(uint256).max;

    /// @dev Gas (issue 15): the feed and both tokens' decimals are read on every operation (about 1,500 gas warm, three
    /// cold accounts and slots on a bundle's first touch) rather than cached at setPolicy: a token or feed that changes
    /// its decimals, or a feed that goes stale or leaves its bounds, must be caught before anything moves. The loan
    /// token's decimals are read once per operation (`loanDecimals`, UNREAD until the first feed check reads them, then
    /// returned for the next sub-account): every listed sub-account has the same loan token (`MixedLoanTokens`, checked
    /// before this call) and nothing runs between two sub-accounts' checks that could change them (`_load` is a view).
    function _checkOracle(bytes32 id, Policy memory policy, MarketState memory state, uint256 loanDecimals)
        internal
        view
        returns (uint256)
    {
        if (state.price == 0) revert ILeverageModule.OraclePriceZero(id);
        address feed = policy.priceFeed;
        if (feed == address(0)) return loanDecimals;

        (int256 answer, uint256 updatedAt) = _latestRound(feed);
        if (answer <= 0) revert ILeverageModule.OraclePriceZero(id);
        {
            uint256 minAnswer = policy.minFeedAnswer;
            uint256 maxAnswer = policy.maxFeedAnswer;
            // A Chainlink aggregator clamps its answer to [minAnswer, maxAnswer]: an answer at a bound may be pinned there.
            if (uint256(answer) <= minAnswer || (maxAnswer != 0 && uint256(answer) >= maxAnswer)) {
                revert ILeverageModule.OracleAnswerOutOfBounds(id, answer, minAnswer, maxAnswer);
            }
        }
        if (updatedAt > block.timestamp || block.timestamp - updatedAt > policy.maxOracleAge) {
            revert ILeverageModule.OracleStale(id, updatedAt, policy.maxOracleAge);
        }
        uint256 feedDecimals = _decimals(feed);
        // The feed quotes one whole collateral token in whole loan tokens; rescale to Morpho's 1e36 base-unit price.
        if (loanDecimals == UNREAD) loanDecimals = _decimals(state.loanToken);
        uint256 exponent = 36 + loanDecimals;
        uint256 divisorExp = feedDecimals + _decimals(state.collateralToken);
        if (feedDecimals > 36 || divisorExp > exponent) revert ILeverageModule.OracleDecimals(id, uint8(feedDecimals));
        (uint256 feedPrice, bool fits) = _feedPrice(uint256(answer), exponent - divisorExp);
        // Review rr16g G2 (fixed in rr18): a feed price that does not fit a uint256 (10^e above 77, or the product over
        // 2^256) is refused by name, no longer with Panic 0x11: these decimals cannot price the market's tokens.
        if (!fits) revert ILeverageModule.OracleDecimals(id, uint8(feedDecimals));
        if (_deviates(state.price, feedPrice, policy.maxOracleDeviationBps)) {
            revert ILeverageModule.OracleDeviation(id, state.price, feedPrice);
        }
        return loanDecimals;
    }

    /// @dev `answer x 10^e` (the feed's answer, > 0, rescaled to Morpho's 1e36 base-unit price) and whether it fits a
    /// uint256: `fits` false when e > 77 (10^77 < 2^256 < 10^78) or the product is 2^256 or more, `price` then
    /// meaningless. Exact: for e <= 77 EXP gives 10^e (>= 1) exactly, and the product divided back by it gives `answer`
    /// exactly when it did not wrap; a wrapped product is at most answer x 10^e - 2^256, which divides back to at most
    /// answer - 2^256 / 10^e < answer (10^e < 2^256). Was `uint256(answer) * _pow10(e)`, which raised Panic 0x11
    /// in both cases (review rr16g G2). Gas (issue 15): one EXP; the compiler's checked `10 ** e` cost about 450 gas more
    /// per feed check (measured).
    function _feedPrice(uint256 answer, uint256 e) internal pure returns (uint256 price, bool fits) {
        assembly ("memory-safe") {
            let power := exp(10, e)
            price := mul(answer, power)
            fits := and(lt(e, 78), eq(div(price, power), answer))
        }
    }

    /// @dev Whether the venue price and the feed price (both 1e36-scaled, any uint256) are more than `maxDeviationBps`
    /// apart relative to the feed price: |price - feedPrice| x BPS > feedPrice x maxDeviationBps, both products exact in
    /// 512 bits, so no input overflows (review rr16g G2: the checked 256-bit products raised Panic 0x11 from a feed
    /// price of about 1.16e73 up, so a far feed was refused without `OracleDeviation`).
    /// Equality with the old form `distance(price, feedPrice) * BPS > feedPrice * maxDeviationBps` wherever that did
    /// not overflow: each product x * y is split as hi x 2^256 + lo, lo = mul(x, y) (x * y mod 2^256) and hi =
    /// mm - lo - (mm < lo ? 1 : 0) with mm = mulmod(x, y, 2^256 - 1), the 512-bit product of OpenZeppelin's
    /// Math.mulDiv (2^256 = 1 mod 2^256 - 1, so mm = (hi + lo) mod (2^256 - 1), and hi <= 2^256 - 2). Comparing
    /// (hi, lo) pairs lexicographically compares the exact products. Where neither old product overflowed both hi are
    /// 0 and each lo is the old product, so the decision is the old one; elsewhere it is the exact one. Fuzzed against
    /// the old form: modules/test/attacks/Rr16gDecoding.t.sol `testFuzz_Deviates_MatchesCheckedFormWhereItFits`.
    /// Where the old form overflowed it raised Panic 0x11 (refused): a far feed price is now `OracleDeviation`, and a feed
    /// price of at least 2^256 / maxDeviationBps with the venue price within the bound is now accepted, the exact
    /// decision (review rv18 I1: such a policy then ends as the same policy without a feed; Rv18Review.t.sol).
    function _deviates(uint256 price, uint256 feedPrice, uint256 maxDeviationBps) internal pure returns (bool far) {
        uint256 bps = ConstantsLib.BPS;
        assembly ("memory-safe") {
            let d := sub(price, feedPrice)
            if lt(price, feedPrice) { d := sub(feedPrice, price) }
            let lo := mul(d, bps)
            let mm := mulmod(d, bps, not(0))
            let hi := sub(sub(mm, lo), lt(mm, lo))
            let feedLo := mul(feedPrice, maxDeviationBps)
            mm := mulmod(feedPrice, maxDeviationBps, not(0))
            let feedHi := sub(sub(mm, feedLo), lt(mm, feedLo))
            far := or(gt(hi, feedHi), and(eq(hi, feedHi), gt(lo, feedLo)))
        }
    }

    /* VET */

    /// @dev Every action allowed (amount, allowlist, deleverage-only, swaps), no pool or swap round trip, every pool
    /// action and swap serving a sub-account the plan acts on, and a venue action on every listed sub-account.
    function _checkActions(
        ModuleStorage storage s,
        address safe,
        address swapAdapter,
        Run[] memory runs,
        Action[] calldata actions
    ) private view returns (uint256 kinds) {
        uint256 acted; // bit i: sub-account i has a venue action
        uint256 repayCallbackOf; // sub-account index + 1 of the open RepayWithCallback, 0 when none is open
        // kinds: bit 16 x sub-account + kind: the sub-account has an action of that kind (returned)
        for (uint256 i; i < actions.length; ++i) {
            // Gas (issue 15): the kind as its number (PlanLib checked it below ACTION_KINDS); an ActionKind only for an error.
            uint256 kind = _field(actions, i, KIND);
            uint256 sub = _field(actions, i, SUB);
            // An EndCallback carries nothing. No churn (`CHURN_KINDS`): a sub-account with a
            // SupplyCollateralWithCallback (9) withdraws no collateral (3), one with a RepayWithCallback (8) or a Repay
            // (5) borrows nothing (4), in either order, inside the block or after it; the later of the pair is refused.
            // Undoing the opener's step moves nothing but pays the flash premium (Aave) on it (review of issue 17); a
            // Repay(need + X) from the idle reserve with a Borrow(X) back lets the borrow "fund" a deposit of X, so the
            // reserve lands in a pool the next rescue may not afford to leave (rr10 F1). An honest plan never does (a
            // swap boost borrows in its supply callback, a swap deleverage withdraws in its repay callback, a donor that
            // borrows repays nothing, a target that repays borrows nothing). Nor does a sub-account that supplies
            // collateral (plainly or in a callback) deposit into a pool (rr10b R1): the supply carries the idle reserve
            // into the position and the borrow it made room for into the pool; the solver deposits only a boost's borrow.
            if (
                kind == uint256(ActionKind.EndCallback)
                    ? _field(actions, i, POOL) | _field(actions, i, AMOUNT) != 0
                    : (kinds >> (sub << 4)) & (CHURN_KINDS >> (kind << 4)) & 0xFFFF != 0
            ) revert ILeverageModule.ActionNotAllowed(i, ActionKind(kind));
            if (kind == uint256(ActionKind.EndCallback)) {
                repayCallbackOf = 0;
                continue;
            }
            kinds |= 1 << (kind | sub << 4);
            if (kind == uint256(ActionKind.RepayWithCallback)) repayCallbackOf = sub + 1;
            uint256 role = _checkAction(s, safe, swapAdapter, runs, actions, i, repayCallbackOf);
            if (role == VENUE_ACTION) {
                acted |= 1 << sub;
                continue;
            }
            // A round trip is an earlier action of the opposite kind of the same pair (WithdrawFromPool 0 / DepositToPool 1,
            // SellCollateral 6 / BuyCollateral 7: kind ^ 1) on the same pool, or swapping the same collateral token.
            // Gas (issue 15): only earlier actions of that kind are decoded further (about 800 gas per earlier action
            // saved: the same refusals as comparing every field of every earlier action).
            uint256 opposite = kind ^ 1;
            for (uint256 j; j < i; ++j) {
                if (_field(actions, j, KIND) != opposite) continue;
                if (role == POOL_ACTION) {
                    uint256 pool = _field(actions, i, POOL);
                    if (_field(actions, j, POOL) == pool) revert ILeverageModule.PoolRoundTrip(address(uint160(pool)));
                } else if (runs[_field(actions, j, SUB)].state.collateralToken == runs[sub].state.collateralToken) {
                    revert ILeverageModule.SwapRoundTrip(runs[sub].state.collateralToken);
                }
            }
        }
        // Gas (issue 15): both walks below only refuse an action or a run whose sub-account has no venue action, so
        // they run only when some listed sub-account has none (`acted` short of one bit per run): every action's
        // subAccount is below the run count (PlanLib.check), so with every run acted neither walk can refuse
        // (measured, `npm run bench:gas`: vet -262 gas for 1 sub-account and 2 actions, -882 for 3 and 6); otherwise
        // both run as before, in the same order (the first action of an unacted sub-account before
        // SubAccountUnchanged). With the walks skipped, SwapAttacks.t.sol test_Refuses_ASwapNoVenueActionUses fails
        // (SwapNotUsed is raised only here).
        if (acted != (1 << runs.length) - 1) {
            for (uint256 i; i < actions.length; ++i) {
                uint256 sub = _field(actions, i, SUB);
                if (acted & (1 << sub) != 0) continue;
                Action calldata action = actions[i];
                if (_isPoolKind(action.kind)) revert ILeverageModule.PoolNotUsed(runs[sub].id, action.pool);
                if (_isSwapKind(action.kind)) revert ILeverageModule.SwapNotUsed(runs[sub].id);
            }
            for (uint256 i; i < runs.length; ++i) {
                if (acted & (1 << i) == 0) revert ILeverageModule.SubAccountUnchanged(runs[i].id);
            }
        }
    }

    /// @dev A swap serves its own sub-account's position (issue 12 review): per sub-account, its SellCollateral minimum
    /// outputs (on-chain, `_minAmountOut`) sum to at most the plan's decrease of its debt (repayments, each capped at the
    /// debt it meets in execution order, less borrows), and its BuyCollateral minimum outputs to at most the plan's net
    /// addition to its collateral (supplies less withdrawals). Without it a rescue could sell most of the exposure, repay
    /// just enough to land in the zone and park the rest (IdleInflow accepts a deposit into an allowed pool), with the
    /// loss allowance scaled by the huge move; or a boost could buy collateral and park or supply it elsewhere.
    /// A not-due sub-account may not swap at all (`ActionNotAllowed(index, kind)`, fourteenth review of issue 10): its
    /// sale next to another's rescue, from a market whose oracle is below another listed market's of the token (each
    /// within its feed's deviation bound), was valued at its own oracle alone and its router paid about that: 171 USDC
    /// lost against an 88 USDC allowance with oracles 1.8% apart, 834 at 10%. The solver swaps only for due ones.
    /// Judged on the plan before anything is called: the TypeScript rules mirror it from the plan alone.
    /// `kinds` is `_checkActions`' bit set (16 x sub-account + kind). Gas (issue 15): a sub-account with no swap (kinds
    /// 6 and 7: bits 0xC0) is skipped, which changes nothing: with no minimum outputs both bounds hold whatever it repaid
    /// or supplied, and its `swapped` stays 0.
    function _checkSwapsServeOwnPosition(
        Run[] memory runs,
        Action[] calldata actions,
        uint256 kinds
    ) private pure {
        // Gas (issue 15): a plan in which no sub-account supplies collateral or swaps (no bit of SERVE_KINDS in any
        // sub-account's 16 bits of `kinds`) leaves the walk below nothing to do (no boost cleared, every sub-account
        // skipped), so it returns at once, before the tally is allocated. With SERVE_KINDS = 0, SwapAttacks.t.sol
        // (test_Attack_SaleOneUnitAboveTheRepaymentIsRefused, ...BoostParkingPurchasedCollateralIsRefused,
        // ...OverUnwindIntoPoolDuringRescueIsRefused) and Rr10cIdleParking.t.sol (the three rr10c boost-supply cases)
        // fail.
        if (kinds & SERVE_KINDS == 0) return;
        // tally[0]: debt in execution order, [1]: sale minimum outputs, [2]: purchase minimum outputs,
        // [3]: collateral supplied, [4]: collateral withdrawn.
        uint256[5] memory tally;
        for (uint256 k; k < runs.length; ++k) {
            Run memory run = runs[k];
            uint256 own = kinds >> (k << 4);
            // A supplying sub-account's borrow funds no deposit (rr10c C1), whatever the order: the supply carried the
            // idle reserve into the position, the borrow it made room for may not park in a pool listed elsewhere.
            if (own & SUPPLY_KINDS != 0) run.boost = false;
            if (own & 0xC0 == 0) continue;
            tally = [run.repayable, uint256(0), uint256(0), uint256(0), uint256(0)];
            for (uint256 j; j < actions.length; ++j) {
                if (_field(actions, j, SUB) != k) continue;
                // Gas (issue 15): the kind as its number (PlanLib checked it below ACTION_KINDS).
                uint256 kind = _field(actions, j, KIND);
                uint256 amount = _field(actions, j, AMOUNT);
                if ((1 << kind) & REPAY_KINDS != 0) {
                    if (kind == uint256(ActionKind.RepayWithCallback)) amount = _repaymentOf(runs, actions, j);
                    tally[0] -= Math.min(amount, tally[0]);
                } else if (kind == uint256(ActionKind.Borrow)) {
                    tally[0] += amount;
                } else if ((1 << kind) & SUPPLY_KINDS != 0) {
                    tally[3] += amount;
                } else if (kind == uint256(ActionKind.WithdrawCollateral)) {
                    tally[4] += amount;
                } else if (kind >> 1 == 3) { // a swap kind (`_isSwapKind`)
                    // Only a due sub-account swaps (fourteenth review of issue 10): a not-due one's sale is valued at
                    // its own oracle alone when the token's other listed markets change only debt, and a keeper's router
                    // paying about that price took the gap to a higher listed oracle unbooked, next to any rescue.
                    if (!run.due) revert ILeverageModule.ActionNotAllowed(j, ActionKind(kind));
                    bool sell = kind == uint256(ActionKind.SellCollateral);
                    tally[sell ? 1 : 2] += _swapMinOut(run, sell, amount);
                    run.swapped += sell ? HealthLib.collateralValue(amount, run.state.price) : amount;
                }
            }
            uint256 repaid = run.repayable > tally[0] ? run.repayable - tally[0] : 0;
            if (tally[1] > repaid) revert ILeverageModule.SaleExceedsRepayment(run.id, tally[1], repaid);
            uint256 supplied = tally[3] > tally[4] ? tally[3] - tally[4] : 0;
            if (tally[2] > supplied) revert ILeverageModule.PurchaseExceedsSupply(run.id, tally[2], supplied);
        }
    }

    uint256 private constant POOL_ACTION = 0;
    uint256 private constant VENUE_ACTION = 1;
    uint256 private constant SWAP_ACTION = 2;
    /// @dev Per kind k, bits 16k..16k+15: the kinds (bits by kind) k may not join on one sub-account (`_checkActions`):
    /// WithdrawCollateral (3) / SupplyCollateralWithCallback (9), Borrow (4) / RepayWithCallback (8), Borrow (4) / Repay (5),
    /// DepositToPool (1) / SupplyCollateral (2), DepositToPool (1) / SupplyCollateralWithCallback (9).
    uint256 private constant CHURN_KINDS =
        0x204 << 16 | 0x2 << 32 | 0x200 << 48 | 0x120 << 64 | 0x10 << 80 | 0x10 << 128 | 0xA << 144;
    /// @dev Repay (5) and RepayWithCallback (8), as bits by kind.
    uint256 private constant REPAY_KINDS = 0x120;
    /// @dev SupplyCollateral (2) and SupplyCollateralWithCallback (9), as bits by kind.
    uint256 private constant SUPPLY_KINDS = 0x204;
    /// @dev SUPPLY_KINDS and the swap kinds (6, 7: 0xC0) in each of the 16 sub-accounts' 16 bits of `_checkActions`'
    /// `kinds` (at most MAX_SUB_ACCOUNTS = 8 are used): what `_checkSwapsServeOwnPosition` acts on.
    uint256 private constant SERVE_KINDS = 0x02C4 * 0x0001000100010001000100010001000100010001000100010001000100010001;

    /// @dev Returns the role of `actions[index]`: POOL_ACTION, VENUE_ACTION (callback actions included) or SWAP_ACTION.
    /// `repayCallbackOf` is the sub-account index + 1 of the open RepayWithCallback (0: none).
    function _checkAction(
        ModuleStorage storage s,
        address safe,
        address swapAdapter,
        Run[] memory runs,
        Action[] calldata actions,
        uint256 index,
        uint256 repayCallbackOf
    ) private view returns (uint256) {
        // Gas (issue 15): the kind as its number (PlanLib checked it below ACTION_KINDS), the run read once; an ActionKind
        // only for an error.
        uint256 kind = _field(actions, index, KIND);
        uint256 sub = _field(actions, index, SUB);
        Run memory run = runs[sub];
        // A zero amount is refused, but a RepayWithCallback's repayment may add its sales' minimum (`_repaymentOf`).
        if (
            _field(actions, index, AMOUNT) == 0
                && (kind != uint256(ActionKind.RepayWithCallback) || _repaymentOf(runs, actions, index) == 0)
        ) revert ILeverageModule.ActionNotAllowed(index, ActionKind(kind));
        address pool = address(uint160(_field(actions, index, POOL)));
        if (kind < 2) { // a pool kind (`_isPoolKind`)
            if (!s.allowedPools[run.id][safe][pool]) revert ILeverageModule.PoolNotAllowed(run.id, pool);
            return POOL_ACTION;
        }
        Policy memory policy = _policyOf()(run);
        bool boost = policy.boostAllowed && run.stop == 0; // no boost while its stop holds
        if (kind >> 1 == 3) { // a swap kind (`_isSwapKind`)
            // Tokens come from the sub-account, the route (in `pool`) is vetted by the swap adapter.
            if (
                swapAdapter == address(0) || policy.maxSlippageBps == 0
                    || (kind == uint256(ActionKind.BuyCollateral) && !boost)
            ) {
                revert ILeverageModule.ActionNotAllowed(index, ActionKind(kind));
            }
            return SWAP_ACTION;
        }
        // A venue action's `pool` is zero, but a RepayWithCallback's may carry the repayment mode word
        // (ConstantsLib.REPAY_PLUS_SALE_MINIMUMS, `_repaymentOf`).
        if (
            pool != address(0)
                && (kind != uint256(ActionKind.RepayWithCallback)
                    || uint160(pool) != ConstantsLib.REPAY_PLUS_SALE_MINIMUMS)
        ) revert ILeverageModule.ActionNotAllowed(index, ActionKind(kind));
        // A deleverage-only policy withdraws collateral only inside its own repay callback: a swap deleverage, whose
        // health may not decrease (post-conditions).
        if (
            !boost
                && (kind == uint256(ActionKind.Borrow)
                    || (kind == uint256(ActionKind.WithdrawCollateral) && repayCallbackOf != sub + 1))
        ) {
            revert ILeverageModule.ActionNotAllowed(index, ActionKind(kind));
        }
        return VENUE_ACTION;
    }

    /// @dev WithdrawFromPool (0) or DepositToPool (1).
    function _isPoolKind(ActionKind kind) private pure returns (bool) {
        return uint8(kind) < 2;
    }

    /// @dev SellCollateral (6) or BuyCollateral (7).
    function _isSwapKind(ActionKind kind) private pure returns (bool) {
        return uint8(kind) >> 1 == 3;
    }

    /// @dev Word offsets of an Action's fields in calldata (a static struct: 4 words, `Action[]` elements 128 bytes apart).
    uint256 private constant KIND = 0;
    uint256 private constant SUB = 1;
    uint256 private constant POOL = 2;
    uint256 private constant AMOUNT = 3;

    /// @dev Field `field` (KIND, SUB, POOL, AMOUNT) of `actions[j]`, one CALLDATALOAD. Gas (issue 15): the ABI decoder's
    /// per-access checks (bounds, enum range, address cleanliness: about 300 gas an access in the hot loops) cannot fail
    /// here: the module ran PlanLib.check on the same plan before this library was called (every kind below
    /// ACTION_KINDS, every subAccount below the sub-account count, every pool a clean address, the exact length), the
    /// module's call re-encodes those values unchanged, and every caller has j < actions.length.
    function _field(Action[] calldata actions, uint256 j, uint256 field) private pure returns (uint256 word) {
        assembly ("memory-safe") {
            word := calldataload(add(actions.offset, add(shl(7, j), shl(5, field))))
        }
    }

    /// @dev What RepayWithCallback j repays, base units: its `amount`, or, when it carries the repayment mode word
    /// ConstantsLib.REPAY_PLUS_SALE_MINIMUMS in `pool`, its `amount` plus the on-chain minimum output (`_swapMinOut`, at
    /// the oracle price loaded at inclusion) of each SellCollateral of its own sub-account inside its block. Every reader
    /// of a repayment (the amount check, `_checkSwapsServeOwnPosition`, `_flowTally`, the venue's callback call) reads a
    /// RepayWithCallback's amount here, so the plan is judged and run exactly as the same plan with that sum written as
    /// its amount: a keeper could always have sent that plan, the mode only fixes the sum at inclusion instead of at the
    /// keeper's quote (docs/sale-minimum-repayment.md). Gas (issue 15): callers call it only for a RepayWithCallback
    /// and read other kinds' amounts with `_field` (through this function every action cost about 100 gas more: +408
    /// for the bench's 1 sub-account, later rebalance; a ternary at each reader still +150).
    /// PlanLib closed every callback, so the walk ends inside the plan; a sum past 2^256 reverts (Panic 0x11).
    function _repaymentOf(Run[] memory runs, Action[] calldata actions, uint256 j) private pure returns (uint256 amount) {
        amount = _field(actions, j, AMOUNT);
        if (_field(actions, j, POOL) != ConstantsLib.REPAY_PLUS_SALE_MINIMUMS) return amount;
        uint256 sub = _field(actions, j, SUB);
        uint256 kind;
        for (uint256 k = j + 1; (kind = _field(actions, k, KIND)) != uint256(ActionKind.EndCallback); ++k) {
            if (kind == uint256(ActionKind.SellCollateral) && _field(actions, k, SUB) == sub) {
                amount += _swapMinOut(runs[sub], true, _field(actions, k, AMOUNT));
            }
        }
    }

    /* RUN */

    /// @dev Runs the plan's actions from `start`; a callback action runs its venue call and returns after the block's
    /// EndCallback, its inner actions having run inside the callback.
    function _runActions(Run[] memory runs, address safe, address swapAdapter, Action[] calldata actions)
        private
    {
        uint256 i;
        while (i < actions.length) {
            Action memory action = _actionAt()(actions, i);
            if (uint8(action.kind) >> 1 == 4) { // RepayWithCallback (8) or SupplyCollateralWithCallback (9)
                i = _executeWithCallback(runs, safe, actions, i);
            } else {
                Run memory run = runs[action.subAccount];
                _execute(run.adapter, run.market, run.state, run.maxSlippageBps, safe, swapAdapter, action, i);
                ++i;
            }
        }
    }

    /// @dev `actions[i]` copied into memory (a fresh `Action`), called as `_actionAt()(actions, i)`. Gas (issue 15): one
    /// CALLDATACOPY of the action's four words instead of the ABI decoder's copy (its enum range, uint8 and address
    /// checks cannot fail here, see `_field`: PlanLib.check proved every kind below ACTION_KINDS, every subAccount below
    /// the sub-account count, at most MAX_SUB_ACCOUNTS, and every pool a clean address), through a function typed as
    /// returning the Action at the address `_actionPtr` returns, as `_policyOf` does: a function returning a memory
    /// struct zero-allocates it first. A static struct's memory copy is its calldata words in order (kind, subAccount,
    /// pool, amount), each a clean value of its type. Caller: i < actions.length. Measured (forge trace of the bench's
    /// later rebalance): -970 gas for 1 sub-account (2 actions), -2,910 for 3 (6 actions).
    function _actionAt()
        private
        pure
        returns (function(Action[] calldata, uint256) internal pure returns (Action memory) typed)
    {
        function(Action[] calldata, uint256) internal pure returns (uint256) raw = _actionPtr;
        assembly ("memory-safe") {
            typed := raw
        }
    }

    /// @dev The memory address of a fresh copy of `actions[i]` (see `_actionAt`).
    function _actionPtr(Action[] calldata actions, uint256 i) private pure returns (uint256 ptr) {
        assembly ("memory-safe") {
            ptr := mload(0x40)
            calldatacopy(ptr, add(actions.offset, shl(7, i)), 0x80)
            mstore(0x40, add(ptr, 0x80))
        }
    }

    /// @dev Arms the guard for one callback from the venue this action calls, with the hash of exactly the data it
    /// hands over (the block's inner actions, their plan index, the pre-trade runs, the token to settle in), makes the
    /// call, requires that the callback ran, reads back what the inner actions moved, resets the venue's approval.
    /// Returns the index after the block's EndCallback.
    function _executeWithCallback(Run[] memory runs, address safe, Action[] calldata actions, uint256 index)
        private
        returns (uint256 next)
    {
        uint256 kind = _field(actions, index, KIND);
        Run memory run = runs[_field(actions, index, SUB)];
        uint256 amount =
            kind == uint256(ActionKind.RepayWithCallback) ? _repaymentOf(runs, actions, index) : _field(actions, index, AMOUNT);
        bytes memory data;
        (data, next) = _callbackData(
            runs,
            actions,
            index,
            kind == uint256(ActionKind.RepayWithCallback) ? run.state.loanToken : run.state.collateralToken
        );
        (VenueCall memory venueCall, bytes4 selector) =
            run.adapter.encodeWithCallback(uint8(kind), run.market, amount, safe, data);
        _arm(venueCall.target, keccak256(abi.encodePacked(selector, data)));
        _call(safe, index, venueCall.target, venueCall.data);
        if (_tload(CALLBACK_HASH_SLOT) != 0) revert ILeverageModule.CallbackNotReceived(index);
        _tstore(CALLBACK_VENUE_SLOT, 0);
        _resetApproval(safe, index, venueCall.approveToken, venueCall.target);
    }

    /// @dev The data a callback action hands to its venue, `abi.encode(start, settleToken, callbackRuns, inner)`: the
    /// plan index of its first inner action, the token the callback settles in, each listed sub-account's `CallbackRun`
    /// (in plan order) and the inner actions; and the index after the block's EndCallback.
    function _callbackData(Run[] memory runs, Action[] calldata actions, uint256 index, address settleToken)
        private
        pure
        returns (bytes memory data, uint256 next)
    {
        uint256 end = index + 1;
        // PlanLib: every callback is closed. Gas (issue 15): the kinds read with `_field` and the inner actions copied
        // with `_actionAt` (no ABI decoder per access, see there).
        while (_field(actions, end, KIND) != uint256(ActionKind.EndCallback)) ++end;
        Action[] memory inner = new Action[](end - index - 1);
        for (uint256 k; k < inner.length; ++k) {
            inner[k] = _actionAt()(actions, index + 1 + k);
        }
        CallbackRun[] memory carried = new CallbackRun[](runs.length);
        for (uint256 i; i < runs.length; ++i) {
            Run memory run = runs[i];
            carried[i] = CallbackRun(run.adapter, run.market, run.state, run.maxSlippageBps);
        }
        data = abi.encode(index + 1, settleToken, carried, inner);
        next = end + 1;
    }

    /// @notice A venue callback reached through the Safe's fallback handler (`msg.sender` = the Safe, `caller` = the
    /// ERC-2771 sender the Safe appended): accepted only for the Safe whose rebalance is running, from the venue its
    /// callback action just called, with the data it armed, once. Runs the inner actions, records what they moved for
    /// the outer frame, and approves the venue for the `assets` it collects next. `data` as `_callbackData` encodes it.
    function callback(
        address swapAdapter,
        bytes4 selector,
        address caller,
        uint256 assets,
        bytes calldata data
    ) external {
        address safe = msg.sender;
        if (safe != address(uint160(_tload(ActiveRebalance.SLOT)))) revert ILeverageModule.CallbackOutsideRebalance(safe);
        if (caller != address(uint160(_tload(CALLBACK_VENUE_SLOT)))) {
            revert ILeverageModule.CallbackFromUntouchedVenue(caller);
        }
        if (uint256(keccak256(abi.encodePacked(selector, data))) != _tload(CALLBACK_HASH_SLOT)) {
            revert ILeverageModule.UnexpectedCallback(selector);
        }
        _tstore(CALLBACK_HASH_SLOT, 0);
        (uint256 start, address settleToken, CallbackRun[] memory runs, Action[] memory inner) =
            abi.decode(data, (uint256, address, CallbackRun[], Action[]));
        _executeInner(runs, inner, start, safe, swapAdapter);
        _approve(safe, start - 1, settleToken, caller, assets);
    }

    /// @dev Runs a callback's inner actions, `inner[k]` being the plan's action `start + k`, each with its sub-account's
    /// `CallbackRun` as the callback's data carried it.
    function _executeInner(
        CallbackRun[] memory runs,
        Action[] memory inner,
        uint256 start,
        address safe,
        address swapAdapter
    ) private {
        for (uint256 k; k < inner.length; ++k) {
            Action memory action = inner[k];
            CallbackRun memory run = runs[action.subAccount];
            _execute(run.adapter, run.market, run.state, run.maxSlippageBps, safe, swapAdapter, action, start + k);
        }
    }

    /// @dev Runs one action already vetted by `_checkActions` (never a callback action), of the sub-account whose
    /// venue adapter, market, pre-trade state and swap bound (its vetted policy's `maxSlippageBps`, bps) are given
    /// (`CallbackRun`'s fields; a pool action reads none of them).
    function _execute(
        IVenueAdapter adapter,
        bytes32 market,
        MarketState memory state,
        uint256 maxSlippageBps,
        address safe,
        address swapAdapter,
        Action memory action,
        uint256 index
    ) private {
        ActionKind kind = action.kind;
        uint256 amount = action.amount;

        if (_isPoolKind(kind)) {
            address pool = action.pool;
            if (kind == ActionKind.DepositToPool) {
                if (
                    IERC4626(pool).totalSupply() < ConstantsLib.MIN_POOL_SUPPLY
                        || IERC4626(pool).convertToAssets(1e18) == 0
                ) revert ILeverageModule.PoolUnhealthy(pool);
                // Gas (issue 15): the asset is read only here, where the approval needs it.
                _callWithApproval(
                    safe, index, pool, abi.encodeCall(IERC4626.deposit, (amount, safe)), IERC4626(pool).asset(), amount
                );
            } else {
                _call(safe, index, pool, abi.encodeCall(IERC4626.withdraw, (amount, safe, safe)));
            }
            return;
        }
        if (_isSwapKind(kind)) {
            _swap(maxSlippageBps, state, safe, swapAdapter, action, index);
            return;
        }

        VenueCall memory venueCall = adapter.encode(uint8(kind), market, amount, safe);
        if (venueCall.approveToken == address(0)) {
            _call(safe, index, venueCall.target, venueCall.data);
        } else {
            _callWithApproval(
                safe, index, venueCall.target, venueCall.data, venueCall.approveToken, venueCall.approveAmount
            );
        }
    }

    /// @dev One exact-input swap of the sub-account's own tokens through the swap adapter, paid to the Safe: the
    /// minimum output is the input's value at the pre-trade oracle price less `maxSlippageBps` (rounded up), passed to
    /// the router and re-checked on the Safe's balance; the router's approval is exact and back to zero after.
    /// Swaps change no position, so they add nothing to `moved` (the net position change); their loss counts in the
    /// value bounds.
    function _swap(
        uint256 maxSlippageBps,
        MarketState memory state,
        address safe,
        address swapAdapter,
        Action memory action,
        uint256 index
    ) private {
        bool sell = action.kind == ActionKind.SellCollateral;
        (address tokenIn, address tokenOut) =
            sell ? (state.collateralToken, state.loanToken) : (state.loanToken, state.collateralToken);
        uint256 minAmountOut = _minAmountOut(maxSlippageBps, state.price, sell, action.amount);
        VenueCall memory swapCall = ISwapAdapter(swapAdapter).encodeSwap(
            SwapRequest({
                tokenIn: tokenIn,
                tokenOut: tokenOut,
                amountIn: action.amount,
                minAmountOut: minAmountOut,
                account: safe,
                route: bytes32(uint256(uint160(action.pool)))
            })
        );
        uint256 balanceBefore = _balanceOf(tokenOut, safe);
        _approve(safe, index, swapCall.approveToken, swapCall.target, swapCall.approveAmount);
        _call(safe, index, swapCall.target, swapCall.data);
        _resetApproval(safe, index, swapCall.approveToken, swapCall.target);
        uint256 balanceAfter = _balanceOf(tokenOut, safe);
        uint256 received = balanceAfter > balanceBefore ? balanceAfter - balanceBefore : 0;
        if (received < minAmountOut) revert ILeverageModule.SlippageExceeded(index, tokenOut, received, minAmountOut);
        uint256 slot = SWAP_OUTPUT_SLOT + action.subAccount + (sell ? 0 : ConstantsLib.MAX_SUB_ACCOUNTS);
        _tstore(slot, _tload(slot) + received);
    }

    /// @dev A swap's minimum output: the input's value at the pre-trade oracle price (`price`, ConstantsLib.PRICE_SCALE
    /// scale: loan base units per collateral base unit) less `maxSlippageBps`, rounded up; base units of the output.
    function _minAmountOut(uint256 maxSlippageBps, uint256 price, bool sell, uint256 amountIn)
        private
        pure
        returns (uint256)
    {
        uint256 fair = sell
            ? Math.mulDiv(amountIn, price, ConstantsLib.PRICE_SCALE)
            : Math.mulDiv(amountIn, ConstantsLib.PRICE_SCALE, price);
        return Math.mulDiv(fair, ConstantsLib.BPS - maxSlippageBps, ConstantsLib.BPS, Math.Rounding.Ceil);
    }

    function _callWithApproval(
        address safe,
        uint256 index,
        address target,
        bytes memory data,
        address token,
        uint256 amount
    ) private {
        _approve(safe, index, token, target, amount);
        _call(safe, index, target, data);
        _resetApproval(safe, index, token, target);
    }

    /// @dev Back to zero unless the spender took exactly what it was allowed: a venue or pool that pulls the exact
    /// amount (Morpho's repay and supplyCollateral, an ERC-4626 deposit) leaves nothing to reset, and reading the
    /// allowance (one STATICCALL) is about 5,000 gas cheaper than the Safe call an approve(0) costs.
    function _resetApproval(address safe, uint256 index, address token, address spender) private {
        if (token != address(0) && _read(token, IERC20.allowance.selector, uint160(safe), uint160(spender), 2) != 0) {
            _approve(safe, index, token, spender, 0);
        }
    }

    function _approve(address safe, uint256 index, address token, address spender, uint256 amount) private {
        bytes memory result = _call(safe, index, token, abi.encodeCall(IERC20.approve, (spender, amount)));
        // Tokens that return nothing are accepted; a token returning false (or garbage) is a failed action.
        if (result.length != 0 && (result.length != 32 || abi.decode(result, (uint256)) != 1)) {
            revert ILeverageModule.ActionFailed(index, result);
        }
    }

    /// @dev Gas (issue 15): one Safe module call per venue/pool/token call (about 3,400 gas each over a MultiSend
    /// batch) is kept on purpose: every call is a plain CALL from the Safe whose result is checked at once, and the Safe
    /// never DELEGATECALLs (not even into MultiSendCallOnly) on a keeper's behalf.
    function _call(address safe, uint256 index, address target, bytes memory data)
        private
        returns (bytes memory result)
    {
        // A plan never calls the Safe itself (owners, modules, guard, fallback) nor the module's configuration.
        if (target == safe || target == address(this)) revert ILeverageModule.ActionFailed(index, "");
        // Gas (issue 15): `ISafe(safe).execTransactionFromModuleReturnData(target, 0, data, CALL)` without the ABI coder
        // (about 1,000 gas a call): the same call data (zero value, CALL, `data` zero-padded), a revert bubbled up, and
        // the reply decoded as the coder did (a bool that is 0 or 1, then the bytes at the offset it names, within the
        // reply; anything else reverts without data).
        bool success;
        bytes4 selector = ISafe.execTransactionFromModuleReturnData.selector;
        uint8 operation = ConstantsLib.CALL;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            let len := mload(data)
            mstore(ptr, selector)
            mstore(add(ptr, 0x04), target)
            mstore(add(ptr, 0x24), 0)
            mstore(add(ptr, 0x44), 0x80)
            mstore(add(ptr, 0x64), operation)
            mstore(add(ptr, 0x84), len)
            mcopy(add(ptr, 0xa4), add(data, 0x20), len)
            mstore(add(add(ptr, 0xa4), len), 0)
            if iszero(call(gas(), safe, 0, ptr, add(0xa4, and(add(len, 31), not(31))), 0, 0)) {
                returndatacopy(ptr, 0, returndatasize())
                revert(ptr, returndatasize())
            }
            let size := returndatasize()
            if lt(size, 0x40) { revert(0, 0) }
            returndatacopy(ptr, 0, size)
            success := mload(ptr)
            let offset := mload(add(ptr, 0x20))
            if or(gt(success, 1), gt(offset, sub(size, 0x20))) { revert(0, 0) }
            result := add(ptr, offset)
            if gt(mload(result), sub(size, add(offset, 0x20))) { revert(0, 0) }
            mstore(0x40, add(ptr, and(add(size, 31), not(31))))
        }
        if (!success) revert ILeverageModule.ActionFailed(index, result);
    }

    /// @dev Every inflow is used (net flow per asset, issue 10). For each asset the plan can move (the loan token and
    /// each listed collateral token, in that order; a pool's asset is one of them, see `_value`), with
    ///     spent:     repayments (each capped at the sub-account's repayable debt when it runs: the pre-trade
    ///                `Run.repayable` (on Aave the debt reserve's own variable debt, not the account's debt across
    ///                reserves) plus the plan's borrows on it before, less its repayments before), collateral supplies (callback supplies
    ///                included) and swap inputs;
    ///     received:  borrows, collateral withdrawals and swap outputs at their on-chain minimum;
    ///     fundable:  the borrows of sub-accounts due above their band (`Run.boost`, rr10b), in the loan token; nothing
    ///                else (part of received);
    ///     deposited: deposits into pools of the asset;
    /// the plan must satisfy
    ///     deposited <= fundable                  (else DepositNotFunded), so unparked = received - deposited,
    ///     pool withdrawals <= spent - unparked   (else PoolNotUsed, naming the withdrawal that crosses it)
    ///     unparked <= spent                      (else IdleInflow).
    /// So a borrow, a collateral withdrawal or a swap's output is either spent by the plan or parked in an allowed pool,
    /// and a pool withdrawal only pays for a spend nothing else pays for: no plan raises the Safe's idle balance of any
    /// asset (idle funds earn nothing and a borrow left idle costs interest), and a deposit never makes a withdrawal
    /// count as used. Nor does any plan lower it into a pool (brk10r F1): a deposit parks only what the same plan brought
    /// in, so a rescue cannot carry the Safe's idle reserve into a pool whose exit fee the loss bound does not book
    /// (pools are valued at `convertToAssets`) or whose cash borrowers can drain, leaving the next rescue no source.
    /// Only a boost's own borrow funds a deposit (rr10b; the solver's one deposit is planSteps.ts `boost`: Borrow(x) +
    /// DepositToPool(x) on a sub-account due above its band). Collateral withdrawals and swap outputs fund none (rr10 F2:
    /// the reserve paid the repayment that made room for them); nor does a not-due sub-account's borrow or withdrawal
    /// (rr10 F3, rr10b R2: it stood in for the idle reserve another's rescue drew), nor the borrow of a sub-account due
    /// below its band (rr10b R1: its supply of the reserve made room for it); and a sub-account that supplies collateral
    /// deposits nothing (`CHURN_KINDS`), and its borrow funds no deposit anywhere (`_checkSwapsServeOwnPosition` clears its
    /// `Run.boost`, rr10c C1), so a boost cannot supply the reserve and park the extra borrow, on its own sub-account or another's.
    /// Net per asset, order-free (EIP-170 leaves no room for per-sub-account matching): a boost's borrow may fund a
    /// loan-token deposit listed on another sub-account, into that one's allowed pool. Residual: a boost's honest borrow is parked while
    /// another sub-account's rescue draws the reserve; both moves are bounded by their landing zones.
    /// The one slack is a swap's output above its minimum (at most `maxSlippageBps` of the swap).
    /// Gas (issue 15): one pass over the actions tallies every asset's flows (`_flowTally`), pool withdrawals included;
    /// it stays because only the actions say what each flow was for. The assets and each pool's asset are `_holdings`'
    /// `tokens` (read before the actions, the same assets the loss bound values each pool in), so no pool is called
    /// again here and no asset list is built (about 600 gas a pool action less: one `asset()` call, its slot lookup).
    /// The withdrawals are walked again, in plan order, only when an asset's total crosses what it
    /// may use, to name the first withdrawal that crosses it (cumulative sums only grow, so the total crosses exactly
    /// when some prefix does): the same refusals as a walk per asset, without it on every operation.
    function _checkInflowsUsed(
        Run[] memory runs,
        Action[] calldata actions,
        address[] memory tokens,
        uint256 count
    ) private pure {
        // tokens[0, count): the loan token, then each distinct collateral token in run order (`_firstOf`, as `_holdings`
        // fills them and counts them: `count`); tokens[count, ...): the asset of each distinct pool the plan names, in
        // order of first appearance.
        // slot[j]: the asset slot of action j's collateral-side flow (its pool's asset for a pool action).
        uint256[] memory slot = _newWords(actions.length);
        {
            uint256 next = count; // `tokens` entry of the next pool not named before
            for (uint256 j; j < actions.length; ++j) {
                uint256 kind = _field(actions, j, KIND);
                if (kind < 2) { // a pool kind
                    uint256 pool = _field(actions, j, POOL);
                    uint256 first;
                    while (first < j && (_field(actions, first, KIND) >= 2 || _field(actions, first, POOL) != pool)) ++first;
                    if (first < j) {
                        slot[j] = slot[first]; // the same pool as an earlier action: its asset's slot
                        continue;
                    }
                    address asset = tokens[next++];
                    uint256 at = _slotOf(tokens, count, asset);
                    // Unreachable after `_holdings` (which values every pool's asset), kept so no flow is left unjudged.
                    if (at == count) revert ILeverageModule.PoolAssetMismatch(address(uint160(pool)), asset);
                    slot[j] = at;
                } else if ((1 << kind) & COLLATERAL_FLOW_KINDS != 0) {
                    slot[j] = _slotOf(tokens, count, runs[_field(actions, j, SUB)].state.collateralToken);
                }
            }
        }
        // flows[5a]: spent, [5a + 1]: received, [5a + 2]: deposited, [5a + 3]: fundable, [5a + 4]: withdrawn from
        // pools, of asset slot a.
        uint256[] memory flows = _flowTally(runs, actions, slot);
        for (uint256 a; a < count; ++a) {
            // Gas (issue 15): the slot's five entries are read without a bounds check and its checked index arithmetic
            // each: a < count <= runs + 1 and `flows` holds 5 x (runs + 1) words (`_flowTally`); `at` is the address of
            // flows[5a]. Measured (forge trace of the bench's later rebalance): -1,202 gas for 1 sub-account, -2,412 for 3.
            uint256 at;
            uint256 deposited;
            assembly ("memory-safe") {
                at := add(add(flows, 0x20), mul(a, 0xa0))
                deposited := mload(add(at, 0x40))
            }
            {
                uint256 fundable;
                assembly ("memory-safe") {
                    fundable := mload(add(at, 0x60))
                }
                if (deposited > fundable) revert ILeverageModule.DepositNotFunded(tokens[a], deposited, fundable);
            }
            uint256 spent;
            uint256 received;
            assembly ("memory-safe") {
                spent := mload(at)
                received := mload(add(at, 0x20))
            }
            uint256 unparked = received - deposited;
            uint256 usable = spent > unparked ? spent - unparked : 0;
            {
                bool crossed; // withdrawn from the slot's pools (flows[5a + 4]) above `usable`
                assembly ("memory-safe") {
                    crossed := gt(mload(add(at, 0x80)), usable)
                }
                if (crossed) _revertPoolNotUsed(runs, actions, slot, a, usable);
            }
            if (unparked > spent) revert ILeverageModule.IdleInflow(tokens[a], received, spent + deposited);
        }
    }

    /// @dev Reverts with PoolNotUsed naming the first pool withdrawal of asset slot `a` (plan order) past which the
    /// slot's withdrawals sum above `usable` (`_checkInflowsUsed` calls it only when their total does).
    function _revertPoolNotUsed(
        Run[] memory runs,
        Action[] calldata actions,
        uint256[] memory slot,
        uint256 a,
        uint256 usable
    ) private pure {
        uint256 withdrawn;
        for (uint256 j; j < actions.length; ++j) {
            if (slot[j] != a || actions[j].kind != ActionKind.WithdrawFromPool) continue;
            withdrawn += actions[j].amount;
            if (withdrawn > usable) revert ILeverageModule.PoolNotUsed(runs[actions[j].subAccount].id, actions[j].pool);
        }
    }

    /// @dev Index of `token` among the first `count` entries of `assets`, or `count` when absent.
    function _slotOf(address[] memory assets, uint256 count, address token) private pure returns (uint256 i) {
        while (i < count && assets[i] != token) ++i;
    }

    /// @dev Per asset slot a (see `_checkInflowsUsed`), base units: flows[5a] what the plan's venue and swap actions
    /// take from the Safe's wallet (repayments capped at the debt they meet), flows[5a + 1] what they bring into it (swap
    /// outputs at their on-chain minimum), flows[5a + 2] what the plan deposits into pools of the asset, flows[5a + 3]
    /// the part of flows[5a + 1] a deposit may park: the borrows of sub-accounts due above their band (loan slot only),
    /// flows[5a + 4] what the plan withdraws from pools of the asset.
    function _flowTally(Run[] memory runs, Action[] calldata actions, uint256[] memory slot)
        private
        pure
        returns (uint256[] memory flows)
    {
        flows = _newWords(5 * (runs.length + 1));
        // The debt each repayment meets, in execution order (a callback's inner actions run after its opener, so a
        // borrow inside a repay callback comes after the debt fell): a repayment clears at most the debt at that point
        // (past it the adapters repay by shares, or Aave's max on the debt reserve alone), and only that much is spent.
        uint256[] memory debtNow = _newWords(runs.length);
        for (uint256 k; k < runs.length; ++k) {
            debtNow[k] = runs[k].repayable;
        }
        // Gas (issue 15): a pool or collateral action adds its amount to one entry of its asset's five, looked up by kind
        // (`SLOT_FLOWS`), without the checks of each `flows[i] +=` (`_addAt`); the same sums in the same order.
        // Gas (issue 15): `slot[j]` and a repayment's `debtNow[sub]` are read and written without a bounds check, and
        // 5 x slot[j] (+ at most 4) unchecked: j < actions.length = slot.length, sub < runs.length = debtNow.length
        // (PlanLib.check), slot[j] < runs + 1 (`_checkInflowsUsed`); a borrow's `debtNow[sub] += amount` keeps its
        // overflow Panic 0x11 (`_addAt`). Measured (forge trace of the bench's later rebalance): -252 gas for 1
        // sub-account, -756 for 3.
        for (uint256 j; j < actions.length; ++j) {
            uint256 kind = _field(actions, j, KIND);
            uint256 amount = _field(actions, j, AMOUNT);
            uint256 at; // 5 x slot[j]: flows' index of its asset slot's first entry
            assembly ("memory-safe") {
                at := mul(5, mload(add(slot, shl(5, add(j, 1)))))
            }
            if ((1 << kind) & SLOT_FLOW_KINDS != 0) {
                unchecked {
                    _addAt(flows, at + (SLOT_FLOWS >> (kind << 2) & 0xF), amount);
                }
                continue;
            }
            uint256 sub = _field(actions, j, SUB);
            if ((1 << kind) & REPAY_KINDS != 0) {
                if (kind == uint256(ActionKind.RepayWithCallback)) amount = _repaymentOf(runs, actions, j);
                uint256 cleared;
                uint256 entry = sub; // Yul: `sub` is a builtin
                assembly ("memory-safe") {
                    let p := add(debtNow, shl(5, add(entry, 1)))
                    let debt := mload(p)
                    cleared := amount
                    if lt(debt, amount) { cleared := debt }
                    mstore(p, sub(debt, cleared))
                }
                _addAt(flows, 0, cleared);
            } else if (kind == uint256(ActionKind.Borrow)) {
                _addAt(debtNow, sub, amount);
                _addAt(flows, 1, amount);
                if (runs[sub].boost) _addAt(flows, 3, amount);
            } else if (kind >> 1 == 3) { // SellCollateral (6) or BuyCollateral (7)
                bool sell = kind == uint256(ActionKind.SellCollateral);
                _addAt(flows, sell ? at : 0, amount);
                amount = _swapMinOut(runs[sub], sell, amount); // the output, at its on-chain minimum
                unchecked {
                    _addAt(flows, sell ? 1 : at + 1, amount);
                }
            }
        }
    }

    /// @dev The kinds other than the pool kinds whose flow `_flowTally` books on their sub-account's collateral slot
    /// (`slot[j]`), as bits by kind: SupplyCollateral (2), WithdrawCollateral (3), SellCollateral (6), BuyCollateral (7),
    /// SupplyCollateralWithCallback (9). Gas (issue 15): `_checkInflowsUsed` looks up the collateral slot only for these;
    /// Borrow (4), Repay (5), RepayWithCallback (8) and EndCallback (10) book on the loan slot (0) or nothing, and
    /// `_revertPoolNotUsed` reads `slot[j]` only for a WithdrawFromPool, so their `slot[j]` (left 0) is never read (one
    /// walk of the asset list less per such action; measured, forge trace of the bench's later rebalance: -521 gas for 1
    /// sub-account, -2,235 for 3). With SupplyCollateralWithCallback dropped from this set, SwapRebalance.t.sol
    /// test_Boost_FlashLoopedThroughTheSupplyCollateralCallback fails (IdleInflow of the collateral).
    uint256 private constant COLLATERAL_FLOW_KINDS = 0x2CC;
    /// @dev The kinds whose amount adds to an entry of their own asset slot's five (`_flowTally`), as bits by kind:
    /// WithdrawFromPool (0), DepositToPool (1), SupplyCollateral (2), WithdrawCollateral (3), SupplyCollateralWithCallback (9).
    uint256 private constant SLOT_FLOW_KINDS = 0x20F;
    /// @dev Per such kind k, bits 4k..4k+3: the entry: WithdrawFromPool 4 (withdrawn from pools), DepositToPool 2
    /// (deposited), SupplyCollateral 0 (spent), WithdrawCollateral 1 (received), SupplyCollateralWithCallback 0 (spent).
    uint256 private constant SLOT_FLOWS = 0x4 | 0x2 << 4 | 0x1 << 12;

    /// @dev `a[i] += v`: the sum checked as `+=` (Panic 0x11 on overflow), without the bounds check. Every caller's `i`
    /// is inside `a`: `_flowTally`'s entries are 0, 1, 3 or 5 x slot + at most 4 with slot < its asset count <= runs + 1
    /// (`_checkInflowsUsed`), in `flows` of 5 x (runs + 1) words.
    function _addAt(uint256[] memory a, uint256 i, uint256 v) private pure {
        assembly ("memory-safe") {
            let p := add(add(a, 0x20), shl(5, i))
            let sum := add(mload(p), v)
            if lt(sum, v) {
                mstore(0, shl(224, 0x4e487b71))
                mstore(4, 0x11)
                revert(0, 0x24)
            }
            mstore(p, sum)
        }
    }

    /// @dev The on-chain minimum output of a swap of `amountIn` on `run`'s sub-account (`_minAmountOut`).
    function _swapMinOut(Run memory run, bool sell, uint256 amountIn)
        private
        pure
        returns (uint256)
    {
        return _minAmountOut(_policyOf()(run).maxSlippageBps, run.state.price, sell, amountIn);
    }

    /* READS */

    /// @dev The first word `target` returns for `selector` with `argc` (0 to 2) word arguments `a`, `b`: a view call
    /// without the ABI coder. Size and gas (issue 15): one shared call site instead of a coder encoding and decoding
    /// per read (about 900 bytes of this library, and some 30 gas a read), with the same outcomes: a revert is bubbled
    /// up, and a reply shorter than one word (a target without code included) reverts without data, as the coder's
    /// decoding did. Callers check the word's type as the coder did.
    function _read(address target, bytes4 selector, uint256 a, uint256 b, uint256 argc)
        private
        view
        returns (uint256 word)
    {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, selector)
            mstore(add(ptr, 0x04), a)
            mstore(add(ptr, 0x24), b)
            if iszero(staticcall(gas(), target, ptr, add(4, shl(5, argc)), 0, 0x20)) {
                returndatacopy(ptr, 0, returndatasize())
                revert(ptr, returndatasize())
            }
            if lt(returndatasize(), 0x20) { revert(0, 0) }
            word := mload(0)
        }
    }

    /// @dev `adapter.marketState(market, safe)` written into `state` (the run's own struct, allocated with it), without
    /// the ABI coder. Gas (issue 15): the coder's copy of the reply, its fresh struct and its per-field checks (about
    /// 730 gas per listed sub-account, measured with `_latestRound`: 1,071 together). Same outcomes: a revert is bubbled up; a reply shorter than the struct's
    /// nine words (a target without code included) or a token field that is not an address reverts without data, as
    /// the coder's decoding did (the other seven fields are full words: nothing to check).
    function _marketState(IVenueAdapter adapter, bytes32 market, address safe, MarketState memory state) private view {
        bytes4 selector = IVenueAdapter.marketState.selector;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, selector)
            mstore(add(ptr, 0x04), market)
            mstore(add(ptr, 0x24), safe)
            if iszero(staticcall(gas(), adapter, ptr, 0x44, state, 0x120)) {
                returndatacopy(ptr, 0, returndatasize())
                revert(ptr, returndatasize())
            }
            if or(lt(returndatasize(), 0x120), shr(160, or(mload(state), mload(add(state, 0x20))))) { revert(0, 0) }
        }
    }

    /// @dev `adapter.positionHealth(market, safe, price, lltv)` (collateral and debt in base units, health WAD), without
    /// the ABI coder. Gas (issue 15): the coder's copy of the reply and its decoding, about 300 gas per listed
    /// sub-account (measured with `npm run bench:gas`). Same outcomes as the coder: a revert is bubbled up verbatim; a
    /// reply shorter than the three words (a target without code included) reverts without data; a longer one is read
    /// for its first three words (the three are full uint256 words: nothing else to check). Differential against the
    /// coder: modules/test/attacks/PositionHealthDecoding.t.sol.
    function _positionHealth(IVenueAdapter adapter, bytes32 market, address safe, uint256 price, uint256 lltv)
        private
        view
        returns (uint256 collateral, uint256 debt, uint256 wad)
    {
        bytes4 selector = IVenueAdapter.positionHealth.selector;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, selector)
            mstore(add(ptr, 0x04), market)
            mstore(add(ptr, 0x24), and(safe, 0xffffffffffffffffffffffffffffffffffffffff))
            mstore(add(ptr, 0x44), price)
            mstore(add(ptr, 0x64), lltv)
            if iszero(staticcall(gas(), adapter, ptr, 0x84, ptr, 0x60)) {
                returndatacopy(ptr, 0, returndatasize())
                revert(ptr, returndatasize())
            }
            if lt(returndatasize(), 0x60) { revert(0, 0) }
            collateral := mload(ptr)
            debt := mload(add(ptr, 0x20))
            wad := mload(add(ptr, 0x40))
        }
    }

    /// @dev `IPriceFeed(feed).latestRoundData()`'s answer and updatedAt, without the ABI coder. Gas (issue 15): about
    /// 300 gas per feed read, measured. Same outcomes: a revert is bubbled up; a reply shorter than five words (a feed
    /// without code included), or a roundId or answeredInRound that is not a uint80, reverts without data, as the
    /// coder's decoding did.
    function _latestRound(address feed) private view returns (int256 answer, uint256 updatedAt) {
        bytes4 selector = IPriceFeed.latestRoundData.selector;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, selector)
            if iszero(staticcall(gas(), feed, ptr, 0x04, ptr, 0xa0)) {
                returndatacopy(ptr, 0, returndatasize())
                revert(ptr, returndatasize())
            }
            if or(lt(returndatasize(), 0xa0), shr(80, or(mload(ptr), mload(add(ptr, 0x80))))) { revert(0, 0) }
            answer := mload(add(ptr, 0x20))
            updatedAt := mload(add(ptr, 0x60))
        }
    }

    /// @dev `IERC20(token).balanceOf(account)` (`_read`).
    function _balanceOf(address token, address account) private view returns (uint256) {
        return _read(token, IERC20.balanceOf.selector, uint160(account), 0, 1);
    }

    /// @dev `IERC4626(pool).asset()` (`_read`); a reply that is not an address reverts without data, as the coder did.
    function _asset(address pool) private view returns (address) {
        uint256 word = _read(pool, IERC4626.asset.selector, 0, 0, 0);
        if (word >> 160 != 0) revert();
        return address(uint160(word));
    }

    /// @dev `decimals()` of a token or feed (`_read`); a reply that is not a uint8 reverts without data, as the coder did.
    function _decimals(address target) private view returns (uint256 decimals) {
        decimals = _read(target, IERC20Metadata.decimals.selector, 0, 0, 0);
        if (decimals > type(uint8).max) revert();
    }

    /* GUARD (transient storage: one value per slot, the module serves every Safe on the chain) */

    /// @dev + sub-account index: what its sales brought into the Safe (loan units); + MAX_SUB_ACCOUNTS + index: what its
    /// purchases did (collateral units). One direction per token (`SwapRoundTrip`); read and cleared by `_swapGain`.
    uint256 private constant SWAP_OUTPUT_SLOT = uint256(keccak256("levpilot.rebalance.swapOutput")) - 1;

    // The Safe whose executeRebalance is running (0: none) is held at `ActiveRebalance.SLOT` (ModuleStorage.sol):
    // owner controls refuse while it is set.
    /// @dev The venue contract the running callback action called (0: no callback armed).
    uint256 private constant CALLBACK_VENUE_SLOT = uint256(keccak256("levpilot.rebalance.callbackVenue")) - 1;
    /// @dev keccak256(selector, data) of the one callback armed (0: none, or already received).
    uint256 private constant CALLBACK_HASH_SLOT = uint256(keccak256("levpilot.rebalance.callbackHash")) - 1;

    function _enter(address safe) private {
        uint256 active = _tload(ActiveRebalance.SLOT);
        if (active != 0) revert ILeverageModule.RebalanceActive(address(uint160(active)));
        _tstore(ActiveRebalance.SLOT, uint160(safe));
    }

    /// @dev Cleared on return: one handleOps bundle runs several operations in one transaction, and transient storage
    /// lives for the whole transaction (a revert rolls it back with the frame). Gas (issue 15): only the active Safe is
    /// written here (two TSTOREs, about 250 gas, less): the callback slots are already 0 on every successful return, since
    /// only `_arm` sets them and its one caller, `_executeWithCallback`, returns only after the callback cleared the hash
    /// (`CallbackNotReceived` otherwise) and itself clears the venue.
    function _exit() private {
        _tstore(ActiveRebalance.SLOT, 0);
    }

    function _arm(address venue, bytes32 hash) private {
        _tstore(CALLBACK_VENUE_SLOT, uint160(venue));
        _tstore(CALLBACK_HASH_SLOT, uint256(hash));
    }

    function _tload(uint256 slot) private view returns (uint256 value) {
        assembly ("memory-safe") {
            value := tload(slot)
        }
    }

    function _tstore(uint256 slot, uint256 value) private {
        assembly ("memory-safe") {
            tstore(slot, value)
        }
    }

    /* JUDGE */

    /// @dev Per sub-account: changed, inside the band (its top exitHealth while its stop is engaged), a triggered one
    /// inside its landing zone (engaged: [before + MIN_BAND_GAP, exitHealth], from below the band also above the ordinary
    /// lower bound), one not due moved only
    /// toward its target (never past it), deleverage-only never losing health, its net change within the per-rebalance
    /// amount cap.
    function _checkPostConditions(Run memory run, Policy memory policy) internal pure {
        if (run.collateralAfter == run.state.collateral && run.debtAfter == run.state.debt) {
            revert ILeverageModule.SubAccountUnchanged(run.id);
        }
        uint256 minHealth = policy.minHealth;
        // The band's top: its exitHealth while its stop is engaged (`Run.stop` > 1, docs/stop-loss-exit.md).
        uint256 maxHealth = run.stop > 1 ? run.stop : policy.maxHealth;
        uint256 target = policy.targetHealth;
        uint256 before = run.healthBefore;
        uint256 healthAfter = run.healthAfter;
        // The amount caps charge the NET position change, at the pre-trade price (see below).
        uint256 price = run.state.price;
        uint256 moved = HealthLib.collateralValue(HealthLib.distance(run.collateralAfter, run.state.collateral), price)
            + HealthLib.distance(run.debtAfter, run.state.debt);
        uint256 cap = policy.maxAmountPerRebalance;
        // Cap-bound rescue (issue 13): due from below the band and moving at least 99% of maxAmountPerRebalance
        // (moved >= cap - floor(cap / 100)), it may land below the band, at least MIN_BAND_GAP above where it was. Its
        // move counts only up to what an honest plan needs for the health it reached (what `_counted` charges it;
        // review rr13v V1, V2), and one that swaps must be a rescue the Safe could fund alone: its buffers' (the health
        // reached needs a plain move of the 99%) or its sale's (review rr13w W1; `_capBound`).
        if (run.due) (run.cap, run.honest) = _caps(run);
        // Cap-bound boost (issue 13, stop 65, SECURITY.md row 154): due from above the band with no stop set or held
        // (`Run.stop` 0; so due as a boost, `_trigger`: boosts allowed; not `Run.boost`, which a supply clears), the same
        // counted move and honesty, it may land above the band, at least MIN_BAND_GAP under where it was (below). One
        // flag for both (stack): from below when before < target, from above otherwise.
        // Cap-bound in-band rescue (issue 13, stop 66, SECURITY.md row 155): due inside the band below the target
        // (`Policy.rescueBelowTarget`, no stop engaged: `Run.stop` <= 1), the same counted move and honesty, it may land
        // under its in-band zone's low edge, at least MIN_BAND_GAP above where it was (below).
        bool capBound = run.due
            && (before < minHealth || (run.stop <= 1 && before < target) || (run.stop == 0 && before > policy.maxHealth))
            && _capBound(run, moved, cap - cap / 100);
        if (
            (healthAfter < minHealth && !(capBound && before < minHealth))
                || (healthAfter > maxHealth && !(capBound && before > policy.maxHealth))
        ) {
            revert ILeverageModule.HealthOutOfBand(run.id, healthAfter, minHealth, maxHealth);
        }
        if (run.due) {
            (uint256 low, uint256 high) = landingZone(before, minHealth, target, policy.maxHealth);
            // Engaged: up to exitHealth, at least MIN_BAND_GAP higher (no dust exits spending the epoch's counters),
            // and from below the band still the ordinary lower bound. Due means before < exitHealth <= MAX_EXIT_HEALTH.
            if (run.stop > 1) {
                low = Math.max(before < minHealth ? low : 0, before + ConstantsLib.MIN_BAND_GAP);
                high = maxHealth;
            }
            // Cap-bound from below (issue 13, SECURITY.md rows 127, 130): the low edge drops to before + MIN_BAND_GAP
            // (never above the zone's high edge: before < minHealth < high). After a gap (health 1.01) one operation at
            // the cap reached only 1.13-1.16 < minHealth, so every rescue the cap allows was refused and the Safe waited
            // to be liquidated. A compromised keeper gains nothing it could not take before: each such operation needs
            // the sub-account below its band (a keeper cannot put it there: every accepted operation keeps or raises a
            // due one's health, and boosts / not-due moves end inside the band), must raise its health by MIN_BAND_GAP
            // (at most (minHealth - before) / MIN_BAND_GAP of them per fall), is charged at least 99% of the cap (its
            // counted move: so at most maxAmountPerEpoch / (0.99 cap) per epoch), must reach the health its counted
            // move buys (no health-neutral padding: rr13v) and, when it swaps, be the buffers' or the sale's rescue alone
            // (no pool repayment padded with a small sale: rr13w W1, `_capBound`), and loses at most maxLossBps of its
            // move, all epoch caps (amount, maxEpochLossBps of equity, gas) unchanged; one that ends below the band
            // starts no cooldown (`_recordUsage`). Left (SECURITY.md row 138): a sale alone at the cap is cap-bound even
            // when the pools could fund a better rescue. The 1% slack is the planner's margin under
            // AmountCapExceeded for the venue's share rounding and the collateral's value at the inclusion price.
            // In band below the target (stop 66, SECURITY.md row 155): the same step from inside the band. After a fall
            // that left a large position just above minHealth (1.18, band [1.15, 1.7], target 1.4), one operation at the
            // cap gained 0.08 < the in-band zone's (target - min) / 2 = 0.125, so nothing was taken while a fixed-band
            // rule, a little lower and so below its band, was rescued cap-bound past it; a -15 % gap then liquidated the
            // autopilot alone. The same bounds as from below: each step at least 99% of the cap counted honestly, at
            // least MIN_BAND_GAP of gain, at most maxLossBps of its move, every epoch cap; in band it starts no
            // cooldown (`_recordUsage`, row 150), so the steps of one fall follow at once.
            if (capBound && before < target) low = Math.min(low, before + ConstantsLib.MIN_BAND_GAP);
            // Cap-bound from above (issue 13, stop 65, SECURITY.md row 154): the high edge rises to before -
            // MIN_BAND_GAP. Above the band by more than one operation at the cap moves (a no-idle position after a +50 %
            // rally: health 2.1 and up), a boost at the cap landed above the band and was refused, so nothing re-levered
            // it for hours. It lowers health toward the band the owner set (boostAllowed; HealthDecreased refuses it
            // otherwise), each step is charged at least 99% of the cap (at most maxAmountPerEpoch / (0.99 cap) per
            // epoch), gains at least MIN_BAND_GAP, starts the cooldown (`_recordUsage`) and loses at most maxLossBps of
            // its move, all epoch caps unchanged; its counted move is the honest one for the health it reached, so
            // padding buys no step, and one that swaps is the sale's or the buffers' alone (`_capBound`).
            if (capBound && before > policy.maxHealth) high = Math.max(high, before - ConstantsLib.MIN_BAND_GAP);

            if (healthAfter < low || healthAfter > high) {
                revert ILeverageModule.HealthOutsideLandingZone(run.id, healthAfter, low, high);
            }
        } else {
            if (HealthLib.distance(healthAfter, target) > HealthLib.distance(before, target)) {
                revert ILeverageModule.HealthFurtherFromTarget(run.id, before, healthAfter);
            }
            if ((before < target && healthAfter > target) || (before > target && healthAfter < target)) {
                revert ILeverageModule.HealthCrossedTarget(run.id, before, healthAfter, target);
            }
        }
        if ((!policy.boostAllowed || run.stop != 0) && healthAfter < before) {
            revert ILeverageModule.HealthDecreased(run.id, before, healthAfter);
        }
        // The amount caps charge the NET position change, at the pre-trade price: |collateral value change| + |debt
        // change|, read back from the venue, never the gross flows (each repayment, borrow, collateral or pool action).
        // Gross charging let a keeper spend a not-due sub-account's maxAmountPerEpoch with churn (repay x, borrow x + d)
        // next to another's rescue, and so refuse its own later rescue (EpochAmountCapExceeded) until the epoch ended.
        // Net is safe once a not-due sub-account's net change is bounded by its distance to the target (below): health
        // rules alone let a health-neutral shrink or growth of any size through, which raised the per-operation loss
        // allowance (maxLossBps x moved) and spent its amount caps (review of issue 10). Churn (on a due sub-account too) nets to about zero, and whatever it
        // costs is bounded by the loss rules: per operation maxLossBps of the positions' net moves (so churn adds no
        // allowance), per epoch maxEpochLossBps of equity. The venue sees the gross flows, but they start and end in the
        // Safe within one transaction, checked by the band and landing-zone rules on the position read back.
        run.moved = moved;
        if (!run.due) {
            uint256 bound = HealthLib.distanceToTarget(run.state, target);
            if (moved > bound) revert ILeverageModule.NotDueMoveExceedsDistance(run.id, moved, bound);
            // A not-due sub-account is charged (amount caps, shares of gas and loss) only for how much nearer its
            // target it got, never more than it moved: a health-neutral shrink or growth next to others' rescues (each
            // inside the distance bound) spent its amount cap and refused its own rescue (EpochAmountCapExceeded;
            // issue 10 item 3, seventh and eighth reviews). A one-sided move (a donor's borrow or withdrawal, a
            // repayment) gets at least its move nearer (targetHealth > 1 > LLTV), so it is charged in full.
            // Nor may it grow (collateral and debt both up): an honest not-due move only gives (a donor's borrow or
            // collateral) or takes (a repayment); growth at constant health was charged nothing and outgrew the
            // per-rebalance cap its own later rescue needs (ninth review of issue 10).
            if (run.collateralAfter > run.state.collateral && run.debtAfter > run.state.debt) {
                revert ILeverageModule.NotDueGrowth(run.id);
            }
            uint256 distanceAfter = HealthLib.distanceToTarget(run.state, run.collateralAfter, run.debtAfter, target);
            run.moved = distanceAfter >= bound ? 0 : Math.min(moved, bound - distanceAfter);
        }
        if (moved > cap) revert ILeverageModule.AmountCapExceeded(run.id, moved, cap);
        // Material change (checked last, so a rule above names a real problem first): collateral value and debt moved
        // by at least MIN_MATERIAL_CHANGE_BPS of the collateral value, at the pre-trade price.
        if (moved * ConstantsLib.BPS < HealthLib.collateralValue(run.state.collateral, price) * ConstantsLib.MIN_MATERIAL_CHANGE_BPS) {
            revert ILeverageModule.SubAccountUnchanged(run.id);
        }
    }

    /// @notice The landing zone of a triggered sub-account whose health was `before` (WAD): it must move at least half
    /// the distance between the breached band edge and the target, and end no further past the target than half the
    /// distance to the other edge.
    /// @dev Below the band: [max(min, before + (target - min) / 2), target + (max - target) / 2]. Above it (boost):
    /// [target - (target - min) / 2, min(max, before - (max - target) / 2)]. A trigger the keeper could make itself (a
    /// little interest or a small move past the edge) thus needs a landing at least about half way to the target, so the
    /// next trigger needs a real move; a rescue from deep below the band (a crash that continues until inclusion) still
    /// only has to end inside the band, having moved at least that far. Inside the band below the target (due only under
    /// `Policy.rescueBelowTarget`, issue 13): [before + (target - min) / 2, target + (max - target) / 2] (stop 64:
    /// continuous with the zone below the band at minHealth; it was at least the target).
    function landingZone(uint256 before, uint256 minHealth, uint256 target, uint256 maxHealth)
        internal
        pure
        returns (uint256 low, uint256 high)
    {
        if (before < minHealth) {
            low = Math.max(minHealth, before + (target - minHealth) / 2);
            high = target + (maxHealth - target) / 2;
        } else if (before < target) {
            // In-band rescue (`Policy.rescueBelowTarget`; due inside the band only with it): half the lower band's width
            // higher, so the next such trigger needs a fall, not interest or a tick. Empty (low > high) close under the
            // target when the lower band is wider than the upper: nothing lands there. Continuous with the zone below
            // the band at minHealth (stop 64, SECURITY.md row 153): it was at least the target, so a rescue sized from
            // below the band whose oracle a gap left just above minHealth at inclusion was refused where just below
            // minHealth it landed. One landing under the target leaves it due: the next lands half a band higher.
            low = before + (target - minHealth) / 2;
            high = target + (maxHealth - target) / 2;
        } else {
            low = target - (target - minHealth) / 2;
            uint256 step = (maxHealth - target) / 2;
            high = before == ConstantsLib.INFINITE_HEALTH ? maxHealth : Math.min(maxHealth, before - step);
        }
    }

    /// @dev Charges each changed sub-account its share of the operation's gas and loss, pro rata to its net position
    /// change (`Run.moved`: |collateral change| x pre-trade price + |debt change|), rounded up so the shares never sum
    /// below the whole. Charging every sub-account the whole operation let a keeper pad rescues of A with tiny moves on
    /// a not-due B until B's maxGasPerEpoch or maxEpochLossBps was spent, then refuse B's own rescue (a stall); now B's
    /// charge scales with how little it moved. The per-operation bound (maxLossBps of what all positions moved) is
    /// unchanged.
    function _recordUsages(Run[] memory runs, uint256 gasUsed, uint256 loss) private {
        uint256 total;
        for (uint256 i; i < runs.length; ++i) {
            total += runs[i].moved;
        }
        for (uint256 i; i < runs.length; ++i) {
            Run memory run = runs[i];
            uint256 moved = run.moved;
            // Gas (issue 15): the whole part (always so for one listed sub-account) is charged the whole gas and loss,
            // what `shareOf` returns for part == total, without its two calls.
            if (moved == total) _recordUsage(run, gasUsed, loss);
            else _recordUsage(run, shareOf(gasUsed, moved, total), shareOf(loss, moved, total));
        }
    }

    /// @notice `whole` x `part` / `total`, rounded up (`whole` when `total` is 0): a sub-account's share of an
    /// operation's gas or loss. Rounding up, the shares of parts summing to `total` sum to at least `whole`.
    /// Gas (issue 15): the whole part (one changed sub-account) is `whole` without the division (ceil(w x t / t) = w),
    /// and so is a share of nothing (a plan that lost nothing: ceil(0 x p / t) = 0): one mulDiv (about 550 gas) less per
    /// sub-account when several changed.
    /// Gas (issue 15): when `whole x part` fits 256 bits (in practice always in a rebalance: gas below 2^64, loss and
    /// moves in loan base units far below 2^128; review rr17b I2: not a bound the code relies on), the share is computed here with one MUL, DIV and MOD instead of `Math.mulDiv` (about 350 gas a
    /// sub-account): the same result, because mulDiv(w, p, t, Ceil) is mulDiv(w, p, t) + (mulmod(w, p, t) > 0), and
    /// with the 512-bit product's high word 0 mulDiv(w, p, t) returns floor(w x p / t) and mulmod(w, p, t) is
    /// (w x p) mod t: exactly floor(product / total) + (product mod total > 0). Neither form can revert here (total >
    /// 0, and the sum is at most the product: 1 is added only when total >= 2, to at most product / 2). The product fits
    /// iff product / whole == part (whole > 0 here); otherwise mulDiv as before (its reverts unchanged). Fuzzed against
    /// the mulDiv form, results and reverts, in modules/test/unit/ShareOf.t.sol.
    function shareOf(uint256 whole, uint256 part, uint256 total) internal pure returns (uint256 share) {
        if (whole == 0 || total == 0 || part == total) return whole;
        bool fits;
        assembly ("memory-safe") {
            let product := mul(whole, part)
            fits := eq(div(product, whole), part)
            share := add(div(product, total), gt(mod(product, total), 0))
        }
        if (!fits) share = Math.mulDiv(whole, part, total, Math.Rounding.Ceil);
    }

    /// @dev Charges the rebalance to the sub-account's aligned epoch (`block.timestamp / epochLength`): amount, count,
    /// its share of the gas and of the plan's loss (`_recordUsages`), the loss in parts per billion of its pre-trade equity, each checked before it is
    /// written.
    /// Gas (issue 15): the record is one slot (EpochUsage packs to 256 bits), read once by `_load` (`Run.usage`, the
    /// cooldown) and written non-zero to non-zero (setPolicy makes it non-zero), so a rebalance never pays a fresh-slot
    /// write.
    function _recordUsage(Run memory run, uint256 gasUsed, uint256 loss) private {
        Policy memory policy = _policyOf()(run);
        // Gas (issue 15): the record as its one packed word (layout below), read by `_load` with its slot
        // (`Run.usageSlot`, `Run.usage`: nothing wrote it since); the struct copy read the slot once per field.
        uint256 usage = run.usage;
        // A sub-account that was not due (moved toward its target next to another's rescue) starts no cooldown and
        // spends no rebalance count: padding a rescue with a small move on it cannot stall its own later rescue. Its
        // amount, gas and loss still count.
        // Nor does a cap-bound step that leaves it below its band (review rr13v V1): the next rescue of the same fall
        // (the next cap-bound step, or the one into the band) is not held back by its cooldown.
        // Nor does an in-band rescue (`Policy.rescueBelowTarget`: due from inside the band below the target, no stop
        // engaged; issue 13, SECURITY.md row 150): a gap right after it is rescued from below the band at once, as
        // without the flag. It is still held by a cooldown another rescue started, and cannot repeat without a fall or
        // without half the lower band of gain (`landingZone`).
        // Nor, with the flag and no stop engaged, does a rescue from below the band that leaves it below the target
        // (issue 13, stop 64, SECURITY.md row 152): it is still due (an in-band rescue), so the rescue that finishes the
        // fall is not held back either; each step gains at least half the lower band, so one fall takes at most three
        // (one from below the band, two in band), then nothing is due; or, cap-bound in band (stop 66, row 155), steps of
        // at least MIN_BAND_GAP within half of each epoch cap (below). A boost landing below the target still starts it
        // (no boost-then-rescue round trip at once).
        uint256 before = run.healthBefore;
        bool inBand = before >= policy.minHealth && before < policy.targetHealth && run.stop <= 1;
        bool stillDue = run.healthAfter < policy.minHealth
            || (policy.rescueBelowTarget && run.stop <= 1 && before < policy.minHealth && run.healthAfter < policy.targetHealth);
        uint40 lastRebalance = run.due && !inBand && !stillDue ? uint40(block.timestamp) : uint40(usage >> 32);
        uint256 epoch = block.timestamp / policy.epochLength;
        if (uint32(usage) != epoch) usage = 0; // a new epoch: every counter starts from zero

        uint256 amount = uint256(uint96(usage >> 160)) + run.moved;
        uint256 count = uint256(uint16(usage >> 72)) + (run.due ? 1 : 0);
        uint256 gas = uint256(uint40(usage >> 120)) + gasUsed;
        uint256 lossPpb = uint256(uint32(usage >> 88)) + _lossPpb(loss, run.state);
        if (amount > policy.maxAmountPerEpoch) revert ILeverageModule.EpochAmountCapExceeded(run.id, amount, policy.maxAmountPerEpoch);
        if (count > policy.maxRebalancesPerEpoch) {
            revert ILeverageModule.EpochRebalanceCapExceeded(run.id, count, policy.maxRebalancesPerEpoch);
        }
        if (gas > policy.maxGasPerEpoch) revert ILeverageModule.EpochGasCapExceeded(run.id, gas, policy.maxGasPerEpoch);
        {
            uint256 budgetPpb = uint256(policy.maxEpochLossBps) * ConstantsLib.PPB_PER_BPS;
            if (lossPpb > budgetPpb) revert ILeverageModule.EpochLossBudgetExceeded(run.id, lossPpb, budgetPpb);
        }
        // An exit due only by the owner's engaged stop (health at or above minHealth) may bring each epoch counter to at
        // most half its cap (review rr13s S4): the other half is kept for rescues from below minHealth. So may a
        // cap-bound boost that lands above the band (issue 13, stop 65, SECURITY.md row 154; with no stop only a
        // cap-bound boost lands there): stepping down from far above the band, an honest keeper would otherwise spend
        // `maxRebalancesPerEpoch` and a crash later in the epoch found its rescue refused (review cbt65).
        // So may a cap-bound in-band rescue (stop 66, SECURITY.md row 155, review rv66): due inside the band below the
        // target with no stop engaged, landing under its in-band zone (only a cap-bound step lands there). It starts no
        // cooldown, so the MIN_BAND_GAP steps of one fall (up to (target - min) / MIN_BAND_GAP of them) spent
        // `maxRebalancesPerEpoch` and a crash's rescue later in the epoch was refused `EpochRebalanceCapExceeded`.
        if (
            (run.stop > before && before >= policy.minHealth)
                || (run.stop == 0 && run.healthAfter > policy.maxHealth)
                || (inBand && run.due && run.healthAfter < before + (policy.targetHealth - policy.minHealth) / 2)
        ) _checkStopExitShare(run.id, policy, amount, count, gas, lossPpb);
        // Saturating casts: a saturated counter only makes the next check stricter. Count and loss passed their caps
        // above (maxRebalancesPerEpoch is a uint16; maxEpochLossBps <= 10,000 at setPolicy), so they fit.
        // Gas (issue 15): the record is written as its one packed word (EpochUsage's layout: epoch bits 0-31,
        // lastRebalance 32-71, rebalances 72-87, lossPpb 88-119, gasUsed 120-159, amountMoved 160-255), one SSTORE;
        // assigning the struct wrote the slot once per field (six SSTOREs, five of them 100 gas plus a re-read each).
        usage = uint256(uint32(epoch)) | uint256(lastRebalance) << 32 | uint256(uint16(count)) << 72
            | uint256(uint32(lossPpb)) << 88 | Math.min(gas, type(uint40).max) << 120
            | Math.min(amount, type(uint96).max) << 160;
        uint256 slot = run.usageSlot;
        assembly ("memory-safe") {
            sstore(slot, usage)
        }
    }

    /// @notice The stop's exit share (review rr13s S4, docs/stop-loss-exit.md): an exit due only by the owner's engaged stop
    /// (`Run.stop`, its exitHealth, above the pre-trade health, which is at or above minHealth: not a rescue) is refused
    /// once the sub-account's epoch amount (loan base units), rebalance count, gas or loss (ppb of equity), counted with
    /// this exit, exceeds half its cap (rounded down), with the cap's own error naming the halved cap. While the stop is
    /// engaged a keeper may exit from anywhere below exitHealth by MIN_BAND_GAP steps, so without the share ten +0.015
    /// exits spent `maxRebalancesPerEpoch` and a rescue from below minHealth later in the epoch was refused
    /// (`EpochRebalanceCapExceeded`); the amount cap and the loss budget could be spent the same way by exits at the
    /// worst allowed price. Rescues keep the whole caps, so stop exits can never spend the half they need.
    function _checkStopExitShare(bytes32 id, Policy memory policy, uint256 amount, uint256 count, uint256 gas, uint256 lossPpb)
        private
        pure
    {
        uint256 cap = policy.maxAmountPerEpoch / 2;
        if (amount > cap) revert ILeverageModule.EpochAmountCapExceeded(id, amount, cap);
        cap = policy.maxRebalancesPerEpoch / 2;
        if (count > cap) revert ILeverageModule.EpochRebalanceCapExceeded(id, count, cap);
        cap = policy.maxGasPerEpoch / 2;
        if (gas > cap) revert ILeverageModule.EpochGasCapExceeded(id, gas, cap);
        cap = uint256(policy.maxEpochLossBps) * ConstantsLib.PPB_PER_BPS / 2;
        if (lossPpb > cap) revert ILeverageModule.EpochLossBudgetExceeded(id, lossPpb, cap);
    }

    /// @dev `record`'s slot as one word: an EpochUsage packed as the compiler lays it out (`_recordUsage`).
    function _readUsage(EpochUsage storage record) private view returns (uint256 word) {
        assembly ("memory-safe") {
            word := sload(record.slot)
        }
    }

    /// @dev `loss` in parts per billion of the position's pre-trade equity (the adapter's `MarketState.equity`: the
    /// account's net value, on Aave the whole account's, not the market frame's), rounded up; a loss against no equity
    /// is above any budget.
    function _lossPpb(uint256 loss, MarketState memory state) private pure returns (uint256) {
        if (loss == 0) return 0;
        int256 equity = state.equity;
        if (equity <= 0) return type(uint32).max;
        return Math.min(Math.mulDiv(loss, ConstantsLib.PPB, uint256(equity), Math.Rounding.Ceil), type(uint32).max);
    }

    /* LOSS ACCOUNTING */

    /// @dev The Safe's holdings outside the positions that a plan can change, in base units of their `tokens`, in a fixed
    /// order: idle loan token, idle collateral tokens (first appearance in the run list), then the Safe's assets in each
    /// pool the plan names (first appearance in the action list; its asset must be the loan token or a listed collateral
    /// token: `PoolAssetMismatch`). Gas (issue 15): `tokens` (sized 1 + runs + actions) is filled by the first call,
    /// before the actions, and reused as is by the second, so each pool's asset is read and checked once.
    /// `count` 0 (the first call): lists the tokens; otherwise (the second call) the count the first call returned.
    /// Returns the amounts (base units, one per `tokens` slot) and the count of the loan token and the distinct
    /// collateral tokens, tokens[0, count).
    function _holdings(address safe, Run[] memory runs, Action[] calldata actions, address[] memory tokens, uint256 count)
        private
        view
        returns (uint256[] memory amounts, uint256)
    {
        amounts = _newWords(tokens.length);
        {
            address loanToken = runs[0].state.loanToken;
            tokens[0] = loanToken;
            amounts[0] = _balanceOf(loanToken, safe);
        }
        uint256 n = 1;
        if (count == 0) {
            for (uint256 i; i < runs.length; ++i) {
                address collateral = runs[i].state.collateralToken;
                if (!_firstOf(collateral, runs, i)) continue;
                tokens[n] = collateral;
                amounts[n] = _balanceOf(collateral, safe);
                ++n;
            }
            count = n;
        } else {
            // Gas (issue 15): the second call reads the collateral tokens the first one listed, tokens[1, count), in
            // their order (the same calls in the same order), without the `_firstOf` walks. With `count` returned by
            // the first call, `_checkInflowsUsed` and `_loss` skip theirs too: measured (forge trace of the bench's
            // later rebalance) -872 gas for 1 sub-account, -4,373 for 3.
            for (; n < count; ++n) {
                amounts[n] = _balanceOf(tokens[n], safe);
            }
        }
        for (uint256 i; i < actions.length; ++i) {
            if (_field(actions, i, KIND) >= 2) continue; // not a pool kind (0, 1): a swap's `pool` is its route word
            IERC4626 pool = IERC4626(address(uint160(_field(actions, i, POOL))));
            if (_poolNamedBefore(actions, i, uint160(address(pool)))) continue;
            if (tokens[n] == address(0)) {
                address asset = _asset(address(pool));
                _priceRange(asset, runs, false); // reverts for an unlisted token
                tokens[n] = asset;
            }
            amounts[n] = _read(address(pool), IERC4626.convertToAssets.selector, _balanceOf(address(pool), safe), 0, 1);
            ++n;
        }
        // Gas (issue 15): both arrays end at the last slot filled (the first call shortens `tokens`, sized for the most
        // slots a plan can name), so `_netUnits` never walks empty slots. Shortening a memory array is memory-safe.
        assembly ("memory-safe") {
            mstore(tokens, n)
            mstore(amounts, n)
        }
        return (amounts, count);
    }

    /// @dev Whether a pool action before `actions[i]` names `pool` (`_holdings` reads each pool once).
    function _poolNamedBefore(Action[] calldata actions, uint256 i, uint256 pool) private pure returns (bool seen) {
        for (uint256 j; j < i && !seen; ++j) {
            seen = _field(actions, j, POOL) == pool && _field(actions, j, KIND) < 2;
        }
    }

    /// @dev Whether run `i`'s collateral token is a collateral token no earlier run has and not the loan token.
    function _firstOf(address collateral, Run[] memory runs, uint256 i) private pure returns (bool) {
        if (collateral == runs[0].state.loanToken) return false;
        for (uint256 j; j < i; ++j) {
            if (runs[j].state.collateralToken == collateral) return false;
        }
        return true;
    }

    /// @dev The plan's loss (`_loss`) and what its due positions moved: the larger of the value that went into due
    /// positions (collateral added, debt repaid) and out of them (collateral removed, debt taken), each netted and counted
    /// up to what an honest plan needs for the health change it made (`_counted`: `HealthLib.maxMoveToHealth`, the swap
    /// path only for the value the plan swaps), at each position's pre-trade price. Not-due sub-accounts add nothing: their honest moves (a donor's borrow,
    /// a collateral shift) lose nothing, and what they pay for lands on a due one. Counted whole (until the seventh and
    /// eighth reviews of issue 10), a health-neutral shrink of a sub-account far from its target, a real repayment of an
    /// in-band one, or a shrink of the due one itself raised the allowance until the issue's 12% skim of a 3,300 USDC
    /// rescue was accepted.
    function _settle(
        Run[] memory runs,
        uint256[] memory before,
        uint256[] memory afterwards,
        address[] memory tokens,
        uint256 count
    ) private returns (uint256 loss, uint256 moved) {
        loss = _loss(runs, before, afterwards, tokens, count);
        uint256 intoCounted;
        uint256 outOfCounted;
        for (uint256 i; i < runs.length; ++i) {
            if (!runs[i].due) continue;
            (uint256 into, uint256 outOf) = _counted(runs[i]);
            intoCounted += into;
            outOfCounted += outOf;
        }
        moved = Math.max(intoCounted, outOfCounted);
    }

    /// @dev The plan's loss, loan units, never negative: the drop of the Safe's net holding of each token (idle, pooled,
    /// in every listed position; debt negative) from `before` to `afterwards` (`_holdings`), the loan token 1:1 and each collateral
    /// token at the listed price least favourable to the plan: a net outflow at the highest of the prices of the listed
    /// sub-accounts whose collateral of it changed or that swap it (`_priceRange`), a net inflow at the lowest. Whatever order the keeper lists sub-accounts in and wherever the units
    /// go, two markets of one token with different oracles book no gain: valued at each position's own price (until the
    /// tenth review of issue 10), WETH moved into the higher-priced market hid the issue's 12% skim; at the first listed
    /// one's (the eleventh), a sale from a higher-priced market listed second did.
    /// Gas (issue 15): the collateral tokens are tokens[1, count), the distinct listed collateral tokens other than the
    /// loan token in run order, as `_holdings` listed them with `_firstOf` (the tokens and order of a walk over the runs
    /// with `_firstOf`, without its walks).
    function _loss(
        Run[] memory runs,
        uint256[] memory before,
        uint256[] memory afterwards,
        address[] memory tokens,
        uint256 count
    ) private returns (uint256) {
        int256 net = _netUnits(tokens[0], runs, tokens, before, afterwards); // tokens[0]: the loan token
        for (uint256 k = 1; k < count; ++k) {
            address token = tokens[k];
            net += _valued(token, _netUnits(token, runs, tokens, before, afterwards), runs);
        }
        return net < 0 ? uint256(-net) : 0;
    }

    /// @dev `units` of collateral `token` in loan units at the listed price least favourable to the plan (`_priceRange`):
    /// an inflow at the lowest (rounded down), an outflow at the highest (rounded up), less what its swaps gained.
    /// Gas (issue 15): no net change and no swap of `token` is worth exactly 0 (0 units at any price, no swap gain to
    /// take back), so neither the price range nor the swap outputs are read (a repayment from a pool leaves every
    /// collateral still).
    function _valued(address token, int256 units, Run[] memory runs) private returns (int256 value) {
        if (units == 0) {
            uint256 k;
            while (k < runs.length && (runs[k].swapped == 0 || runs[k].state.collateralToken != token)) ++k;
            if (k == runs.length) return 0;
        }
        (uint256 low, uint256 high) = _priceRange(token, runs, true);
        if (units >= 0) value = SafeCast.toInt256(HealthLib.collateralValue(uint256(units), low));
        else value = -SafeCast.toInt256(Math.mulDiv(uint256(-units), high, ConstantsLib.PRICE_SCALE, Math.Rounding.Ceil));
        // A gain is at most what the swaps brought into the Safe: far below 2^255.
        value -= int256(_swapGain(token, runs, units >= 0 ? low : high));
    }

    /// @dev What the plan's swaps of `token` fetched beyond what they gave, at `price` (the price its net change is
    /// valued at): sales' output (loan units, measured on the Safe's balance) over their inputs (`Run.swapped`, at the
    /// seller's price) revalued at `price` (rounded up), purchases' output's value (rounded down) over their inputs; 0
    /// when none. `_valued` takes it back, so a swap never books a gain: a lower-oracle WETH market selling pooled WETH
    /// next to a rescue (its own oracle the range, the router paying the market) booked ~850 USDC of gain that hid a
    /// 760 USDC skim (thirteenth review of issue 10). Reads and clears the swapping sub-accounts' output slots.
    function _swapGain(address token, Run[] memory runs, uint256 price) private returns (uint256) {
        uint256 got;
        uint256 gave;
        for (uint256 k; k < runs.length; ++k) {
            Run memory run = runs[k];
            if (run.swapped == 0 || run.state.collateralToken != token) continue;
            uint256 slot = SWAP_OUTPUT_SLOT + k;
            uint256 sold = _tload(slot); // a sale's minimum output is never 0 (the swap adapter refuses it)
            uint256 bought = _tload(slot + ConstantsLib.MAX_SUB_ACCOUNTS);
            _tstore(slot, 0);
            _tstore(slot + ConstantsLib.MAX_SUB_ACCOUNTS, 0);
            // A sale's input is collateral (`swapped` its value at the seller's price), a purchase's the loan token.
            got += sold + HealthLib.collateralValue(bought, price);
            gave += sold != 0 ? Math.mulDiv(run.swapped, price, run.state.price, Math.Rounding.Ceil) : run.swapped;
        }
        return got > gave ? got - gave : 0;
    }

    /// @dev The change of the Safe's net holding of `token` (base units): idle and pooled (`_holdings` slots of it), in
    /// the listed positions' collateral, less the listed positions' debt when it is the loan token.
    function _netUnits(
        address token,
        Run[] memory runs,
        address[] memory tokens,
        uint256[] memory before,
        uint256[] memory afterwards
    ) private pure returns (int256 units) {
        // Gas (issue 15): what the Safe holds of `token` after (`gained`: idle and pooled after, collateral after, debt
        // before) and before (`lost`), summed unsigned and converted once: the same difference as summing each term's
        // signed change (about 400 gas a term less), and it reverts whenever that did (a term above 2^255 - 1 or a
        // signed sum out of range needs a sum above 2^255 - 1), and also on sums above 2^255 - 1 base units that the
        // signed walk could have netted: never for a real token, and a revert only refuses the plan.
        // Gas (issue 15): both walks in assembly (about 1,300 gas an operation less: no bounds check per access, no
        // struct member offsets recomputed), the same sums with the same overflow Panic 0x11 (checked per addition,
        // raised after the walks: they are pure, so the revert is the same). Layouts read: `tokens`, `before` and
        // `afterwards` are arrays of one length (`_holdings` shortens all three to its slot count); a `Run` holds
        // `state` (a MarketState pointer) at word 3, collateralAfter at word 4, debtAfter at word 5; a MarketState holds
        // loanToken, collateralToken, collateral, debt at words 0 to 3.
        uint256 gained;
        uint256 lost;
        bool overflow;
        assembly ("memory-safe") {
            let t := and(token, 0xffffffffffffffffffffffffffffffffffffffff)
            let end := shl(5, mload(tokens))
            for { let o := 0x20 } iszero(gt(o, end)) { o := add(o, 0x20) } {
                if eq(mload(add(tokens, o)), t) {
                    let a := mload(add(afterwards, o))
                    let b := mload(add(before, o))
                    gained := add(gained, a)
                    lost := add(lost, b)
                    overflow := or(overflow, or(lt(gained, a), lt(lost, b)))
                }
            }
            end := shl(5, mload(runs))
            for { let o := 0x20 } iszero(gt(o, end)) { o := add(o, 0x20) } {
                let run := mload(add(runs, o))
                let state := mload(add(run, 0x60))
                if eq(mload(add(state, 0x20)), t) {
                    let a := mload(add(run, 0x80))
                    let b := mload(add(state, 0x40))
                    gained := add(gained, a)
                    lost := add(lost, b)
                    overflow := or(overflow, or(lt(gained, a), lt(lost, b)))
                }
                if eq(mload(state), t) {
                    let a := mload(add(state, 0x60))
                    let b := mload(add(run, 0xa0))
                    gained := add(gained, a)
                    lost := add(lost, b)
                    overflow := or(overflow, or(lt(gained, a), lt(lost, b)))
                }
            }
        }
        if (overflow) _panicOverflow();
        units = SafeCast.toInt256(gained) - SafeCast.toInt256(lost);
    }

    /// @dev Reverts with Panic(0x11), the checked-arithmetic overflow a Solidity `+=` raises.
    function _panicOverflow() private pure {
        assembly ("memory-safe") {
            mstore(0, shl(224, 0x4e487b71))
            mstore(4, 0x11)
            revert(0, 0x24)
        }
    }

    /// @dev The lowest and highest price (1e36-scaled, loan units per unit) the listed sub-accounts give `token`: 1:1 for
    /// the loan token; `PoolAssetMismatch` for a token that is neither. With `movedOnly`, only sub-accounts whose
    /// collateral of it changed or that swap it count (all of them when no collateral of it changed): a donor that only borrows holds its
    /// units still, and its oracle valued an honest sale from another market of the token (twelfth review of issue 10:
    /// refused at a 15 bps oracle gap). The units that leave or arrive in a position are always valued in a range holding
    /// its own price, and a sale or purchase in one holding its seller's or buyer's (whose minimum output is set at it):
    /// a sale of pooled WETH leaves the seller's collateral still, and valued at another market's 10% lower oracle alone
    /// (that market got 1 idle WETH) it hid a 1,065 USDC skim (thirteenth review).
    function _priceRange(address token, Run[] memory runs, bool movedOnly) private pure returns (uint256 low, uint256 high) {
        if (token == runs[0].state.loanToken) return (ConstantsLib.PRICE_SCALE, ConstantsLib.PRICE_SCALE);
        low = type(uint256).max;
        bool moved; // some listed collateral of `token` changed
        for (uint256 i; i < runs.length; ++i) {
            Run memory run = runs[i];
            if (run.state.collateralToken != token) continue;
            bool changed = run.collateralAfter != run.state.collateral;
            moved = moved || changed;
            if (movedOnly && !changed && run.swapped == 0) continue;
            uint256 price = run.state.price;
            if (price < low) low = price;
            if (price > high) high = price;
        }
        if (movedOnly && !moved) return _priceRange(token, runs, false);
        if (high != 0) return (low, high);
        revert ILeverageModule.PoolAssetMismatch(address(0), token);
    }

    /// @dev What the allowance counts of a due position's move: each side (value in: collateral added + debt repaid;
    /// value out: collateral removed + debt taken) at its own price (its health's), up to the most an honest plan to the
    /// same health moves: `HealthLib.maxMoveToHealth` without swaps (a collateral change alone), and with swaps that plus
    /// the value the plan swaps on it (`Run.swapped`), at most the swap path's cap (its policy's maxSlippageBps, the
    /// smaller of it and the plan's maxLossBps as the swap's loss). Its charge (`Run.moved`: epoch amount, shares of gas
    /// and loss) is its net move up to what the most move-intensive such honest plan is charged: the cap without swaps,
    /// with them that plus twice the value swapped (a sale's input and the repayment it pays, or a purchase's borrow and
    /// the supply it brings), at most the swap cap x (2 - loss). Charged its whole move (until the tenth review of issue
    /// 10), or each side up to the cap (the eleventh), a due sub-account's own rescues padded with health-neutral shrinks
    /// spent its maxAmountPerEpoch and refused its next rescue in the epoch (EpochAmountCapExceeded); given the swap cap
    /// whenever its policy allowed swaps (until the thirteenth), one padded rescue without any swap did, and got 1.8x
    /// the allowance. Its per-operation cap (maxAmountPerRebalance) saw the whole move.
    /// Gas (issue 15): a collateral that did not change (`Run.collateralAfter` == `state.collateral`: a repayment from a
    /// pool) adds 0 to either side, so neither value is computed: the same two calls of equal arguments gave equal
    /// values and a 0 difference, and they could not revert here (`_checkPostConditions`, run before on every listed
    /// run, values `state.collateral` at this price for its material-change rule).
    function _counted(Run memory run) private pure returns (uint256 into, uint256 outOf) {
        uint256 collateral = run.state.collateral;
        if (run.collateralAfter != collateral) {
            uint256 price = run.state.price;
            uint256 collateralBefore = HealthLib.collateralValue(collateral, price);
            uint256 collateralAfter = HealthLib.collateralValue(run.collateralAfter, price);
            if (collateralAfter > collateralBefore) into = collateralAfter - collateralBefore;
            else outOf = collateralBefore - collateralAfter;
        }
        if (run.debtAfter < run.state.debt) into += run.state.debt - run.debtAfter;
        else outOf += run.debtAfter - run.state.debt;
        (uint256 cap, uint256 honest) = (run.cap, run.honest); // `_caps(run)`, set by `_checkPostConditions` (run due)
        into = Math.min(into, cap);
        outOf = Math.min(outOf, cap);
        if (run.moved > honest) run.moved = honest;
    }

    /// @dev The cap-bound rule's move test (`_checkPostConditions`; issue 13, SECURITY.md rows 127, 130, 138): a due run's
    /// net move `moved` (loan units, at its pre-trade price), counted up to `_caps`' honest charge for the health it
    /// reached, is at least `least` (cap - floor(cap / 100)); and a run that swaps (`Run.swapped` > 0) is honest as one
    /// of the two rescues the Safe could fund alone (review rr13w W1): the buffers alone (the health reached needs a plain
    /// move of at least `least`: `HealthLib.maxMoveToHealth(state, healthAfter, false, 0)`) or the sale alone (twice the
    /// value it swaps, a sale's input and the repayment it must pay, is at least `least`). Without that, a pool
    /// repayment R mixed with a small sale x (R + 2x ~ 0.99 cap) was cap-bound while gaining only MIN_BAND_GAP, since
    /// honest counts the swap twice: ten such steps spent maxRebalancesPerEpoch with the Safe below its band.
    function _capBound(Run memory run, uint256 moved, uint256 least) private pure returns (bool) {
        uint256 honest = run.honest; // `_caps(run)`, set just before by `_checkPostConditions`
        uint256 swapped = run.swapped;
        return Math.min(moved, honest) >= least
            && (swapped == 0 || _add(swapped, swapped) >= least
                || HealthLib.maxMoveToHealth(run.state, run.healthAfter, false, 0) >= least);
    }

    /// @dev A due run's counting caps (loan units, at its pre-trade price; `_counted`): `cap`, what the loss allowance
    /// counts of each side, and `honest`, what it is charged and what the cap-bound rule counts (`_capBound`).
    /// Without swaps both are `HealthLib.maxMoveToHealth(state, healthAfter, false, 0)`; with `swapped` > 0 and loss
    /// l = `Run.swapLossBps` (min(maxSlippageBps, the plan's maxLossBps)): cap = min(swapCap, that + swapped), honest =
    /// min(swapCap + swapCap x (1 - l), that + 2 x swapped), swapCap the swap path's `maxMoveToHealth` at l. Saturating
    /// at INFINITE_HEALTH.
    function _caps(Run memory run) private pure returns (uint256 cap, uint256 honest) {
        cap = HealthLib.maxMoveToHealth(run.state, run.healthAfter, false, 0);
        honest = cap;
        uint256 swapped = run.swapped;
        if (swapped != 0) {
            // A swap runs only under a policy with maxSlippageBps > 0 (`_checkAction`).
            uint256 loss = run.swapLossBps;
            uint256 swapCap = HealthLib.maxMoveToHealth(run.state, run.healthAfter, true, loss);
            honest = Math.min(_add(swapCap, Math.mulDiv(swapCap, ConstantsLib.BPS - loss, ConstantsLib.BPS)), _add(cap, _add(swapped, swapped)));
            cap = Math.min(swapCap, _add(cap, swapped));
        }
    }

    /// @dev a + b, saturating at the largest uint256 (a cap at INFINITE_HEALTH is unbounded).
    function _add(uint256 a, uint256 b) private pure returns (uint256) {
        (bool ok, uint256 sum) = Math.tryAdd(a, b);
        return ok ? sum : type(uint256).max;
    }

}
