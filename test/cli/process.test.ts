import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

const saved = { ...process.env };

afterEach(() => {
  for (const key of ['TENANT_CONFIG_TABLE', 'EXECUTION_MODE', 'SQS_QUEUE_URL']) {
    if (saved[key] === undefined) delete process.env[key];
    else process.env[key] = saved[key];
  }
});

describe('tlr process', () => {
  it.each([
    { case: 'an unknown --mode', args: ['process', '--mode', 'batch'], stderr: "must be one of lambda, sqs, manual, scan; got 'batch'" },
    { case: 'no mode at all', args: ['process'], stderr: "must be one of lambda, sqs, manual, scan; got ''" },
    { case: "'lambda' outside Lambda", args: ['process', '--mode', 'lambda'], stderr: 'deploy dist/lambda/index.mjs' },
    { case: "'sqs' without its variables", args: ['process', '--mode', 'sqs'], stderr: 'SQS_QUEUE_URL: is required' },
  ])('exits 1 with a clear message for $case', async ({ args, stderr }) => {
    // Prepare
    delete process.env['EXECUTION_MODE'];
    delete process.env['TENANT_CONFIG_TABLE'];

    // Act
    const run = await runCli(args);

    // Assess
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(stderr);
  });

  it('refuses a --metrics-port that is not a port before doing any work', async () => {
    // Prepare
    process.env['TENANT_CONFIG_TABLE'] = 'configs';

    // Act
    const run = await runCli(['process', '--mode', 'manual', '--metrics-port', 'ninety']);

    // Assess
    expect(run).toMatchObject({ code: 1, stderr: "Error: --metrics-port 'ninety' is not a port (0-65535).\n" });
  });
});
