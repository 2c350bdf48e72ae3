/**
 * A progress bar for long work. On a terminal it redraws one line; elsewhere (CI, pipes)
 * it prints a plain line at most every `plainIntervalMs` so logs stay readable.
 */

export interface ProgressBar {
  /** Sets the amount done (never above the total). */
  update(done: number): void;
  /** Draws the final state and ends the line. */
  finish(): void;
}

export interface ProgressOptions {
  readonly label: string;
  readonly total: number;
  readonly unit?: string;
  readonly stream?: NodeJS.WriteStream;
  readonly plainIntervalMs?: number;
  readonly now?: () => number;
}

const BAR_WIDTH = 30;
const REDRAW_INTERVAL_MS = 100;

/** Starts a progress bar on `stream` (default stderr, so stdout stays for results). */
export function createProgressBar(options: ProgressOptions): ProgressBar {
  const stream = options.stream ?? process.stderr;
  const now = options.now ?? Date.now;
  const unit = options.unit ?? '';
  const interactive = stream.isTTY === true;
  const plainIntervalMs = options.plainIntervalMs ?? 2_000;
  const startedMs = now();
  let done = 0;
  let lastDrawMs = Number.NEGATIVE_INFINITY;

  const text = () => {
    const total = Math.max(options.total, 1);
    const ratio = Math.min(1, done / total);
    const filled = Math.round(ratio * BAR_WIDTH);
    const seconds = Math.max((now() - startedMs) / 1000, 0.001);
    const rate = Math.round(done / seconds);
    return `${options.label} [${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${Math.floor(
      ratio * 100,
    )
      .toString()
      .padStart(3)}% ${done}/${options.total}${unit ? ` ${unit}` : ''} (${rate}/s)`;
  };
  const draw = (force: boolean) => {
    const t = now();
    if (!force && t - lastDrawMs < (interactive ? REDRAW_INTERVAL_MS : plainIntervalMs)) return;
    lastDrawMs = t;
    stream.write(interactive ? `\r${text()}` : `${text()}\n`);
  };
  return {
    update(value) {
      done = Math.min(value, options.total);
      draw(false);
    },
    finish() {
      draw(true);
      if (interactive) stream.write('\n');
    },
  };
}
