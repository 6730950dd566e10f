// SPDX-License-Identifier: MIT
pragma solidity >=0.8.0;

/// @title IPriceFeed
/// @notice A Chainlink AggregatorV3-style feed, used as the optional second price source of a policy.
interface IPriceFeed {
    function decimals() external view returns (uint8);

    function latestRoundData()
        external
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound);
}
