// Bundles the Lambda functions (runtime nodejs22.x), one ESM file each, with the local
// esbuild (no Docker):
//   dist/lambda/index.mjs  the SQS-triggered processor, handler `index.handler`
//   dist/lambda/api.mjs    the config API (`api.handler`) and its authorizer (`api.authorizer`)
//   dist/lambda/cloudwatch.mjs  EKS control-plane logs from a CloudWatch Logs subscription or a
//                          Firehose transformation into the central bucket (`cloudwatch.handler`)
//
// `npm run bundle:lambda` runs it as a script; the CDK app imports `bundleLambdas` and builds
// each function's code into its own directory at synth time.
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

/** The repository root: the parent of this script's folder. */
const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Bundle name (the handler's module: `index.handler`, `api.handler`, …) → source entry point. */
export const LAMBDA_ENTRIES = {
  index: 'src/runtimes/lambda.ts',
  api: 'src/runtimes/lambda-api.ts',
  cloudwatch: 'src/runtimes/lambda-cloudwatch.ts',
};

// Some bundled CommonJS dependencies call require(); give ESM output one.
const REQUIRE_BANNER =
  "import { createRequire as __tlrCreateRequire } from 'node:module'; const require = __tlrCreateRequire(import.meta.url);";

/**
 * Bundles the chosen Lambda entry points into `outDir` as `<name>.mjs`.
 *
 * @param {object} [options]
 * @param {string} [options.outDir] - output directory, relative to the repository root; default `dist/lambda`
 * @param {string[]} [options.entries] - names from LAMBDA_ENTRIES; default all three
 * @param {boolean} [options.sourcemap] - write `.map` files too; default true
 * @returns {Promise<{ files: string[], bytes: number, inputs: number }>} the `.mjs` files written (absolute paths)
 * @throws Error when an entry name is unknown, esbuild fails, or the bundle pulls in the embedded SQLite stores
 */
export async function bundleLambdas(options = {}) {
  const names = options.entries ?? Object.keys(LAMBDA_ENTRIES);
  const unknown = names.filter((name) => !Object.hasOwn(LAMBDA_ENTRIES, name));
  if (unknown.length > 0) {
    throw new Error(`Unknown Lambda bundle '${unknown.join("', '")}'; known: ${Object.keys(LAMBDA_ENTRIES).join(', ')}.`);
  }
  const result = await build({
    absWorkingDir: REPO_ROOT,
    entryPoints: Object.fromEntries(names.map((name) => [name, LAMBDA_ENTRIES[name]])),
    outdir: resolve(REPO_ROOT, options.outDir ?? 'dist/lambda'),
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'esm',
    sourcemap: options.sourcemap ?? true,
    metafile: true,
    banner: { js: REQUIRE_BANNER },
    logLevel: 'warning',
  });
  const inputs = Object.keys(result.metafile.inputs);
  if (inputs.some((path) => path.includes('better-sqlite3'))) {
    throw new Error('The Lambda bundle must not include the embedded SQLite stores.');
  }
  const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
  const files = Object.keys(result.metafile.outputs)
    .filter((path) => path.endsWith('.mjs'))
    .map((path) => resolve(REPO_ROOT, path));
  return { files, bytes, inputs: inputs.length };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const { files, bytes, inputs } = await bundleLambdas();
  const names = files.map((file) => file.slice(REPO_ROOT.length + 1)).join(', ');
  process.stdout.write(`Wrote ${names} (${(bytes / 1024 / 1024).toFixed(1)} MiB, ${inputs} inputs).\n`);
}
