/**
 * Seeded xoshiro128** generator with polar-method normals. Same seed, same sequence, on every platform.
 */
export class Rng {
  private a: number
  private b: number
  private c: number
  private d: number
  private spare = 0
  private hasSpare = false

  /**
   * @param seed - Any 32-bit integer; expanded with splitmix32 into the 128-bit state.
   */
  constructor(seed: number) {
    let s = seed >>> 0
    const next = (): number => {
      s = (s + 0x9e3779b9) | 0
      let z = s
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
      return (z ^ (z >>> 16)) >>> 0
    }
    this.a = next()
    this.b = next()
    this.c = next()
    this.d = next()
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1
  }

  /** @returns A uniform 32-bit unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9)
    const t = this.b << 9
    this.c ^= this.a
    this.d ^= this.b
    this.b ^= this.c
    this.a ^= this.d
    this.c ^= t
    this.d = rotl(this.d, 11)
    return result >>> 0
  }

  /** @returns A uniform number in (0, 1) (never exactly 0 or 1). */
  uniform(): number {
    return (this.nextUint32() + 0.5) * 2.3283064365386963e-10
  }

  /** @returns A standard normal draw (Marsaglia polar method, pairs cached). */
  normal(): number {
    if (this.hasSpare) {
      this.hasSpare = false
      return this.spare
    }
    let u = 0
    let v = 0
    let s = 0
    do {
      u = 2 * this.uniform() - 1
      v = 2 * this.uniform() - 1
      s = u * u + v * v
    } while (s >= 1 || s === 0)
    const f = Math.sqrt((-2 * Math.log(s)) / s)
    this.spare = v * f
    this.hasSpare = true
    return u * f
  }

  /**
   * @param mean - Expected count.
   * @returns A Poisson draw (inversion; intended for small means such as jumps per step).
   */
  poisson(mean: number): number {
    if (mean <= 0) return 0
    const limit = Math.exp(-mean)
    let k = 0
    let p = this.uniform()
    while (p > limit) {
      k++
      p *= this.uniform()
    }
    return k
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k))
}
