import { type Logger, pino } from 'pino';

export type { Logger };

/**
 * Fields that may carry patient data or credentials. Code never logs GraphQL variables or
 * patient rows on purpose; redaction is the second line of defence for when someone does.
 */
const REDACTED_KEYS = [
  'mrn',
  'givenName',
  'familyName',
  'birthDate',
  'symptoms',
  'notes',
  'partialText',
  'variables',
  'authorization',
  'token',
  'password',
];

export const REDACT_PATHS = [
  ...REDACTED_KEYS,
  ...REDACTED_KEYS.map((key) => `*.${key}`),
  ...REDACTED_KEYS.map((key) => `*.*.${key}`),
  'req.headers.authorization',
  'req.headers.cookie',
];

export interface LoggerOptions {
  level: string;
  /** Where lines go; tests pass a stream to capture and grep them. */
  destination?: pino.DestinationStream;
  name?: string;
}

/** JSON logs (pino) with patient fields and credentials censored. */
export function createLogger({ level, destination, name = 'clinical-copilot' }: LoggerOptions): Logger {
  return pino(
    {
      name,
      level,
      redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

/** What may be logged about an error: see {@link errorFields}. */
export interface LoggedError {
  /** The error's class, e.g. `DriverException`, `TypeError`. */
  type: string;
  /** A database error's SQLSTATE, e.g. `22021` (invalid byte sequence), `23505` (unique violation). */
  sqlState?: string;
  /** A system or client library's error code, e.g. `ECONNREFUSED`, `TIMEOUT`. */
  code?: string;
}

/** SQLSTATE: five digits or upper-case letters (https://www.postgresql.org/docs/current/errcodes-appendix.html). */
const SQLSTATE = /^[0-9A-Z]{5}$/;
/** A machine-made code (`ECONNREFUSED`, `ERR_STREAM_PREMATURE_CLOSE`), not free text. */
const ERROR_CODE = /^[A-Z][A-Z0-9_]{1,47}$/;

/**
 * The fields under which an unexpected error is logged: its class and codes, never its message.
 * A driver's message quotes the statement with its bound values, and its `detail` the row
 * (`Key (mrn)=(…) already exists`); a parser's quotes the input — patient data, every one. What
 * failed is told by the class, the SQLSTATE and the request id logged beside them.
 */
export function errorFields(error: unknown): { err: LoggedError } {
  if (typeof error !== 'object' || error === null) return { err: { type: typeof error } };
  const type = error.constructor?.name && error.constructor.name !== 'Object' ? error.constructor.name : 'Error';
  const { code, sqlState, severity } = error as { code?: unknown; sqlState?: unknown; severity?: unknown };
  const err: LoggedError = { type };
  // node-postgres and PGlite put the SQLSTATE in `code` (with a `severity`); MikroORM copies both.
  const state = typeof sqlState === 'string' ? sqlState : severity !== undefined ? code : undefined;
  if (typeof state === 'string' && SQLSTATE.test(state)) err.sqlState = state;
  else if (typeof code === 'string' && ERROR_CODE.test(code)) err.code = code;
  return { err };
}
