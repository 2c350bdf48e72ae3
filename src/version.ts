import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The router's version, from the nearest package.json above this module. */
export function routerVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'tenant-log-router' && pkg.version) return pkg.version;
    } catch {
      // Not here; look one level up.
    }
    dir = dirname(dir);
  }
  return '0.0.0';
}
