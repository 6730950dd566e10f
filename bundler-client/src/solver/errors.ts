/** Raised when a plan cannot be applied to a state (insufficient funds, unknown pool, over-borrow). */
export class PlanExecutionError extends Error {
  override name = "PlanExecutionError"
  /**
   * @param actionIndex - Index of the failing action in the plan.
   * @param detail - Why it cannot execute.
   */
  constructor(
    readonly actionIndex: number,
    detail: string,
  ) {
    super(`Plan action ${actionIndex} cannot execute: ${detail}`)
  }
}

/** Raised when solver input is inconsistent (mixed loan assets, missing prices, invalid policy). */
export class SolverInputError extends Error {
  override name = "SolverInputError"
  /** @param detail - What is wrong with the input. */
  constructor(detail: string) {
    super(`Invalid solver input: ${detail}`)
  }
}
