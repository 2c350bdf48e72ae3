import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * The Lambda code of the regional stack, built at synth time with the repository's own
 * esbuild script (`scripts/bundle-lambda.mjs`, also behind `npm run bundle:lambda`): local,
 * no Docker. Each function gets a directory holding only its own bundle, so an asset is the
 * one file its handler loads.
 */

/** The bundles, by the module name their handler names (`index.handler`, `api.handler`, …). */
export const LambdaBundle = { PROCESSOR: 'index', API: 'api', CLOUDWATCH: 'cloudwatch' } as const;
export type LambdaBundle = (typeof LambdaBundle)[keyof typeof LambdaBundle];

/** One directory per bundle, each holding `<bundle>.mjs`: what `lambda.Code.fromAsset` takes. */
export type LambdaBundleDirs = Readonly<Record<LambdaBundle, string>>;

/** What `scripts/bundle-lambda.mjs` exports (a plain ESM script, so typed here). */
interface BundleScript {
  bundleLambdas(options: { outDir: string; entries: string[]; sourcemap: boolean }): Promise<{ files: string[] }>;
}

const PACKAGE_NAME = 'tenant-log-router';

/**
 * The repository root, found upwards from this module, so the same code works from
 * `deploy/cdk/lib` (tests) and from `dist/deploy/cdk/lib` (the compiled CDK app).
 *
 * @throws Error when no `package.json` of the project is found above this module
 */
export function repositoryRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (true) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === PACKAGE_NAME) {
      return dir;
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`No package.json of '${PACKAGE_NAME}' above ${fileURLToPath(import.meta.url)}.`);
    dir = parent;
  }
}

let building: Promise<LambdaBundleDirs> | undefined;
let outRoot: string | undefined;

/**
 * Builds the three Lambda bundles once per process into a fresh temporary directory (one
 * sub-directory per bundle, no source maps) and returns their directories. Later calls get
 * the same directories, so tests build once however many stacks they synthesize; a
 * directory per process keeps parallel test workers from writing the same files. CDK copies
 * the assets into its output during synth; the directory is removed when the process exits.
 *
 * @returns the directory of each bundle
 * @throws Error when esbuild fails (the cached promise is dropped, so a later call tries again)
 * @example
 * const bundles = await prepareLambdaBundles();
 * new TlrRegionalStack(app, 'tlr-regional', { prefix: 'tlr', bundles });
 */
export function prepareLambdaBundles(): Promise<LambdaBundleDirs> {
  building ??= buildBundles().catch((error: unknown) => {
    building = undefined;
    throw error;
  });
  return building;
}

async function buildBundles(): Promise<LambdaBundleDirs> {
  const root = repositoryRoot();
  const script = (await import(pathToFileURL(join(root, 'scripts', 'bundle-lambda.mjs')).href)) as BundleScript;
  const bundleRoot = mkdtempSync(join(tmpdir(), 'tlr-cdk-lambda-'));
  outRoot = bundleRoot;
  process.once('exit', () => rmSync(bundleRoot, { recursive: true, force: true }));
  const names = Object.values(LambdaBundle);
  const dirs = names.map((name) => join(bundleRoot, name));
  await Promise.all(
    names.map((name, i) => script.bundleLambdas({ outDir: dirs[i]!, entries: [name], sourcemap: false })),
  );
  return Object.fromEntries(names.map((name, i) => [name, dirs[i]!])) as Record<LambdaBundle, string>;
}

/**
 * Removes the bundles of this process and forgets them; the next `prepareLambdaBundles()`
 * builds again. For test workers, which may be stopped without an `exit` event.
 */
export async function disposeLambdaBundles(): Promise<void> {
  const pending = building;
  building = undefined;
  await pending?.catch(() => undefined);
  if (outRoot !== undefined) rmSync(outRoot, { recursive: true, force: true });
  outRoot = undefined;
}
