/** What `levpilot start` loads on demand: the demo on the local devnet (`@levpilot/devnet`, in the repository only). */
export { startDemoEnv } from "./env.js"
export { demoKeeperConfigJson } from "./keeperConfig.js"
export { writeHtmlReport } from "./report.js"
export { runDemo } from "./run.js"
export { defaultScenario, scenarioFromCsv, scenarioFromPaths } from "./scenario.js"
export { formatSummary, summarizeDemo } from "./summary.js"
export { renderTable } from "./table.js"
