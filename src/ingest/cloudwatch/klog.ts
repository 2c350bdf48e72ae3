/**
 * klog lines, as the Kubernetes control plane writes them:
 * `Lmmdd hh:mm:ss.uuuuuu threadid file:line] msg key="value" k2=v2`.
 * Header format: https://github.com/kubernetes/klog (`klog.go`, "Log lines have this form");
 * structured values are Go-quoted strings (`strconv.Quote`). Pure: no I/O.
 */

/** klog severities by their header letter. */
export const KlogLevel = {
  I: 'info',
  W: 'warning',
  E: 'error',
  F: 'fatal',
} as const;
export type KlogLevel = (typeof KlogLevel)[keyof typeof KlogLevel];

/** One parsed klog line. */
export interface KlogLine {
  readonly level: KlogLevel;
  /** Epoch milliseconds (klog's microseconds truncated). */
  readonly timeMs: number;
  /** RFC 3339 with klog's microseconds, UTC. */
  readonly time: string;
  readonly threadId: number;
  /** `file.go:123` */
  readonly source: string;
  /** The message, unquoted when klog quoted it (structured logging). */
  readonly message: string;
  /** Trailing `key=value` pairs, values unquoted. */
  readonly fields: Readonly<Record<string, string>>;
}

// L mmdd hh:mm:ss.uuuuuu, thread id padded with spaces, file:line, '] ', then the body.
const KLOG_HEADER = /^([IWEF])(\d{2})(\d{2}) (\d{2}):(\d{2}):(\d{2})\.(\d{6}) +(\d+) ([^\s:\]]+:\d+)\](?: |$)/;
/** Keys as klog and logr write them: `pod`, `err`, `node.kubernetes.io/name`, `status_code`. */
const KEY = /^[A-Za-z_][\w.\-/]*$/;
const WHITESPACE = /\s/;

/**
 * Unquotes a Go double-quoted string literal (`strconv.Quote` output): `\"`, `\\`, `\n`,
 * `\t`, `\r`, `\a`, `\b`, `\f`, `\v`, `\xHH` (a byte), `\ooo` (octal byte), `\uHHHH`,
 * `\UHHHHHHHH`. Byte escapes are decoded as UTF-8 together with their neighbours.
 *
 * @param quoted - the literal, quotes included
 * @returns the value, or undefined when the literal is not valid
 */
export function unquoteGoString(quoted: string): string | undefined {
  if (quoted.length < 2 || !quoted.startsWith('"') || !quoted.endsWith('"')) return undefined;
  const bytes: number[] = [];
  const pushText = (text: string) => {
    for (const b of Buffer.from(text, 'utf8')) bytes.push(b);
  };
  const simple: Readonly<Record<string, string>> = {
    '"': '"', '\\': '\\', '\'': '\'', n: '\n', t: '\t', r: '\r', a: '\x07', b: '\b', f: '\f', v: '\v',
  };
  const body = quoted.slice(1, -1);
  let plainStart = 0;
  let i = 0;
  while (i < body.length) {
    const c = body[i]!;
    if (c === '"') return undefined; // an unescaped quote ends the literal early
    if (c !== '\\') {
      i++;
      continue;
    }
    pushText(body.slice(plainStart, i));
    const e = body[i + 1];
    if (e === undefined) return undefined;
    if (simple[e] !== undefined) {
      pushText(simple[e]);
      i += 2;
    } else if (e === 'x' || e === 'u' || e === 'U') {
      const digits = e === 'x' ? 2 : e === 'u' ? 4 : 8;
      const hex = body.slice(i + 2, i + 2 + digits);
      if (!new RegExp(`^[0-9A-Fa-f]{${digits}}$`).test(hex)) return undefined;
      const n = Number.parseInt(hex, 16);
      if (e === 'x') bytes.push(n);
      else if (n > 0x10ffff || (n >= 0xd800 && n <= 0xdfff)) return undefined;
      else pushText(String.fromCodePoint(n));
      i += 2 + digits;
    } else if (e >= '0' && e <= '7') {
      const oct = body.slice(i + 1, i + 4);
      if (!/^[0-7]{3}$/.test(oct) || Number.parseInt(oct, 8) > 0xff) return undefined;
      bytes.push(Number.parseInt(oct, 8));
      i += 4;
    } else {
      return undefined;
    }
    plainStart = i;
  }
  pushText(body.slice(plainStart));
  return Buffer.from(bytes).toString('utf8');
}

/** One whitespace-separated token of a message body. */
interface Token {
  readonly start: number;
  readonly end: number;
  /** Set when the token is `key=value`. */
  readonly pair?: readonly [key: string, value: string];
}

/** End of the Go-quoted literal starting at `start` (exclusive), or -1 when it does not close. */
function quotedEnd(text: string, start: number): number {
  for (let i = start + 1; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === '"') return i + 1;
  }
  return -1;
}

function wordEnd(text: string, start: number): number {
  let i = start;
  while (i < text.length && !WHITESPACE.test(text[i]!)) i++;
  return i;
}

/**
 * Splits a body into tokens in one pass: `key="quoted value"` (spaces allowed inside the
 * quotes), `key=value`, or a plain word.
 */
function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    if (WHITESPACE.test(text[i]!)) {
      i++;
      continue;
    }
    const start = i;
    const eq = text.indexOf('=', start);
    const plainEnd = wordEnd(text, start);
    const key = eq > start && eq < plainEnd ? text.slice(start, eq) : undefined;
    if (key !== undefined && KEY.test(key)) {
      if (text[eq + 1] === '"') {
        const end = quotedEnd(text, eq + 1);
        if (end > 0 && (end === text.length || WHITESPACE.test(text[end]!))) {
          const literal = text.slice(eq + 1, end);
          // A literal klog would not write is kept as it stands rather than lost.
          tokens.push({ start, end, pair: [key, unquoteGoString(literal) ?? literal.slice(1, -1)] });
          i = end;
          continue;
        }
      } else {
        tokens.push({ start, end: plainEnd, pair: [key, text.slice(eq + 1, plainEnd)] });
        i = plainEnd;
        continue;
      }
    }
    tokens.push({ start, end: plainEnd });
    i = plainEnd;
  }
  return tokens;
}

/**
 * Splits a klog body into its message and trailing `key=value` pairs: the pairs are the
 * longest run of pair tokens reaching the end of the line, so `listening on port=443` gives
 * `port` while `set port=443 now` keeps the whole text as the message. A Go-quoted message
 * (structured logging: `"Starting" pod="a b"`) is unquoted.
 *
 * @param body - the text after `] `
 */
export function splitMessageAndFields(body: string): { message: string; fields: Record<string, string> } {
  const tokens = tokenize(body);
  let first = tokens.length;
  while (first > 0 && tokens[first - 1]!.pair !== undefined) first--;
  const fields: Record<string, string> = {};
  for (const token of tokens.slice(first)) fields[token.pair![0]] = token.pair![1];
  const raw = (first < tokens.length ? body.slice(0, tokens[first]!.start) : body).trim();
  const unquoted = raw.startsWith('"') ? unquoteGoString(raw) : undefined;
  return { message: unquoted ?? raw, fields };
}

/**
 * Picks the year of a klog time (klog writes none) as the one that puts the time closest
 * to when CloudWatch stored the event: a line of Dec 31 stored on Jan 1 belongs to the
 * year before, a line of Jan 1 stored on Dec 31 (clock skew) to the year after.
 *
 * @returns epoch ms, or undefined when no year makes the date valid (Feb 30)
 */
export function resolveKlogYear(
  parts: { month: number; day: number; hour: number; minute: number; second: number; millisecond: number },
  referenceMs: number,
): number | undefined {
  const referenceYear = new Date(referenceMs).getUTCFullYear();
  let best: number | undefined;
  for (const year of [referenceYear - 1, referenceYear, referenceYear + 1]) {
    const date = new Date(0);
    date.setUTCFullYear(year, parts.month - 1, parts.day);
    date.setUTCHours(parts.hour, parts.minute, parts.second, parts.millisecond);
    // Feb 29 of a common year rolls over to Mar 1: not a date of that year.
    if (date.getUTCMonth() !== parts.month - 1 || date.getUTCDate() !== parts.day) continue;
    const ms = date.getTime();
    if (best === undefined || Math.abs(ms - referenceMs) < Math.abs(best - referenceMs)) best = ms;
  }
  return best;
}

function rfc3339Micros(ms: number, micros: string): string {
  return `${new Date(ms).toISOString().slice(0, 19)}.${micros}Z`;
}

/**
 * Parses one klog line. The time is taken as UTC (the EKS control plane's zone); its year
 * comes from the CloudWatch event timestamp (see `resolveKlogYear`).
 *
 * @param line - the CloudWatch event message
 * @param referenceMs - the CloudWatch event timestamp
 * @returns the parts, or undefined when the line is not klog
 * @example parseKlogLine('I0522 12:34:56.789012       1 server.go:42] "Ready" port=443', Date.now())
 */
export function parseKlogLine(line: string, referenceMs: number): KlogLine | undefined {
  const m = KLOG_HEADER.exec(line);
  if (!m) return undefined;
  const [header, letter, mo, d, h, mi, s, micros, thread, source] = m as unknown as [
    string, keyof typeof KlogLevel, string, string, string, string, string, string, string, string,
  ];
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59) return undefined;
  const timeMs = resolveKlogYear(
    { month, day, hour, minute, second, millisecond: Math.floor(Number(micros) / 1000) },
    referenceMs,
  );
  if (timeMs === undefined) return undefined;
  const threadId = Number(thread);
  if (!Number.isSafeInteger(threadId)) return undefined;
  const { message, fields } = splitMessageAndFields(line.slice(header.length).replace(/\n+$/, ''));
  return {
    level: KlogLevel[letter],
    timeMs,
    time: rfc3339Micros(timeMs, micros),
    threadId,
    source,
    message,
    fields,
  };
}

/** A logfmt line (`time="…" level=info msg="…"`, as aws-iam-authenticator writes). */
export interface LogfmtLine {
  /** `level`, lowercased, when the line has one. */
  readonly level?: string;
  readonly fields: Readonly<Record<string, string>>;
}

/** Fewest pairs for a line to count as logfmt rather than text with an `=` in it. */
const MIN_LOGFMT_PAIRS = 2;

/**
 * Reads a line made only of `key=value` pairs (logfmt), or undefined when any word is not one.
 *
 * @param line - the CloudWatch event message
 */
export function parseLogfmtLine(line: string): LogfmtLine | undefined {
  const tokens = tokenize(line);
  if (tokens.length < MIN_LOGFMT_PAIRS || tokens.some((t) => t.pair === undefined)) return undefined;
  const fields: Record<string, string> = {};
  for (const token of tokens) fields[token.pair![0]] = token.pair![1];
  const level = fields['level']?.toLowerCase();
  return { ...(level !== undefined && { level }), fields };
}
