import { describe, expect, test } from "vitest"
import { limiter } from "./limit.js"

const tick = () => new Promise((done) => setTimeout(done, 5))

describe("limiter", () => {
  test("runs at most `concurrency` tasks at once, in order", async () => {
    const run = limiter(2)
    let active = 0
    let peak = 0
    const order: number[] = []
    await Promise.all(
      [0, 1, 2, 3, 4].map((i) =>
        run(async () => {
          order.push(i)
          peak = Math.max(peak, ++active)
          await tick()
          active -= 1
        }),
      ),
    )
    expect(peak).toBe(2)
    expect(order).toEqual([0, 1, 2, 3, 4])
  })

  test("a task that releases its slot lets the next start while it goes on; releasing twice frees one slot", async () => {
    const run = limiter(1)
    let finishFirst = () => {}
    const started: string[] = []
    const first = run(async (release) => {
      started.push("first")
      release()
      release()
      await new Promise<void>((done) => (finishFirst = done))
      return "first"
    })
    let secondRunning = false
    let overlapped = false
    const second = run(async () => {
      started.push("second")
      secondRunning = true
      await tick()
      secondRunning = false
      return "second"
    })
    const third = run(async () => {
      started.push("third")
      overlapped = secondRunning
      return "third"
    })
    expect(await second).toBe("second")
    expect(await third).toBe("third")
    expect(started).toEqual(["first", "second", "third"])
    // The second release freed nothing: the third waited for the second's slot.
    expect(overlapped).toBe(false)
    finishFirst()
    expect(await first).toBe("first")
  })

  test("a task that throws frees its slot", async () => {
    const run = limiter(1)
    await expect(run(async () => Promise.reject(new Error("boom")))).rejects.toThrow("boom")
    expect(await run(async () => 1)).toBe(1)
  })
})
