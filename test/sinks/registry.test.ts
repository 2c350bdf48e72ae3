import Type from 'typebox';
import { describe, expect, it } from 'vitest';
import { fileSinkDefinition } from '../../src/sinks/file/index.js';
import {
  builtinSinkDefinitions,
  createBuiltinSinkRegistry,
  createSinkRegistry,
} from '../../src/sinks/registry.js';
import type { SinkDefinition } from '../../src/sinks/types.js';
import { createMemorySinkKind } from '../helpers/memory-sink.js';

function definitionOf(kind: string): SinkDefinition {
  return {
    kind,
    spec: { kind, properties: { url: Type.String() } },
    create: () => {
      throw new Error('not used');
    },
  };
}

describe('createSinkRegistry', () => {
  it('finds each definition and its config spec by kind', () => {
    // Prepare
    const memory = createMemorySinkKind().definition;
    // Act
    const registry = createSinkRegistry([fileSinkDefinition, memory]);
    // Assess
    expect(registry.get('file')).toBe(fileSinkDefinition);
    expect(registry.get('memory')).toBe(memory);
    expect(registry.lookup('memory')).toBe(memory.spec);
  });

  it.each([{ kind: 'kafka' }, { kind: '' }, { kind: 'FILE' }, { kind: 'file:archive' }])(
    'knows nothing of the unregistered kind $kind',
    ({ kind }) => {
      // Prepare
      const registry = createSinkRegistry([fileSinkDefinition]);
      // Act
      const found = [registry.get(kind), registry.lookup(kind)];
      // Assess
      expect(found).toEqual([undefined, undefined]);
    },
  );

  it('lists the kinds sorted by name', () => {
    // Prepare
    const definitions = ['splunk_hec', 'cloudwatch', 'http', 's3'].map(definitionOf);
    // Act
    const kinds = createSinkRegistry(definitions).kinds();
    // Assess
    expect(kinds).toEqual(['cloudwatch', 'http', 's3', 'splunk_hec']);
  });

  it('refuses two definitions of one kind', () => {
    // Prepare
    const definitions = [definitionOf('http'), definitionOf('http')];
    // Act
    const create = () => createSinkRegistry(definitions);
    // Assess
    expect(create).toThrow("Destination kind 'http' is registered twice.");
  });
});

describe('createBuiltinSinkRegistry', () => {
  it('holds every built-in kind, the file kind among them', () => {
    // Prepare
    // Act
    const registry = createBuiltinSinkRegistry();
    // Assess
    expect(registry.kinds()).toEqual(builtinSinkDefinitions.map((d) => d.kind).sort());
    expect(registry.get('file')).toBe(fileSinkDefinition);
  });
});
