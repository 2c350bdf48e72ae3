import { access, readdir } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DEMO_TENANTS, type DemoRunResult, runDemo, type TenantSummary } from '../../src/demo/index.js';
import { runCli } from '../helpers/cli.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp-dir.js';

vi.mock('../../src/demo/index.js', async (importOriginal) => {
  // eslint-disable-next-line @typescript-eslint/consistent-type-imports -- vi.mock needs the module's own type.
  const actual = await importOriginal<typeof import('../../src/demo/index.js')>();
  return { ...actual, runDemo: vi.fn(actual.runDemo) };
});

const TENANTS = DEMO_TENANTS.map((t) => t.namespace);
/** Tenants whose only config is disabled, or who have none: nothing is routed to them. */
const SILENT_TENANTS = ['umbrella', 'hooli'];

let dataDir: string;

function summary(overrides: Partial<TenantSummary> = {}): TenantSummary {
  return {
    tenant: 'acme',
    received: 10,
    routed: 10,
    delivered: 10,
    missing: 0,
    duplicates: 0,
    unexpected: 0,
    skipped: {},
    ...overrides,
  };
}

beforeEach(async () => {
  dataDir = await makeTempDir('tlr-cli-demo-');
  // The progress bars draw on stderr; keep the test output clean.
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
});

afterEach(async () => {
  vi.restoreAllMocks();
  vi.clearAllMocks();
  await removeTempDirs();
});

describe('tlr demo', () => {
  it('delivers every expected event exactly once and prints a table of every demo tenant', async () => {
    // Prepare
    // Act
    const run = await runCli(['--data-dir', dataDir, 'demo', '--events', '600']);

    // Assess
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
    const lines = run.stdout.trim().split('\n');
    expect(lines[0]).toMatch(
      /^TENANT +IN +ROUTED +DELIVERED +MISSING +DUPLICATE +WRONG TENANT +SKIPPED \(WHY\)$/,
    );
    const rows = lines.slice(2, 2 + TENANTS.length).map((l) => l.split(/ {2,}/));
    expect(rows.map((r) => r[0])).toEqual(TENANTS);
    for (const [, received, routed, delivered, missing, duplicates, wrongTenant] of rows) {
      expect(Number(received)).toBeGreaterThan(0);
      expect(delivered).toBe(routed);
      expect([missing, duplicates, wrongTenant]).toEqual(['0', '0', '0']);
    }
    expect(run.stdout).toMatch(
      /\nOK: every expected event arrived exactly once, and none reached another tenant \(\d+\.\d s\)\.\n$/,
    );
    expect(await readdir(dataDir)).toEqual([]);
  });

  it('reports ok with consistent per-tenant counts as JSON with --json', async () => {
    // Prepare
    // Act
    const run = await runCli(['--json', 'demo', '--events', '600']);

    // Assess
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as DemoRunResult;
    expect(result.ok).toBe(true);
    expect(result.tenants.map((t) => t.tenant)).toEqual(TENANTS);
    expect(result.tenants.reduce((n, t) => n + t.received, 0)).toBe(600);
    for (const t of result.tenants) {
      expect(t).toMatchObject({ delivered: t.routed, missing: 0, duplicates: 0, unexpected: 0 });
      const skipped = Object.values(t.skipped).reduce((n, v) => n + v, 0);
      expect(t.routed).toBeGreaterThanOrEqual(t.received - skipped);
    }
    const acme = result.tenants.find((t) => t.tenant === 'acme');
    expect(acme).toMatchObject({ routed: acme?.received, skipped: {} });
    for (const t of result.tenants.filter((t) => SILENT_TENANTS.includes(t.tenant))) {
      expect(t.routed).toBe(0);
    }
    await expect(access(result.dataDir)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it.each([
    { case: 'zero', events: '0' },
    { case: 'negative', events: '-5' },
    { case: 'not a number', events: 'many' },
  ])('exits 1 without running when --events is $case', async ({ events }) => {
    // Prepare
    // Act
    const run = await runCli(['demo', '--events', events]);

    // Assess
    expect(run).toEqual({ code: 1, stdout: '', stderr: 'Error: --events must be a whole number ≥ 1.\n' });
    expect(runDemo).not.toHaveBeenCalled();
  });

  it.each([
    { case: 'not a number', timeout: 'abc' },
    { case: 'zero', timeout: '0' },
  ])('exits 1 without running when --timeout is $case', async ({ timeout }) => {
    // Prepare
    // Act
    const run = await runCli(['demo', '--events', '10', '--timeout', timeout]);

    // Assess
    expect(run).toEqual({
      code: 1,
      stdout: '',
      stderr: 'Error: --timeout must be a number of seconds > 0.\n',
    });
    expect(runDemo).not.toHaveBeenCalled();
  });

  it('prints FAILED and exits 1 when the deliveries are not what was expected', async () => {
    // Prepare
    vi.mocked(runDemo).mockResolvedValueOnce({
      ok: false,
      dataDir: '/tmp/tlr-demo-gone',
      elapsedMs: 1_234,
      tenants: [
        summary(),
        summary({
          tenant: 'globex',
          delivered: 8,
          missing: 1,
          duplicates: 1,
          unexpected: 2,
          skipped: { 'filtered out': 3 },
        }),
      ],
    });

    // Act
    const run = await runCli(['demo', '--events', '20']);

    // Assess
    expect(run.code).toBe(1);
    expect(run.stderr).toBe('Error: The demo did not deliver exactly what was expected.\n');
    const globex = run.stdout.split('\n').find((l) => l.startsWith('globex'));
    expect(globex?.split(/ {2,}/)).toEqual(['globex', '10', '10', '8', '1', '1', '2', '3 filtered out']);
    expect(run.stdout).toContain(
      '\nFAILED: some events are missing, duplicated or reached the wrong tenant (1.2 s).\n',
    );
  });

  it('keeps the data directory and says where with --keep', async () => {
    // Prepare
    const keptDir = await makeTempDir('tlr-demo-kept-');
    vi.mocked(runDemo).mockResolvedValueOnce({
      ok: true,
      dataDir: keptDir,
      elapsedMs: 10,
      tenants: [summary()],
    });

    // Act
    const run = await runCli(['demo', '--events', '10', '--keep']);

    // Assess
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`Data kept in ${keptDir}\n$`));
    expect(vi.mocked(runDemo).mock.calls[0]?.[0]).toMatchObject({
      events: 10,
      keepDataDir: true,
      timeoutMs: 60_000,
    });
  });
});
