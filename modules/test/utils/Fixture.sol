// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {Test, Vm} from "forge-std/Test.sol";
import {IEntryPoint} from "@account-abstraction/contracts/interfaces/IEntryPoint.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {IMorpho, IMorphoBase, MarketParams, Id} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {MarketParamsLib} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";

import {LeverageModule} from "../../src/LeverageModule.sol";
import {MorphoBlueAdapter} from "../../src/adapters/MorphoBlueAdapter.sol";
import {
    ILeverageModule,
    Policy,
    AutomationConfig,
    Action,
    ActionKind,
    Plan
} from "../../src/interfaces/ILeverageModule.sol";
import {TestToken} from "./TestToken.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC4626} from "@openzeppelin/contracts/interfaces/IERC4626.sol";
import {SimOracle} from "./SimOracle.sol";
import {YieldVault} from "./YieldVault.sol";

interface ISafeProxyFactory {
    function createProxyWithNonce(address singleton, bytes memory initializer, uint256 saltNonce)
        external
        returns (address proxy);
}

interface ISafeModuleSetup {
    function enableModules(address[] calldata modules) external;
}

interface ISafeTest {
    function setup(
        address[] calldata owners,
        uint256 threshold,
        address to,
        bytes calldata data,
        address fallbackHandler,
        address paymentToken,
        uint256 payment,
        address payable paymentReceiver
    ) external;

    function execTransaction(
        address to,
        uint256 value,
        bytes calldata data,
        uint8 operation,
        uint256 safeTxGas,
        uint256 baseGas,
        uint256 gasPrice,
        address gasToken,
        address payable refundReceiver,
        bytes memory signatures
    ) external payable returns (bool success);

    function isModuleEnabled(address module) external view returns (bool);
    function enableModule(address module) external;
    function disableModule(address prevModule, address module) external;
    function setFallbackHandler(address handler) external;
    function getOwners() external view returns (address[] memory);
    function nonce() external view returns (uint256);
    function approveHash(bytes32 hashToApprove) external;
    function getTransactionHash(
        address to,
        uint256 value,
        bytes calldata data,
        uint8 operation,
        uint256 safeTxGas,
        uint256 baseGas,
        uint256 gasPrice,
        address gasToken,
        address refundReceiver,
        uint256 _nonce
    ) external view returns (bytes32);
}

/// @notice Real-contract environment: EntryPoint v0.7 and Safe v1.4.1 from their published artifacts, Morpho Blue
/// 1.0.0 compiled from its sources, OpenZeppelin ERC-4626 vaults, and the leverage module installed on a Safe proxy.
abstract contract Fixture is Test {
    using MarketParamsLib for MarketParams;

    string internal constant SAFE_ARTIFACTS = "node_modules/@safe-global/safe-contracts/build/artifacts/contracts/";
    string internal constant SAFE_4337_ARTIFACTS = "node_modules/@safe-global/safe-4337/build/artifacts/contracts/";
    string internal constant AA_ARTIFACTS = "node_modules/@account-abstraction/contracts/artifacts/";
    address internal constant SENTINEL = address(0x1);
    uint256 internal constant LLTV = 0.86e18;
    /// @dev What keeper operations without a paymaster may cost the Safe per day: 20M gas at 100 gwei.
    uint96 internal constant SELF_PAY_BUDGET = 2 ether;

    IEntryPoint internal entryPoint;
    address internal safeSingleton;
    ISafeProxyFactory internal proxyFactory;
    address internal moduleSetup;
    address internal multiSendCallOnly;
    IMorpho internal morpho;
    MorphoBlueAdapter internal adapter;
    LeverageModule internal module;

    TestToken internal usdc;
    TestToken internal weth;
    TestToken internal wbtc;
    TestToken internal wsteth;
    SimOracle internal wethOracle;
    SimOracle internal wbtcOracle;
    SimOracle internal wstethOracle;
    MarketParams internal wethMarket;
    MarketParams internal wbtcMarket;
    MarketParams internal wstethMarket;
    YieldVault internal usdcVault;
    YieldVault internal wethVault;

    address internal owner;
    uint256 internal ownerKey;
    address internal keeper;
    uint256 internal keeperKey;
    address internal bundler = makeAddr("bundler");
    address internal lender = makeAddr("lender");
    address internal safe;
    uint256 internal safeSalt;

    function setUp() public virtual {
        vm.warp(1_750_000_000);
        (owner, ownerKey) = makeAddrAndKey("owner");
        (keeper, keeperKey) = makeAddrAndKey("keeper");

        entryPoint = IEntryPoint(deployArtifact(string.concat(AA_ARTIFACTS, "EntryPoint.json"), ""));
        safeSingleton = deployArtifact(string.concat(SAFE_ARTIFACTS, "Safe.sol/Safe.json"), "");
        proxyFactory = ISafeProxyFactory(
            deployArtifact(string.concat(SAFE_ARTIFACTS, "proxies/SafeProxyFactory.sol/SafeProxyFactory.json"), "")
        );
        multiSendCallOnly = deployArtifact(
            string.concat(SAFE_ARTIFACTS, "libraries/MultiSendCallOnly.sol/MultiSendCallOnly.json"), ""
        );
        moduleSetup = deployArtifact(string.concat(SAFE_4337_ARTIFACTS, "SafeModuleSetup.sol/SafeModuleSetup.json"), "");

        morpho = IMorpho(deployCode("Morpho.sol:Morpho", abi.encode(address(this))));
        morpho.enableIrm(address(0));
        morpho.enableLltv(LLTV);
        adapter = new MorphoBlueAdapter(morpho);
        address[] memory adapterList = new address[](1);
        adapterList[0] = address(adapter);
        module = new LeverageModule(address(entryPoint), adapterList, _deploySwapAdapter());

        usdc = new TestToken("USD Coin", "USDC", 6);
        weth = new TestToken("Wrapped Ether", "WETH", 18);
        wbtc = new TestToken("Wrapped Bitcoin", "WBTC", 8);
        wsteth = new TestToken("Wrapped stETH", "wstETH", 18);
        wethOracle = new SimOracle(6, 18, 8);
        wbtcOracle = new SimOracle(6, 8, 8);
        wstethOracle = new SimOracle(6, 18, 8);
        wethOracle.setPrice(3000e18);
        wbtcOracle.setPrice(60_000e18);
        wstethOracle.setPrice(3500e18);
        wethMarket = _createMarket(address(weth), address(wethOracle));
        wbtcMarket = _createMarket(address(wbtc), address(wbtcOracle));
        wstethMarket = _createMarket(address(wsteth), address(wstethOracle));

        usdcVault = new YieldVault(usdc, "Yield USDC", "yUSDC");
        wethVault = new YieldVault(weth, "Yield WETH", "yWETH");
        _seedVault(usdcVault, usdc, 1000e6);
        _seedVault(wethVault, weth, 1e18);

        safe = createSafe(owner);
        vm.deal(safe, 10 ether);
        safeCall(abi.encodeCall(ILeverageModule.setAutomationConfig, (defaultAutomation())));
        safeCall(abi.encodeCall(ILeverageModule.addKeeper, (keeper, 0, uint48(block.timestamp + 30 days))));
        safeCall(abi.encodeCall(ILeverageModule.setSelfPayBudget, (SELF_PAY_BUDGET, 1 days)));
    }

    /* DEPLOYMENT HELPERS */

    /// @dev The swap adapter the module is deployed with (none by default); swap suites deploy Uniswap v3 here.
    function _deploySwapAdapter() internal virtual returns (address) {
        return address(0);
    }

    function deployArtifact(string memory path, bytes memory args) internal returns (address deployed) {
        bytes memory code = bytes.concat(vm.parseJsonBytes(vm.readFile(path), ".bytecode"), args);
        assembly ("memory-safe") {
            deployed := create(0, add(code, 0x20), mload(code))
        }
        require(deployed != address(0), string.concat("deploy failed: ", path));
    }

    function createSafe(address safeOwner) internal returns (address proxy) {
        return createSafeWith(safeOwner, address(module), address(module));
    }

    function createSafeWith(address safeOwner, address enabledModule, address fallbackHandler)
        internal
        returns (address proxy)
    {
        address[] memory owners = new address[](1);
        owners[0] = safeOwner;
        address[] memory modules = new address[](1);
        modules[0] = enabledModule;
        bytes memory initializer = abi.encodeCall(
            ISafeTest.setup,
            (
                owners,
                1,
                moduleSetup,
                abi.encodeCall(ISafeModuleSetup.enableModules, (modules)),
                fallbackHandler,
                address(0),
                0,
                payable(address(0))
            )
        );
        proxy = proxyFactory.createProxyWithNonce(safeSingleton, initializer, ++safeSalt);
    }

    function _createMarket(address collateral, address oracle) internal returns (MarketParams memory params) {
        params = _createMarket(collateral, oracle, LLTV, 10_000_000e6);
    }

    /// @dev Creates the USDC market of `collateral` priced by `oracle` at `lltv` (WAD; enabled first when Morpho does not
    /// list it yet) and supplies `liquidity` USDC (base units) from the lender. Deployments register their markets'
    /// params (`registerMarket`: the adapter reads them as code, not as five Morpho slots); so does this one once the
    /// adapter is deployed (a market created before it is read from Morpho).
    function _createMarket(address collateral, address oracle, uint256 lltv, uint256 liquidity)
        internal
        returns (MarketParams memory params)
    {
        params = MarketParams({loanToken: address(usdc), collateralToken: collateral, oracle: oracle, irm: address(0), lltv: lltv});
        if (!morpho.isLltvEnabled(lltv)) morpho.enableLltv(lltv);
        morpho.createMarket(params);
        if (address(adapter) != address(0)) adapter.registerMarket(Id.unwrap(params.id()));
        usdc.mint(lender, liquidity);
        vm.startPrank(lender);
        usdc.approve(address(morpho), type(uint256).max);
        morpho.supply(params, liquidity, 0, lender, "");
        vm.stopPrank();
    }

    function _seedVault(YieldVault vault, TestToken token, uint256 assets) internal {
        token.mint(lender, assets);
        vm.startPrank(lender);
        token.approve(address(vault), assets);
        vault.deposit(assets, lender);
        vm.stopPrank();
    }

    /* SAFE HELPERS */

    /// @dev A Safe transaction signed by its single owner (pre-validated signature: the owner is the sender).
    function safeExec(address account, address to, uint256 value, bytes memory data, uint8 operation) internal {
        address safeOwner = ISafeTest(account).getOwners()[0];
        bytes memory signature = abi.encodePacked(bytes32(uint256(uint160(safeOwner))), bytes32(0), uint8(1));
        vm.prank(safeOwner);
        ISafeTest(account).execTransaction(to, value, data, operation, 0, 0, 0, address(0), payable(0), signature);
    }

    /// @dev The owner control path: the Safe calls itself, reaching the module through its fallback handler.
    function safeCall(bytes memory data) internal {
        safeExec(safe, safe, 0, data, 0);
    }

    function setPolicyFor(address account, Policy memory policy) internal returns (bytes32 id) {
        vm.prank(account);
        id = ILeverageModule(account).setPolicy(policy);
    }

    function openPosition(address account, MarketParams memory params, uint256 collateral, uint256 borrowed)
        internal
    {
        TestToken(params.collateralToken).mint(account, collateral);
        safeExec(account, params.collateralToken, 0, abi.encodeCall(IERC20.approve, (address(morpho), collateral)), 0);
        safeExec(account, address(morpho), 0, abi.encodeCall(IMorphoBase.supplyCollateral, (params, collateral, account, "")), 0);
        safeExec(account, address(morpho), 0, abi.encodeCall(IMorphoBase.borrow, (params, borrowed, 0, account, account)), 0);
    }

    function depositToVault(address account, YieldVault vault, uint256 assets) internal {
        TestToken token = TestToken(vault.asset());
        token.mint(account, assets);
        safeExec(account, address(token), 0, abi.encodeCall(IERC20.approve, (address(vault), assets)), 0);
        safeExec(account, address(vault), 0, abi.encodeCall(IERC4626.deposit, (assets, account)), 0);
    }

    /* POLICY HELPERS */

    function defaultAutomation() internal pure returns (AutomationConfig memory) {
        return AutomationConfig({
            paused: false,
            requiredPaymaster: address(0),
            maxVerificationGasLimit: 1_000_000,
            maxCallGasLimit: 5_000_000,
            maxPreVerificationGas: 200_000,
            maxPaymasterVerificationGasLimit: 500_000,
            maxPaymasterPostOpGasLimit: 200_000,
            maxFeePerGas: 100 gwei,
            maxPriorityFeePerGas: 10 gwei,
            keyGeneration: 0
        });
    }

    function defaultPolicy(MarketParams memory params, address pool) internal view returns (Policy memory policy) {
        address[] memory pools = new address[](pool == address(0) ? 0 : 1);
        if (pool != address(0)) pools[0] = pool;
        policy = Policy({
            adapter: address(adapter),
            minHealth: 1.2e18,
            cooldown: 0,
            market: Id.unwrap(params.id()),
            priceFeed: params.oracle,
            targetHealth: 1.4e18,
            epochLength: 1 days,
            maxHealth: 1.7e18,
            maxGasPerEpoch: 20_000_000,
            maxOracleAge: 1 hours,
            maxLossBps: 50,
            maxEpochLossBps: 100,
            maxRebalancesPerEpoch: 10,
            maxOracleDeviationBps: 100,
            boostAllowed: false,
            maxSlippageBps: 0,
            rescueBelowTarget: false,
            maxAmountPerRebalance: type(uint128).max,
            maxAmountPerEpoch: type(uint128).max,
            minFeedAnswer: 0,
            maxFeedAnswer: 0,
            pools: pools
        });
    }

    function idOf(MarketParams memory params) internal view returns (bytes32) {
        return module.subAccountId(address(adapter), Id.unwrap(params.id()));
    }

    /* PLAN HELPERS */

    function action(ActionKind kind, uint8 subAccount, address pool, uint256 amount)
        internal
        pure
        returns (Action memory)
    {
        return Action({kind: kind, subAccount: subAccount, pool: pool, amount: amount});
    }

    function plan1(bytes32 id, Action memory a0, Action memory a1) internal pure returns (Plan memory plan) {
        plan.subAccounts = new bytes32[](1);
        plan.subAccounts[0] = id;
        plan.actions = new Action[](2);
        plan.actions[0] = a0;
        plan.actions[1] = a1;
    }

    /* USER OPERATION HELPERS */

    function keeperOp(address account, address keeperAddress, Plan memory plan, uint256 signerKey)
        internal
        view
        returns (PackedUserOperation memory op)
    {
        op = baseOp(
            account,
            abi.encodeCall(ILeverageModule.executeRebalance, (keeperAddress, plan)),
            module.keeperNonceKey(account, keeperAddress)
        );
        op.signature = signKeeper(op, signerKey);
    }

    /// @dev The EntryPoint nonce key the module requires for `keeper`'s operations on the fixture's Safe.
    function keeperNonceKey() internal view returns (uint192) {
        return module.keeperNonceKey(safe, keeper);
    }

    /// @dev The validity window an unsponsored keeper operation signs now: the whole current aligned self-pay epoch
    /// of `account` (open when it has no budget).
    function keeperWindow(address account) internal view returns (uint48 validAfter, uint48 validUntil) {
        uint256 length = module.getSelfPayBudget(account).epochLength;
        if (length == 0) return (0, 0);
        uint256 start = block.timestamp / length * length;
        return (uint48(start), uint48(start + length - 1));
    }

    /// @dev A keeper signature over `op` with the current epoch's window (`keeperWindow` of the op's sender).
    function signKeeper(PackedUserOperation memory op, uint256 key) internal view returns (bytes memory) {
        (uint48 validAfter, uint48 validUntil) = keeperWindow(op.sender);
        return sign(op, key, validAfter, validUntil);
    }

    function baseOp(address account, bytes memory callData, uint192 nonceKey)
        internal
        view
        returns (PackedUserOperation memory op)
    {
        op.sender = account;
        op.nonce = entryPoint.getNonce(account, nonceKey);
        op.callData = callData;
        op.accountGasLimits = bytes32((uint256(500_000) << 128) | 3_000_000);
        op.preVerificationGas = 60_000;
        op.gasFees = bytes32((uint256(1 gwei) << 128) | 2 gwei);
    }

    function sign(PackedUserOperation memory op, uint256 key, uint48 validAfter, uint48 validUntil)
        internal
        view
        returns (bytes memory)
    {
        op.signature = abi.encodePacked(validAfter, validUntil);
        bytes32 hash = module.getOperationHash(op);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, hash);
        return abi.encodePacked(validAfter, validUntil, r, s, v);
    }

    /// @dev Sends one operation through EntryPoint.handleOps from the bundler and returns every log it emitted.
    function handleLogged(PackedUserOperation memory op) internal returns (Vm.Log[] memory logs) {
        PackedUserOperation[] memory ops = new PackedUserOperation[](1);
        ops[0] = op;
        vm.recordLogs();
        vm.prank(bundler, bundler);
        entryPoint.handleOps(ops, payable(bundler));
        logs = vm.getRecordedLogs();
    }

    /// @dev Sends one operation through EntryPoint.handleOps and returns whether its execution succeeded, with the
    /// revert data of a failed execution.
    function handle(PackedUserOperation memory op) internal returns (bool success, bytes memory revertReason) {
        Vm.Log[] memory logs = handleLogged(op);
        bytes32 eventSig = keccak256("UserOperationEvent(bytes32,address,address,uint256,bool,uint256,uint256)");
        bytes32 revertSig = keccak256("UserOperationRevertReason(bytes32,address,uint256,bytes)");
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics[0] == revertSig) (, revertReason) = abi.decode(logs[i].data, (uint256, bytes));
            if (logs[i].topics[0] == eventSig) (, success,,) = abi.decode(logs[i].data, (uint256, bool, uint256, uint256));
        }
    }

    function handleOk(PackedUserOperation memory op) internal {
        (bool success, bytes memory reason) = handle(op);
        if (!success) {
            assembly ("memory-safe") {
                revert(add(reason, 0x20), mload(reason))
            }
        }
    }

    /// @dev Calls executeRebalance the way the EntryPoint does (through the Safe's fallback), for exact reverts.
    function executeAsEntryPoint(address account, address keeperAddress, Plan memory plan) internal {
        vm.prank(address(entryPoint));
        ILeverageModule(account).executeRebalance(keeperAddress, plan);
    }

    function healthOf(address account, MarketParams memory params) internal view returns (uint256) {
        return module.health(account, idOf(params));
    }
}
