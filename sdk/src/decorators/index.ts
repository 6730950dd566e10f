/** Public entry of this subpath of `@levpilot/sdk`; see the package README. */
export {
  type LeverageActions,
  type LeverageActionsParameters,
  leverageActions,
} from "./leverage.js"
