import { z } from 'zod';
import { SluiceError } from '../errors.ts';

/** Parses untrusted input with `schema`; INVALID_REQUEST naming the first bad field. */
export function parseWith<T extends z.ZodType>(schema: T, input: unknown): z.infer<T> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const where = issue === undefined || issue.path.length === 0 ? 'body' : issue.path.map(String).join('.');
  throw new SluiceError('INVALID_REQUEST', `Invalid ${where}: ${issue?.message ?? 'malformed request'}`);
}
