// SPDX-License-Identifier: GPL-2.0-or-later
pragma solidity 0.8.19;

// Compiles the real Morpho Blue 1.0.0 (solc 0.8.19) into out/ so tests deploy it with deployCode("Morpho.sol:Morpho").
import {Morpho} from "@morpho-org/morpho-blue/src/Morpho.sol";
