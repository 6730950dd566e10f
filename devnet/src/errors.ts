import { BaseError } from "viem"

/** Last lines of a child process's output, appended to error messages. */
function logLines(logs: string | undefined): string[] {
  if (!logs) return []
  const tail = logs.trimEnd().split("\n").slice(-40)
  return ["Last output:", ...tail.map((line) => `  ${line}`)]
}

export type DevnetProcessErrorType = DevnetProcessError & { name: "DevnetProcessError" }
/** A devnet child process (anvil, Alto) failed to start, exited early, or never answered. */
export class DevnetProcessError extends BaseError {
  constructor(
    shortMessage: string,
    {
      cause,
      logs,
      metaMessages = [],
    }: { cause?: Error | undefined; logs?: string | undefined; metaMessages?: string[] | undefined } = {},
  ) {
    super(shortMessage, {
      cause,
      metaMessages: [...metaMessages, ...logLines(logs)],
      name: "DevnetProcessError",
    })
  }
}

export type BinaryNotFoundErrorType = BinaryNotFoundError & { name: "BinaryNotFoundError" }
/** A tool the devnet needs (anvil binary, Alto CLI) is not installed. */
export class BinaryNotFoundError extends BaseError {
  constructor({ tool, tried, cause }: { tool: string; tried: string; cause?: Error | undefined }) {
    super(`Could not find ${tool}.`, {
      cause,
      metaMessages: [
        `Looked for: ${tried}`,
        "This could arise when:",
        "- `npm install` has not been run, or the platform package was skipped;",
        "- the platform is not linux/darwin x64/arm64.",
      ],
      name: "BinaryNotFoundError",
    })
  }
}

export type ArtifactErrorType = ArtifactError & { name: "ArtifactError" }
/** A compiled contract artifact cannot be read or has no deployable bytecode. */
export class ArtifactError extends BaseError {
  constructor(shortMessage: string, { artifact, cause }: { artifact: string; cause?: Error | undefined }) {
    super(shortMessage, {
      cause,
      metaMessages: [
        `Artifact: ${artifact}`,
        "This could arise when:",
        "- the artifact is an interface or abstract contract (empty bytecode);",
        "- the bytecode has unlinked library placeholders (`__$...$__`);",
        "- the forge `out/` directory is stale: run `npm run build:contracts`.",
      ],
      name: "ArtifactError",
    })
  }
}

export type DeploymentErrorType = DeploymentError & { name: "DeploymentError" }
/** A contract deployment reverted or landed on an unexpected address. */
export class DeploymentError extends BaseError {
  constructor(
    shortMessage: string,
    { contract, cause, metaMessages = [] }: { contract: string; cause?: Error | undefined; metaMessages?: string[] },
  ) {
    super(shortMessage, { cause, metaMessages: [`Contract: ${contract}`, ...metaMessages], name: "DeploymentError" })
  }
}

export type PaymasterRefusedErrorType = PaymasterRefusedError & { name: "PaymasterRefusedError" }
/** The devnet paymaster service declined to sponsor a UserOperation. */
export class PaymasterRefusedError extends BaseError {
  constructor({ reason }: { reason: string }) {
    super("The paymaster refused to sponsor this UserOperation.", {
      metaMessages: [`Reason: ${reason}`],
      name: "PaymasterRefusedError",
    })
  }
}
