import { type Account, type Address, type Chain, type Hex, type PublicClient, type Transport, type WalletClient, createPublicClient, createWalletClient, http, maxUint256, parseAbi, parseUnits } from "viem"
import { privateKeyToAccount } from "viem/accounts"
import { afterAll, beforeAll, expect, test } from "vitest"
import { type AaveStackAddresses, aaveEthEMode, aavePoolAbi, deployAaveStack } from "@levpilot/devnet/aave"
import { type Devnet, startDevnet, waitForReceipt } from "@levpilot/devnet"
import { deployLeverageStack, testTokenAbi } from "@levpilot/devnet/leverage"
import { aaveBorrowableOf, readAaveLimits } from "../bundler-client/src/keeper/aaveLimits"

// Review brk17 (issue 17): an Aave account in ISOLATION MODE (its only collateral has a debt ceiling) borrows only up to
// the collateral's debt ceiling (ValidationLogic.validateBorrow: isolationModeTotalDebt + amount <= debtCeiling,
// DEBT_CEILING_EXCEEDED "53") and only assets borrowable in isolation ("60"). The keeper's borrow bound
// (readAaveLimits -> aaveBorrowableOf: liquidity, borrow cap, LTV room) read neither, so with the ceiling filled
// the solver kept planning boosts (and donor borrows) of the room Aave refuses in every block; same for siloed
// borrowing ("89") and e-mode ("58"). Was: the keeper's bound said ~10k-34k USDC / 4.4 WETH were borrowable while Aave
// refused 1 USDC / 0.1 WETH. Fixed (issue 17, i17g): readAaveLimits applies Aave's account rules
// (aaveBorrowRuleBound): the bound is 0 where Aave refuses any borrow, the ceiling room in isolation mode.

let devnet: Devnet
let publicClient: PublicClient
let deployer: WalletClient<Transport, Chain, Account>
let owner: WalletClient<Transport, Chain, Account>
let aave: AaveStackAddresses

beforeAll(async () => {
  devnet = await startDevnet({ bundler: false })
  const transport = http(devnet.rpcUrl)
  publicClient = createPublicClient({ chain: devnet.chain, transport, pollingInterval: 50 }) as PublicClient
  const wallet = (key: Hex) => createWalletClient({ chain: devnet.chain, transport, account: privateKeyToAccount(key), pollingInterval: 50 })
  deployer = wallet(devnet.keys.deployer)
  owner = wallet(devnet.keys.spare[0])
  const stack = await deployLeverageStack({ publicClient, deployer, entryPoint: devnet.addresses.entryPoint })
  aave = await deployAaveStack({ publicClient, deployer, tokens: stack.tokens, priceSources: { weth: stack.markets.weth.oracle, wbtc: stack.markets.wbtc.oracle } })
}, 300_000)

afterAll(async () => {
  await devnet?.stop()
})

async function send(wallet: WalletClient<Transport, Chain, Account>, request: { address: Address; abi: readonly unknown[]; functionName: string; args: readonly unknown[] }) {
  const hash = await wallet.writeContract({ ...request, gas: 3_000_000n } as Parameters<typeof wallet.writeContract>[0])
  const receipt = await waitForReceipt(publicClient, { hash })
  expect(receipt.status).toBe("success")
}

const configuratorAbi = parseAbi(["function setDebtCeiling(address asset, uint256 newDebtCeiling)", "function setBorrowableInIsolation(address asset, bool borrowable)", "function setSiloedBorrowing(address asset, bool siloed)"])

/** Aave's answer to a borrow of `amount` of `asset` by `account`: "lent" or its error code. */
const tryBorrow = (account: Address, asset: Address, amount: bigint) =>
  publicClient.simulateContract({ account, address: aave.pool, abi: aavePoolAbi, functionName: "borrow", args: [asset, amount, 2n, 0, account] }).then(
    () => "lent",
    (e: unknown) => String(e).match(/reason:\s+(\d+)/)?.[1] ?? String(e).slice(0, 200),
  )

// Siloed borrowing (ValidationLogic.validateBorrow: an account borrowing any asset may borrow a siloed one only if it is
// that asset, SILOED_BORROWING_VIOLATION "89"). Runs first: Aave sets a reserve siloed only while it has no borrowers.
test("a siloed debt reserve next to the account's other debt: the keeper's borrow bound is 0 (Aave refuses 1 unit, 89)", async () => {
  const configurator = (await publicClient.readContract({ address: aave.poolAddressesProvider, abi: parseAbi(["function getPoolConfigurator() view returns (address)"]), functionName: "getPoolConfigurator" })) as Address
  await send(deployer, { address: configurator, abi: configuratorAbi, functionName: "setSiloedBorrowing", args: [aave.tokens.usdc, true] })
  const other = createWalletClient({ chain: devnet.chain, transport: http(devnet.rpcUrl), account: privateKeyToAccount(devnet.keys.spare[1]), pollingInterval: 50 })
  const account = other.account.address
  // 5 WETH collateral, 0.5 WETH borrowed by the owners (the account's debt is WETH); the policy's market is WETH/USDC.
  await send(deployer, { address: aave.tokens.weth, abi: testTokenAbi, functionName: "mint", args: [account, parseUnits("5", 18)] })
  await send(other, { address: aave.tokens.weth, abi: testTokenAbi, functionName: "approve", args: [aave.pool, maxUint256] })
  await send(other, { address: aave.pool, abi: aavePoolAbi, functionName: "supply", args: [aave.tokens.weth, parseUnits("5", 18), account, 0] })
  await send(other, { address: aave.pool, abi: aavePoolAbi, functionName: "borrow", args: [aave.tokens.weth, parseUnits("0.5", 18), 2n, 0, account] })
  const ID = `0x${"5e".repeat(32)}`
  const deployment = { adapters: { morphoBlue: "0x0000000000000000000000000000000000000001", aaveV3: aave.adapter } } as never
  const limits = (await readAaveLimits(publicClient, deployment, [{ subAccount: ID, policy: { adapter: aave.adapter, market: aave.markets.wethUsdc } } as never], account))[ID]
  const bound = aaveBorrowableOf(limits as never)
  const outcomes = { oneUnit: await tryBorrow(account, aave.tokens.usdc, 1n), oneUsdc: await tryBorrow(account, aave.tokens.usdc, 10n ** 6n) }
  // Unsiloed again (and for the next test): the same account's bound is the LTV room again, and Aave lends it.
  await send(deployer, { address: configurator, abi: configuratorAbi, functionName: "setSiloedBorrowing", args: [aave.tokens.usdc, false] })
  const after = (await readAaveLimits(publicClient, deployment, [{ subAccount: ID, policy: { adapter: aave.adapter, market: aave.markets.wethUsdc } } as never], account))[ID]
  const unsiloed = aaveBorrowableOf(after as never)
  const unsiloedOutcome = await tryBorrow(account, aave.tokens.usdc, unsiloed)
  console.log("siloed: keeper bound (USDC base units)", bound, limits?.borrowRefusal, "Aave's answers", outcomes, "unsiloed bound", unsiloed, unsiloedOutcome)
  // Aave refuses even 1 base unit: the keeper's bound is 0, named.
  expect(outcomes).toEqual({ oneUnit: "89", oneUsdc: "89" })
  expect(bound).toBe(0n)
  expect(limits?.borrowRefusal).toEqual({ bound: 0n, reason: "siloed" })
  expect(unsiloed).toBeGreaterThan(10n ** 6n)
  expect(after?.borrowRefusal).toBeUndefined()
  expect(unsiloedOutcome).toBe("lent")
}, 300_000)


test("isolation mode at its debt ceiling: the keeper's borrow bound is the ceiling's room, which Aave lends, and not a unit more (53)", async () => {
  const configurator = (await publicClient.readContract({ address: aave.poolAddressesProvider, abi: parseAbi(["function getPoolConfigurator() view returns (address)"]), functionName: "getPoolConfigurator" })) as Address
  // Governance lists WBTC as an isolated collateral (Aave sets a debt ceiling only on a reserve without suppliers: the
  // deployer's seed is withdrawn first) with a 10,000.00 USD ceiling; USDC is borrowable in isolation.
  await send(deployer, { address: aave.pool, abi: aavePoolAbi, functionName: "withdraw", args: [aave.tokens.wbtc, maxUint256, deployer.account.address] })
  await send(deployer, { address: configurator, abi: configuratorAbi, functionName: "setDebtCeiling", args: [aave.tokens.wbtc, 1_000_000n] })
  await send(deployer, { address: configurator, abi: configuratorAbi, functionName: "setBorrowableInIsolation", args: [aave.tokens.usdc, true] })
  // The owner's account: 1 WBTC as its only collateral (isolation mode), 9,999.99 USDC borrowed (the ceiling filled).
  const account = owner.account.address
  await send(deployer, { address: aave.tokens.wbtc, abi: testTokenAbi, functionName: "mint", args: [account, parseUnits("1", 8)] })
  await send(owner, { address: aave.tokens.wbtc, abi: testTokenAbi, functionName: "approve", args: [aave.pool, maxUint256] })
  await send(owner, { address: aave.pool, abi: aavePoolAbi, functionName: "supply", args: [aave.tokens.wbtc, parseUnits("1", 8), account, 0] })
  await send(owner, { address: aave.pool, abi: parseAbi(["function setUserUseReserveAsCollateral(address asset, bool useAsCollateral)"]), functionName: "setUserUseReserveAsCollateral", args: [aave.tokens.wbtc, true] })
  await send(owner, { address: aave.pool, abi: aavePoolAbi, functionName: "borrow", args: [aave.tokens.usdc, parseUnits("9999.99", 6), 2n, 0, account] })
  const [collateralBase, debtBase, availableBase, , , hf] = await publicClient.readContract({ address: aave.pool, abi: aavePoolAbi, functionName: "getUserAccountData", args: [account] })
  console.log("account", { collateralBase, debtBase, availableBase, hf })

  const ID = `0x${"1c".repeat(32)}`
  const deployment = { adapters: { morphoBlue: "0x0000000000000000000000000000000000000001", aaveV3: aave.adapter } } as never
  const limits = (await readAaveLimits(publicClient, deployment, [{ subAccount: ID, policy: { adapter: aave.adapter, market: aave.markets.wbtcUsdc } } as never], account))[ID]
  expect(limits).toBeDefined()
  const bound = aaveBorrowableOf(limits as never)
  console.log("keeper bound (USDC base units)", { bound, ltvBorrowable: limits?.ltvBorrowable, reserveBorrowable: limits?.debt.borrowable, refusal: limits?.borrowRefusal })
  // The ceiling's room from Aave's own reserve data: (ceiling - isolationModeTotalDebt) cents; Aave counts a borrow as
  // floor(amount / 10^(6 - 2)) cents, so the most it lends is (room + 1) x 10^4 - 1 USDC base units.
  const wbtcReserve = (await publicClient.readContract({ address: aave.pool, abi: aavePoolAbi, functionName: "getReserveData", args: [aave.tokens.wbtc] })) as { isolationModeTotalDebt: bigint }
  const room = 1_000_000n - wbtcReserve.isolationModeTotalDebt
  expect(room).toBe(1n) // 10,000.00 - 9,999.99 USD
  const outcomes = { bound: await tryBorrow(account, aave.tokens.usdc, bound), overByOne: await tryBorrow(account, aave.tokens.usdc, bound + 1n), oneUsdc: await tryBorrow(account, aave.tokens.usdc, 10n ** 6n) }
  console.log("Aave's answers", outcomes)
  expect(bound).toBe((room + 1n) * 10n ** 4n - 1n)
  expect(limits?.borrowRefusal).toEqual({ bound, reason: "isolation-ceiling" })
  // Aave lends the keeper's bound and refuses a unit more.
  expect(outcomes).toEqual({ bound: "lent", overByOne: "53", oneUsdc: "53" })
}, 300_000)

// E-mode: an account in a category borrows only assets of that category (ValidationLogic.validateBorrow,
// INCONSISTENT_EMODE_CATEGORY "58"). The adapter checks the debt's category only when the market id is made
// (`DebtNotInEModeCategory`); governance can take the debt asset out of the category later (v3.0.2
// `setAssetEModeCategory(asset, 0)` has no check), and the keeper's borrow bound does not read it.
test("an e-mode market whose debt asset governance moved out of the category: the keeper's borrow bound is 0 (Aave refuses 1 wei, 58)", async () => {
  const configurator = (await publicClient.readContract({ address: aave.poolAddressesProvider, abi: parseAbi(["function getPoolConfigurator() view returns (address)"]), functionName: "getPoolConfigurator" })) as Address
  const emode = createWalletClient({ chain: devnet.chain, transport: http(devnet.rpcUrl), account: privateKeyToAccount(devnet.keys.spare[2]), pollingInterval: 50 })
  const account = emode.account.address
  const wsteth = aave.tokens.wsteth as Address
  await send(emode, { address: aave.pool, abi: aavePoolAbi, functionName: "setUserEMode", args: [aaveEthEMode] })
  await send(deployer, { address: wsteth, abi: testTokenAbi, functionName: "mint", args: [account, parseUnits("5", 18)] })
  await send(emode, { address: wsteth, abi: testTokenAbi, functionName: "approve", args: [aave.pool, maxUint256] })
  await send(emode, { address: aave.pool, abi: aavePoolAbi, functionName: "supply", args: [wsteth, parseUnits("5", 18), account, 0] })
  await send(emode, { address: aave.pool, abi: aavePoolAbi, functionName: "borrow", args: [aave.tokens.weth, parseUnits("1", 18), 2n, 0, account] })
  await send(deployer, { address: configurator, abi: parseAbi(["function setAssetEModeCategory(address asset, uint8 newCategoryId)"]), functionName: "setAssetEModeCategory", args: [aave.tokens.weth, 0] })
  const ID = `0x${"e0".repeat(32)}`
  const deployment = { adapters: { morphoBlue: "0x0000000000000000000000000000000000000001", aaveV3: aave.adapter } } as never
  const limits = (await readAaveLimits(publicClient, deployment, [{ subAccount: ID, policy: { adapter: aave.adapter, market: aave.markets.wstethWethEMode } } as never], account))[ID]
  const bound = aaveBorrowableOf(limits as never)
  const outcomes = { oneWei: await tryBorrow(account, aave.tokens.weth, 1n), tenth: await tryBorrow(account, aave.tokens.weth, 10n ** 17n) }
  console.log("e-mode: keeper bound (WETH wei)", bound, limits?.borrowRefusal, "Aave's answers", outcomes)
  expect(outcomes).toEqual({ oneWei: "58", tenth: "58" })
  expect(bound).toBe(0n)
  expect(limits?.borrowRefusal).toEqual({ bound: 0n, reason: "emode" })
}, 300_000)
