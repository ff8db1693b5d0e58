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
