import { execFileSync } from 'node:child_process';
import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import { startPostgres, stopPostgres, type TestPostgres } from './postgres.js';

declare module 'vitest' {
  export interface ProvidedContext {
    postgres: TestPostgres;
  }
}

/** Builds dist/ (the CLI tests run bin/dsql-proxy.js) and starts one PostgreSQL for the whole run. */
export default async function setup(project: TestProject): Promise<() => void> {
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
  const postgres = await startPostgres();
  project.provide('postgres', postgres);
  return () => stopPostgres(postgres);
}
