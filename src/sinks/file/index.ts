import { defaultRetryConfig } from '../../delivery/index.js';
import type { ValidatedDeliveryConfig } from '../../domain/index.js';
import { counter } from '../../metrics/index.js';
import type { Sink, SinkDefinition, SinkDeps } from '../types.js';
import { FileAppender } from './client.js';
import { checkFileAccess } from './access-check.js';
import { FILE_KIND, type FileSinkConfig, fileConfigProperties, resolveFileDirectory } from './config.js';
import { createFilePlanner, type FilePayload } from './planner.js';

export { checkFileAccess, FileAccessStep } from './access-check.js';
export {
  FILE_KIND,
  FILE_MAX_BATCH_BYTES,
  FILE_MAX_BATCH_EVENTS,
  type FileSinkConfig,
  resolveFileDirectory,
} from './config.js';
export { filePathFor } from './planner.js';

// One appender per process: appends to one file must be serialized across destinations.
let sharedAppender: FileAppender | undefined;

/**
 * Builds a `file` sink: appends the tenant's records as NDJSON under its directory.
 *
 * @param config - a validated `file` delivery config
 * @param deps - `baseDir` resolves a relative directory
 * @example const sink = createFileSink(config, { baseDir: '.tlr', logger, registry })
 */
export function createFileSink(config: ValidatedDeliveryConfig, deps: SinkDeps): Sink<FilePayload> {
  const fields = config as unknown as FileSinkConfig;
  const directory = resolveFileDirectory(fields.directory, deps.baseDir);
  const repaired = counter(deps.registry, {
    name: 'tlr_file_sink_partial_lines_removed_total',
    help: 'Partial last lines (left by a crash) cut from output files before appending.',
  });
  sharedAppender ??= new FileAppender();
  const appender = sharedAppender;
  const onRepair = (path: string, bytes: number) => {
    repaired.inc();
    deps.logger.warn('Removed a partial last line left by an earlier crash.', { path, bytes });
  };
  return {
    kind: FILE_KIND,
    retry: { ...defaultRetryConfig(), ...fields.retry },
    createPlanner: (object) => createFilePlanner(object),
    async send(batch) {
      await appender.append(directory, batch.payload, onRepair);
      return undefined;
    },
    close: async () => {},
  };
}

/** The `file` destination kind. */
export const fileSinkDefinition: SinkDefinition = {
  kind: FILE_KIND,
  spec: { kind: FILE_KIND, properties: fileConfigProperties },
  create: createFileSink,
  checkAccess: checkFileAccess,
};
