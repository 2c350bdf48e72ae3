import { Command, CommanderError } from 'commander';
import { routerVersion } from '../version.js';
import { registerApiCommand } from './commands/api.js';
import { registerAthenaCommand } from './commands/athena.js';
import { registerConfigsCommand } from './commands/configs.js';
import { registerDemoCommand } from './commands/demo.js';
import { registerDlqCommand } from './commands/dlq.js';
import { registerIngestCommand } from './commands/ingest.js';
import { registerProcessCommand } from './commands/process.js';
import { registerReplayCommand } from './commands/replay.js';
import { registerTokensCommand } from './commands/tokens.js';
import { registerUpCommand } from './commands/up.js';
import { type CliIo, type GlobalOptions, processIo, reportError } from './context.js';

/** Builds the `tlr` command tree. */
export function createProgram(io: CliIo = processIo): Command {
  const program = new Command('tlr')
    .description('Tenant Log Router: centralized ingestion, decentralized delivery of multi-tenant logs.')
    .version(routerVersion())
    .option('--data-dir <dir>', 'data directory of the embedded stores (env TLR_DATA_DIR; default ./.tlr)')
    .option('--json', 'print JSON instead of tables')
    .option('--log-level <level>', 'debug, info, warn or error (env LOG_LEVEL; default info)')
    .option(
      '--store <where>',
      "configs, dlq and replay work on 'local' (the data directory) or 'aws' (TENANT_CONFIG_TABLE, SQS_QUEUE_URL, … from the environment); env TLR_STORE",
    )
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err });
  const globals = () => program.opts<GlobalOptions>();
  registerUpCommand(program, io, globals);
  registerApiCommand(program, io, globals);
  registerDemoCommand(program, io, globals);
  registerConfigsCommand(program, io, globals);
  registerDlqCommand(program, io, globals);
  registerProcessCommand(program, io, globals);
  registerReplayCommand(program, io, globals);
  registerTokensCommand(program, io, globals);
  registerIngestCommand(program, io, globals);
  registerAthenaCommand(program, io);
  for (const command of program.commands)
    command.exitOverride().configureOutput({ writeOut: io.out, writeErr: io.err });
  return program;
}

/**
 * Runs the CLI.
 * @param argv - `process.argv` form (node, script, args…)
 * @returns the exit code
 */
export async function main(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const program = createProgram(io);
  try {
    await program.parseAsync([...argv]);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    return reportError(error, io);
  }
}
