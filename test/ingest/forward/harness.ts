import { join } from 'node:path';
import { Registry } from 'prom-client';
import {
  type ForwardConfig,
  validateForwardAuthConfig,
  validateForwardConfig,
} from '../../../src/ingest/forward/config.js';
import { createForwardServer, type ForwardServer } from '../../../src/ingest/forward/server.js';
import type { BackpressureCheck } from '../../../src/ingest/backpressure.js';
import { createLogger, LogLevel } from '../../../src/logging/logger.js';
import { openDatabase, type SqliteDatabase } from '../../../src/stores/local/database.js';
import { createSqliteIngestBuffer } from '../../../src/stores/local/ingest-buffer.js';
import type { IngestBuffer, IngestGroup } from '../../../src/stores/ports.js';
import { makeTempDir } from '../../helpers/temp-dir.js';

/** A log line as the JSON logger writes it. */
export type LogLine = Record<string, unknown> & { level: string; message: string };

/** A Forward server on 127.0.0.1, port 0, over a real SQLite ingest buffer. */
export interface ForwardHarness {
  readonly server: ForwardServer;
  readonly port: number;
  readonly registry: Registry;
  /** The buffer the server writes (possibly wrapped by the test). */
  readonly buffer: IngestBuffer;
  /** The SQLite buffer underneath. */
  readonly sqliteBuffer: IngestBuffer;
  readonly db: SqliteDatabase;
  readonly logs: LogLine[];
}

const running: { harness: ForwardHarness }[] = [];

/**
 * Starts a server; `stopForwardHarnesses` closes it.
 *
 * @param options.wrap - replaces the buffer the server sees, e.g. to slow appends or fake pressure
 * @param options.backpressure - the server's back-pressure check beyond its buffer (queue backlog, store full)
 */
export async function startForwardHarness(
  options: {
    config?: Partial<ForwardConfig> & Record<string, unknown>;
    auth?: Record<string, unknown>;
    wrap?: (buffer: IngestBuffer) => IngestBuffer;
    backpressure?: BackpressureCheck;
  } = {},
): Promise<ForwardHarness> {
  const dir = await makeTempDir('tlr-forward-');
  const db = openDatabase(join(dir, 'tlr.db'));
  const sqliteBuffer = createSqliteIngestBuffer(db);
  const buffer = options.wrap ? options.wrap(sqliteBuffer) : sqliteBuffer;
  const registry = new Registry();
  const logs: LogLine[] = [];
  const logger = createLogger({ level: LogLevel.DEBUG, write: (line) => logs.push(JSON.parse(line) as LogLine) });
  const server = createForwardServer({
    config: validateForwardConfig({ port: 0, ...options.config }),
    auth: validateForwardAuthConfig(options.auth ?? { cluster_id: 'cluster-a', namespaces: ['*'] }),
    buffer,
    logger,
    registry,
    ...(options.backpressure && { backpressure: options.backpressure }),
  });
  let port: number;
  try {
    ({ port } = await server.listen());
  } catch (error) {
    db.close();
    throw error;
  }
  const harness = { server, port, registry, buffer, sqliteBuffer, db, logs };
  running.push({ harness });
  return harness;
}

/** Closes every server started by `startForwardHarness` and its database. */
export async function stopForwardHarnesses(): Promise<void> {
  for (const { harness } of running.splice(0)) {
    await harness.server.close();
    harness.db.close();
  }
}

/** Events buffered and not yet flushed, counted over every group. */
export async function bufferedEventCount(buffer: IngestBuffer): Promise<number> {
  return (await buffer.pendingGroups()).reduce((n, g) => n + g.events, 0);
}

/** Every buffered event with its group, read by assigning each group to a batch (so call it last). */
export async function drainBuffered(
  buffer: IngestBuffer,
): Promise<{ group: IngestGroup; event: Record<string, unknown> }[]> {
  const out: { group: IngestGroup; event: Record<string, unknown> }[] = [];
  let n = 0;
  for (const group of await buffer.pendingGroups()) {
    const batch = await buffer.assignBatch(group, `test-batch-${n++}`, Number.MAX_SAFE_INTEGER);
    for (const line of batch!.body.toString().trim().split('\n')) {
      out.push({
        group: { clusterId: group.clusterId, namespace: group.namespace, application: group.application, podName: group.podName },
        event: JSON.parse(line) as Record<string, unknown>,
      });
    }
  }
  return out;
}

/** Resolves once `check` holds, polling every 10 ms; rejects after `timeoutMs`. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Condition not met within ${timeoutMs} ms.`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
