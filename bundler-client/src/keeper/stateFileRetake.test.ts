import { readFileSync, statSync, unlinkSync, utimesSync, writeFileSync } from "node:fs"
import type { Address } from "viem"
import { afterEach, describe, expect, test, vi } from "vitest"
import { KeeperStateStore, LOCK_LEASE_MS, LOCK_RENEW_MS, StateFileLockedError, lockPath } from "./stateFile.js"
import { SAFE_A, SAFE_B, pendingRecord as record, stateWriter as writer, nonceOnDisk, freshStatePath } from "./stateFileStore.testing.js"

// A keeper that takes its state file's lock again after running without it (its lock deleted by hand and taken by a
// second keeper, which then stopped) must not write over what the other keeper wrote meanwhile. The real
// KeeperStateStore on temporary directories, no fs mocks.

const fresh = () => freshStatePath("retake")

describe("state file: taking the lock again after another keeper wrote the file", () => {
  test("the second keeper's records survive the first keeper's return, in memory and on disk (with and without its snapshot)", async () => {
    for (const secondSnapshots of [true, false]) {
      const path = fresh()
      const first = writer(path)
      first.setPending(SAFE_A, record(5n))
      await first.flush()
      // The first keeper's lock deleted by hand; a second keeper starts on the file, sends for both Safes and stops.
      unlinkSync(lockPath(path))
      const second = writer(path)
      second.setPending(SAFE_A, record(8n))
      second.setPending(SAFE_B, record(7n))
      if (secondSnapshots) await second.flush()
      // While the second runs, the first is refused (its lock is gone): nothing of it is written.
      expect(() => first.setPending(SAFE_B, record(3n))).toThrow(StateFileLockedError)
      second.close()
      // The first takes the lock again at its next write: it reads the file again before writing.
      first.setAloneFacts(SAFE_B, { table: 1 })
      expect(first.pending(SAFE_A)?.nonce).toBe("8")
      expect(first.pending(SAFE_B)?.nonce).toBe("7")
      expect(first.aloneFacts(SAFE_B)).toEqual({ table: 1 })
      expect(first.lockNotice).toMatch(/re-read the state file .* another keeper wrote it meanwhile/)
      // On disk before and after the first's snapshot, and for a keeper starting after it.
      expect([nonceOnDisk(path, SAFE_A), nonceOnDisk(path, SAFE_B)]).toEqual(["8", "7"])
      await first.flush()
      first.setPending(SAFE_A, record(9n))
      expect([nonceOnDisk(path, SAFE_A), nonceOnDisk(path, SAFE_B)]).toEqual(["9", "7"])
      first.close()
      const third = writer(path)
      expect([third.pending(SAFE_A)?.nonce, third.pending(SAFE_B)?.nonce]).toEqual(["9", "7"])
      expect(third.aloneFacts(SAFE_B)).toEqual({ table: 1 })
      third.close()
    }
  })

  test("a lock deleted by hand that nobody else took: memory is kept (nothing re-read), the file goes on from it", async () => {
    const path = fresh()
    const first = writer(path)
    first.setPending(SAFE_A, record(5n))
    await first.flush()
    first.setPending(SAFE_B, record(6n))
    unlinkSync(lockPath(path))
    first.setPending(SAFE_A, record(7n))
    expect(first.lockNotice ?? "").not.toMatch(/re-read/)
    expect([first.pending(SAFE_A)?.nonce, first.pending(SAFE_B)?.nonce]).toEqual(["7", "6"])
    await first.flush()
    first.close()
    expect([nonceOnDisk(path, SAFE_A), nonceOnDisk(path, SAFE_B)]).toEqual(["7", "6"])
  })
})

describe("state file lock: the holder renews its lease (review rr11zg G1)", () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  test("the lock carries its lease; the holder renews the lock's mtime every LOCK_RENEW_MS and keeps writing", () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] })
    const path = fresh()
    const store = writer(path)
    const lock = lockPath(path)
    expect(JSON.parse(readFileSync(lock, "utf8")).leaseMs).toBe(LOCK_LEASE_MS)
    // As if the holder had not renewed for an hour: one renewal brings the mtime back to now.
    const hourAgo = new Date(Date.now() - 3_600_000)
    utimesSync(lock, hourAgo, hourAgo)
    vi.advanceTimersByTime(LOCK_RENEW_MS)
    expect(Date.now() - statSync(lock).mtimeMs).toBeLessThan(LOCK_LEASE_MS / 2)
    // Its own renewal is not taken for another writer's change: it goes on writing.
    store.setPending(SAFE_A, record(4n))
    expect(nonceOnDisk(path, SAFE_A)).toBe("4")
    // Closed: no more renewals (the lock is gone and stays gone).
    store.close()
    vi.advanceTimersByTime(LOCK_RENEW_MS * 2)
    expect(() => statSync(lock)).toThrow()
  })

  test("a lock replaced under the holder is not renewed by it (the other's mtime stays), and the holder stops writing", () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] })
    const path = fresh()
    const store = writer(path)
    const lock = lockPath(path)
    unlinkSync(lock)
    const hourAgo = new Date(Date.now() - 3_600_000)
    writeFileSync(lock, `${JSON.stringify({ pid: 1, host: "another-host", since: hourAgo.toISOString(), token: "b".repeat(32), leaseMs: LOCK_LEASE_MS })}\n`)
    utimesSync(lock, hourAgo, hourAgo)
    vi.advanceTimersByTime(LOCK_RENEW_MS)
    expect(Math.abs(statSync(lock).mtimeMs - hourAgo.getTime())).toBeLessThan(1000)
    // The other's lock is stale by its lease, so the holder's next write takes it over and writes (one writer at a time).
    store.setPending(SAFE_A, record(4n))
    expect(nonceOnDisk(path, SAFE_A)).toBe("4")
    // A fresh lock of another host refuses it.
    unlinkSync(lock)
    writeFileSync(lock, `${JSON.stringify({ pid: 1, host: "another-host", since: new Date().toISOString(), token: "c".repeat(32), leaseMs: LOCK_LEASE_MS })}\n`)
    expect(() => store.setPending(SAFE_A, record(5n))).toThrow(StateFileLockedError)
    expect(nonceOnDisk(path, SAFE_A)).toBe("4")
    store.close()
  })
})
