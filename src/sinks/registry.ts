import type { KindLookup, KindSpec } from '../domain/index.js';
import { cloudwatchSinkDefinition } from './cloudwatch/index.js';
import { fileSinkDefinition } from './file/index.js';
import { firehoseSinkDefinition } from './firehose/index.js';
import { kinesisSinkDefinition } from './kinesis/index.js';
import { s3SinkDefinition } from './s3/index.js';
import type { SinkDefinition } from './types.js';

/** The destination kinds a router knows, by kind name. */
export interface SinkRegistry {
  get(kind: string): SinkDefinition | undefined;
  kinds(): string[];
  /** The config lookup that validation uses. */
  readonly lookup: KindLookup;
}

/**
 * Builds a registry from definitions. Adding a destination kind is a new module plus one
 * entry in `builtinSinkDefinitions`.
 *
 * @throws Error when two definitions claim one kind
 */
export function createSinkRegistry(definitions: readonly SinkDefinition[]): SinkRegistry {
  const byKind = new Map<string, SinkDefinition>();
  for (const definition of definitions) {
    if (byKind.has(definition.kind))
      throw new Error(`Destination kind '${definition.kind}' is registered twice.`);
    byKind.set(definition.kind, definition);
  }
  return {
    get: (kind) => byKind.get(kind),
    kinds: () => [...byKind.keys()].sort(),
    lookup: (kind): KindSpec | undefined => byKind.get(kind)?.spec,
  };
}

/** Every destination kind that ships with the router. */
export const builtinSinkDefinitions: readonly SinkDefinition[] = [
  fileSinkDefinition,
  cloudwatchSinkDefinition,
  s3SinkDefinition,
  kinesisSinkDefinition,
  firehoseSinkDefinition,
];

/** The registry of the built-in kinds. */
export function createBuiltinSinkRegistry(): SinkRegistry {
  return createSinkRegistry(builtinSinkDefinitions);
}
