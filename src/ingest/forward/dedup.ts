/**
 * The duplicate-chunk window. A Forward client that loses its connection before the ack
 * resends the chunk, with the same chunk id, on a new connection; if the first copy was stored,
 * storing the resend would duplicate every event in it. So the last acked chunk ids of each
 * identity are remembered, and a chunk still being stored makes its resend wait for the outcome.
 *
 * The window lives in memory: a restart between storing a chunk and acking it can still
 * store that chunk twice (at least once, never lost).
 */

/** What to do with a chunk. */
export type ChunkClaim =
  | {
      readonly status: 'new';
      /** Report the outcome: stored (remember the id) or not (a resend may try again). */
      settle(stored: boolean): void;
    }
  | { readonly status: 'duplicate' };

/** The recent chunk ids of every identity. */
export interface ChunkWindow {
  /**
   * Claims a chunk id for an identity. Resolves at once, except when the same chunk is being
   * stored by another connection: then it waits for that outcome.
   */
  claim(identityId: string, chunk: string): Promise<ChunkClaim>;
  /** Chunk ids remembered in all, for the gauge. */
  size(): number;
}

interface IdentityWindow {
  /** Acked ids in the order they were acked; a Set iterates in insertion order, so the first is the oldest. */
  readonly acked: Set<string>;
  readonly storing: Map<string, Promise<boolean>>;
}

const UNTRACKED: ChunkClaim = { status: 'new', settle: () => {} };
const DUPLICATE: ChunkClaim = { status: 'duplicate' };

/**
 * Creates the window.
 *
 * @param maxChunksPerIdentity - acked ids kept per identity; 0 turns duplicate detection off
 */
export function createChunkWindow(maxChunksPerIdentity: number): ChunkWindow {
  const windows = new Map<string, IdentityWindow>();
  let total = 0;

  function windowOf(identityId: string): IdentityWindow {
    let window = windows.get(identityId);
    if (!window) {
      window = { acked: new Set(), storing: new Map() };
      windows.set(identityId, window);
    }
    return window;
  }

  return {
    async claim(identityId, chunk) {
      if (maxChunksPerIdentity === 0) return UNTRACKED;
      const window = windowOf(identityId);
      for (;;) {
        if (window.acked.has(chunk)) return DUPLICATE;
        const storing = window.storing.get(chunk);
        if (storing === undefined) break;
        await storing;
      }
      let settle!: (stored: boolean) => void;
      window.storing.set(chunk, new Promise<boolean>((resolve) => (settle = resolve)));
      return {
        status: 'new',
        settle(stored) {
          window.storing.delete(chunk);
          if (stored && !window.acked.has(chunk)) {
            window.acked.add(chunk);
            total++;
            if (window.acked.size > maxChunksPerIdentity) {
              window.acked.delete(window.acked.values().next().value!);
              total--;
            }
          }
          settle(stored);
        },
      };
    },
    size: () => total,
  };
}
