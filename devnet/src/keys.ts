import { BaseError, type Hex, toHex } from "viem"
import { mnemonicToAccount } from "viem/accounts"

/**
 * The well-known anvil development keys (mnemonic "test test ... junk").
 * They are public: use them only against a loopback devnet, never on a real network.
 */
export const anvilPrivateKeys = [
  "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
  "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
  "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
  "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
  "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
  "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
  "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
  "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
  "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
  "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
] as const satisfies readonly Hex[]

/** Which anvil key does what on the devnet. Keys 5..9 are left for tests and demos. */
export const devnetKeys = {
  /** Sends the deterministic (CREATE2) deployments and funds accounts. */
  deployer: anvilPrivateKeys[0],
  /** Alto executor: submits `handleOps` bundles. */
  bundlerExecutor: anvilPrivateKeys[1],
  /** Alto utility wallet: deploys Alto's simulation contracts, refills executors. */
  bundlerUtility: anvilPrivateKeys[2],
  /** VerifyingPaymaster `verifyingSigner`; only signs, holds no funds. */
  paymasterSigner: anvilPrivateKeys[3],
  /** VerifyingPaymaster owner (deploys it with CREATE so it can stake and withdraw). */
  paymasterOwner: anvilPrivateKeys[4],
  /** Free for tests. */
  spare: [anvilPrivateKeys[5], anvilPrivateKeys[6], anvilPrivateKeys[7], anvilPrivateKeys[8], anvilPrivateKeys[9]],
} as const

/** The anvil test mnemonic the keys above are derived from (m/44'/60'/0'/0/i). Public: loopback devnets only. */
export const anvilMnemonic = "test test test test test test test test test test test junk"

/**
 * `count` Alto executor keys: the devnet's executor key first, then the anvil mnemonic's accounts from index 10 on
 * (anvil funds only indices 0-9; `startDevnet` funds these). Each executor has one bundle transaction in flight.
 *
 * @param count - Number of keys, at least 1.
 * @returns The private keys.
 */
export function devnetExecutorKeys(count: number): Hex[] {
  if (!Number.isInteger(count) || count < 1) throw new BaseError(`Alto executor count ${count} is not a positive integer.`)
  return [
    devnetKeys.bundlerExecutor,
    ...Array.from({ length: count - 1 }, (_, i) => toHex(mnemonicToAccount(anvilMnemonic, { addressIndex: 10 + i }).getHdKey().privateKey as Uint8Array)),
  ]
}
