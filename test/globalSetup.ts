// Runs once before vitest's workers: the devnet and SDK tests deploy forge artifacts from out/, so build what is
// missing or changed first (`npx vitest run <anything>` works right after `npm ci`).
// @ts-expect-error: a plain ESM script without types
import { ensureContracts } from "../scripts/ensure-contracts.mjs"

export default function setup(): void {
  ;(ensureContracts as (options?: { quiet?: boolean }) => void)()
}
