import { describe, expect, it } from 'vitest';
import { ConfigValidationError } from '../../src/domain/errors.js';
import { readTenantSettings, tenantSettingsFieldErrors, validateTenantSettings } from '../../src/domain/tenant-settings.js';

const ROW = { tenant_id: 'acme', type: 'tenant' } as const;

describe('validateTenantSettings', () => {
  it('accepts the full example row and returns its settings', () => {
    // Prepare
    const row = {
      ...ROW,
      rate_limit: { events_per_second: 5_000, bytes_per_second: 5_242_880, burst_seconds: 2 },
      destination_rate_limits: { cloudwatch: { events_per_second: 1_000 }, 's3:archive': { bytes_per_second: 1_048_576 } },
      daily_byte_quota: 10_737_418_240,
      created_at: '2026-01-01T00:00:00.000Z',
    };

    // Act
    const settings = validateTenantSettings(row);

    // Assess
    expect(settings).toEqual({
      rateLimit: row.rate_limit,
      destinationRateLimits: row.destination_rate_limits,
      dailyByteQuota: 10_737_418_240,
    });
  });

  it('accepts a row with no limits', () => {
    // Act
    const settings = validateTenantSettings({ ...ROW });

    // Assess
    expect(settings).toEqual({});
  });

  it.each<[string, Record<string, unknown>, { field: string; message: string }[]]>([
    ['a zero rate', { rate_limit: { events_per_second: 0 } }, [{ field: 'rate_limit.events_per_second', message: 'must be a number greater than 0' }]],
    ['a rate given as text', { rate_limit: { bytes_per_second: '1MB' } }, [{ field: 'rate_limit.bytes_per_second', message: 'must be a number greater than 0' }]],
    ['a burst above an hour', { rate_limit: { burst_seconds: 3_601 } }, [{ field: 'rate_limit.burst_seconds', message: 'must be a number greater than 0 and at most 3600' }]],
    ['an unknown rate field', { rate_limit: { per_minute: 5 } }, [{ field: 'rate_limit.per_minute', message: 'is not a known field' }]],
    [
      'a destination key that is not a type',
      { destination_rate_limits: { 'S3 Archive': { events_per_second: 1 } } },
      [{ field: 'destination_rate_limits.S3 Archive', message: "is not a destination type ('<kind>' or '<kind>:<name>', lowercase)" }],
    ],
    [
      'a negative destination rate',
      { destination_rate_limits: { s3: { events_per_second: -1 } } },
      [{ field: 'destination_rate_limits.s3.events_per_second', message: 'must be a number greater than 0' }],
    ],
    [
      'burst_seconds on a destination',
      { destination_rate_limits: { s3: { burst_seconds: 1 } } },
      [{ field: 'destination_rate_limits.s3.burst_seconds', message: 'is not a known field' }],
    ],
    ['a fractional quota', { daily_byte_quota: 1.5 }, [{ field: 'daily_byte_quota', message: 'must be a whole number of bytes, at least 1' }]],
    ['a zero quota', { daily_byte_quota: 0 }, [{ field: 'daily_byte_quota', message: 'must be a whole number of bytes, at least 1' }]],
    ['an unknown field', { rate_limit_per_second: 100 }, [{ field: 'rate_limit_per_second', message: 'is not a known field' }]],
    ['another type', { type: 's3' }, [{ field: 'type', message: "must be 'tenant'" }]],
  ])('refuses %s, naming the field', (_case, fields, expected) => {
    // Act
    const errors = tenantSettingsFieldErrors({ ...ROW, ...fields });
    const thrown = (() => {
      try {
        validateTenantSettings({ ...ROW, ...fields });
      } catch (error) {
        return error;
      }
      return undefined;
    })();

    // Assess
    expect(errors).toEqual(expected);
    expect(thrown).toBeInstanceOf(ConfigValidationError);
  });
});

describe('readTenantSettings', () => {
  it('drops each bad or unknown field with a warning and keeps the others', () => {
    // Prepare
    const row = {
      ...ROW,
      rate_limit: { events_per_second: 'fast' },
      destination_rate_limits: { s3: { events_per_second: 10 } },
      daily_byte_quota: 1_000,
      rate_limit_per_second: 100,
    };

    // Act
    const { settings, warnings } = readTenantSettings(row);

    // Assess
    expect(settings).toEqual({ destinationRateLimits: { s3: { events_per_second: 10 } }, dailyByteQuota: 1_000 });
    expect(warnings).toEqual([
      "Ignored 'rate_limit': 'rate_limit.events_per_second' must be a number greater than 0.",
      "Ignored unknown field 'rate_limit_per_second'.",
    ]);
  });

  it('reads a valid row without warnings', () => {
    // Act
    const { settings, warnings } = readTenantSettings({ ...ROW, daily_byte_quota: 5, updated_at: 'x' });

    // Assess
    expect(settings).toEqual({ dailyByteQuota: 5 });
    expect(warnings).toEqual([]);
  });
});
