// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {Test} from "forge-std/Test.sol";
import {IPool} from "@aave/core-v3/contracts/interfaces/IPool.sol";
import {IPoolAddressesProvider} from "@aave/core-v3/contracts/interfaces/IPoolAddressesProvider.sol";
import {IPoolConfigurator} from "@aave/core-v3/contracts/interfaces/IPoolConfigurator.sol";
import {IACLManager} from "@aave/core-v3/contracts/interfaces/IACLManager.sol";
import {IAaveOracle} from "@aave/core-v3/contracts/interfaces/IAaveOracle.sol";
import {ConfiguratorInputTypes} from "@aave/core-v3/contracts/protocol/libraries/types/ConfiguratorInputTypes.sol";

import {TestToken} from "./TestToken.sol";
import {SimOracle} from "./SimOracle.sol";

/// @notice The real Aave v3 protocol (`@aave/core-v3@1.19.3`, Aave v3.0.2) deployed from its published Hardhat
/// artifacts: PoolAddressesProvider, ACLManager, the Pool behind its proxy with its seven logic libraries linked into
/// the placeholders the artifact's `linkReferences` name, PoolConfigurator (ConfiguratorLogic linked), AaveOracle reading
/// the test's driven price sources (USD, 8 decimals), AaveProtocolDataProvider, AToken / StableDebtToken /
/// VariableDebtToken implementations and one DefaultReserveInterestRateStrategy per reserve. The test contract is the
/// ACL admin, pool admin, emergency admin and risk admin, so tests can freeze, pause or re-price reserves.
/// @dev Stands alone (inherits only forge-std's Test) so the main Fixture, or any test, can mix it in next to its own
/// tokens and oracles: `deployAave()` then `listAaveReserve(...)` per asset, or `deployAaveMarkets(...)` for the standard
/// USDC / WETH / WBTC / wstETH markets with an "ETH correlated" e-mode category.
abstract contract AaveFixture is Test {
    string internal constant AAVE_ARTIFACTS = "node_modules/@aave/core-v3/artifacts/";
    string internal constant AAVE_CONTRACTS = "node_modules/@aave/core-v3/artifacts/contracts/";
    uint256 internal constant AAVE_BASE_CURRENCY_UNIT = 1e8;
    uint8 internal constant AAVE_ETH_EMODE = 1;
    /// @dev 0.05% on flash loans, all of it to the suppliers (Aave v3 Ethereum's FLASHLOAN_PREMIUM_TOTAL).
    uint128 internal constant AAVE_FLASHLOAN_PREMIUM_BPS = 5;

    /// @notice A reserve's interest-rate curve (RAY), as DefaultReserveInterestRateStrategy takes it.
    struct AaveRates {
        uint256 optimalUsageRatio;
        uint256 baseVariableBorrowRate;
        uint256 variableRateSlope1;
        uint256 variableRateSlope2;
    }

    /// @notice One reserve to list: risk parameters in bps, caps in whole tokens (0 = none), an e-mode category (0 =
    /// none) and the Chainlink-style `latestAnswer` source AaveOracle prices it with.
    struct AaveReserve {
        TestToken asset;
        address priceSource;
        uint16 ltv;
        uint16 liquidationThreshold;
        uint16 liquidationBonus;
        uint16 reserveFactor;
        uint256 supplyCap;
        uint256 borrowCap;
        uint8 eModeCategory;
        AaveRates rates;
    }

    struct LinkReference {
        uint256 length;
        uint256 start;
    }

    IPoolAddressesProvider internal aaveProvider;
    IACLManager internal aaveAcl;
    IPool internal aavePool;
    IPoolConfigurator internal aaveConfigurator;
    IAaveOracle internal aaveOracle;
    address internal aaveDataProvider;
    address internal aaveATokenImpl;
    address internal aaveStableDebtImpl;
    address internal aaveVariableDebtImpl;
    address internal aaveTreasury = makeAddr("aaveTreasury");
    address internal aaveLender = makeAddr("aaveLender");
    SimOracle internal aaveUsdcFeed;

    mapping(string name => address) internal _aaveLibraries;

    /* PROTOCOL */

    /// @notice Deploys the Aave v3 protocol with no reserves, in the order of Aave's own deployment scripts.
    function deployAave() internal {
        aaveProvider = IPoolAddressesProvider(
            deployAaveArtifact(
                "protocol/configuration/PoolAddressesProvider.sol/PoolAddressesProvider.json",
                abi.encode("levpilot", address(this))
            )
        );
        aaveProvider.setACLAdmin(address(this));
        aaveAcl = IACLManager(
            deployAaveArtifact("protocol/configuration/ACLManager.sol/ACLManager.json", abi.encode(aaveProvider))
        );
        aaveProvider.setACLManager(address(aaveAcl));
        aaveAcl.addPoolAdmin(address(this));
        aaveAcl.addEmergencyAdmin(address(this));
        aaveAcl.addRiskAdmin(address(this));

        // The provider puts the implementation behind an InitializableImmutableAdminUpgradeabilityProxy and initializes it.
        aaveProvider.setPoolImpl(deployAaveArtifact("protocol/pool/Pool.sol/Pool.json", abi.encode(aaveProvider)));
        aavePool = IPool(aaveProvider.getPool());
        aaveProvider.setPoolConfiguratorImpl(deployAaveArtifact("protocol/pool/PoolConfigurator.sol/PoolConfigurator.json", ""));
        aaveConfigurator = IPoolConfigurator(aaveProvider.getPoolConfigurator());

        aaveOracle = IAaveOracle(
            deployAaveArtifact(
                "misc/AaveOracle.sol/AaveOracle.json",
                abi.encode(aaveProvider, new address[](0), new address[](0), address(0), address(0), AAVE_BASE_CURRENCY_UNIT)
            )
        );
        aaveProvider.setPriceOracle(address(aaveOracle));
        aaveDataProvider = deployAaveArtifact(
            "misc/AaveProtocolDataProvider.sol/AaveProtocolDataProvider.json", abi.encode(aaveProvider)
        );
        aaveProvider.setPoolDataProvider(aaveDataProvider);

        aaveATokenImpl = deployAaveArtifact("protocol/tokenization/AToken.sol/AToken.json", abi.encode(aavePool));
        aaveStableDebtImpl =
            deployAaveArtifact("protocol/tokenization/StableDebtToken.sol/StableDebtToken.json", abi.encode(aavePool));
        aaveVariableDebtImpl =
            deployAaveArtifact("protocol/tokenization/VariableDebtToken.sol/VariableDebtToken.json", abi.encode(aavePool));

        aaveConfigurator.updateFlashloanPremiumTotal(AAVE_FLASHLOAN_PREMIUM_BPS);
        vm.label(address(aavePool), "AavePool");
        vm.label(address(aaveOracle), "AaveOracle");
    }

    /// @notice Lists `r.asset` with its own interest-rate strategy, prices it from `r.priceSource`, makes it collateral
    /// (when `liquidationThreshold` is non-zero), borrowable at a variable rate, flash-loanable, with its caps and
    /// reserve factor, and puts it in its e-mode category (which must exist already).
    function listAaveReserve(AaveReserve memory r) internal {
        address asset = address(r.asset);
        address strategy = deployAaveArtifact(
            "protocol/pool/DefaultReserveInterestRateStrategy.sol/DefaultReserveInterestRateStrategy.json",
            abi.encode(
                aaveProvider,
                r.rates.optimalUsageRatio,
                r.rates.baseVariableBorrowRate,
                r.rates.variableRateSlope1,
                r.rates.variableRateSlope2,
                0, // stable rate slopes and offsets: stable borrowing stays disabled
                0,
                0,
                0,
                0
            )
        );
        string memory symbol = r.asset.symbol();
        ConfiguratorInputTypes.InitReserveInput[] memory input = new ConfiguratorInputTypes.InitReserveInput[](1);
        input[0] = ConfiguratorInputTypes.InitReserveInput({
            aTokenImpl: aaveATokenImpl,
            stableDebtTokenImpl: aaveStableDebtImpl,
            variableDebtTokenImpl: aaveVariableDebtImpl,
            underlyingAssetDecimals: r.asset.decimals(),
            interestRateStrategyAddress: strategy,
            underlyingAsset: asset,
            treasury: aaveTreasury,
            incentivesController: address(0),
            aTokenName: string.concat("Aave ", symbol),
            aTokenSymbol: string.concat("a", symbol),
            variableDebtTokenName: string.concat("Aave variable debt ", symbol),
            variableDebtTokenSymbol: string.concat("variableDebt", symbol),
            stableDebtTokenName: string.concat("Aave stable debt ", symbol),
            stableDebtTokenSymbol: string.concat("stableDebt", symbol),
            params: ""
        });
        aaveConfigurator.initReserves(input);

        address[] memory assets = new address[](1);
        address[] memory sources = new address[](1);
        assets[0] = asset;
        sources[0] = r.priceSource;
        aaveOracle.setAssetSources(assets, sources);

        aaveConfigurator.configureReserveAsCollateral(asset, r.ltv, r.liquidationThreshold, r.liquidationBonus);
        aaveConfigurator.setReserveBorrowing(asset, true);
        aaveConfigurator.setReserveFlashLoaning(asset, true);
        aaveConfigurator.setReserveFactor(asset, r.reserveFactor);
        aaveConfigurator.setSupplyCap(asset, r.supplyCap);
        aaveConfigurator.setBorrowCap(asset, r.borrowCap);
        if (r.eModeCategory != 0) aaveConfigurator.setAssetEModeCategory(asset, r.eModeCategory);
    }

    /// @notice Supplies `amount` of `token` to Aave from `aaveLender`, so accounts can borrow it.
    function seedAave(TestToken token, uint256 amount) internal {
        token.mint(aaveLender, amount);
        vm.startPrank(aaveLender);
        token.approve(address(aavePool), amount);
        aavePool.supply(address(token), amount, aaveLender, 0);
        vm.stopPrank();
    }

    /// @notice The standard markets, with parameters close to Aave v3 Ethereum's: USDC, WETH, WBTC and wstETH (priced by
    /// the given USD sources; USDC by `aaveUsdcFeed`, a SimOracle at $1), an "ETH correlated" e-mode category (WETH,
    /// wstETH: LTV 93%, liquidation threshold 95%, bonus 1%), and lender liquidity in each reserve.
    function deployAaveMarkets(
        TestToken usdc,
        TestToken weth,
        TestToken wbtc,
        TestToken wsteth,
        address wethSource,
        address wbtcSource,
        address wstethSource
    ) internal {
        deployAave();
        aaveUsdcFeed = new SimOracle(6, 6, 8);
        aaveUsdcFeed.setPrice(1e18);
        aaveConfigurator.setEModeCategory(AAVE_ETH_EMODE, 9300, 9500, 10_100, address(0), "ETH correlated");

        listAaveReserve(
            AaveReserve(usdc, address(aaveUsdcFeed), 7700, 8000, 10_450, 1000, 50_000_000, 40_000_000, 0, _rates(90, 0, 6, 60))
        );
        listAaveReserve(
            AaveReserve(weth, wethSource, 8050, 8300, 10_500, 1500, 50_000, 40_000, AAVE_ETH_EMODE, _rates(90, 0, 3, 80))
        );
        listAaveReserve(AaveReserve(wbtc, wbtcSource, 7300, 7800, 10_500, 2000, 3000, 1000, 0, _rates(45, 0, 4, 300)));
        listAaveReserve(
            AaveReserve(wsteth, wstethSource, 7850, 8100, 10_600, 1500, 100_000, 5000, AAVE_ETH_EMODE, _rates(45, 0, 5, 80))
        );

        seedAave(usdc, 10_000_000e6);
        seedAave(weth, 1000e18);
        seedAave(wbtc, 100e8);
        seedAave(wsteth, 1000e18);
    }

    /// @dev A rate curve from whole percents.
    function _rates(uint256 optimal, uint256 base, uint256 slope1, uint256 slope2) internal pure returns (AaveRates memory) {
        return AaveRates(optimal * 1e25, base * 1e25, slope1 * 1e25, slope2 * 1e25);
    }

    /* ARTIFACTS */

    /// @notice Deploys an `@aave/core-v3` artifact (path under `artifacts/contracts/`) with `args` appended, after
    /// linking every library its `linkReferences` name (each deployed once, recursively linked itself).
    function deployAaveArtifact(string memory artifact, bytes memory args) internal returns (address) {
        return _deployAave(string.concat(AAVE_CONTRACTS, artifact), args);
    }

    function _deployAave(string memory path, bytes memory args) private returns (address deployed) {
        bytes memory code = bytes.concat(_linkAave(vm.readFile(path)), args);
        assembly ("memory-safe") {
            deployed := create(0, add(code, 0x20), mload(code))
        }
        require(deployed != address(0), string.concat("Aave deploy failed: ", path));
    }

    /// @dev The artifact's creation code with each `__$<hash>$__` placeholder replaced by its library's address, at the
    /// byte offsets `linkReferences` gives.
    function _linkAave(string memory json) private returns (bytes memory) {
        bytes memory code = bytes(vm.parseJsonString(json, ".bytecode"));
        string[] memory files = vm.parseJsonKeys(json, ".linkReferences");
        for (uint256 i; i < files.length; ++i) {
            string memory fileKey = string.concat(".linkReferences['", files[i], "']");
            string[] memory names = vm.parseJsonKeys(json, fileKey);
            for (uint256 j; j < names.length; ++j) {
                bytes memory hexAddress = bytes(vm.toString(_aaveLibrary(files[i], names[j])));
                LinkReference[] memory refs =
                    abi.decode(vm.parseJson(json, string.concat(fileKey, ".", names[j])), (LinkReference[]));
                for (uint256 k; k < refs.length; ++k) {
                    uint256 at = 2 + 2 * refs[k].start; // after "0x", two hex digits per byte
                    require(refs[k].length == 20 && code[at] == "_" && code[at + 2] == "$", "not a library placeholder");
                    for (uint256 c; c < 40; ++c) {
                        code[at + c] = hexAddress[2 + c];
                    }
                }
            }
        }
        return vm.parseBytes(string(code));
    }

    function _aaveLibrary(string memory file, string memory name) private returns (address library_) {
        library_ = _aaveLibraries[name];
        if (library_ == address(0)) {
            // `file` is the library's source path ("contracts/protocol/libraries/logic/X.sol"), as the artifacts mirror it.
            library_ = _deployAave(string.concat(AAVE_ARTIFACTS, file, "/", name, ".json"), "");
            _aaveLibraries[name] = library_;
        }
    }
}
