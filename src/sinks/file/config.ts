import { isAbsolute, resolve } from 'node:path';
import Type, { type Static } from 'typebox';
import { RetryConfigSchema } from '../../delivery/index.js';

/** The kind name in configs (`type: "file"` or `"file:<name>"`). */
export const FILE_KIND = 'file';

/**
 * Batch limits of the file destination. One batch is one `write` + `fsync` per file, so
 * larger batches mean fewer syncs; these bound the memory one delivery holds.
 */
export const FILE_MAX_BATCH_EVENTS = 10_000;
export const FILE_MAX_BATCH_BYTES = 4 * 1024 * 1024;

/** The fields a `file` delivery config adds to the common ones. */
export const fileConfigProperties = {
  directory: Type.String({
    minLength: 1,
    description:
      "Directory the tenant's logs are appended to as NDJSON, one file per application and hour " +
      '(`<application>/<YYYY-MM-DD>/<HH>.ndjson`, UTC). Relative paths resolve against the data directory.',
    errorMessage: 'must be a non-empty directory path',
  }),
  retry: Type.Optional(
    Type.Partial(RetryConfigSchema, { description: 'Quick-retry overrides for this destination.' }),
  ),
};

/** The `file` fields as one schema; its static type is what a validated config holds. */
export const FileFieldsSchema = Type.Object(fileConfigProperties);
/** The `file` fields of a validated config. */
export type FileSinkConfig = Static<typeof FileFieldsSchema>;

/**
 * The directory a `file` destination writes to: as configured when absolute, else under
 * `baseDir` (the data directory). Delivery and the access check both resolve it here.
 *
 * @param directory - the config's `directory`
 * @param baseDir - the runtime's base directory
 */
export function resolveFileDirectory(directory: string, baseDir: string): string {
  return isAbsolute(directory) ? directory : resolve(baseDir, directory);
}
