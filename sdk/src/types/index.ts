/** Public entry of this subpath of `@levpilot/sdk`; see the package README. */
export {
  type Policy,
  type AutomationConfig,
  type SelfPayBudget,
  type KeeperKey,
  type EpochUsage,
  actionKinds,
  type ActionKind,
  type PoolActionKind,
  type VenueActionKind,
  type PlanAction,
  type Plan,
  type PolicyInput,
} from "./leverage.js"
