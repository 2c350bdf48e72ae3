import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { defaultRetryConfig } from '../../../src/delivery/backoff.js';
import {
  DeliveryError,
  type LogObjectKey,
  type LogRecord,
  parseObjectKey,
  validateDeliveryConfig,
} from '../../../src/domain/index.js';
import { silentLogger } from '../../../src/logging/index.js';
import { createFileSink, FILE_KIND, fileSinkDefinition } from '../../../src/sinks/file/index.js';
import { createBuiltinSinkRegistry } from '../../../src/sinks/registry.js';
import type { Sink, SinkDeps } from '../../../src/sinks/types.js';
import { deliveryConfigFactory, logEventFactory, objectKeyFactory } from '../../helpers/factories.js';
import { metricValue } from '../../helpers/metrics.js';
import { readAllNdjson, readNdjsonTree } from '../../helpers/ndjson-files.js';
import { makeTempDir, removeTempDirs } from '../../helpers/temp-dir.js';

const PARTIAL_LINES_REMOVED = 'tlr_file_sink_partial_lines_removed_total';
const lookup = createBuiltinSinkRegistry().lookup;

function sinkDeps(baseDir: string, overrides: Partial<SinkDeps> = {}): SinkDeps {
  return { baseDir, logger: silentLogger, registry: new Registry(), ...overrides };
}

function fileSink(directory: string, deps: SinkDeps, overrides: Record<string, unknown> = {}): Sink {
  return createFileSink(
    validateDeliveryConfig(deliveryConfigFactory({ directory, ...overrides }), lookup),
    deps,
  );
}

function logObject(application: string): LogObjectKey {
  return parseObjectKey(objectKeyFactory({ application })) as LogObjectKey;
}

function records(count: number, at: string, first = 0): LogRecord[] {
  return Array.from({ length: count }, (_, i) => {
    const event = logEventFactory({ timestamp: at, seq: first + i });
    return { offset: first + i, timestampMs: Date.parse(at), event, json: JSON.stringify(event) };
  });
}

/** Plans the records into batches as the processor does, and sends each batch. */
async function deliver(sink: Sink, object: LogObjectKey, recordsToSend: readonly LogRecord[]): Promise<void> {
  const planner = sink.createPlanner(object);
  const batches = [...recordsToSend.flatMap((r) => planner.add(r)), ...planner.flush()];
  for (const batch of batches) await sink.send(batch, new AbortController().signal);
}

afterEach(removeTempDirs);

describe('createFileSink', () => {
  it('appends the lines under <directory>/<application>/<YYYY-MM-DD>/<HH>.ndjson in UTC', async () => {
    // Prepare
    const dir = await makeTempDir('tlr-file-sink-');
    const sink = fileSink(join(dir, 'out'), sinkDeps(dir));
    const late = records(2, '2024-01-15T23:59:59.000+00:00');
    const nextDay = records(1, '2024-01-16T01:30:00.000+02:00', 2);
    // Act
    await deliver(sink, logObject('kube-apiserver'), [...late, ...nextDay]);
    // Assess
    const files = await readNdjsonTree(join(dir, 'out'));
    expect([...files.keys()]).toEqual(['kube-apiserver/2024-01-15/23.ndjson']);
    expect(files.get('kube-apiserver/2024-01-15/23.ndjson')).toEqual(
      [...late, ...nextDay].map((r) => r.event),
    );
  });

  it('appends batch after batch to the same file', async () => {
    // Prepare
    const dir = await makeTempDir('tlr-file-sink-');
    const sink = fileSink(dir, sinkDeps(dir));
    const object = logObject('api');
    const first = records(3, '2024-01-15T10:00:00Z');
    const second = records(2, '2024-01-15T10:59:00Z', 3);
    await deliver(sink, object, first);
    // Act
    await deliver(sink, object, second);
    // Assess
    expect(await readAllNdjson(dir)).toEqual([...first, ...second].map((r) => r.event));
  });

  it('resolves a relative directory against the base directory', async () => {
    // Prepare
    const dir = await makeTempDir('tlr-file-sink-');
    const sink = fileSink('outputs/team-a', sinkDeps(dir));
    const sent = records(1, '2024-01-15T10:00:00Z');
    // Act
    await deliver(sink, logObject('api'), sent);
    // Assess
    expect(await readFile(join(dir, 'outputs/team-a/api/2024-01-15/10.ndjson'), 'utf8')).toBe(
      `${sent[0]!.json}\n`,
    );
  });

  it('cuts a torn last line left by a crash once, counts it and logs it', async () => {
    // Prepare
    const dir = await makeTempDir('tlr-file-sink-');
    const path = join(dir, 'api/2024-01-15/10.ndjson');
    await mkdir(join(dir, 'api/2024-01-15'), { recursive: true });
    await writeFile(path, '{"before":1}\n{"torn":');
    const registry = new Registry();
    const warn = vi.fn();
    const deps = sinkDeps(dir, { registry, logger: { ...silentLogger, warn } });
    const first = records(1, '2024-01-15T10:00:00Z');
    const second = records(1, '2024-01-15T10:00:00Z', 1);
    await deliver(fileSink(dir, deps), logObject('api'), first);
    // Act
    // A second destination on the same directory, in the same process.
    await deliver(fileSink(dir, deps, { type: 'file:copy' }), logObject('api'), second);
    // Assess
    expect(await readAllNdjson(dir)).toEqual([{ before: 1 }, first[0]!.event, second[0]!.event]);
    expect(await metricValue(registry, PARTIAL_LINES_REMOVED)).toBe(1);
    expect(warn).toHaveBeenCalledExactlyOnceWith('Removed a partial last line left by an earlier crash.', {
      path,
      bytes: '{"torn":'.length,
    });
  });

  it('never interleaves lines when destinations append to one file at once', async () => {
    // Prepare
    const dir = await makeTempDir('tlr-file-sink-');
    const sinks = Array.from({ length: 4 }, (_, i) =>
      fileSink(dir, sinkDeps(dir), { type: i === 0 ? 'file' : `file:copy-${i}` }),
    );
    const object = logObject('api');
    const perSend = Array.from({ length: 40 }, (_, i) =>
      records(25, '2024-01-15T10:00:00Z', i * 25).map((r) => ({
        ...r,
        json: JSON.stringify({ ...r.event, pad: 'ü'.repeat((i * 7_919) % 4_000) }),
      })),
    );
    // Act
    await Promise.all(perSend.map((batch, i) => deliver(sinks[i % sinks.length]!, object, batch)));
    // Assess
    const lines = await readAllNdjson(dir);
    expect(lines).toHaveLength(40 * 25);
    expect(new Set(lines.map((line) => line['seq'])).size).toBe(40 * 25);
  });

  it('refuses for good when the directory path is an existing regular file', async () => {
    // Prepare
    const dir = await makeTempDir('tlr-file-sink-');
    await writeFile(join(dir, 'out'), 'a file, not a directory');
    const sink = fileSink(join(dir, 'out'), sinkDeps(dir));
    // Act
    const error = await deliver(sink, logObject('api'), records(1, '2024-01-15T10:00:00Z')).catch(
      (e: unknown) => e,
    );
    // Assess
    expect(error).toBeInstanceOf(DeliveryError);
    expect(error).toMatchObject({ retryable: false, reason: 'fs_enotdir' });
  });

  it('merges the config retry overrides onto the default retry policy', () => {
    // Prepare
    const deps = sinkDeps('/tmp');
    // Act
    const sink = fileSink('/tmp/x', deps, { retry: { maxAttempts: 9, initialIntervalMs: 50 } });
    // Assess
    expect(sink.kind).toBe(FILE_KIND);
    expect(sink.retry).toEqual({ ...defaultRetryConfig(), maxAttempts: 9, initialIntervalMs: 50 });
  });

  it('is the definition of the file kind, validated by its spec', () => {
    // Prepare
    const input = deliveryConfigFactory({ directory: '' });
    // Act
    const validate = () =>
      validateDeliveryConfig(input, (kind) => (kind === 'file' ? fileSinkDefinition.spec : undefined));
    // Assess
    expect(fileSinkDefinition.kind).toBe(FILE_KIND);
    expect(validate).toThrow("'directory' must be a non-empty directory path");
  });
});
