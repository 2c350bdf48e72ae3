import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DataDirLockedError, lockDataDir } from '../../src/runtimes/embedded.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp-dir.js';

afterEach(async () => {
  await removeTempDirs();
});

describe('lockDataDir', () => {
  it('refuses a second holder while the first is alive, and frees the directory on release', async () => {
    // Prepare
    const dir = await makeTempDir('tlr-lock-');
    const sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)']);
    writeFileSync(join(dir, 'tlr.lock'), String(sleeper.pid));

    // Act
    const second = () => lockDataDir(dir);
    let refused: unknown;
    try {
      second();
    } catch (error) {
      refused = error;
    }
    sleeper.kill('SIGKILL');
    await new Promise((r) => sleeper.once('exit', r));
    const release = lockDataDir(dir);
    const held = readFileSync(join(dir, 'tlr.lock'), 'utf8');
    release();

    // Assess
    expect(refused).toBeInstanceOf(DataDirLockedError);
    expect((refused as Error).message).toContain(`pid ${sleeper.pid}`);
    expect(held).toBe(String(process.pid));
    expect(existsSync(join(dir, 'tlr.lock'))).toBe(false);
  });

  it('does not remove a lock that another process took over', async () => {
    // Prepare
    const dir = await makeTempDir('tlr-lock-');
    const release = lockDataDir(dir);
    writeFileSync(join(dir, 'tlr.lock'), '999999');

    // Act
    release();

    // Assess
    expect(readFileSync(join(dir, 'tlr.lock'), 'utf8')).toBe('999999');
  });
});
