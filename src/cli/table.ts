/**
 * Plain-text tables for humans; scripts use `--json` instead.
 */

/** A column: its heading and how to read a cell from a row. */
export interface Column<R> {
  readonly header: string;
  readonly value: (row: R) => string | number | undefined;
  readonly align?: 'left' | 'right';
}

/**
 * Renders rows as an aligned table with a header and a rule under it.
 * @returns the table text, ending with a newline; a one-line note when there are no rows
 */
export function renderTable<R>(rows: readonly R[], columns: readonly Column<R>[], empty = '(none)'): string {
  if (rows.length === 0) return `${empty}\n`;
  const cells = rows.map((row) => columns.map((c) => String(c.value(row) ?? '')));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => r[i]!.length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => (columns[i]!.align === 'right' ? v.padStart(widths[i]!) : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return `${[line(columns.map((c) => c.header)), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n')}\n`;
}
