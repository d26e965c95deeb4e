import { SqlState } from './codes.js';

/** A malformed or unsupported message; carries the SQLSTATE to report (08P01 unless stated). */
export class ProtocolError extends Error {
  /** SQLSTATE sent to the client in the resulting ErrorResponse. */
  readonly sqlstate: string;

  constructor(message: string, sqlstate: string = SqlState.protocolViolation) {
    super(message);
    this.name = 'ProtocolError';
    this.sqlstate = sqlstate;
  }
}
