import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, removeTempDirs } from '../../helpers/temp-dir.js';

/*
 * The CDK app through the real CLI, offline: `cdk synth` in deploy/cdk runs the compiled app
 * (dist/deploy/cdk/bin/app.js, written by `npm run build`, which `npm test` runs first).
 */

const ROOT = resolve(import.meta.dirname, '../../..');
const CDK_DIR = join(ROOT, 'deploy/cdk');
const APP = join(ROOT, 'dist/deploy/cdk/bin/app.js');
const CDK_CLI = join(ROOT, 'node_modules/.bin/cdk');
// Not the app's placeholder central account (111111111111), so the customer stack shows which it trusts.
const ACCOUNT = '123456789012';
const REGIONS = ['eu-west-1', 'us-east-1'];

const appMissing = existsSync(APP) ? undefined : `${APP} is missing (run npm run build)`;
if (appMissing && process.env['CI']) throw new Error(`CI requires the compiled CDK app: ${appMissing}.`);
if (appMissing) process.stderr.write(`Skipping the CDK synth test: ${appMissing}.\n`);

type Manifest = { artifacts: Record<string, { type: string; environment?: string; dependencies?: string[] }> };

describe.skipIf(appMissing)('cdk synth of deploy/cdk', () => {
  let out: string;
  let stderr: string;

  beforeAll(async () => {
    out = await makeTempDir('tlr-cdk-synth-');
    const args = ['synth', '--no-notices', '--no-lookups', '--no-version-reporting', '--quiet', '-o', out];
    for (const [key, value] of [['account', ACCOUNT], ['regions', REGIONS.join(',')]]) args.push('-c', `${key}=${value}`);
    const result = await promisify(execFile)(CDK_CLI, args, {
      cwd: CDK_DIR,
      timeout: 120_000,
      env: {
        PATH: process.env['PATH'],
        HOME: process.env['HOME'],
        CDK_DISABLE_CLI_TELEMETRY: 'true',
        CDK_DISABLE_VERSION_CHECK: 'true',
        AWS_EC2_METADATA_DISABLED: 'true',
      },
    });
    stderr = result.stderr;
  }, 120_000);

  afterAll(removeTempDirs);

  it('writes the global, one regional per region, and the customer template, without credentials', () => {
    // Act
    const templates = readdirSync(out).filter((f) => f.endsWith('.template.json')).sort();

    // Assess
    expect(templates).toEqual(
      ['tlr-customer', 'tlr-global', ...REGIONS.map((r) => `tlr-regional-${r}`)].map((s) => `${s}.template.json`).sort(),
    );
    expect(stderr).toContain('Successfully synthesized');
  });

  it('pins each stack to the context environment, deploys regions after the global stack and reports no version', () => {
    // Act
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as Manifest;
    const regional = REGIONS.map((r) => manifest.artifacts[`tlr-regional-${r}`]!);
    const template = JSON.parse(readFileSync(join(out, 'tlr-regional-eu-west-1.template.json'), 'utf8')) as {
      Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
    };
    const types = Object.values(template.Resources).map((r) => r.Type);

    // Assess
    expect(regional.map((a) => a.environment)).toEqual(REGIONS.map((r) => `aws://${ACCOUNT}/${r}`));
    for (const a of regional) expect(a.dependencies).toContain('tlr-global');
    expect(types).not.toContain('AWS::CDK::Metadata');
    expect(Object.values(template.Resources).find((r) => r.Type === 'AWS::S3::Bucket')!.Properties['BucketName']).toBe(
      `tlr-central-${ACCOUNT}-eu-west-1`,
    );
  });

  it('replicates the API key to every regional stack region but the global one, and trusts the central account', () => {
    // Act
    const global = JSON.parse(readFileSync(join(out, 'tlr-global.template.json'), 'utf8')) as {
      Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
    };
    const secret = Object.values(global.Resources).find((r) => r.Type === 'AWS::SecretsManager::Secret')!;
    const customer = readFileSync(join(out, 'tlr-customer.template.json'), 'utf8');

    // Assess
    expect(secret.Properties['ReplicaRegions']).toEqual([{ Region: 'us-east-1' }]);
    expect(customer).toContain(`:iam::${ACCOUNT}:role/tlr-central-log-distribution`);
    expect(stderr).not.toContain('placeholderCentralAccount');
  });
});
