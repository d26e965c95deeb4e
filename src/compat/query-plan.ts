import { MessageWriter } from '../protocol/writer.js';
import { classify, type Classification, type LocalStatement } from './classify.js';
import { ClientType } from './extended.js';
import { splitStatements } from './split.js';

/** How a simple Query is divided between the proxy and the server. */
export interface QueryPlan {
  /** The statements the server gets, each as written (comments included), in order. */
  readonly remote: readonly Buffer[];
  /** The statements the proxy answers, each with how many remote statements come before it. */
  readonly local: readonly { readonly statement: LocalStatement; readonly after: number }[];
  /** Non-empty statements in the Query (PostgreSQL's count: empty ones are dropped by its grammar). */
  readonly statements: number;
}

/**
 * Splits a Query's text and sorts its statements with `answerable`. A quote or comment that never closes makes
 * PostgreSQL refuse the whole Query before running any of it (42601), so then nothing is answered locally.
 */
export function planQuery(text: Buffer, answerable: (kind: Classification) => kind is LocalStatement): QueryPlan {
  const remote: Buffer[] = [];
  const local: { statement: LocalStatement; after: number }[] = [];
  let statements = 0;
  for (const statement of splitStatements(text)) {
    if (statement.unterminated) return { remote: [], local: [], statements };
    if (statement.empty) continue;
    statements++;
    const kind = classify(statement.body);
    if (answerable(kind)) local.push({ statement: kind, after: remote.length });
    else remote.push(statement.raw);
  }
  return { remote, local, statements };
}

/** The one statement of a Parse message's query, classified; `other` when it holds none or several. */
export function soleStatement(query: Buffer): Classification {
  const statements = splitStatements(query).filter((statement) => !statement.empty);
  return statements.length === 1 ? classify(statements[0]!.body) : { kind: 'other' };
}

/** A Query message holding `statements` joined by `;` (each keeps its own text, comments included). */
export function queryMessage(statements: readonly Buffer[]): Buffer {
  const parts: Buffer[] = [];
  statements.forEach((statement, i) => { if (i > 0) parts.push(SEMICOLON); parts.push(statement); });
  return new MessageWriter(ClientType.query).bytes(Buffer.concat(parts)).bytes(NUL).finish();
}

const SEMICOLON = Buffer.from(';');
const NUL = Buffer.from([0]);
