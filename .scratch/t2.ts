import { http } from "viem"
import { createBundlerClient } from "viem/account-abstraction"
import { createPublicClient } from "viem"
const pc = createPublicClient({ transport: http("http://127.0.0.1:1") })
const b = createBundlerClient({ client: pc, transport: http("http://127.0.0.1:9/") })
console.log((b.transport as any).url, Object.keys(b.transport))
