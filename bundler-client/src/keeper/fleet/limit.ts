/**
 * Runs at most `concurrency` of the tasks given to the returned function at once (the rest wait in order).
 *
 * @returns `run(task)`, resolving with the task's result.
 */
export function limiter(concurrency: number) {
  let active = 0
  const queue: (() => void)[] = []
  const next = () => {
    if (active >= concurrency) return
    const start = queue.shift()
    if (!start) return
    active += 1
    start()
  }
  return <T>(task: () => Promise<T>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      queue.push(() => {
        task()
          .then(resolve, reject)
          .finally(() => {
            active -= 1
            next()
          })
      })
      next()
    })
}
