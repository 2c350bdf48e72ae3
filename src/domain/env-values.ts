import { ConfigValidationError, type FieldError } from './errors.js';

/** Environment variables as Node gives them (`process.env`), or any name → text map. */
export type EnvValues = Readonly<Record<string, string | undefined>>;

/**
 * Reads a variable that must be a whole number ≥ 1: one rule and one message for every
 * numeric setting the runtimes read from their environment.
 *
 * @param errors - when given, a bad value is added to it (reported with the rest of the
 *   environment) and undefined returned, instead of thrown
 * @returns the number, or undefined when the variable is unset or blank
 * @throws ConfigValidationError naming the variable when the value is bad and `errors` is not given
 * @example wholeNumberFromEnv(process.env, 'PROCESSOR_CONCURRENCY') ?? 4
 */
export function wholeNumberFromEnv(env: EnvValues, name: string, errors?: FieldError[]): number | undefined {
  const raw = env[name]?.trim();
  if (!raw) return undefined;
  const n = Number(raw);
  if (Number.isSafeInteger(n) && n >= 1) return n;
  const problem: FieldError = { field: name, message: `must be a whole number ≥ 1, got '${raw}'` };
  if (!errors) throw new ConfigValidationError([problem], 'environment');
  errors.push(problem);
  return undefined;
}
