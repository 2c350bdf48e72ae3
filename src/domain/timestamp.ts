/**
 * Timestamps to epoch milliseconds.
 */

/** Numbers at or below this are epoch seconds; above, epoch milliseconds. */
export const EPOCH_SECONDS_MAX = 1e12;
/** The largest time a JavaScript Date can hold (year 275760); beyond it `toISOString` throws. */
const DATE_MS_MAX = 8.64e15;

const DECIMAL = /^\d+(\.\d+)?$/;

// RFC 3339: date, 'T' or space, time, optional fraction (any digits), then Z or an offset.
const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):?(\d{2}))$/;

/**
 * Parses an RFC 3339 string to epoch ms, or undefined when it is not one.
 * Fractions beyond milliseconds are truncated (up to 9 digits are accepted).
 */
export function parseRfc3339Ms(value: string): number | undefined {
  const m = RFC3339.exec(value);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, z, sign, oh, om] = m;
  if (frac !== undefined && frac.length > 9) return undefined;
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60)
    return undefined;
  const date = new Date(Date.UTC(2000, month - 1, day, hour, minute, Math.min(second, 59)));
  // Date.UTC maps years 0-99 to 19xx; set the full year explicitly.
  date.setUTCFullYear(Number(y), month - 1, day);
  let ms = date.getTime();
  if (new Date(ms).getUTCDate() !== day) return undefined; // 2024-02-30 and the like
  if (frac) ms += Number(frac.slice(0, 3).padEnd(3, '0'));
  if (!z) {
    const offsetMin = Number(oh) * 60 + Number(om);
    if (Number(oh) > 23 || Number(om) > 59) return undefined;
    ms -= (sign === '-' ? -1 : 1) * offsetMin * 60_000;
  }
  return ms;
}

/**
 * Converts an event timestamp to epoch ms.
 *
 * @param value - RFC 3339 string, or a number (≤ 1e12 seconds, otherwise milliseconds)
 * @param fallbackMs - used when the value is missing or unparsable: the object's
 *   last-modified time, never "now"
 */
export function toEpochMs(value: unknown, fallbackMs: number): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) return fallbackMs;
    const ms = value <= EPOCH_SECONDS_MAX ? Math.round(value * 1000) : Math.round(value);
    return ms <= DATE_MS_MAX ? ms : fallbackMs;
  }
  if (typeof value === 'string') {
    const parsed = parseRfc3339Ms(value);
    if (parsed !== undefined) return parsed;
    // Decimal digits only: Number() would also read '0x10', '1e3' or 'Infinity'.
    if (DECIMAL.test(value.trim())) return toEpochMs(Number(value.trim()), fallbackMs);
  }
  return fallbackMs;
}
