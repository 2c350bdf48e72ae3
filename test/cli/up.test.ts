import { describe, expect, it } from 'vitest';
import { parseByteSize } from '../../src/cli/commands/up.js';
import { runCli } from '../helpers/cli.js';

describe('tlr up --store-budget', () => {
  it.each([
    ['1024', 1024],
    ['512MiB', 512 * 1024 ** 2],
    ['20GiB', 20 * 1024 ** 3],
    [' 3 KiB ', 3 * 1024],
  ])('reads %s as %i bytes', (value, bytes) => {
    // Act
    const parsed = parseByteSize(value);

    // Assess
    expect(parsed).toBe(bytes);
  });

  it.each(['0', '-5', '10GB', 'lots', '1.5GiB'])('exits 1 before starting for %s', async (value) => {
    // Prepare
    const args = ['up', '--port', '0', '--store-budget', value];

    // Act
    const run = await runCli(args);

    // Assess
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`--store-budget '${value}' is not a size`);
  });
});

describe('tlr up Forward flags', () => {
  it.each([
    [['--forward-tls-cert', 'c.pem', '--forward-tls-key', 'k.pem'], 'need --forward or --forward-port'],
    [['--forward-auth', 'auth.json'], 'need --forward or --forward-port'],
    [['--forward', '--forward-tls-cert', 'c.pem'], '--forward-tls-cert and --forward-tls-key go together'],
    [['--forward-port', '70000'], "--forward-port '70000' is not a port"],
  ])('exits 1 before starting for %j', async (flags, message) => {
    // Prepare
    const args = ['up', '--port', '0', ...flags];

    // Act
    const run = await runCli(args);

    // Assess
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(message);
  });
});

describe('tlr up scheduling and back-pressure flags', () => {
  it.each([
    [['--max-in-flight-per-tenant', '0'], "--max-in-flight-per-tenant '0' must be a whole number ≥ 1"],
    [['--max-queue-backlog', 'lots'], "--max-queue-backlog 'lots' must be a whole number ≥ 1"],
    [['--concurrency', '2.5'], "--concurrency '2.5' must be a whole number ≥ 1"],
  ])('exits 1 before starting for %j', async (flags, message) => {
    // Prepare
    const args = ['up', '--port', '0', ...flags];

    // Act
    const run = await runCli(args);

    // Assess
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(message);
  });
});
