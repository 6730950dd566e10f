import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["sdk/src/**/*.test.ts", "bundler-client/src/**/*.test.ts", "test/**/*.test.ts"],
    typecheck: { enabled: true, include: ["sdk/src/**/*.test-d.ts"] },
    testTimeout: 120_000,
    hookTimeout: 180_000,
    pool: "forks",
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
  },
})
