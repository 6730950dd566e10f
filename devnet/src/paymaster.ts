import { type IncomingMessage, type Server, createServer } from "node:http"
import type { AddressInfo } from "node:net"
import {
  type Address,
  type Hex,
  type PublicClient,
  concatHex,
  encodeAbiParameters,
  hexToBigInt,
  isAddress,
  isAddressEqual,
  numberToHex,
  padHex,
} from "viem"
import { type UserOperation, toPackedUserOperation } from "viem/account-abstraction"
import { type PrivateKeyAccount, privateKeyToAccount } from "viem/accounts"
import { verifyingPaymasterAbi } from "./deploy.js"
import { PaymasterRefusedError } from "./errors.js"
import { tokenPaymasterAbi } from "./tokenPaymaster.js"

/** ERC-7677 user operation as sent over JSON-RPC (v0.7, hex quantities). */
export type RpcPaymasterUserOperation = {
  sender: Address
  nonce: Hex
  factory?: Address | null
  factoryData?: Hex | null
  callData: Hex
  callGasLimit?: Hex
  verificationGasLimit?: Hex
  preVerificationGas?: Hex
  maxFeePerGas?: Hex
  maxPriorityFeePerGas?: Hex
  paymasterVerificationGasLimit?: Hex | null
  paymasterPostOpGasLimit?: Hex | null
}

export type SponsorshipRequest = {
  userOperation: RpcPaymasterUserOperation
  entryPoint: Address
  chainId: number
  context: unknown
}

export type PaymasterFields = {
  paymaster: Address
  paymasterData: Hex
  paymasterVerificationGasLimit: bigint
  paymasterPostOpGasLimit: bigint
}

export type VerifyingPaymasterSignerParameters = {
  client: PublicClient
  paymaster: Address
  entryPoint: Address
  signerPrivateKey: Hex
  /** Seconds a signature stays valid; 0 means no expiry. Default 3600. */
  validitySeconds?: number | undefined
  /** Gas reserved for `validatePaymasterUserOp` when the op carries none. Default 100k. */
  verificationGasLimit?: bigint | undefined
  /** Sponsorship policy; sponsors everything by default. Return a string to refuse with that reason. */
  policy?: ((request: SponsorshipRequest) => true | string | Promise<true | string>) | undefined
}

const stubSignatureMessage = "levpilot devnet paymaster stub"

function toUserOperation(op: RpcPaymasterUserOperation, fields: Omit<PaymasterFields, "paymasterData"> & { paymasterData: Hex }): UserOperation<"0.7"> {
  const quantity = (value: Hex | null | undefined) => (value ? hexToBigInt(value) : 0n)
  return {
    sender: op.sender,
    nonce: hexToBigInt(op.nonce),
    ...(op.factory ? { factory: op.factory, factoryData: op.factoryData ?? "0x" } : {}),
    callData: op.callData,
    callGasLimit: quantity(op.callGasLimit),
    verificationGasLimit: quantity(op.verificationGasLimit),
    preVerificationGas: quantity(op.preVerificationGas),
    maxFeePerGas: quantity(op.maxFeePerGas),
    maxPriorityFeePerGas: quantity(op.maxPriorityFeePerGas),
    signature: "0x",
    ...fields,
  }
}

/**
 * Signs sponsorships for the v0.7 `VerifyingPaymaster`: the hash comes from the contract's own
 * `getHash` view, signed (EIP-191) by the verifying signer key.
 *
 * @returns `getStubData` for gas estimation and `getData` for the final signed fields.
 */
export function createVerifyingPaymasterSigner(parameters: VerifyingPaymasterSignerParameters) {
  const {
    client,
    paymaster,
    entryPoint,
    signerPrivateKey,
    validitySeconds = 3_600,
    verificationGasLimit = 100_000n,
    policy = () => true as const,
  } = parameters
  const signer: PrivateKeyAccount = privateKeyToAccount(signerPrivateKey)

  // The chain id is read once: a request per sponsorship was one more node round trip per send in a 500-Safe shock.
  let chainIdOnce: Promise<number> | undefined
  const check = async (request: SponsorshipRequest) => {
    if (!isAddressEqual(request.entryPoint, entryPoint)) throw new PaymasterRefusedError({ reason: `unsupported EntryPoint ${request.entryPoint}` })
    chainIdOnce ??= client.getChainId().catch((error: unknown) => {
      chainIdOnce = undefined
      throw error
    })
    const chainId = await chainIdOnce
    if (request.chainId !== chainId) throw new PaymasterRefusedError({ reason: `unsupported chain ${request.chainId}` })
    const verdict = await policy(request)
    if (verdict !== true) throw new PaymasterRefusedError({ reason: verdict })
  }

  const gasLimits = (op: RpcPaymasterUserOperation) => ({
    paymasterVerificationGasLimit: op.paymasterVerificationGasLimit ? hexToBigInt(op.paymasterVerificationGasLimit) : verificationGasLimit,
    paymasterPostOpGasLimit: op.paymasterPostOpGasLimit ? hexToBigInt(op.paymasterPostOpGasLimit) : 0n,
  })

  return {
    address: paymaster,
    signer: signer.address,
    async getStubData(request: SponsorshipRequest): Promise<PaymasterFields> {
      await check(request)
      const stubSignature = await signer.signMessage({ message: stubSignatureMessage })
      return {
        paymaster,
        paymasterData: concatHex([encodeAbiParameters([{ type: "uint48" }, { type: "uint48" }], [0, 0]), stubSignature]),
        paymasterVerificationGasLimit: verificationGasLimit,
        paymasterPostOpGasLimit: 0n,
      }
    },
    async getData(request: SponsorshipRequest): Promise<PaymasterFields> {
      await check(request)
      const validUntil = validitySeconds === 0 ? 0 : Math.floor(Date.now() / 1000) + validitySeconds
      const validAfter = 0
      const limits = gasLimits(request.userOperation)
      const validity = encodeAbiParameters([{ type: "uint48" }, { type: "uint48" }], [validUntil, validAfter])
      const packed = toPackedUserOperation(toUserOperation(request.userOperation, { paymaster, paymasterData: validity, ...limits }))
      const hash = await client.readContract({
        address: paymaster,
        abi: verifyingPaymasterAbi,
        functionName: "getHash",
        args: [packed, validUntil, validAfter],
      })
      const signature = await signer.signMessage({ message: { raw: hash } })
      return { paymaster, paymasterData: concatHex([validity, signature]), ...limits }
    },
  }
}

export type VerifyingPaymasterSigner = ReturnType<typeof createVerifyingPaymasterSigner>

export type TokenPaymasterServiceParameters = {
  client: PublicClient
  /** The deployed sample `TokenPaymaster` (see `deployTokenPaymaster`). */
  paymaster: Address
  entryPoint: Address
  /** The ERC-20 it accepts; read from `token()` when omitted. */
  token?: Address | undefined
  /** Gas for `validatePaymasterUserOp` (one `transferFrom` of the token; about 48k cold on the devnet). Default 120k. */
  verificationGasLimit?: bigint | undefined
  /**
   * Gas for `postOp` (refund transfer, event, deposit check: about 12k; 47k when it also refreshes the cached price
   * from the feeds); must exceed the paymaster's `refundPostopCost`. Default 90k.
   */
  postOpGasLimit?: bigint | undefined
  /**
   * Optional client-supplied price (wei per token base unit, scaled by 1e26, markup included) sent as the 32-byte
   * `paymasterData`; the paymaster uses it when it is below its own cached price with markup, i.e. the account
   * prepays more tokens. Without it `paymasterData` is empty and the cached price applies.
   */
  priceWithMarkup?: bigint | undefined
}

/**
 * Fills ERC-7677 fields for the v0.7 sample `TokenPaymaster`: the account pays in `token`, pulled by the paymaster in
 * validation (`transferFrom`, so the account must have approved it) and refunded in `postOp`. There is no signature,
 * so the stub data is already final. `paymasterData` is empty or the 32-byte client-supplied price (see
 * {@link TokenPaymasterServiceParameters.priceWithMarkup}).
 *
 * @returns The token and `getData` for both ERC-7677 methods.
 */
export function createTokenPaymasterService(parameters: TokenPaymasterServiceParameters) {
  const { client, paymaster, entryPoint, verificationGasLimit = 120_000n, postOpGasLimit = 90_000n, priceWithMarkup } = parameters
  let token = parameters.token
  const paymasterData: Hex = priceWithMarkup === undefined ? "0x" : padHex(numberToHex(priceWithMarkup), { size: 32 })
  return {
    address: paymaster,
    async token(): Promise<Address> {
      token ??= await client.readContract({ address: paymaster, abi: tokenPaymasterAbi, functionName: "token" })
      return token
    },
    async getData(request: SponsorshipRequest): Promise<PaymasterFields> {
      if (!isAddressEqual(request.entryPoint, entryPoint)) throw new PaymasterRefusedError({ reason: `unsupported EntryPoint ${request.entryPoint}` })
      const chainId = await client.getChainId()
      if (request.chainId !== chainId) throw new PaymasterRefusedError({ reason: `unsupported chain ${request.chainId}` })
      return { paymaster, paymasterData, paymasterVerificationGasLimit: verificationGasLimit, paymasterPostOpGasLimit: postOpGasLimit }
    },
  }
}

export type TokenPaymasterService = ReturnType<typeof createTokenPaymasterService>

/** The `token` of an ERC-7677 context `{ token }`, or `undefined` when the context asks for sponsorship. */
function requestedToken(context: unknown): Address | undefined {
  if (context === null || typeof context !== "object" || !("token" in context)) return undefined
  const { token } = context as { token: unknown }
  if (typeof token !== "string" || !isAddress(token, { strict: false }))
    throw new PaymasterRefusedError({ reason: `the context's token ${JSON.stringify(token)} is not an address` })
  return token
}

export type PaymasterServer = {
  url: string
  port: number
  /** Switch sponsorship on or off at runtime (fault tests). */
  setSponsoring: (enabled: boolean) => void
  stop: () => Promise<void>
}

type JsonRpcRequest = { jsonrpc?: string; id?: number | string | null; method?: string; params?: unknown[] }

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")))
    request.on("error", reject)
  })
}

const rpcFields = (fields: PaymasterFields) => ({
  paymaster: fields.paymaster,
  paymasterData: fields.paymasterData,
  paymasterVerificationGasLimit: numberToHex(fields.paymasterVerificationGasLimit),
  paymasterPostOpGasLimit: numberToHex(fields.paymasterPostOpGasLimit),
})

/**
 * Serves an ERC-7677 paymaster web service (`pm_getPaymasterStubData`, `pm_getPaymasterData`)
 * on 127.0.0.1 for viem's `createPaymasterClient`. Without a context (or a context without `token`) the
 * VerifyingPaymaster sponsors; a context `{ token }` naming the token paymaster's token gets the token paymaster's
 * fields (final already in `pm_getPaymasterStubData`, `isFinal: true`); any other token is refused.
 *
 * @returns The server URL and controls.
 * @example
 * const server = await startPaymasterServer({ signer, tokenPaymaster: createTokenPaymasterService({ client, paymaster, entryPoint }) })
 * const paymaster = createPaymasterClient({ transport: http(server.url) })
 */
export async function startPaymasterServer({
  signer,
  tokenPaymaster,
  port = 0,
  sponsoring = true,
}: {
  signer: VerifyingPaymasterSigner
  /** ERC-20 payment for a context `{ token }`; without it every `{ token }` context is refused. */
  tokenPaymaster?: TokenPaymasterService | undefined
  port?: number | undefined
  /** Initial sponsorship switch; `false` refuses every request. */
  sponsoring?: boolean | undefined
}): Promise<PaymasterServer> {
  let enabled = sponsoring
  const tokenFields = async (request: SponsorshipRequest): Promise<PaymasterFields | undefined> => {
    const token = requestedToken(request.context)
    if (token === undefined) return undefined
    const accepted = await tokenPaymaster?.token()
    if (!tokenPaymaster || !accepted) throw new PaymasterRefusedError({ reason: `ERC-20 payment is not offered (token ${token})` })
    if (!isAddressEqual(token, accepted)) throw new PaymasterRefusedError({ reason: `unsupported token ${token}; this service accepts only ${accepted}` })
    return tokenPaymaster.getData(request)
  }
  const handle = async (body: JsonRpcRequest) => {
    const [userOperation, entryPoint, chainId, context] = body.params ?? []
    const request: SponsorshipRequest = {
      userOperation: userOperation as RpcPaymasterUserOperation,
      entryPoint: entryPoint as Address,
      chainId: Number(chainId),
      context,
    }
    if (body.method !== "pm_getPaymasterStubData" && body.method !== "pm_getPaymasterData")
      return { error: { code: -32601, message: `Method not found: ${body.method}` } }
    if (!enabled) return { error: { code: -32000, message: "The paymaster refused to sponsor this UserOperation: sponsorship is disabled." } }
    try {
      const paidInToken = await tokenFields(request)
      if (paidInToken) return { result: body.method === "pm_getPaymasterStubData" ? { ...rpcFields(paidInToken), isFinal: true } : rpcFields(paidInToken) }
      if (body.method === "pm_getPaymasterStubData") return { result: { ...rpcFields(await signer.getStubData(request)), isFinal: false } }
      return { result: rpcFields(await signer.getData(request)) }
    } catch (error) {
      if (error instanceof PaymasterRefusedError) return { error: { code: -32000, message: error.message } }
      return { error: { code: -32603, message: (error as Error).message } }
    }
  }
  const server: Server = createServer((request, response) => {
    void (async () => {
      let reply: object
      try {
        const parsed = JSON.parse(await readBody(request)) as JsonRpcRequest | JsonRpcRequest[]
        const answer = async (item: JsonRpcRequest) => ({ jsonrpc: "2.0", id: item.id ?? null, ...(await handle(item)) })
        reply = Array.isArray(parsed) ? await Promise.all(parsed.map(answer)) : await answer(parsed)
      } catch (error) {
        reply = { jsonrpc: "2.0", id: null, error: { code: -32700, message: (error as Error).message } }
      }
      response.writeHead(200, { "content-type": "application/json" })
      response.end(JSON.stringify(reply))
    })()
  })
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen({ port, host: "127.0.0.1" }, () => resolve())
  })
  const bound = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${bound}`,
    port: bound,
    setSponsoring: (value) => {
      enabled = value
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
