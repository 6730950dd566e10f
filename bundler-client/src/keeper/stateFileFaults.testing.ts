import type * as Fs from "node:fs"
import type * as FsPromises from "node:fs/promises"

/**
 * Faults injected into node:fs and node:fs/promises under the state file's tests (a pass-through while every field is
 * at rest). One object per test file (each file's module graph): set a field inside a test, reset it after.
 *
 * Use in a test file (the mocks are hoisted; the factories import this module, the test imports `fsFault` from it):
 *
 * ```ts
 * vi.mock("node:fs", async (original) => (await import("./stateFileFaults.testing.js")).faultyFs(await original()))
 * vi.mock("node:fs/promises", async (original) => (await import("./stateFileFaults.testing.js")).faultyFsPromises(await original()))
 * ```
 */
export const fsFault = {
  /** A full disk: every `writeSync` and every `writeFile` (a snapshot's tmp) throws ENOSPC. */
  full: false,
  /** Called at each `writeSync`: an error it returns is thrown instead of writing (undefined: written). */
  writeSync: undefined as undefined | (() => Error | undefined),
  /** Called before each hooked asynchronous step (`writeFile`, `rename`, `unlink`) with its name and first argument. */
  beforeAsync: undefined as undefined | ((op: string, arg: string) => void),
  /** The fsyncs, in order (`sync <path>`), with whatever `beforeAsync` pushes. */
  syncs: [] as string[],
  /** A `readFileSync` of a path queued here answers the queued text once (what a reader saw before a keeper's snapshot). */
  staleReads: new Map<string, string[]>(),
}

/** The ENOSPC error of a full disk (`code` set, as node:fs throws it). */
export const enospc = (): NodeJS.ErrnoException => Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" })

/**
 * node:fs with {@link fsFault}'s `full`, `writeSync` and `staleReads` applied (`writeSync`, `readFileSync`; the rest as is).
 *
 * @returns The module to mock node:fs with (also as its `default`).
 */
export function faultyFs(fs: typeof Fs): typeof Fs {
  const writeSync = ((...args: Parameters<typeof fs.writeSync>) => {
    if (fsFault.full) throw enospc()
    const fault = fsFault.writeSync?.()
    if (fault) throw fault
    return (fs.writeSync as (...a: unknown[]) => number)(...args)
  }) as typeof fs.writeSync
  const readFileSync = ((...args: Parameters<typeof fs.readFileSync>) => {
    const queued = fsFault.staleReads.get(String(args[0]))
    if (queued !== undefined && queued.length > 0) return queued.shift()
    return (fs.readFileSync as (...a: unknown[]) => unknown)(...args)
  }) as typeof fs.readFileSync
  return { ...fs, default: { ...fs, writeSync, readFileSync }, writeSync, readFileSync } as typeof Fs
}

/**
 * node:fs/promises with {@link fsFault}'s `beforeAsync` (before `writeFile`, `rename`, `unlink`), `full` (`writeFile`
 * throws ENOSPC) and `syncs` (each handle's `sync` recorded) applied; the rest as is.
 *
 * @returns The module to mock node:fs/promises with (also as its `default`).
 */
export function faultyFsPromises(fsp: typeof FsPromises): typeof FsPromises {
  const hook =
    <F extends (...a: never[]) => Promise<unknown>>(op: string, f: F) =>
    (async (...args: Parameters<F>) => {
      fsFault.beforeAsync?.(op, String(args[0]))
      if (fsFault.full && op === "writeFile") throw enospc()
      return await f(...args)
    }) as unknown as F
  const writeFile = hook("writeFile", fsp.writeFile)
  const rename = hook("rename", fsp.rename)
  const unlink = hook("unlink", fsp.unlink)
  const open = (async (...args: Parameters<typeof fsp.open>) => {
    const handle = await fsp.open(...args)
    const sync = handle.sync.bind(handle)
    handle.sync = async () => {
      fsFault.syncs.push(`sync ${String(args[0])}`)
      return await sync()
    }
    return handle
  }) as typeof fsp.open
  return { ...fsp, default: { ...fsp, writeFile, rename, unlink, open }, writeFile, rename, unlink, open } as typeof FsPromises
}
