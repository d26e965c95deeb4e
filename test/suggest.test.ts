import { describe, expect, it } from 'vitest';
import { closest, editDistance, usageSuggestions } from '../src/commands/suggest.js';

describe('suggestions for a mistyped command line', () => {
  it.each([
    ['listen', 'listen', 0], ['lsiten', 'listen', 1], ['profle', 'profile', 1], ['region', 'regoin', 1], ['abc', 'xyz', 3], ['', 'json', 4],
  ])('counts the edits between %s and %s', (a, b, edits) => {
    expect(editDistance(a, b)).toBe(edits);
  });

  it('suggests only a near spelling', () => {
    expect(closest('lsiten', ['listen', 'log-level'])).toBe('listen');
    expect(closest('jsn', ['json'])).toBe('json');
    expect(closest('port', ['profile', 'route', 'listen'])).toBeUndefined();
  });

  it('names the flag of the chosen command a mistyped flag nearly spells', () => {
    expect(usageSuggestions(['--lsiten', '6432'])).toEqual(['Did you mean --listen (not --lsiten)?']);
    expect(usageSuggestions(['clusters', '--detials', '--profle=dev'])).toEqual([
      'Did you mean --details (not --detials)?', 'Did you mean --profile (not --profle)?',
    ]);
    expect(usageSuggestions(['--no-inject-cluster-idd'])).toEqual(['Did you mean --no-inject-cluster-id (not --no-inject-cluster-idd)?']);
  });

  it('suggests nothing for a flag of another command or a known one', () => {
    expect(usageSuggestions(['clusters', '--lsiten'])).toEqual([]);
    expect(usageSuggestions(['--listen', '1', '--no-inject-cluster-id', '--clusterId', 'x', '--', '--lsiten'])).toEqual([]);
  });

  it('names the command a mistyped first word nearly spells', () => {
    expect(usageSuggestions(['clsuters', '--region', 'us-east-1'])).toEqual(['Did you mean the command "clusters"?']);
  });
});
