import { afterEach, describe, expect, it, vi } from 'vitest';
import { EPOCH_SECONDS_MAX, parseRfc3339Ms, toEpochMs } from '../../src/domain/timestamp.js';

/** 2024-01-15T15:30:00Z */
const T = 1_705_332_600_000;
/** The object's last-modified time; far from both T and the real clock. */
const FALLBACK = Date.UTC(2021, 5, 1, 12, 0, 0);

describe('toEpochMs', () => {
  it.each([
    { name: 'RFC 3339 with Z', value: '2024-01-15T15:30:00Z', expected: T },
    { name: 'RFC 3339 with a negative offset', value: '2024-01-15T10:30:00-05:00', expected: T },
    { name: 'RFC 3339 with a half-hour offset', value: '2024-01-15T21:00:00+05:30', expected: T },
    { name: 'RFC 3339 with a lowercase t and z', value: '2024-01-15t15:30:00z', expected: T },
    { name: 'RFC 3339 with a space for T', value: '2024-01-15 15:30:00Z', expected: T },
    { name: 'milliseconds', value: '2024-01-15T15:30:00.123Z', expected: T + 123 },
    { name: 'one fraction digit', value: '2024-01-15T15:30:00.5Z', expected: T + 500 },
    { name: 'nanoseconds, truncated', value: '2024-01-15T15:30:00.123456789Z', expected: T + 123 },
    { name: 'nanoseconds with an offset', value: '2024-01-15T10:30:00.999999999-05:00', expected: T + 999 },
    { name: 'a leap day', value: '2024-02-29T00:00:00Z', expected: Date.UTC(2024, 1, 29) },
    { name: 'epoch seconds', value: 1_705_332_600, expected: T },
    { name: 'fractional epoch seconds', value: 1_705_332_600.25, expected: T + 250 },
    { name: 'epoch milliseconds', value: T + 7, expected: T + 7 },
    { name: '1e12 as seconds', value: EPOCH_SECONDS_MAX, expected: EPOCH_SECONDS_MAX * 1000 },
    {
      name: 'just above 1e12 as milliseconds',
      value: EPOCH_SECONDS_MAX + 1,
      expected: EPOCH_SECONDS_MAX + 1,
    },
    { name: 'the last time a Date can hold', value: 8.64e15, expected: 8.64e15 },
    { name: 'a numeric string of seconds', value: '1705332600', expected: T },
    { name: 'a numeric string of milliseconds', value: String(T + 7), expected: T + 7 },
  ])('reads $name', ({ value, expected }) => {
    // Prepare
    // Act
    const ms = toEpochMs(value, FALLBACK);
    // Assess
    expect(ms).toBe(expected);
  });

  it.each([
    { name: 'a missing timestamp', value: undefined },
    { name: 'null', value: null },
    { name: 'an empty string', value: '' },
    { name: 'a blank string', value: '   ' },
    { name: 'free text', value: 'yesterday at noon' },
    { name: 'a time without a zone', value: '2024-01-15T15:30:00' },
    { name: 'a date only', value: '2024-01-15' },
    { name: 'ten fraction digits', value: '2024-01-15T15:30:00.1234567891Z' },
    { name: 'February 30th', value: '2024-02-30T00:00:00Z' },
    { name: 'February 29th in a common year', value: '2023-02-29T00:00:00Z' },
    { name: 'month 13', value: '2024-13-01T00:00:00Z' },
    { name: 'month 0', value: '2024-00-10T00:00:00Z' },
    { name: 'day 0', value: '2024-01-00T00:00:00Z' },
    { name: 'hour 24', value: '2024-01-15T24:00:00Z' },
    { name: 'minute 60', value: '2024-01-15T15:60:00Z' },
    { name: 'an offset of 25 hours', value: '2024-01-15T15:30:00+25:00' },
    { name: 'an offset of 60 minutes', value: '2024-01-15T15:30:00+05:60' },
    { name: 'NaN', value: Number.NaN },
    { name: 'Infinity', value: Number.POSITIVE_INFINITY },
    { name: 'a negative number', value: -5 },
    { name: 'a number beyond the Date range', value: 1e20 },
    { name: 'a numeric string beyond the Date range', value: '1e20' },
    { name: 'a boolean', value: true },
    { name: 'an object', value: { seconds: 1_705_332_600 } },
  ])('falls back to the given time for $name', ({ value }) => {
    // Prepare
    // Act
    const ms = toEpochMs(value, FALLBACK);
    // Assess
    expect(ms).toBe(FALLBACK);
  });

  describe('with the clock set', () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    it('uses the fallback, never the current time, for an unparsable timestamp', () => {
      // Prepare
      vi.useFakeTimers({ now: T });

      // Act
      const ms = toEpochMs('not a time', FALLBACK);

      // Assess
      expect(Date.now()).toBe(T);
      expect(ms).toBe(FALLBACK);
    });
  });
});

describe('parseRfc3339Ms', () => {
  it.each([{ value: '1705332600' }, { value: '2024-02-30T00:00:00Z' }, { value: 'yesterday' }])(
    'returns undefined for $value, which is not an RFC 3339 time',
    ({ value }) => {
      // Prepare
      // Act
      const ms = parseRfc3339Ms(value);
      // Assess
      expect(ms).toBeUndefined();
    },
  );

  it('accepts a leap second as the last second of its minute', () => {
    // Prepare
    const value = '2016-12-31T23:59:60Z';

    // Act
    const ms = parseRfc3339Ms(value);

    // Assess
    expect(ms).toBe(Date.UTC(2016, 11, 31, 23, 59, 59));
  });
});

describe('toEpochMs edge cases found in review', () => {
  it.each([
    { name: 'a hex string', value: '0x10' },
    { name: 'an exponent string', value: '1e3' },
    { name: 'Infinity as a string', value: 'Infinity' },
  ])('falls back for $name instead of reading it as a number', ({ value }) => {
    // Prepare
    const fallbackMs = 1_700_000_000_000;

    // Act
    const ms = toEpochMs(value, fallbackMs);

    // Assess
    expect(ms).toBe(fallbackMs);
  });

  it('reads a year below 100 as that year, not 19xx', () => {
    // Prepare
    const value = '0001-01-01T00:00:00Z';

    // Act
    const ms = toEpochMs(value, 0);

    // Assess
    expect(new Date(ms).getUTCFullYear()).toBe(1);
  });
});
