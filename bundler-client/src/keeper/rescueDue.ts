/**
 * Issue 13, the module's in-band rescue (policy `rescueBelowTarget`, RebalanceLib `_trigger`): with the flag a
 * sub-account inside its band below `targetHealth` is due, like one below the band. The SDK's `band` says only where
 * health sits against [minHealth, maxHealth] ("inside" for such a sub-account); these say whether the keeper may act.
 */

/** The fields of a read sub-account (`@levpilot/sdk/actions` SubAccountState) the in-band trigger reads; WAD healths. */
export type InBandTriggerFields = {
  band: "below" | "inside" | "above"
  health: bigint
  policy: { targetHealth: bigint; rescueBelowTarget?: boolean | undefined }
}

/**
 * Whether `s` is due for an in-band rescue: its policy has `rescueBelowTarget`, its health is inside the band and below
 * `targetHealth` (both WAD, compared exactly as the module does).
 *
 * @param s - A read sub-account.
 * @returns True when the module would take a rescue of it although its band is "inside".
 */
export function inBandRescueDue(s: InBandTriggerFields): boolean {
  return s.policy.rescueBelowTarget === true && s.band === "inside" && s.health < s.policy.targetHealth
}

/**
 * Whether a plan may follow for `s`: out of its band ("below", or "above", where a boost may be allowed), or due for an
 * in-band rescue ({@link inBandRescueDue}). The module refuses any plan for a sub-account for which this is false
 * (NoTrigger), except an engaged on-chain stop's exit, which the callers read separately.
 *
 * @param s - A read sub-account.
 * @returns True when the keeper should read and solve for it.
 */
export function mayAct(s: InBandTriggerFields): boolean {
  return s.band !== "inside" || inBandRescueDue(s)
}
