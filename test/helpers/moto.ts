import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import type { AwsSettings } from '../../src/aws/index.js';

/**
 * A moto server (a real AWS-API server in python3) for one test file: started on a free
 * 127.0.0.1 port, stopped by its own PID. Parallel files each start their own, since
 * `POST /moto-api/reset` wipes state for every client of one server.
 */
export interface MotoServer {
  readonly endpoint: string;
  readonly pid: number;
  /** Settings for the router's AWS clients pointing at this server. */
  readonly settings: AwsSettings;
  /** Wipes every service's state. */
  reset(): Promise<void>;
  stop(): Promise<void>;
}

const MOTO_VERSION = '5.2.1';

function probeMoto(): string | undefined {
  try {
    const version = execFileSync('python3', ['-c', 'import moto; print(moto.__version__)'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    return version;
  } catch {
    return undefined;
  }
}

const detected = probeMoto();

/**
 * Why the AWS integration tests cannot run here, or undefined when they can. In CI a
 * missing moto is an error, not a skip.
 */
export const motoUnavailable: string | undefined = detected
  ? undefined
  : `moto ${MOTO_VERSION} is not importable from python3 (pip install 'moto[server]==${MOTO_VERSION}')`;

if (motoUnavailable && process.env['CI']) {
  throw new Error(`CI requires moto: ${motoUnavailable}.`);
}
if (motoUnavailable) {
  process.stderr.write(`Skipping AWS integration tests: ${motoUnavailable}.\n`);
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

const started = new Set<ChildProcess>();

/**
 * Starts moto and waits until it answers.
 * @param env - extra environment for moto (e.g. `S3_UPLOAD_PART_MIN_SIZE`)
 */
export async function startMoto(env: Record<string, string> = {}): Promise<MotoServer> {
  const port = await freePort();
  const child = spawn('python3', ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...env },
  });
  started.add(child);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4_000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const endpoint = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`moto exited early (${child.exitCode}): ${stderr}`);
    try {
      const response = await fetch(`${endpoint}/moto-api/data.json`);
      if (response.ok) break;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`moto did not start within 20 s: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    endpoint,
    pid: child.pid!,
    settings: { region: 'us-east-1', endpoint, s3PathStyle: true },
    async reset() {
      await fetch(`${endpoint}/moto-api/reset`, { method: 'POST' });
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
        await exited;
        clearTimeout(timer);
      }
      started.delete(child);
    },
  };
}

/** Credentials moto accepts; set before any SDK client is built. */
export function useFakeAwsCredentials(): void {
  process.env['AWS_ACCESS_KEY_ID'] ??= 'testing';
  process.env['AWS_SECRET_ACCESS_KEY'] ??= 'testing';
  process.env['AWS_REGION'] ??= 'us-east-1';
}

// A test file that throws before its afterAll still must not leave moto running.
process.once('exit', () => {
  for (const child of started) child.kill('SIGKILL');
});
