import { errorResponse } from '../protocol/messages.js';
import {
  bindComplete, closeComplete, commandComplete, localAnswer, noData, parameterDescription, parseComplete, portalSuspended, type FormatCode,
} from './answers.js';
import type { LocalStatement } from './classify.js';
import type { BindFields, ExecuteFields, TargetFields } from './extended.js';
import type { LocalItem } from './segment.js';

/** A local answer of the extended protocol, before the exchange places it in its segment. */
export interface PreparedAnswer extends Omit<LocalItem, 'after'> {
  /** The Execute of a SET LOCAL: PostgreSQL warns when it runs outside a transaction block. */
  readonly setLocal?: boolean;
}

interface LocalPortal {
  readonly statement: LocalStatement;
  readonly format: FormatCode;
  /** It has run (its row, if any, was sent): a later Execute gets "SELECT 0", or 55000 for a SET. */
  ran: boolean;
}

/**
 * The prepared statements and portals the proxy answers for, by name, and its answers to the extended-protocol
 * messages that name them. Each method returns the answer, or undefined when the message is the server's.
 */
export class LocalPrepared {
  private readonly statements = new Map<string, LocalStatement>();
  private readonly portals = new Map<string, LocalPortal>();

  /** `backendPid`: the pid pg_backend_pid() answers (the client's BackendKeyData). */
  constructor(private readonly backendPid: number) {}

  /** True when no name is the proxy's (Bind, Describe, Execute and Close then need not be read). */
  get empty(): boolean {
    return this.statements.size === 0 && this.portals.size === 0;
  }

  /** A simple Query ends the unnamed statement and portal (postgres.c exec_simple_query). */
  forgetUnnamed(): void {
    this.statements.delete('');
    this.portals.delete('');
  }

  /** A Sync that ends a transaction (the implicit one, outside a block) ends every portal with it. */
  synced(endsTransaction: boolean): void {
    if (endsTransaction) this.portals.clear();
  }

  /**
   * A Parse or Bind too large to read may reuse one of the proxy's names: all are forgotten, so a later message
   * naming one goes to the server (which reports it missing) instead of being answered wrongly.
   */
  forgetAll(): void {
    this.statements.clear();
    this.portals.clear();
  }

  /** A Parse of `name`; `statement` when the proxy answers its query. */
  parse(name: string, statement: LocalStatement | undefined): PreparedAnswer | undefined {
    if (name !== '' && this.statements.has(name)) {
      const error = errorResponse({ severity: 'ERROR', code: '42P05', message: `prepared statement "${name}" already exists` });
      return { abortable: true, error: true, render: () => error };
    }
    if (!statement) { this.statements.delete(name); return undefined; }
    this.statements.set(name, statement);
    return { abortable: true, render: parseComplete };
  }

  /** A Bind; a local statement with parameters gets PostgreSQL's 08P01, since it takes none. */
  bind(fields: BindFields): PreparedAnswer | undefined {
    const statement = this.statements.get(fields.statement);
    if (!statement) { this.portals.delete(fields.portal); return undefined; }
    if (fields.parameters !== 0) {
      const error = errorResponse({ severity: 'ERROR', code: '08P01',
        message: `bind message supplies ${fields.parameters} parameters, but prepared statement "${fields.statement}" requires 0` });
      return { abortable: true, error: true, render: () => error };
    }
    this.portals.set(fields.portal, { statement, format: fields.resultFormat, ran: false });
    return { abortable: true, render: bindComplete };
  }

  /** A Describe: ParameterDescription (none) and the row shape for a statement, the row shape for a portal. */
  describe({ target, name }: TargetFields): PreparedAnswer | undefined {
    const statement = target === 'S' ? this.statements.get(name) : undefined;
    if (statement) {
      const { description } = localAnswer(statement, { backendPid: this.backendPid });
      const bytes = Buffer.concat([parameterDescription(), description ?? noData()]);
      return { abortable: description !== undefined, render: () => bytes };
    }
    const portal = target === 'P' ? this.portals.get(name) : undefined;
    if (!portal) return undefined;
    const { description } = localAnswer(portal.statement, { backendPid: this.backendPid, format: portal.format });
    return { abortable: description !== undefined, render: () => description ?? noData() };
  }

  /**
   * An Execute: the statement's result (notice, row, CommandComplete). With a row limit of 1 the row comes with
   * PortalSuspended, and (as after a complete run) a later Execute gets "SELECT 0": the portal has no rows left.
   */
  execute({ portal: name, maxRows }: ExecuteFields): PreparedAnswer | undefined {
    const portal = this.portals.get(name);
    if (!portal) return undefined;
    const setLocal = portal.statement.kind === 'set' && portal.statement.local;
    const answer = localAnswer(portal.statement, { backendPid: this.backendPid, format: portal.format });
    const { ran } = portal;
    portal.ran = true;
    if (!answer.description) {
      // A SET's portal is done once run; PostgreSQL refuses to run it again (pquery.c, MarkPortalActive).
      if (!ran) return { abortable: true, setLocal, render: () => Buffer.concat(answer.execution) };
      const error = errorResponse({ severity: 'ERROR', code: '55000', message: `portal "${name}" cannot be run` });
      return { abortable: true, error: true, render: () => error };
    }
    if (ran) return { abortable: true, render: () => commandComplete('SELECT 0') };
    // execution is [notice?, DataRow, CommandComplete]: a limit of one row suspends instead of completing.
    const execution = maxRows === 1 ? [...answer.execution.slice(0, -1), portalSuspended()] : answer.execution;
    const bytes = Buffer.concat(execution);
    return { abortable: true, render: () => bytes };
  }

  /** A Close of one of the proxy's names. */
  close({ target, name }: TargetFields): PreparedAnswer | undefined {
    const known = target === 'S' ? this.statements.delete(name) : this.portals.delete(name);
    return known ? { abortable: false, render: closeComplete } : undefined;
  }
}
