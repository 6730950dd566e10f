import { defaultServerConditions } from "vite"
import { defineConfig } from "vitest/config"

/** The workspace packages resolve to their TypeScript sources here (the first condition of every exports map). */
const conditions = ["@levpilot/source", ...defaultServerConditions]

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: {
    globalSetup: ["test/globalSetup.ts"],
    include: ["sdk/src/**/*.test.ts", "devnet/src/**/*.test.ts", "bundler-client/src/**/*.test.ts", "test/**/*.test.ts"],
    typecheck: { enabled: true, include: ["sdk/src/**/*.test-d.ts"] },
    testTimeout: 120_000,
    hookTimeout: 180_000,
    pool: "forks",
    maxWorkers: 2,
  },
})
