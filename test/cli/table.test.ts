import { describe, expect, it } from 'vitest';
import { type Column, renderTable } from '../../src/cli/table.js';

interface Row {
  name: string;
  count: number;
  note?: string;
}

const COLUMNS: readonly Column<Row>[] = [
  { header: 'NAME', value: (r) => r.name },
  { header: 'COUNT', value: (r) => r.count, align: 'right' },
  { header: 'NOTE', value: (r) => r.note },
];

describe('renderTable', () => {
  it('pads each column to its widest cell, right-aligning where asked, under a header and a rule', () => {
    // Prepare
    const rows: Row[] = [
      { name: 'acme', count: 1_200, note: 'every application' },
      { name: 'initech-long-name', count: 7, note: 'two' },
    ];

    // Act
    const text = renderTable(rows, COLUMNS);

    // Assess
    expect(text).toBe(
      [
        'NAME               COUNT  NOTE',
        '-----------------  -----  -----------------',
        'acme                1200  every application',
        'initech-long-name      7  two',
        '',
      ].join('\n'),
    );
  });

  it('widens a column to its header when the cells are narrower', () => {
    // Prepare
    const rows: Row[] = [{ name: 'a', count: 1, note: 'n' }];

    // Act
    const text = renderTable(rows, COLUMNS);

    // Assess
    expect(text).toBe(['NAME  COUNT  NOTE', '----  -----  ----', 'a         1  n', ''].join('\n'));
  });

  it('renders an undefined cell as empty and trims trailing blanks', () => {
    // Prepare
    const rows: Row[] = [
      { name: 'a', count: 2 },
      { name: 'b', count: 3, note: 'set' },
    ];

    // Act
    const lines = renderTable(rows, COLUMNS).split('\n');

    // Assess
    expect(lines[2]).toBe('a         2');
    expect(lines[3]).toBe('b         3  set');
    expect(lines.every((l) => l === l.trimEnd())).toBe(true);
  });

  it.each([
    { case: 'the default note', empty: undefined, expected: '(none)\n' },
    { case: 'the given note', empty: 'No dead letters.', expected: 'No dead letters.\n' },
  ])('prints $case instead of a table when there are no rows', ({ empty, expected }) => {
    // Prepare
    const rows: Row[] = [];

    // Act
    const text = renderTable(rows, COLUMNS, empty);

    // Assess
    expect(text).toBe(expected);
  });
});
