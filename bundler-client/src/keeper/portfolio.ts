import { type Address, type Chain, type Client, type Hex, type Transport, getAddress, zeroAddress } from "viem"
import { type SubAccountState as ChainSubAccount, type SafeState, getSafeStates } from "@levpilot/sdk/actions"
import type { LeverageDeployment, LeverageDeployments } from "@levpilot/sdk/deployments"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import type { Plan, SolverInput, SubAccountInput, YieldPool } from "../solver/types.js"
import type { KeeperRiskSettings } from "./config.js"

const WAD = 1e18

/** A Safe as the keeper sees it at one block: the solver's input plus the raw chain reads. */
export type PortfolioSnapshot = {
  blockNumber: bigint
  timestamp: number
  chain: ChainSubAccount[]
  input: SolverInput
  /** Decimals by lower-case token address. */
  decimals: Record<string, number>
}

/**
 * Reads everything the solver needs about one Safe at the latest block, in one `eth_call` (the SDK's `getSafeStates`):
 * every sub-account with a policy, the Safe's shares of every allowed pool (`convertToAssets`, `maxWithdraw`) and its
 * idle loan and collateral tokens, converted to the solver's human units ({@link portfolioOf}).
 *
 * @returns The snapshot; `input.subAccounts` is empty when the Safe has no policy.
 * @throws {SafeReadError} or {SubAccountReadError} when the Safe or one of its adapters cannot be read.
 */
export async function readPortfolio(
  client: Client<Transport, Chain | undefined>,
  parameters: { safe: Address; deployment: LeverageDeployment; risk: KeeperRiskSettings; costs: SolverInput["costs"] },
): Promise<PortfolioSnapshot> {
  const { safe, deployment, risk, costs } = parameters
  const deployments: LeverageDeployments = { [client.chain?.id ?? 0]: deployment }
  const read = await getSafeStates(client, { safes: [safe], keeper: zeroAddress, deployments })
  const state = read.safes[0]
  if (!state || state.error) throw state?.error ?? new TypeError("the lens returned no Safe")
  return portfolioOf(state, { blockNumber: read.blockNumber, timestamp: read.timestamp, risk, costs })
}

/**
 * One Safe as the solver sees it, from the lens's read (`getSafeStates`): token and pool names are lower-case
 * addresses, amounts in human units.
 *
 * @returns The {@link PortfolioSnapshot} at `block`.
 */
export function portfolioOf(
  state: Extract<SafeState, { error?: undefined }>,
  parameters: { blockNumber: bigint; timestamp: bigint; risk: KeeperRiskSettings; costs: SolverInput["costs"] },
): PortfolioSnapshot {
  const { risk, costs } = parameters
  const chain = state.subAccounts
  const decimals: Record<string, number> = {}
  const idle: Record<string, number> = {}
  for (const t of state.tokens) {
    const token = t.token.toLowerCase()
    decimals[token] = t.decimals
    idle[token] = Number(t.balance) / 10 ** t.decimals
  }
  const yieldPools: YieldPool[] = state.pools.map((p) => {
    const asset = p.asset.toLowerCase()
    const d = decimals[asset] ?? 18
    return { address: p.pool.toLowerCase(), asset, decimals: d, balance: Number(p.assets) / 10 ** d, withdrawable: Number(p.maxWithdraw) / 10 ** d }
  })
  const now = Number(parameters.timestamp)
  const subAccounts: SubAccountInput[] = chain.map((s) => {
    const loan = s.loanToken.toLowerCase()
    const coll = s.collateralToken.toLowerCase()
    const ld = decimals[loan] as number
    const cd = decimals[coll] as number
    const u = s.epochUsage
    return {
      state: {
        id: s.subAccount.toLowerCase(),
        loanAsset: loan,
        collateralAsset: coll,
        loanDecimals: ld,
        collateralDecimals: cd,
        collateral: Number(s.collateral) / 10 ** cd,
        debt: Number(s.debt) / 10 ** ld,
        lltv: Number(s.lltv) / WAD,
        price: (Number(s.price) / 1e36) * 10 ** (cd - ld),
      },
      policy: {
        minHealth: Number(s.policy.minHealth) / WAD,
        targetHealth: Number(s.policy.targetHealth) / WAD,
        maxHealth: Number(s.policy.maxHealth) / WAD,
        maxAmountPerRebalance: Number(s.policy.maxAmountPerRebalance) / 10 ** ld,
        maxAmountPerEpoch: Number(s.policy.maxAmountPerEpoch) / 10 ** ld,
        epochLength: s.policy.epochLength,
        maxRebalancesPerEpoch: s.policy.maxRebalancesPerEpoch,
        maxGasPerEpoch: Number(s.policy.maxGasPerEpoch),
        cooldown: s.policy.cooldown,
        maxLossBps: s.policy.maxLossBps,
        maxEpochLossBps: s.policy.maxEpochLossBps,
        boostAllowed: s.policy.boostAllowed,
        pools: s.policy.pools.map((p) => p.toLowerCase()),
        tolerance: risk.tolerance,
        horizon: risk.horizon,
      },
      epoch: {
        lastRebalance: u.lastRebalance === 0 ? undefined : u.lastRebalance,
        epoch: u.epoch === 0 ? undefined : u.epoch,
        lossPpbInEpoch: u.lossPpb,
        amountInEpoch: Number(u.amountMoved) / 10 ** ld,
        rebalancesInEpoch: u.rebalances,
        gasInEpoch: u.gasUsed,
      },
      risk: { sigma: risk.sigma },
    }
  })
  return {
    blockNumber: parameters.blockNumber,
    timestamp: now,
    chain,
    decimals,
    input: { now, subAccounts, pools: yieldPools, idle, costs, mode: risk.mode },
  }
}

/**
 * The solver's plan as the SDK's (and the module's) `Plan`: base-unit amounts, checksummed pools.
 *
 * @returns The plan to encode into `executeRebalance`.
 */
export function toChainPlan(plan: Plan): ChainPlan {
  return {
    subAccounts: plan.subAccounts as Hex[],
    actions: plan.actions.map((a) =>
      a.kind === "WithdrawFromPool" || a.kind === "DepositToPool"
        ? { kind: a.kind, subAccount: a.subAccount, pool: getAddress(a.pool as string), amount: a.amountBase }
        : { kind: a.kind, subAccount: a.subAccount, amount: a.amountBase },
    ),
  }
}
