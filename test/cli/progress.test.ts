import { describe, expect, it } from 'vitest';
import { createProgressBar, type ProgressOptions } from '../../src/cli/progress.js';

/** A stream that records what is written; `isTTY` says whether it poses as a terminal. */
function fakeStream(isTTY: boolean): { stream: NodeJS.WriteStream; writes: string[] } {
  const writes: string[] = [];
  const stream = {
    isTTY,
    write(text: string) {
      writes.push(text);
      return true;
    },
  } as unknown as NodeJS.WriteStream;
  return { stream, writes };
}

/** A bar on a fake stream with a clock the test sets. */
function barAt(isTTY: boolean, options: Partial<ProgressOptions> = {}) {
  const clock = { ms: 0 };
  const { stream, writes } = fakeStream(isTTY);
  const bar = createProgressBar({
    label: 'Ingest',
    total: 10,
    unit: 'events',
    stream,
    now: () => clock.ms,
    ...options,
  });
  return { bar, writes, clock };
}

describe('createProgressBar off a terminal', () => {
  it('prints a plain line at once, then at most every plainIntervalMs, and a final line', () => {
    // Prepare
    const { bar, writes, clock } = barAt(false, { plainIntervalMs: 1_000 });

    // Act
    bar.update(1);
    clock.ms = 999;
    bar.update(2);
    clock.ms = 1_000;
    bar.update(3);
    clock.ms = 1_500;
    bar.update(4);
    clock.ms = 2_000;
    bar.update(5);
    clock.ms = 2_100;
    bar.finish();

    // Assess
    expect(writes.map((w) => / (\d+)\/10 /.exec(w)?.[1])).toEqual(['1', '3', '5', '5']);
    expect(writes.every((w) => w.endsWith('\n') && !w.includes('\r'))).toBe(true);
  });

  it('waits two seconds between plain lines by default', () => {
    // Prepare
    const { bar, writes, clock } = barAt(false);

    // Act
    bar.update(1);
    clock.ms = 1_999;
    bar.update(2);
    clock.ms = 2_000;
    bar.update(3);

    // Assess
    expect(writes).toHaveLength(2);
  });

  it.each([
    {
      case: 'halfway, with a unit',
      options: {},
      done: 5,
      ms: 2_000,
      line: 'Ingest [###############...............]  50% 5/10 events (3/s)\n',
    },
    {
      case: 'without a unit',
      options: { unit: undefined, label: 'Deliver' },
      done: 1,
      ms: 1_000,
      line: 'Deliver [###...........................]  10% 1/10 (1/s)\n',
    },
    {
      case: 'past the total (capped)',
      options: {},
      done: 15,
      ms: 5_000,
      line: 'Ingest [##############################] 100% 10/10 events (2/s)\n',
    },
    {
      case: 'at an empty total',
      options: { total: 0 },
      done: 0,
      ms: 1_000,
      line: 'Ingest [..............................]   0% 0/0 events (0/s)\n',
    },
  ])('draws the bar, percentage, count and rate $case', ({ options, done, ms, line }) => {
    // Prepare
    const { bar, writes, clock } = barAt(false, options);
    clock.ms = ms;

    // Act
    bar.update(done);

    // Assess
    expect(writes).toEqual([line]);
  });
});

describe('createProgressBar on a terminal', () => {
  it('redraws one line at most every 100 ms and ends it on finish', () => {
    // Prepare
    const { bar, writes, clock } = barAt(true);

    // Act
    bar.update(1);
    clock.ms = 50;
    bar.update(2);
    clock.ms = 100;
    bar.update(3);
    clock.ms = 120;
    bar.finish();

    // Assess
    expect(writes).toHaveLength(4);
    expect(writes.slice(0, 3).every((w) => w.startsWith('\r') && !w.includes('\n'))).toBe(true);
    expect(writes.slice(0, 3).map((w) => / (\d+)\/10 /.exec(w)?.[1])).toEqual(['1', '3', '3']);
    expect(writes[3]).toBe('\n');
  });
});
