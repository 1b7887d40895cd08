import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["lib/**/*.spec.ts", "services/**/*.spec.ts", "cli/**/*.spec.ts", "dev/**/*.spec.ts", "bench/**/*.spec.ts", "tests/**/*.test.ts"],
    // Integration suites start real servers; two cores, so two files at a time.
    pool: "forks",
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 180_000,
    reporters: ["default"],
  },
});
