import type { Command } from 'commander';
import {
  DEFAULT_FORWARD_HOST,
  DEFAULT_FORWARD_PORT,
  type ForwardInputOptions,
  readForwardAuthFile,
} from '../ingest/forward/index.js';
import { CliError } from './context.js';

/** The Fluent Forward flags `tlr up` and `tlr ingest serve` share. */
export interface ForwardFlags {
  forward?: boolean;
  forwardPort?: number;
  forwardHost: string;
  forwardTlsCert?: string;
  forwardTlsKey?: string;
  forwardAuth?: string;
}

/** A commander parser for a port flag, naming the flag in its error. */
export function portOf(flag: string): (value: string) => number {
  return (value) => {
    const port = Number(value);
    if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new CliError(`${flag} '${value}' is not a port (0-65535).`);
    return port;
  };
}

/**
 * Adds the Forward flags to a command.
 *
 * @param authHelp - what `--forward-auth` defaults to for this command
 */
export function addForwardOptions(command: Command, forwardHelp: string, authHelp: string): Command {
  return command
    .option('--forward', forwardHelp)
    .option('--forward-port <port>', 'accept Fluent Forward on this port instead (implies --forward)', portOf('--forward-port'))
    .option('--forward-host <host>', 'Forward listen address', DEFAULT_FORWARD_HOST)
    .option('--forward-tls-cert <file>', 'serve Forward over TLS with this PEM certificate (with --forward-tls-key)')
    .option('--forward-tls-key <file>', 'PEM private key of --forward-tls-cert')
    .option('--forward-auth <file>', authHelp);
}

/**
 * The Forward input's options from the flags; undefined when neither `--forward` nor
 * `--forward-port` is given.
 *
 * @throws CliError when TLS or auth flags come without Forward, or a TLS flag without its pair
 */
export async function forwardOptionsFromFlags(flags: ForwardFlags): Promise<ForwardInputOptions | undefined> {
  if (flags.forwardPort === undefined && flags.forward !== true) {
    if (flags.forwardTlsCert || flags.forwardTlsKey || flags.forwardAuth) {
      throw new CliError('--forward-tls-cert, --forward-tls-key and --forward-auth need --forward or --forward-port.');
    }
    return undefined;
  }
  if (Boolean(flags.forwardTlsCert) !== Boolean(flags.forwardTlsKey)) {
    throw new CliError('--forward-tls-cert and --forward-tls-key go together.');
  }
  return {
    config: {
      host: flags.forwardHost,
      port: flags.forwardPort ?? DEFAULT_FORWARD_PORT,
      ...(flags.forwardTlsCert &&
        flags.forwardTlsKey && { tls: { certFile: flags.forwardTlsCert, keyFile: flags.forwardTlsKey } }),
    },
    ...(flags.forwardAuth && { auth: await readForwardAuthFile(flags.forwardAuth) }),
  };
}
