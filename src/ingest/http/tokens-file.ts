import { readFile } from 'node:fs/promises';
import Type, { type Static } from 'typebox';
import { ConfigValidationError, type FieldError, schemaFieldErrors } from '../../domain/index.js';
import { MIN_STATIC_TOKEN_CHARS, type StaticIngestToken, staticTokenFieldErrors } from './auth.js';

/** One entry of an ingest tokens file. */
export const IngestTokenEntrySchema = Type.Object(
  {
    id: Type.String({ minLength: 1, description: 'Stable name of the token, shown in logs; unique in the file.' }),
    token: Type.String({
      minLength: MIN_STATIC_TOKEN_CHARS,
      description: `The bearer token collectors send, at least ${MIN_STATIC_TOKEN_CHARS} characters.`,
      errorMessage: `must be at least ${MIN_STATIC_TOKEN_CHARS} characters`,
    }),
    cluster_id: Type.String({ minLength: 1, description: 'The cluster every event sent with this token belongs to.' }),
    namespaces: Type.Array(Type.String(), {
      minItems: 1,
      errorMessage: 'must list at least one namespace name or glob',
      description: "Namespaces the token may write: names, or globs where '*' is any run of characters.",
    }),
    description: Type.Optional(Type.String({ description: 'Free text for operators.' })),
  },
  { additionalProperties: false, description: 'A static ingest token bound to a cluster and namespaces.' },
);

/**
 * An ingest tokens file (`tlr ingest serve --tokens-file`, typically a mounted Kubernetes
 * Secret): a JSON array of tokens.
 */
export const IngestTokensFileSchema = Type.Array(IngestTokenEntrySchema, {
  description: 'Static ingest tokens, each bound to a cluster and the namespaces it may write.',
});
/** An ingest tokens file, validated. */
export type IngestTokensFile = Static<typeof IngestTokensFileSchema>;

/** `[2].token` becomes `[2] 'prod-east'.token`, so the message names the entry an operator looks for. */
function namingEntry(entries: readonly unknown[], error: FieldError): FieldError {
  const match = /^\[(\d+)\](.*)$/.exec(error.field);
  if (!match) return error;
  const entry = entries[Number(match[1])] as { id?: unknown } | undefined;
  const id = typeof entry?.id === 'string' && entry.id !== '' ? ` '${entry.id}'` : '';
  return { field: `[${match[1]}]${id}${match[2]}`, message: error.message };
}

/**
 * Validates the content of an ingest tokens file and turns it into static tokens.
 *
 * @param input - the parsed JSON
 * @param source - where it came from, for the error's context (a path)
 * @throws ConfigValidationError naming each bad entry (position and id) and field
 */
export function validateIngestTokensFile(input: unknown, source = 'ingest tokens file'): StaticIngestToken[] {
  if (!Array.isArray(input)) {
    throw new ConfigValidationError(
      [{ field: '', message: 'must be a JSON array of {"id", "token", "cluster_id", "namespaces"}' }],
      source,
    );
  }
  let errors = schemaFieldErrors(IngestTokensFileSchema, input);
  if (errors.length === 0) {
    const entries = input as IngestTokensFile;
    const tokens = entries.map(
      (e): StaticIngestToken => ({
        id: e.id,
        token: e.token,
        clusterId: e.cluster_id,
        namespaces: e.namespaces,
        ...(e.description !== undefined && { description: e.description }),
      }),
    );
    // The authenticator names its fields in camelCase; the file spells them in snake_case.
    errors = staticTokenFieldErrors(tokens).map((e) => ({ ...e, field: e.field.replace(/\.clusterId$/, '.cluster_id') }));
    const ids = new Set<string>();
    const secrets = new Set<string>();
    entries.forEach((e, i) => {
      if (ids.has(e.id)) errors.push({ field: `[${i}].id`, message: 'is listed twice' });
      if (secrets.has(e.token)) errors.push({ field: `[${i}].token`, message: 'is the token of an earlier entry' });
      ids.add(e.id);
      secrets.add(e.token);
    });
    if (errors.length === 0) return tokens;
  }
  throw new ConfigValidationError(
    errors.map((e) => namingEntry(input, e)),
    source,
  );
}

/**
 * Reads and validates an ingest tokens file.
 *
 * @param path - the file, e.g. a key of a mounted Kubernetes Secret
 * @throws ConfigValidationError when it cannot be read, is not JSON, or an entry is invalid
 * @example const tokens = await readIngestTokensFile('/etc/tlr/tokens/tokens.json');
 */
export async function readIngestTokensFile(path: string): Promise<StaticIngestToken[]> {
  const source = `ingest tokens file '${path}'`;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigValidationError([{ field: '', message: `cannot be read: ${(error as Error).message}` }], source);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ConfigValidationError([{ field: '', message: `is not valid JSON: ${(error as Error).message}` }], source);
  }
  return validateIngestTokensFile(value, source);
}
