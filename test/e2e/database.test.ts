import { describe, expect, it } from 'vitest';
import { psql, startTestProxy, useRig } from '../support/harness.js';

const rig = useRig();

describe('the database a client asks for (DSQL has only postgres)', () => {
  it('psql -U app_reader with no dbname (libpq defaults it to the user name) reaches postgres', async () => {
    const before = rig.emulator.records.length;
    const result = await psql(rig.proxy.port, ['-At', '-c', 'select current_database()'], { conninfo: `host=127.0.0.1 port=${rig.proxy.port} user=admin` });
    expect(result.stdout.trim(), result.stderr).toBe('postgres');
    expect(rig.emulator.records.slice(before).find((r) => r.kind === 'startup')?.database).toBe('postgres');
    expect(rig.proxy.logs.lines.some((l) => l.msg === 'database rewritten (DSQL has only postgres)' && l.requested === 'admin' && l.level === 20)).toBe(true);
  });

  it('any other dbname is sent as postgres, and the close line says which database the session used', async () => {
    const result = await psql(rig.proxy.port, ['-At', '-c', 'select current_database()'], { conninfo: `host=127.0.0.1 port=${rig.proxy.port} user=admin dbname=appdb` });
    expect(result.stdout.trim(), result.stderr).toBe('postgres');
    expect(rig.proxy.logs.withMessage('connection closed').at(-1)).toMatchObject({ database: 'postgres', outcome: 'relayed' });
  });

  it('with --keep-database the client\'s choice goes through, and DSQL\'s refusal reaches the client', async () => {
    const keeping = await startTestProxy(rig.emulator.port, rig.ca, { keepDatabase: true });
    try {
      const result = await psql(keeping.port, ['-At', '-c', 'select 1'], { conninfo: `host=127.0.0.1 port=${keeping.port} user=admin dbname=appdb` });
      expect(result.status).not.toBe(0);
      expect(result.stderr).toContain('FATAL:  database "appdb" does not exist');
    } finally {
      await keeping.proxy.close();
    }
  });
});
