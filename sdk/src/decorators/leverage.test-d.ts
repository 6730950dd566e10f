import type Safe from "@safe-global/protocol-kit"
import { createSmartAccountClient } from "permissionless"
import { http, type Hex, zeroAddress } from "viem"
import type { SmartAccount } from "viem/account-abstraction"
import { describe, expectTypeOf, test } from "vitest"
import type { ToKeeperAccountReturnType } from "../accounts/toKeeperAccount.js"
import { addKeeper } from "../actions/addKeeper.js"
import type { RevokeAllKeepersReturnType } from "../actions/revokeAllKeepers.js"
import type { SetPolicyReturnType } from "../actions/setPolicy.js"
import type { UninstallLeverageModuleReturnType } from "../actions/uninstallLeverageModule.js"
import type { PlanAction } from "../types/leverage.js"
import { leverageActions } from "./leverage.js"

declare const account: SmartAccount
declare const keeperAccount: ToKeeperAccountReturnType
declare const protocolKit: Safe
declare const market: Hex

const policy = {
  market,
  minHealth: 1n,
  targetHealth: 1n,
  maxHealth: 2n,
  maxAmountPerRebalance: 1n,
  maxAmountPerEpoch: 1n,
  epochLength: 1,
  maxRebalancesPerEpoch: 1,
  maxGasPerEpoch: 1n,
  maxLossBps: 1,
  allowNoPriceFeed: true,
}

describe("leverageActions()", () => {
  const client = createSmartAccountClient({ account, bundlerTransport: http() }).extend(leverageActions({ deployments: {} }))

  test("adds every action to the client", () => {
    expectTypeOf(client.setPolicy).toBeFunction()
    expectTypeOf(client.removePolicy).toBeFunction()
    expectTypeOf(client.addKeeper).toBeFunction()
    expectTypeOf(client.revokeKeeper).toBeFunction()
    expectTypeOf(client.revokeAllKeepers).toBeFunction()
    expectTypeOf(client.uninstallLeverageModule).toBeFunction()
    expectTypeOf(client.setSponsor).toBeFunction()
    expectTypeOf(client.setAutomationConfig).toBeFunction()
    expectTypeOf(client.approvePaymasterToken).toBeFunction()
    expectTypeOf(client.pauseAutomation).toBeFunction()
    expectTypeOf(client.unpauseAutomation).toBeFunction()
    expectTypeOf(client.getPolicy).toBeFunction()
    expectTypeOf(client.getSubAccountState).toBeFunction()
    expectTypeOf(client.sendRebalance).toBeFunction()
    expectTypeOf(client.waitForRebalance).toBeFunction()
    expectTypeOf(client.setPolicy({ policy })).resolves.toEqualTypeOf<SetPolicyReturnType>()
    expectTypeOf(client.uninstallLeverageModule()).resolves.toEqualTypeOf<UninstallLeverageModuleReturnType>()
    expectTypeOf(client.revokeAllKeepers({ protocolKit })).resolves.toEqualTypeOf<RevokeAllKeepersReturnType>()
    expectTypeOf(client.uninstallLeverageModule()).resolves.toHaveProperty("keyGeneration")
  })

  test("keeps the client's own actions and account", () => {
    expectTypeOf(client.sendUserOperation).toBeFunction()
    expectTypeOf(client.account).toEqualTypeOf<SmartAccount>()
  })

  test("owner actions take either the smart account lane or protocolKit, not both", () => {
    client.setPolicy({ policy })
    client.setPolicy({ policy, protocolKit })
    // @ts-expect-error a Safe transaction has no smart account
    client.setPolicy({ policy, protocolKit, account })
    // @ts-expect-error paymasterContext only applies to UserOperations
    client.pauseAutomation({ protocolKit, paymasterContext: {} })
    client.pauseAutomation({ paymasterContext: { token: zeroAddress } })
    client.approvePaymasterToken({ token: zeroAddress, paymaster: zeroAddress, amount: 1n, protocolKit })
    // @ts-expect-error the allowance is explicit
    client.approvePaymasterToken({ token: zeroAddress, paymaster: zeroAddress })
  })

  test("the result says which lane was used", async () => {
    const result = await client.pauseAutomation()
    if (result.type === "userOperation") expectTypeOf(result.userOperationHash).toEqualTypeOf<Hex>()
    else expectTypeOf(result.safeTxHash).toEqualTypeOf<Hex>()
  })
})

describe("discriminated parameters", () => {
  test("addKeeper takes validUntil or validFor, not both", () => {
    addKeeper(createSmartAccountClient({ account, bundlerTransport: http() }), { keeper: zeroAddress, validFor: 60 })
    addKeeper(createSmartAccountClient({ account, bundlerTransport: http() }), { keeper: zeroAddress, validUntil: 60 })
    // @ts-expect-error both ends of the window
    addKeeper(createSmartAccountClient({ account, bundlerTransport: http() }), { keeper: zeroAddress, validUntil: 60, validFor: 60 })
    // @ts-expect-error no end of the window
    addKeeper(createSmartAccountClient({ account, bundlerTransport: http() }), { keeper: zeroAddress })
  })

  test("setSponsor names the paymaster", () => {
    const client = createSmartAccountClient({ account, bundlerTransport: http() }).extend(leverageActions())
    client.setSponsor({ paymaster: zeroAddress })
    client.setSponsor({ paymaster: zeroAddress, sponsored: false, protocolKit })
    // @ts-expect-error the paymaster is required
    client.setSponsor({ sponsored: true })
  })

  test("owner actions need an account when the client has none", () => {
    const bare = createSmartAccountClient({ bundlerTransport: http() }).extend(leverageActions())
    // @ts-expect-error no smart account and no protocolKit
    bare.setPolicy({ policy })
    bare.setPolicy({ policy, account })
    bare.setPolicy({ policy, protocolKit })
  })

  test("pool actions name a pool and venue actions do not", () => {
    expectTypeOf<{ kind: "DepositToPool"; subAccount: 0; pool: typeof zeroAddress; amount: 1n }>().toMatchTypeOf<PlanAction>()
    expectTypeOf<{ kind: "Repay"; subAccount: 0; amount: 1n }>().toMatchTypeOf<PlanAction>()
    expectTypeOf<{ kind: "DepositToPool"; subAccount: 0; amount: 1n }>().not.toMatchTypeOf<PlanAction>()
    expectTypeOf<{ kind: "Borrow"; subAccount: 0; pool: typeof zeroAddress; amount: 1n }>().not.toMatchTypeOf<PlanAction>()
  })

  test("a keeper client sends plans", () => {
    const keeperClient = createSmartAccountClient({ account: keeperAccount, bundlerTransport: http() }).extend(leverageActions())
    expectTypeOf(keeperClient.account.keeper).toEqualTypeOf<`0x${string}`>()
    expectTypeOf(keeperClient.sendRebalance).parameter(0).toHaveProperty("plan")
  })
})
