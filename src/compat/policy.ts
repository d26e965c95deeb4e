import type { Classification, LocalStatement } from './classify.js';

/** Transaction status of a ReadyForQuery: idle, in a transaction block, in a failed one. */
export type TransactionStatus = 'I' | 'T' | 'E';

/** Session parameters Aurora DSQL accepts in SET (design/dsql-facts.md "Limits", issue 12), lower case. */
const ALLOWED = new Set([
  'application_name', 'client_encoding', 'datestyle', 'extra_float_digits', 'intervalstyle', 'timezone',
  'search_path', 'dsql.enable_batched_nestloop', 'disable_sync_create_index',
]);

/**
 * Parameters the proxy never answers for, whatever DSQL thinks of them: faking success would leave the client
 * believing in an identity, isolation level, read-only guard or string-escaping rule it does not have, and RESET ALL also resets
 * allowlisted parameters the server holds. The server's answer (success or refusal) is the honest one.
 */
const NEVER_ANSWERED = new Set([
  'all', 'session_authorization', 'transaction_isolation', 'transaction_read_only', 'transaction_deferrable',
  'default_transaction_isolation', 'default_transaction_read_only', 'default_transaction_deferrable',
  // A client told "SET" here would escape string literals one way while the server reads them another.
  'standard_conforming_strings', 'backslash_quote',
]);

/** True when DSQL accepts SET of `name` (case-insensitive); `role` only with SET LOCAL. */
export function isAllowedParameter(name: string, local = false): boolean {
  const lower = name.toLowerCase();
  if (lower === 'role') return local;
  return ALLOWED.has(lower) || lower.startsWith('enable_');
}

/**
 * True when the proxy should answer the statement itself instead of sending it: a SET/RESET/set_config of a
 * parameter DSQL refuses (outside the allowlist, or SET ROLE without LOCAL) and pg_backend_pid(). Never in a
 * failed transaction: there PostgreSQL answers every statement with 25P02, and only the server can say so.
 */
export function answerLocally(statement: Classification, status: TransactionStatus): statement is LocalStatement {
  if (status === 'E') return false;
  switch (statement.kind) {
    case 'backend_pid': return true;
    case 'set': return mayFake(statement.name) && !isAllowedParameter(statement.name, statement.local);
    case 'set_config': return mayFake(statement.name) && !isAllowedParameter(statement.name, statement.isLocal);
    default: return false;
  }
}

/**
 * A parameter whose SET may be answered without being made. Not a custom one (`app.tenant`, any dotted name):
 * those are the application's own state, read back with current_setting(), so a faked SET would let it run on
 * without the value it set (and a tenant filter built on it see NULL); DSQL's refusal is the honest answer.
 */
function mayFake(name: string): boolean {
  return !NEVER_ANSWERED.has(name) && !name.includes('.');
}
