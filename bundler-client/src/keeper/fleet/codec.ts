import type { Address, Hex } from "viem"
import { SafeReadError } from "@levpilot/sdk/errors"

/**
 * JSON for queue jobs: bigints as `{ "$n": "<decimal>" }` (exact), a Safe's read error as its revert data.
 *
 * @returns The JSON-safe copy.
 */
export function toJob<T>(value: T): unknown {
  return JSON.parse(
    JSON.stringify(value, (key, v) => {
      if (typeof v === "bigint") return { $n: v.toString() }
      if (key === "error" && v instanceof Error) return { $error: (v as { revertData?: Hex }).revertData ?? "0x" }
      return v
    }),
  )
}

/**
 * The inverse of {@link toJob}; a read error comes back as a `SafeReadError` with the same revert data.
 *
 * @returns The value with its bigints.
 */
export function fromJob<T>(value: unknown): T {
  const revive = (v: unknown, parent?: { safe?: Address }): unknown => {
    if (Array.isArray(v)) return v.map((x) => revive(x))
    if (v && typeof v === "object") {
      const o = v as Record<string, unknown>
      if (typeof o.$n === "string" && Object.keys(o).length === 1) return BigInt(o.$n)
      if (typeof o.$error === "string" && Object.keys(o).length === 1) return new SafeReadError({ safe: parent?.safe ?? "0x0000000000000000000000000000000000000000", revertData: o.$error as Hex })
      const out: Record<string, unknown> = {}
      for (const [k, x] of Object.entries(o)) out[k] = revive(x, o as { safe?: Address })
      return out
    }
    return v
  }
  return revive(value) as T
}
