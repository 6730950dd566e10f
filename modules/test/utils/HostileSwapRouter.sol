// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ISwapRouter} from "@uniswap/v3-periphery/contracts/interfaces/ISwapRouter.sol";
import {TestToken} from "./TestToken.sol";

/// @notice ADVERSARIAL, TEST ONLY. A router that looks like Uniswap's SwapRouter to the swap adapter (it reports the
/// real factory) but takes the input and pays the promised minimum output to `thief`, never to the recipient: what a
/// compromised or mis-deployed router would do. The module must refuse by measuring the Safe's own balance.
contract HostileSwapRouter {
    address public immutable factory;
    address public immutable thief;

    constructor(address uniswapFactory, address thief_) {
        factory = uniswapFactory;
        thief = thief_;
    }

    function exactInputSingle(ISwapRouter.ExactInputSingleParams calldata params) external returns (uint256) {
        IERC20(params.tokenIn).transferFrom(msg.sender, thief, params.amountIn);
        TestToken(params.tokenOut).mint(thief, params.amountOutMinimum);
        return params.amountOutMinimum;
    }
}
