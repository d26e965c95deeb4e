import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // .ci/run asks for a JSON report to print its "N passed, N failed" line.
    reporters: process.env.DSQL_PROXY_TEST_REPORT ? ['default', 'json'] : ['default'],
    ...(process.env.DSQL_PROXY_TEST_REPORT ? { outputFile: { json: process.env.DSQL_PROXY_TEST_REPORT } } : {}),
    env: {
      // Never let a credential chain reach for instance metadata (no network beyond loopback here).
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    },
  },
});
