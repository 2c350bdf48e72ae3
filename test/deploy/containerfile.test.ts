import { existsSync, readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// Static checks of the image build. Nothing here builds the image: there is no container
// engine on the test machines (`docker info` fails); where one runs, `docker build -f
// Containerfile .` is the full check.

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Instruction {
  readonly keyword: string;
  readonly args: string;
  /** The 0-based stage the instruction belongs to (-1: before the first FROM). */
  readonly stage: number;
}

/** Splits a Containerfile into instructions: comments dropped, `\` continuations joined. */
function parseContainerfile(text: string): Instruction[] {
  const logical: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.startsWith('#')) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    logical.push(`${pending}${line}`.trim());
    pending = '';
  }
  let stage = -1;
  return logical.filter((l) => l !== '').map((l) => {
    const [keyword, ...rest] = l.split(/\s+/);
    if (keyword!.toUpperCase() === 'FROM') stage += 1;
    return { keyword: keyword!.toUpperCase(), args: rest.join(' '), stage };
  });
}

/** The sources and destination of a COPY (shell or JSON form), and its --from stage if any. */
function parseCopy(args: string): { from?: string; sources: string[]; destination: string } {
  const words = args.split(/\s+/);
  const flags = words.filter((w) => w.startsWith('--'));
  const rest = words.filter((w) => !w.startsWith('--'));
  const paths = args.trim().endsWith(']') ? (JSON.parse(rest.join(' ')) as string[]) : rest;
  const from = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length);
  return { ...(from !== undefined && { from }), sources: paths.slice(0, -1), destination: paths[paths.length - 1]! };
}

/**
 * Whether .dockerignore leaves a path out of the build context. Supports the forms the
 * file uses: plain paths (which cover everything under them), `*`, `**` and `!` exceptions,
 * the last matching line winning.
 */
function isIgnored(patterns: readonly string[], path: string): boolean {
  const toRegExp = (pattern: string) => {
    const source = pattern.split(/(\*\*\/|\*\*|\*|\?)/).map((token) => {
      if (token === '**/') return '(?:.*/)?';
      if (token === '**') return '.*';
      if (token === '*') return '[^/]*';
      if (token === '?') return '[^/]';
      return token.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    }).join('');
    return new RegExp(`^${source}(?:/.*)?$`);
  };
  let ignored = false;
  for (const line of patterns) {
    const negated = line.startsWith('!');
    const pattern = posix.normalize((negated ? line.slice(1) : line).replace(/^\//, ''));
    if (toRegExp(pattern).test(path)) ignored = !negated;
  }
  return ignored;
}

const containerfile = readFileSync(`${ROOT}Containerfile`, 'utf8');
const instructions = parseContainerfile(containerfile);
const lastStage = Math.max(...instructions.map((i) => i.stage));
const finalStage = instructions.filter((i) => i.stage === lastStage);
const ignorePatterns = readFileSync(`${ROOT}.dockerignore`, 'utf8').split('\n').map((l) => l.trim())
  .filter((l) => l !== '' && !l.startsWith('#'));

describe('Containerfile', () => {
  it('builds in one stage and runs from another', () => {
    // Act
    const froms = instructions.filter((i) => i.keyword === 'FROM');

    // Assess
    expect(froms.length).toBeGreaterThanOrEqual(2);
    expect(froms[0]!.args).toMatch(/\bAS build\b/i);
  });

  it('runs the final stage as a numeric, non-root user', () => {
    // Act
    const user = finalStage.filter((i) => i.keyword === 'USER').at(-1)?.args;
    const [uid, gid] = (user ?? '').split(':');

    // Assess
    expect(uid).toMatch(/^\d+$/);
    expect(Number(uid)).toBeGreaterThan(0);
    if (gid !== undefined) expect(gid).toMatch(/^\d+$/);
  });

  it('installs no packages in the final stage, so no dev dependency or compiler can reach it', () => {
    // Act
    const runs = finalStage.filter((i) => i.keyword === 'RUN').map((i) => i.args);

    // Assess
    expect(runs.filter((r) => /\b(npm|npx|yarn|pnpm)\s+(ci|install|i|add)\b/.test(r))).toEqual([]);
    expect(runs.filter((r) => /\bapt(-get)?\s+install\b/.test(r))).toEqual([]);
  });

  it('prunes dev dependencies in the build stage before the final stage copies node_modules', () => {
    // Act
    const buildRuns = instructions.filter((i) => i.stage === 0 && i.keyword === 'RUN').map((i) => i.args).join('\n');
    const copiedModules = finalStage.filter((i) => i.keyword === 'COPY').map((i) => parseCopy(i.args))
      .filter((c) => c.sources.some((s) => s.includes('node_modules')));

    // Assess
    expect(buildRuns).toMatch(/npm ci\b/);
    expect(buildRuns).toMatch(/npm run build\b/);
    expect(buildRuns).toMatch(/npm prune --omit=dev\b/);
    expect(copiedModules).toHaveLength(1);
    expect(copiedModules[0]!.from).toBe('build');
  });

  it('starts bin/tlr.js, and ships the compiled module that bin/tlr.js imports', () => {
    // Prepare
    const entrypoint = JSON.parse(finalStage.filter((i) => i.keyword === 'ENTRYPOINT').at(-1)!.args) as string[];
    const workdir = finalStage.filter((i) => i.keyword === 'WORKDIR').at(-1)!.args;
    const binImport = /from '(\.\.\/dist\/[^']+)'/.exec(readFileSync(`${ROOT}bin/tlr.js`, 'utf8'))![1]!;

    // Act
    const imported = posix.join(workdir, 'bin', binImport); // /app/dist/src/cli/main.js
    const copied = finalStage.filter((i) => i.keyword === 'COPY').map((i) => parseCopy(i.args))
      .map((c) => posix.resolve(workdir, c.destination));

    // Assess
    expect(entrypoint).toEqual(['node', posix.join(workdir, 'bin/tlr.js')]);
    expect(copied).toContain(posix.join(workdir, 'bin'));
    expect(copied).toContain(posix.join(workdir, 'package.json'));
    expect(copied.some((dir) => imported.startsWith(`${dir}/`))).toBe(true);
  });

  it('copies from the build context only paths that exist and that .dockerignore keeps', () => {
    // Act
    const sources = instructions.filter((i) => i.keyword === 'COPY').map((i) => parseCopy(i.args))
      .filter((c) => c.from === undefined).flatMap((c) => c.sources).map((s) => s.replace(/\/$/, ''));

    // Assess
    expect(sources).toEqual(expect.arrayContaining(['package.json', 'package-lock.json', 'bin', 'src']));
    expect(sources.filter((s) => !existsSync(`${ROOT}${s}`))).toEqual([]);
    expect(sources.filter((s) => isIgnored(ignorePatterns, s))).toEqual([]);
  });

  it('copies everything tsconfig.build.json compiles before the build runs', () => {
    // Prepare
    const include = (JSON.parse(readFileSync(`${ROOT}tsconfig.build.json`, 'utf8')) as { include: string[] }).include;

    // Act
    const copied = instructions.filter((i) => i.stage === 0 && i.keyword === 'COPY').map((i) => parseCopy(i.args))
      .flatMap((c) => c.sources).map((s) => s.replace(/\/$/, ''));

    // Assess
    expect(include.filter((dir) => !copied.includes(dir))).toEqual([]);
  });

  it('leaves the host\'s node_modules, dist and .git out of the build context', () => {
    // Act
    const kept = ['node_modules', 'node_modules/x/index.js', 'dist/src/cli/main.js', '.git/HEAD', 'coverage/index.html']
      .filter((path) => !isIgnored(ignorePatterns, path));

    // Assess
    expect(kept).toEqual([]);
  });

  it('bakes no credentials into the image', () => {
    // Act
    const env = instructions.filter((i) => ['ENV', 'ARG'].includes(i.keyword)).map((i) => i.args).join(' ');

    // Assess
    expect(env).not.toMatch(/AWS_(ACCESS_KEY_ID|SECRET_ACCESS_KEY|SESSION_TOKEN)|TLR_API_PSK|TLR_INGEST_TOKEN|PASSWORD|SECRET/i);
  });
});
