import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type Account, type Chain, type PublicClient, type Transport, type WalletClient, createPublicClient, createTestClient, createWalletClient, http, keccak256, maxUint256, parseAbi, parseUnits, toHex } from "viem"
import { privateKeyToAccount } from "viem/accounts"
import { afterAll, beforeAll, describe, expect, test } from "vitest"
import { readMorphoPosition } from "../bundler-client/src/devnet/liquidator"
import { AdaptiveCurveIrmLib } from "@morpho-org/blue-sdk"
import { IrmRatePath } from "../bundler-client/src/backtest/carry"
import { readMarketRate } from "../bundler-client/src/devnet/rates"
import { type Devnet, startDevnet, waitForReceipt } from "@levpilot/devnet"
import { IrmArtifactError, adaptiveCurveIrmAbi, borrowAprOf, deployAdaptiveCurveIrm, loadAdaptiveCurveIrmArtifact } from "@levpilot/devnet/irm"
import { type LeverageStackAddresses, deployLeverageStack, morphoAbi, morphoAdapterRegistryAbi, testTokenAbi } from "@levpilot/devnet/leverage"

const accrueAbi = parseAbi([
  "struct MarketParams { address loanToken; address collateralToken; address oracle; address irm; uint256 lltv; }",
  "function accrueInterest(MarketParams marketParams)",
])

let devnet: Devnet
let publicClient: PublicClient
let deployer: WalletClient<Transport, Chain, Account>
let stack: LeverageStackAddresses
/** The salt `deployLeverageStack` uses for the IRM. */
const irmSalt = keccak256(toHex("levpilot.devnet.adaptiveCurveIrm"))

beforeAll(async () => {
  devnet = await startDevnet({ bundler: false })
  publicClient = createPublicClient({ chain: devnet.chain, transport: http(devnet.rpcUrl), pollingInterval: 50 }) as PublicClient
  deployer = createWalletClient({ chain: devnet.chain, transport: http(devnet.rpcUrl), account: privateKeyToAccount(devnet.keys.deployer), pollingInterval: 50 })
  stack = await deployLeverageStack({ publicClient, deployer, entryPoint: devnet.addresses.entryPoint })
})

afterAll(async () => {
  await devnet?.stop()
})

describe("AdaptiveCurveIrm from @morpho-org/morpho-blue-bundlers", () => {
  test("loads the published creation code and ABI from the factory file", () => {
    const artifact = loadAdaptiveCurveIrmArtifact()
    expect(artifact.contractName).toBe("AdaptiveCurveIrm")
    expect((artifact.bytecode.length - 2) / 2).toBeGreaterThan(2_000)
    expect(artifact.abi.map((item) => ("name" in item ? item.name : item.type))).toEqual(
      expect.arrayContaining(["constructor", "MORPHO", "borrowRate", "borrowRateView", "rateAtTarget", "BorrowRateUpdate"]),
    )
  })

  test("names a missing file, a file without bytecode and one without the ABI", () => {
    const dir = mkdtempSync(join(tmpdir(), "levpilot-irm-"))
    expect(() => loadAdaptiveCurveIrmArtifact(join(dir, "missing.js"))).toThrow(IrmArtifactError)
    writeFileSync(join(dir, "empty.js"), 'const _abi = [];\nconst _bytecode = "0x";\n')
    expect(() => loadAdaptiveCurveIrmArtifact(join(dir, "empty.js"))).toThrow(/no creation bytecode/)
    writeFileSync(join(dir, "noabi.js"), `const _bytecode = "0x${"60".repeat(1_500)}";\n`)
    expect(() => loadAdaptiveCurveIrmArtifact(join(dir, "noabi.js"))).toThrow(/no readable ABI/)
  })

  test("the devnet stack deploys it, enables it in Morpho and creates both markets with it, idempotently", async () => {
    expect(await publicClient.readContract({ address: stack.irm, abi: adaptiveCurveIrmAbi, functionName: "MORPHO" })).toBe(stack.morpho)
    expect(await publicClient.readContract({ address: stack.morpho, abi: morphoAbi, functionName: "isIrmEnabled", args: [stack.irm] })).toBe(true)
    for (const market of Object.values(stack.markets)) expect(market.params.irm).toBe(stack.irm)
    const block = await publicClient.getBlockNumber({ cacheTime: 0 })
    expect(await deployAdaptiveCurveIrm({ publicClient, walletClient: deployer, morpho: stack.morpho, salt: irmSalt })).toBe(stack.irm)
    expect(await publicClient.getBlockNumber({ cacheTime: 0 })).toBe(block) // already there: nothing sent
    const again = await deployLeverageStack({ publicClient, deployer, entryPoint: devnet.addresses.entryPoint })
    expect(again.irm).toBe(stack.irm)
    expect(again.markets.weth.id).toBe(stack.markets.weth.id)
    // Each market's params are registered with the adapter (issue 15): a STOP byte and the 160-byte params as code.
    for (const deployed of [stack, again]) {
      for (const market of Object.values(deployed.markets)) {
        const pointer = await publicClient.readContract({ address: deployed.morphoBlueAdapter, abi: morphoAdapterRegistryAbi, functionName: "paramsPointer", args: [market.id] })
        const code = await publicClient.getCode({ address: pointer })
        expect(code?.length).toBe(2 + 2 * 161)
        expect(code?.slice(0, 4)).toBe("0x00")
      }
    }
  })

  test("answers the published curve: 1% APR idle, 4% at the 90% target, 16% fully used", async () => {
    const { params, id } = stack.markets.weth
    const [totalSupplyAssets, totalSupplyShares, , totalBorrowShares, lastUpdate, fee] = await publicClient.readContract({ address: stack.morpho, abi: morphoAbi, functionName: "market", args: [id] })
    const at = async (totalBorrowAssets: bigint) =>
      borrowAprOf(
        await publicClient.readContract({
          address: stack.irm,
          abi: adaptiveCurveIrmAbi,
          functionName: "borrowRateView",
          args: [params, { totalSupplyAssets, totalSupplyShares, totalBorrowAssets, totalBorrowShares, lastUpdate, fee }],
        }),
      )
    expect(await at(0n)).toBeCloseTo(0.01, 6)
    expect(await at((totalSupplyAssets * 9n) / 10n)).toBeCloseTo(0.04, 6)
    expect(await at(totalSupplyAssets)).toBeCloseTo(0.16, 6)
    expect(borrowAprOf(await publicClient.readContract({ address: stack.irm, abi: adaptiveCurveIrmAbi, functionName: "rateAtTarget", args: [id] }))).toBeCloseTo(0.04, 6)
  })

  test("debt read with interest accrued to the block equals Morpho's after accrueInterest, a year later", async () => {
    const market = stack.markets.wbtc
    const borrower = deployer.account.address
    const send = async (request: Parameters<typeof deployer.writeContract>[0]) => {
      const receipt = await waitForReceipt(publicClient, { hash: await deployer.writeContract({ ...request, gas: 3_000_000n } as Parameters<typeof deployer.writeContract>[0]) })
      expect(receipt.status).toBe("success")
    }
    await send({ address: stack.tokens.wbtc, abi: testTokenAbi, functionName: "mint", args: [borrower, parseUnits("300", 8)] } as never)
    await send({ address: stack.tokens.wbtc, abi: testTokenAbi, functionName: "approve", args: [stack.morpho, maxUint256] } as never)
    await send({ address: stack.morpho, abi: morphoAbi, functionName: "supplyCollateral", args: [market.params, parseUnits("300", 8), borrower, "0x"] } as never)
    // 9M of the 10M supplied: the IRM's 90% target.
    await send({ address: stack.morpho, abi: morphoAbi, functionName: "borrow", args: [market.params, parseUnits("9000000", 6), 0n, borrower, borrower] } as never)
    const start = await readMarketRate(publicClient, stack.morpho, market)
    expect(start.utilization).toBeCloseTo(0.9, 9)
    expect(start.borrowApr).toBeCloseTo(0.04, 6)

    const testClient = createTestClient({ chain: devnet.chain, transport: http(devnet.rpcUrl), mode: "anvil" })
    await testClient.increaseTime({ seconds: 365 * 86_400 })
    await testClient.mine({ blocks: 1 })
    const before = await readMorphoPosition(publicClient, stack.morpho, market, borrower)
    const predicted = await readMarketRate(publicClient, stack.morpho, market)
    const [, , storedBorrow] = await publicClient.readContract({ address: stack.morpho, abi: morphoAbi, functionName: "market", args: [market.id] })
    expect(Number(before.debt) / Number(storedBorrow)).toBeGreaterThan(1.04) // e^0.04: a year at 4% APR
    expect(Number(before.debt) / Number(storedBorrow)).toBeLessThan(1.045)

    // accrueInterest in the next block: pin that block's timestamp so both sides accrue over the same time.
    const latest = await publicClient.getBlock()
    await testClient.setNextBlockTimestamp({ timestamp: latest.timestamp })
    await send({ address: stack.morpho, abi: accrueAbi, functionName: "accrueInterest", args: [market.params] } as never)
    const [, , accruedBorrow] = await publicClient.readContract({ address: stack.morpho, abi: morphoAbi, functionName: "market", args: [market.id] })
    const after = await readMorphoPosition(publicClient, stack.morpho, market, borrower)
    expect(accruedBorrow).toBe(predicted.totalBorrowAssets)
    expect(after.debt).toBe(before.debt)
  })

  test("the backtester's carry model (blue-sdk's AdaptiveCurveIrmLib) matches the deployed IRM's borrowRateView, adaptation included", async () => {
    const { params, id } = stack.markets.wbtc
    const [totalSupplyAssets, totalSupplyShares, , totalBorrowShares, , fee] = await publicClient.readContract({ address: stack.morpho, abi: morphoAbi, functionName: "market", args: [id] })
    const rateAtTarget = await publicClient.readContract({ address: stack.irm, abi: adaptiveCurveIrmAbi, functionName: "rateAtTarget", args: [id] })
    expect(rateAtTarget).toBeGreaterThan(0n)
    const block = await publicClient.getBlock()
    let compared = 0
    for (const [utilization, elapsed] of [[0.5, 86_400], [0.85, 3_600], [0.95, 7 * 86_400], [0.99, 30 * 86_400], [1, 365 * 86_400]] as const) {
      const u = BigInt(Math.round(utilization * 1e6)) * 10n ** 12n
      const totalBorrowAssets = (totalSupplyAssets * u) / 10n ** 18n
      const onChain = await publicClient.readContract({
        address: stack.irm,
        abi: adaptiveCurveIrmAbi,
        functionName: "borrowRateView",
        args: [params, { totalSupplyAssets, totalSupplyShares, totalBorrowAssets, totalBorrowShares, lastUpdate: block.timestamp - BigInt(elapsed), fee }],
        blockNumber: block.number,
      })
      const exactU = (totalBorrowAssets * 10n ** 18n) / totalSupplyAssets
      expect(onChain, `utilisation ${utilization}, ${elapsed} s`).toBe(AdaptiveCurveIrmLib.getBorrowRate(exactU, rateAtTarget, BigInt(elapsed)).avgBorrowRate)
      const model = new IrmRatePath({ utilization, rateAtTarget: borrowAprOf(rateAtTarget), fee: 0 }).advance(elapsed).borrowApr
      expect(model).toBeCloseTo(borrowAprOf(onChain), 6)
      compared++
    }
    expect(compared).toBe(5)
  })
})
