import { formatUnits, maxUint256 } from "viem"

/**
 * Formats a WAD value (1e18 = 1.0) for messages; `maxUint256` (infinite health) prints as "infinite".
 *
 * @returns A decimal string.
 */
export function formatWad(value: bigint): string {
  return value === maxUint256 ? "infinite" : formatUnits(value, 18)
}
