/**
 * The API server of `npm run bench:api`, in its own process so its CPU time is its own:
 * `node dist/bench/api-server.js <data-dir>`. Prints `{"port":…}` once listening; on
 * SIGTERM prints `{"cpuMs":…}` (user + system since start) and exits.
 */
import { Registry } from 'prom-client';
import { silentLogger } from '../src/logging/index.js';
import { openLocalConfigApi } from '../src/runtimes/config-api-local.js';

const dataDir = process.argv[2];
if (!dataDir) throw new Error('usage: api-server.js <data-dir>');
const server = await openLocalConfigApi({
  store: 'local',
  dataDir,
  env: process.env,
  logger: silentLogger,
  registry: new Registry(),
});
await server.app.listen({ host: '127.0.0.1', port: 0 });
const address = server.app.server.address();
const startCpu = process.cpuUsage();
process.stdout.write(`${JSON.stringify({ port: typeof address === 'object' && address ? address.port : 0 })}\n`);
process.once('SIGTERM', () => {
  const cpu = process.cpuUsage(startCpu);
  process.stdout.write(`${JSON.stringify({ cpuMs: (cpu.user + cpu.system) / 1000 })}\n`);
  void server.close().then(() => process.exit(0));
});
