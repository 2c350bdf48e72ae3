import Type from 'typebox';
import { BatchAccumulator, type RetryConfig } from '../../src/delivery/index.js';
import {
  ConfigValidationError,
  DeliveryError,
  type LogRecord,
  type ValidatedDeliveryConfig,
} from '../../src/domain/index.js';
import type { Batch, Sink, SinkDefinition } from '../../src/sinks/types.js';

/** The kind name of the scripted test destination. */
export const MEMORY_KIND = 'memory';

/** How a memory sink answers `send`, set per config row so each destination can differ. */
export const MemoryBehaviour = {
  /** Accepts every batch. */
  ACCEPT: 'accept',
  /** Throws a retryable DeliveryError. */
  RETRYABLE: 'retryable',
  /** Throws a non-retryable DeliveryError. */
  PERMANENT: 'permanent',
  /** Never answers; rejects once the signal aborts (a slow destination at shutdown). */
  HANG: 'hang',
  /** Throws a plain TypeError: a bug in a sink, not a delivery failure it understood. */
  THROW: 'throw',
} as const;
export type MemoryBehaviour = (typeof MemoryBehaviour)[keyof typeof MemoryBehaviour];

const memoryConfigProperties = {
  behaviour: Type.Optional(
    Type.Union(
      Object.values(MemoryBehaviour).map((b) => Type.Literal(b)),
      {
        description: 'How send answers once `accept_batches` batches were accepted.',
      },
    ),
  ),
  accept_batches: Type.Optional(Type.Integer({ minimum: 0, description: 'Batches accepted first.' })),
  fail_reason: Type.Optional(Type.String({ minLength: 1, description: 'DeliveryError reason.' })),
  batch_events: Type.Optional(Type.Integer({ minimum: 1, description: 'Records per batch.' })),
  refuse_create: Type.Optional(Type.Boolean({ description: 'create() throws ConfigValidationError.' })),
  packs: Type.Optional(Type.Boolean({ description: 'The sink packs records of several objects into one batch.' })),
};

/** One attempt, no waiting: a failing batch fails at once, so tests never sleep. */
const SINGLE_ATTEMPT: RetryConfig = {
  initialIntervalMs: 1,
  maxIntervalMs: 1,
  multiplier: 1,
  randomizationFactor: 0,
  maxElapsedMs: 0,
  maxAttempts: 1,
};

/** A sink that keeps what it accepts in memory, and fails as its config row says. */
export interface MemorySink extends Sink<LogRecord[]> {
  readonly config: ValidatedDeliveryConfig;
  /** Records accepted, in order. */
  readonly accepted: LogRecord[];
  /** Calls of `send`, failed ones included. */
  sends: number;
  closed: boolean;
}

export interface MemorySinkKind {
  readonly definition: SinkDefinition;
  /** Every sink built, in order. */
  readonly built: MemorySink[];
  /** Resolves with the batch when the next `send` of any memory sink starts. */
  nextSend(): Promise<Batch<LogRecord[]>>;
}

/** A fresh `memory` destination kind, to register with `createSinkRegistry` in tests. */
export function createMemorySinkKind(): MemorySinkKind {
  const built: MemorySink[] = [];
  let waiters: ((batch: Batch<LogRecord[]>) => void)[] = [];

  const create = (config: ValidatedDeliveryConfig): MemorySink => {
    const fields = config as unknown as {
      behaviour?: MemoryBehaviour;
      accept_batches?: number;
      fail_reason?: string;
      batch_events?: number;
      refuse_create?: boolean;
      packs?: boolean;
    };
    if (fields.refuse_create) {
      throw new ConfigValidationError([{ field: 'refuse_create', message: 'asks create() to refuse' }]);
    }
    const behaviour = fields.behaviour ?? MemoryBehaviour.ACCEPT;
    const reason = fields.fail_reason ?? `memory_${behaviour}`;
    let acceptedBatches = 0;
    const sink: MemorySink = {
      kind: MEMORY_KIND,
      config,
      accepted: [],
      sends: 0,
      closed: false,
      retry: SINGLE_ATTEMPT,
      ...(fields.packs === true && { packsAcrossObjects: true }),
      createPlanner() {
        const accumulator = new BatchAccumulator<LogRecord, LogRecord[]>(
          { maxEvents: fields.batch_events ?? 1_000, maxBytes: Number.MAX_SAFE_INTEGER },
          (items) => [...items],
        );
        return {
          add(record) {
            const closed = accumulator.add(record, record.offset, record.json.length);
            return closed ? [closed] : [];
          },
          flush() {
            const last = accumulator.take();
            return last ? [last] : [];
          },
        };
      },
      async send(batch, signal) {
        sink.sends++;
        const started = waiters;
        waiters = [];
        for (const resolve of started) resolve(batch);
        if (behaviour === MemoryBehaviour.ACCEPT || acceptedBatches < (fields.accept_batches ?? 0)) {
          acceptedBatches++;
          sink.accepted.push(...batch.payload);
          return undefined;
        }
        if (behaviour === MemoryBehaviour.HANG) {
          return new Promise((_, reject) => {
            const fail = () => reject(new DOMException('The destination call was aborted.', 'AbortError'));
            if (signal.aborted) fail();
            else signal.addEventListener('abort', fail, { once: true });
          });
        }
        if (behaviour === MemoryBehaviour.THROW) throw new TypeError('payload.map is not a function');
        throw new DeliveryError(`The memory destination refused the batch (${reason}).`, {
          retryable: behaviour === MemoryBehaviour.RETRYABLE,
          reason,
        });
      },
      async close() {
        sink.closed = true;
      },
    };
    built.push(sink);
    return sink;
  };

  return {
    definition: {
      kind: MEMORY_KIND,
      spec: { kind: MEMORY_KIND, properties: memoryConfigProperties },
      create,
    },
    built,
    nextSend: () => new Promise((resolve) => waiters.push(resolve)),
  };
}
