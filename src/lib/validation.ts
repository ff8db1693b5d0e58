import type { z } from 'zod';
import { BadUserInputError } from '../errors.js';

/**
 * Parses client input with a zod schema; the first problem becomes a `BAD_USER_INPUT` error naming
 * the field. Messages are written in the schemas and never echo the rejected value, which may be
 * patient data.
 */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = issue?.path.map(String).join('.') || undefined;
  throw new BadUserInputError(issue?.message ?? 'Invalid input', field);
}
