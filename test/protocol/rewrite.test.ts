import { describe, expect, it } from 'vitest';
import { takeClusterOptions, withDatabase, dropSettings } from '../../src/protocol/rewrite.js';

describe('takeClusterOptions', () => {
  it('takes out every form PostgreSQL accepts, keeping the other words and their escapes', () => {
    const forms = ['-c amzn-cluster-id=abc', '-camzn-cluster-id=abc', '--amzn-cluster-id=abc', '-c AMZN_CLUSTER_ID=abc', '--amzn_cluster-id=abc'];
    for (const form of forms) {
      const taken = takeClusterOptions([['user', 'admin'], ['options', `-c search_path=a\\ b ${form} -c DateStyle=ISO`]]);
      expect(taken.clusterIds, form).toEqual(['abc']);
      expect(taken.parameters).toEqual([['user', 'admin'], ['options', '-c search_path=a\\ b -c DateStyle=ISO']]);
    }
  });

  it('finds the setting inside combined switches, as PostgreSQL\'s getopt reads them, and keeps the other switches', () => {
    expect(takeClusterOptions([['options', '-ec amzn-cluster-id=zz']])).toEqual({ parameters: [['options', '-e']], clusterIds: ['zz'] });
    expect(takeClusterOptions([['options', '-ecamzn_cluster_id=zz -c a=b']])).toEqual({ parameters: [['options', '-e -c a=b']], clusterIds: ['zz'] });
    expect(takeClusterOptions([['options', '-e --AMZN-cluster-id=zz']])).toEqual({ parameters: [['options', '-e']], clusterIds: ['zz'] });
    // A switch that takes an argument swallows the rest of its word: `-dc` is -d with argument "c", no setting.
    expect(takeClusterOptions([['options', '-dc amzn-cluster-id=zz']]).clusterIds).toEqual([]);
  });

  it('takes a startup parameter of that name (any case, _ or -) out too', () => {
    expect(takeClusterOptions([['user', 'u'], ['amzn-cluster-id', 'x'], ['AMZN_CLUSTER_ID', 'y']]))
      .toEqual({ parameters: [['user', 'u']], clusterIds: ['x', 'y'] });
  });

  it('drops an options parameter left empty, and collects every id named', () => {
    const taken = takeClusterOptions([['options', '-c amzn-cluster-id=one --amzn-cluster-id=two'], ['user', 'u']]);
    expect(taken).toEqual({ parameters: [['user', 'u']], clusterIds: ['one', 'two'] });
  });

  it('leaves parameters untouched (same object) when no cluster id is named', () => {
    const parameters = [['options', '-c  search_path=x\\'] as const, ['user', 'u'] as const];
    expect(takeClusterOptions(parameters).parameters).toBe(parameters);
  });

  it('does not mistake a value or another setting for the cluster option', () => {
    const parameters = [['options', '-c application_name=amzn-cluster-id=abc -c x.amzn-cluster-id=1'] as const];
    expect(takeClusterOptions(parameters).clusterIds).toEqual([]);
  });
});

describe('withDatabase', () => {
  it('replaces the database the client asked for and says what it was', () => {
    expect(withDatabase([['user', 'app'], ['database', 'appdb']], 'postgres'))
      .toEqual({ parameters: [['user', 'app'], ['database', 'postgres']], requested: 'appdb' });
  });

  it('adds it when the client sent none (the server would default to the user name)', () => {
    expect(withDatabase([['user', 'app_reader']], 'postgres'))
      .toEqual({ parameters: [['user', 'app_reader'], ['database', 'postgres']], requested: undefined });
  });
});

describe('dropSettings', () => {
  const allowed = (name: string): boolean => ['application_name', 'datestyle'].includes(name.toLowerCase());

  it('takes refused settings out of the parameters and out of options, in every spelling, and names them', () => {
    const result = dropSettings([
      ['user', 'admin'], ['database', 'postgres'], ['statement_timeout', '5000'], ['DateStyle', 'ISO'],
      ['options', '-c lock_timeout=1 -c application_name=x --idle-in-transaction-session-timeout=3 -cgeqo=off -e'],
      ['replication', 'false'],
    ], allowed);
    expect(result.parameters).toEqual([
      ['user', 'admin'], ['database', 'postgres'], ['DateStyle', 'ISO'],
      ['options', '-c application_name=x -e'], ['replication', 'false'],
    ]);
    expect(result.dropped).toEqual(['statement_timeout', 'lock_timeout', 'idle_in_transaction_session_timeout', 'geqo']);
  });

  it('drops an options parameter left empty, and returns the same array when nothing is refused', () => {
    expect(dropSettings([['user', 'a'], ['options', '-c statement_timeout=1']], allowed).parameters).toEqual([['user', 'a']]);
    const untouched: [string, string][] = [['user', 'a'], ['options', '-c application_name=b']];
    expect(dropSettings(untouched, allowed).parameters).toBe(untouched);
  });
});
