/** Public entry `levpilot/prices`; see the package README. */
export {
  type PricePaths,
  type ParsePriceOptions,
  PriceFileError,
  parsePriceCsv,
  readPriceCsv,
  formatPriceCsv,
} from "./csv.js"
export {
  type ScenarioKind,
  SCENARIO_KINDS,
  type PathParameters,
  DEFAULT_PATH,
  generatePath,
  type ScenarioSpec,
  scenarioSet,
} from "./generator.js"
