/**
 * Runs at most `concurrency` of the tasks given to the returned function at once (the rest wait in order). A task may
 * give its slot back before it ends by calling the `release` it is passed (e.g. a step once its Safe is checked, while
 * its send goes on); calling it again, or the task's end after it, frees nothing more.
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
  return <T>(task: (release: () => void) => Promise<T>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      queue.push(() => {
        let held = true
        const release = () => {
          if (!held) return
          held = false
          active -= 1
          next()
        }
        Promise.resolve()
          .then(() => task(release))
          .then(resolve, reject)
          .finally(release)
      })
      next()
    })
}
