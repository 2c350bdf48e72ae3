import { chmod, mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { validateDeliveryConfig } from '../../../src/domain/index.js';
import { silentLogger } from '../../../src/logging/index.js';
import { fileSinkDefinition } from '../../../src/sinks/file/index.js';
import { createSinkRegistry } from '../../../src/sinks/registry.js';
import type { AccessCheckStep, SinkDeps } from '../../../src/sinks/types.js';
import { deliveryConfigFactory } from '../../helpers/factories.js';
import { makeTempDir, removeTempDirs } from '../../helpers/temp-dir.js';

const lookup = createSinkRegistry([fileSinkDefinition]).lookup;
/** Root may write anywhere, so a permission denial cannot be produced for it. */
const runningAsRoot = process.getuid?.() === 0;

function deps(baseDir: string): SinkDeps {
  return { baseDir, logger: silentLogger, registry: new Registry() };
}

function checkAccess(directory: string, baseDir: string): Promise<AccessCheckStep[]> {
  const config = validateDeliveryConfig(deliveryConfigFactory({ directory }), lookup);
  return fileSinkDefinition.checkAccess!(config, deps(baseDir), new AbortController().signal);
}

describe('file access check', () => {
  afterEach(async () => {
    await removeTempDirs();
  });

  it('passes write_directory for an existing writable directory', async () => {
    // Prepare
    const directory = await makeTempDir('tlr-file-check-');

    // Act
    const steps = await checkAccess(directory, '/nonexistent');

    // Assess
    expect(steps).toEqual([
      { step: 'write_directory', status: 'ok', message: `The directory '${directory}' exists and is writable.` },
    ]);
  });

  it('passes write_directory for a missing directory under a writable one, and creates nothing', async () => {
    // Prepare
    const base = await makeTempDir('tlr-file-check-');
    const directory = join(base, 'tenant', 'logs');

    // Act
    const steps = await checkAccess(directory, '/nonexistent');

    // Assess
    expect(steps).toHaveLength(1);
    expect(steps[0]).toMatchObject({ step: 'write_directory', status: 'ok' });
    expect(steps[0]!.message).toContain(`creates it under '${base}'`);
    expect(await readdir(base)).toEqual([]);
  });

  it('resolves a relative directory against the data directory, as delivery does', async () => {
    // Prepare
    const baseDir = await makeTempDir('tlr-file-check-');
    await mkdir(join(baseDir, 'out'));

    // Act
    const steps = await checkAccess('out', baseDir);

    // Assess
    expect(steps[0]).toMatchObject({ status: 'ok' });
    expect(steps[0]!.message).toContain(`'${join(baseDir, 'out')}' exists`);
  });

  it.each([
    { case: 'the directory itself', path: (file: string) => file },
    { case: 'a parent of the directory', path: (file: string) => join(file, 'logs') },
  ])('fails write_directory with ENOTDIR when $case is a regular file', async ({ path }) => {
    // Prepare
    const base = await makeTempDir('tlr-file-check-');
    const file = join(base, 'taken');
    await writeFile(file, 'not a directory');

    // Act
    const steps = await checkAccess(path(file), '/nonexistent');

    // Assess
    expect(steps).toEqual([
      { step: 'write_directory', status: 'failed', code: 'ENOTDIR', message: expect.stringContaining(`'${file}'`) },
    ]);
  });

  it.skipIf(runningAsRoot)('fails write_directory with EACCES when the nearest existing directory is read-only', async () => {
    // Prepare
    const base = await makeTempDir('tlr-file-check-');
    const readOnly = join(base, 'read-only');
    await mkdir(readOnly, { mode: 0o500 });

    // Act
    const steps = await checkAccess(join(readOnly, 'logs'), '/nonexistent');
    await chmod(readOnly, 0o700);

    // Assess
    expect(steps[0]).toMatchObject({ step: 'write_directory', status: 'failed', code: 'EACCES' });
    expect(steps[0]!.message).toContain(readOnly);
  });
});
