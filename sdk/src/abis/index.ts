/** Public entry of this subpath of `@levpilot/sdk`; see the package README. */
export {
  leverageLensAbi,
  leverageLensBytecode,
} from "./leverageLens.js"
export {
  leverageModuleAbi,
} from "./leverageModule.js"
export {
  morphoBlueAdapterAbi,
} from "./morphoBlueAdapter.js"
export {
  uniswapV3SwapAdapterAbi,
} from "./uniswapV3SwapAdapter.js"
export {
  venueAdapterAbi,
} from "./venueAdapter.js"
