/** Raised when a risk-engine function receives an argument outside its domain. */
export class RiskInputError extends Error {
  override name = "RiskInputError"
  /**
   * @param parameter - Name of the offending argument.
   * @param detail - What was wrong with it.
   */
  constructor(parameter: string, detail: string) {
    super(`Invalid risk-engine input "${parameter}": ${detail}`)
  }
}
