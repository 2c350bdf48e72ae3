import Type from 'typebox';
import { BatchAccumulator, defaultRetryConfig } from '../src/delivery/index.js';
import type { SinkDefinition } from '../src/sinks/types.js';

/** A destination that accepts everything and keeps nothing: measures the processor alone. */
export const nullSinkDefinition: SinkDefinition = {
  kind: 'null',
  spec: { kind: 'null', properties: { note: Type.Optional(Type.String()) } },
  create: () => ({
    kind: 'null',
    retry: defaultRetryConfig(),
    createPlanner: () => {
      const accumulator = new BatchAccumulator<number, number>(
        { maxEvents: 10_000, maxBytes: 4 * 1024 * 1024 },
        (items) => items.length,
      );
      return {
        add: (record) => {
          const closed = accumulator.add(0, record.offset, record.json.length + 1);
          return closed ? [closed] : [];
        },
        flush: () => {
          const last = accumulator.take();
          return last ? [last] : [];
        },
      };
    },
    send: async () => undefined,
    close: async () => {},
  }),
};
