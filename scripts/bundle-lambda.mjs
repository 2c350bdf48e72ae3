// Bundles the SQS-triggered processor for AWS Lambda (runtime nodejs22.x) into one ESM file:
// dist/lambda/index.mjs, handler `index.handler`. Uses the local esbuild, no Docker.
import { build } from 'esbuild';

const result = await build({
  entryPoints: ['src/runtimes/lambda.ts'],
  outfile: 'dist/lambda/index.mjs',
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
process.stdout.write(`Wrote dist/lambda/index.mjs (${(bytes / 1024 / 1024).toFixed(1)} MiB, ${inputs.length} inputs).\n`);
