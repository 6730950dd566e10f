// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {IOracle} from "@morpho-org/morpho-blue/src/interfaces/IOracle.sol";
import {IPriceFeed} from "../../src/interfaces/IPriceFeed.sol";

/// @notice The price oracle the simulator drives: a Morpho Blue oracle (1e36-scaled base-unit price) that is also a
/// Chainlink-style feed of the same price in whole units, so a policy can use it as its second source. Each side can
/// be set apart from the other to stage oracle faults (zero, stale, wrong decimals, divergence). With a loan token worth
/// one USD it is also the Chainlink `latestAnswer` source an AaveOracle reads (8 decimals, USD base currency).
contract SimOracle is IOracle, IPriceFeed {
    uint256 public price;
    int256 public feedAnswer;
    uint256 public feedUpdatedAt;
    uint8 public decimals;
    uint80 internal _round;

    uint8 internal immutable LOAN_DECIMALS;
    uint8 internal immutable COLLATERAL_DECIMALS;

    event PriceSet(uint256 price, int256 feedAnswer, uint256 updatedAt);

    constructor(uint8 loanDecimals, uint8 collateralDecimals, uint8 feedDecimals) {
        LOAN_DECIMALS = loanDecimals;
        COLLATERAL_DECIMALS = collateralDecimals;
        decimals = feedDecimals;
    }

    /// @notice Sets both sides from a price of one whole collateral token in whole loan tokens, scaled by 1e18.
    function setPrice(uint256 priceWad) public {
        price = priceWad * 10 ** (18 + LOAN_DECIMALS) / 10 ** COLLATERAL_DECIMALS;
        feedAnswer = int256(priceWad * 10 ** decimals / 1e18);
        feedUpdatedAt = block.timestamp;
        _round++;
        emit PriceSet(price, feedAnswer, feedUpdatedAt);
    }

    function setVenuePrice(uint256 newPrice) external {
        price = newPrice;
    }

    function setFeed(int256 answer, uint256 updatedAt, uint8 feedDecimals) external {
        feedAnswer = answer;
        feedUpdatedAt = updatedAt;
        decimals = feedDecimals;
    }

    /// @notice The feed answer, as Chainlink's legacy AggregatorInterface (what AaveOracle calls).
    function latestAnswer() external view returns (int256) {
        return feedAnswer;
    }

    function latestRoundData() external view returns (uint80, int256, uint256, uint256, uint80) {
        return (_round, feedAnswer, feedUpdatedAt, feedUpdatedAt, _round);
    }
}
