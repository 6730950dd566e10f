// SPDX-License-Identifier: GPL-2.0-or-later
pragma solidity 0.8.19;

import {Morpho} from "@morpho-org/morpho-blue/src/Morpho.sol";
