import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

describe('the Lambda bundle', () => {
  it('builds with the local esbuild into one ESM file exporting handler, without the SQLite stores', async () => {
    // Prepare
    const output = join(root, 'dist', 'lambda', 'index.mjs');

    // Act
    const log = execFileSync(process.execPath, [join(root, 'scripts', 'bundle-lambda.mjs')], { cwd: root, encoding: 'utf8' });
    const bundle = (await import(pathToFileURL(output).href)) as { handler?: unknown };

    // Assess
    expect(log).toMatch(/Wrote dist\/lambda\/index\.mjs/);
    expect(existsSync(output)).toBe(true);
    expect(statSync(output).size).toBeGreaterThan(100_000);
    expect(typeof bundle.handler).toBe('function');
  }, 60_000);

  it('builds the API bundle exporting the API handler and its authorizer, without the SQLite stores', async () => {
    // Prepare
    const output = join(root, 'dist', 'lambda', 'api.mjs');

    // Act
    const log = execFileSync(process.execPath, [join(root, 'scripts', 'bundle-lambda.mjs')], { cwd: root, encoding: 'utf8' });
    const bundle = (await import(pathToFileURL(output).href)) as { handler?: unknown; authorizer?: unknown };

    // Assess
    expect(log).toMatch(/dist\/lambda\/api\.mjs/);
    expect(typeof bundle.handler).toBe('function');
    expect(typeof bundle.authorizer).toBe('function');
  }, 60_000);

  it('builds the CloudWatch Logs bundle exporting its handler, without the SQLite stores', async () => {
    // Prepare
    const output = join(root, 'dist', 'lambda', 'cloudwatch.mjs');

    // Act
    const log = execFileSync(process.execPath, [join(root, 'scripts', 'bundle-lambda.mjs')], { cwd: root, encoding: 'utf8' });
    const bundle = (await import(pathToFileURL(output).href)) as { handler?: unknown };

    // Assess
    expect(log).toMatch(/dist\/lambda\/cloudwatch\.mjs/);
    expect(typeof bundle.handler).toBe('function');
  }, 60_000);
});
