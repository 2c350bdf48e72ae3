import { describe, expect, it } from 'vitest';
import { ConfigValidationError } from '../../../src/domain/errors.js';
import {
  DEFAULT_MAX_BATCH_AGE_MS,
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_MAX_OBJECT_BYTES,
  defaultHttpIngestConfig,
  validateHttpIngestConfig,
} from '../../../src/ingest/http/config.js';

describe('defaultHttpIngestConfig', () => {
  it('suggests 10 MiB bodies, 8 MiB objects and a 2 s batch age', () => {
    // Act
    const config = defaultHttpIngestConfig();

    // Assess
    expect(config.maxBodyBytes).toBe(10 * 1024 * 1024);
    expect(config.maxObjectBytes).toBe(8 * 1024 * 1024);
    expect(config.maxBatchAgeMs).toBe(2_000);
    expect(config).toMatchObject({
      maxBodyBytes: DEFAULT_MAX_BODY_BYTES,
      maxObjectBytes: DEFAULT_MAX_OBJECT_BYTES,
      maxBatchAgeMs: DEFAULT_MAX_BATCH_AGE_MS,
    });
  });
});

describe('validateHttpIngestConfig', () => {
  it('fills in defaults for the keys an operator left out', () => {
    // Act
    const config = validateHttpIngestConfig({ maxBatchAgeMs: 500 });

    // Assess
    expect(config).toEqual({ ...defaultHttpIngestConfig(), maxBatchAgeMs: 500 });
  });

  it.each([
    ['an unknown key', { maxBodySize: 10 }, 'maxBodySize'],
    ['a fractional size', { maxBodyBytes: 1.5 }, 'maxBodyBytes'],
    ['a zero object size', { maxObjectBytes: 0 }, 'maxObjectBytes'],
    ['a negative age', { maxBatchAgeMs: -1 }, 'maxBatchAgeMs'],
    ['a too short flush interval', { flushIntervalMs: 1 }, 'flushIntervalMs'],
    ['a string threshold', { maxBufferedBytes: '1GB' }, 'maxBufferedBytes'],
  ])('refuses %s, naming the key', (_case, input, field) => {
    // Act
    const error = (() => {
      try {
        validateHttpIngestConfig(input);
        return undefined;
      } catch (e) {
        return e;
      }
    })();

    // Assess
    expect(error).toBeInstanceOf(ConfigValidationError);
    expect((error as ConfigValidationError).fieldErrors.map((e) => e.field)).toContain(field);
  });
});
