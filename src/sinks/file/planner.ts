import { BatchAccumulator } from '../../delivery/index.js';
import type { LogObjectKey, LogRecord } from '../../domain/index.js';
import type { Batch, SinkPlanner } from '../types.js';
import { FILE_MAX_BATCH_BYTES, FILE_MAX_BATCH_EVENTS } from './config.js';

/** Lines to append, per file path relative to the destination directory. */
export type FilePayload = ReadonlyMap<string, string>;

interface PlannedLine {
  readonly file: string;
  readonly line: string;
}

/** `<application>/<YYYY-MM-DD>/<HH>.ndjson` for a record time (UTC). */
export function filePathFor(application: string, timestampMs: number): string {
  const iso = new Date(Number.isFinite(timestampMs) ? timestampMs : 0).toISOString();
  return `${application}/${iso.slice(0, 10)}/${iso.slice(11, 13)}.ndjson`;
}

function toPayload(items: PlannedLine[]): FilePayload {
  const byFile = new Map<string, string[]>();
  for (const { file, line } of items) {
    const lines = byFile.get(file);
    if (lines) lines.push(line);
    else byFile.set(file, [line]);
  }
  return new Map([...byFile].map(([file, lines]) => [file, `${lines.join('\n')}\n`]));
}

/**
 * Plans the records of one object into append batches, each line the event's JSON.
 *
 * @param object - the object being delivered (its application names the folder)
 */
export function createFilePlanner(
  object: LogObjectKey,
  limits = { maxEvents: FILE_MAX_BATCH_EVENTS, maxBytes: FILE_MAX_BATCH_BYTES },
): SinkPlanner<FilePayload> {
  const accumulator = new BatchAccumulator<PlannedLine, FilePayload>(limits, toPayload);
  let hourStartMs = Number.NaN;
  let hourFile = '';
  let openFile: string | undefined;
  return {
    add(record: LogRecord) {
      // Records of one object mostly share an hour; reuse the path instead of formatting it.
      if (!(record.timestampMs >= hourStartMs && record.timestampMs < hourStartMs + 3_600_000)) {
        hourStartMs = record.timestampMs - (((record.timestampMs % 3_600_000) + 3_600_000) % 3_600_000);
        hourFile = filePathFor(object.application, record.timestampMs);
      }
      // One batch writes one file: a batch spanning two files could succeed in one and be
      // retried whole after failing in the other, appending the first file's lines twice.
      const cut = openFile !== undefined && openFile !== hourFile ? accumulator.take() : undefined;
      openFile = hourFile;
      const closed = accumulator.add({ file: hourFile, line: record.json }, record.offset, record.json.length + 1);
      return [cut, closed].filter((b): b is Batch<FilePayload> => b !== undefined);
    },
    flush() {
      openFile = undefined;
      const last = accumulator.take();
      return last ? [last] : [];
    },
  };
}
