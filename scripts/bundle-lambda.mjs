// Bundles the Lambda functions (runtime nodejs22.x), one ESM file each, with the local
// esbuild (no Docker):
//   dist/lambda/index.mjs  the SQS-triggered processor, handler `index.handler`
//   dist/lambda/api.mjs    the config API (`api.handler`) and its authorizer (`api.authorizer`)
//   dist/lambda/cloudwatch.mjs  EKS control-plane logs from a CloudWatch Logs subscription or a
//                          Firehose transformation into the central bucket (`cloudwatch.handler`)
import { build } from 'esbuild';

const result = await build({
  entryPoints: {
    index: 'src/runtimes/lambda.ts',
    api: 'src/runtimes/lambda-api.ts',
    cloudwatch: 'src/runtimes/lambda-cloudwatch.ts',
  },
  outdir: 'dist/lambda',
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  target: 'node22',
  format: 'esm',
  sourcemap: true,
  metafile: true,
  // Some bundled CommonJS dependencies call require(); give ESM output one.
  banner: { js: "import { createRequire as __tlrCreateRequire } from 'node:module'; const require = __tlrCreateRequire(import.meta.url);" },
  logLevel: 'warning',
});
const inputs = Object.keys(result.metafile.inputs);
if (inputs.some((path) => path.includes('better-sqlite3'))) {
  throw new Error('The Lambda bundle must not include the embedded SQLite stores.');
}
const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
const names = Object.keys(result.metafile.outputs).filter((path) => path.endsWith('.mjs')).join(', ');
process.stdout.write(`Wrote ${names} (${(bytes / 1024 / 1024).toFixed(1)} MiB, ${inputs.length} inputs).\n`);
