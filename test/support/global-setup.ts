import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import { PKI_DIR_VARIABLE } from './certs.js';
import { startPostgres, stopPostgres, type TestPostgres } from './postgres.js';

declare module 'vitest' {
  export interface ProvidedContext {
    postgres: TestPostgres;
  }
}

/**
 * Builds dist/ (the CLI tests run bin/dsql-proxy.js), starts one PostgreSQL for the whole run, and makes the one
 * directory every test process keeps its keys and certificates in; the teardown removes both.
 */
export default async function setup(project: TestProject): Promise<() => void> {
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
  // Set before any test process starts, so each inherits it.
  const pkiDir = mkdtempSync(join(tmpdir(), 'dsql-proxy-pki-'));
  process.env[PKI_DIR_VARIABLE] = pkiDir;
  try {
    const postgres = await startPostgres();
    project.provide('postgres', postgres);
    return () => {
      try { stopPostgres(postgres); } finally { rmSync(pkiDir, { recursive: true, force: true }); }
    };
  } catch (error) {
    rmSync(pkiDir, { recursive: true, force: true });
    throw error;
  }
}
