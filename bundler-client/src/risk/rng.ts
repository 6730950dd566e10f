/**
 * Seeded xoshiro128** generator with ziggurat normals. Same seed, same sequence, on every platform.
 */
export class Rng {
  private a: number
  private b: number
  private c: number
  private d: number

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

  /** @returns A standard normal draw (Marsaglia-Tsang ziggurat, 128 layers). */
  normal(): number {
    let hz = this.nextUint32() | 0
    let iz = hz & 127
    if (Math.abs(hz) < (KN[iz] as number)) return hz * (WN[iz] as number)
    for (;;) {
      if (iz === 0) {
        let x = 0
        let y = 0
        do {
          x = -Math.log(this.uniform()) * 0.2904764
          y = -Math.log(this.uniform())
        } while (y + y < x * x)
        return hz > 0 ? ZIGGURAT_R + x : -ZIGGURAT_R - x
      }
      const x = hz * (WN[iz] as number)
      const f0 = FN[iz] as number
      if (f0 + this.uniform() * ((FN[iz - 1] as number) - f0) < Math.exp(-0.5 * x * x)) return x
      hz = this.nextUint32() | 0
      iz = hz & 127
      if (Math.abs(hz) < (KN[iz] as number)) return hz * (WN[iz] as number)
    }
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

const ZIGGURAT_R = 3.442619855899
const KN = new Float64Array(128)
const WN = new Float64Array(128)
const FN = new Float64Array(128)
{
  const m1 = 2147483648
  const vn = 9.91256303526217e-3
  let dn = ZIGGURAT_R
  let tn = dn
  const q = vn / Math.exp(-0.5 * dn * dn)
  KN[0] = (dn / q) * m1
  KN[1] = 0
  WN[0] = q / m1
  WN[127] = dn / m1
  FN[0] = 1
  FN[127] = Math.exp(-0.5 * dn * dn)
  for (let i = 126; i >= 1; i--) {
    dn = Math.sqrt(-2 * Math.log(vn / dn + Math.exp(-0.5 * dn * dn)))
    KN[i + 1] = (dn / tn) * m1
    tn = dn
    FN[i] = Math.exp(-0.5 * dn * dn)
    WN[i] = dn / m1
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k))
}
