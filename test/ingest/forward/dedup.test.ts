import { describe, expect, it } from 'vitest';
import { createChunkWindow } from '../../../src/ingest/forward/dedup.js';

describe('createChunkWindow', () => {
  it('calls a chunk stored before a duplicate', async () => {
    // Prepare
    const window = createChunkWindow(10);
    const first = await window.claim('user:a', 'chunk-1');

    // Act
    if (first.status === 'new') first.settle(true);
    const second = await window.claim('user:a', 'chunk-1');

    // Assess
    expect(first.status).toBe('new');
    expect(second.status).toBe('duplicate');
    expect(window.size()).toBe(1);
  });

  it('lets a chunk whose storing failed be tried again', async () => {
    // Prepare
    const window = createChunkWindow(10);
    const first = await window.claim('user:a', 'chunk-1');

    // Act
    if (first.status === 'new') first.settle(false);
    const second = await window.claim('user:a', 'chunk-1');

    // Assess
    expect(second.status).toBe('new');
  });

  it('makes a resend wait while the first copy is being stored', async () => {
    // Prepare
    const window = createChunkWindow(10);
    const first = await window.claim('user:a', 'chunk-1');
    let resolved = false;

    // Act
    const second = window.claim('user:a', 'chunk-1').then((c) => {
      resolved = true;
      return c;
    });
    await Promise.resolve();
    const resolvedBeforeSettle = resolved;
    if (first.status === 'new') first.settle(true);

    // Assess
    expect(resolvedBeforeSettle).toBe(false);
    expect((await second).status).toBe('duplicate');
  });

  it('forgets the oldest ids beyond the window', async () => {
    // Prepare
    const window = createChunkWindow(2);
    for (const id of ['c1', 'c2', 'c3']) {
      const claim = await window.claim('user:a', id);
      if (claim.status === 'new') claim.settle(true);
    }

    // Act
    const statuses = await Promise.all(['c1', 'c2', 'c3'].map(async (id) => (await window.claim('user:a', id)).status));

    // Assess
    expect(statuses).toEqual(['new', 'duplicate', 'duplicate']);
    expect(window.size()).toBe(2);
  });

  it('keeps identities apart', async () => {
    // Prepare
    const window = createChunkWindow(10);
    const claim = await window.claim('user:a', 'chunk-1');
    if (claim.status === 'new') claim.settle(true);

    // Act
    const other = await window.claim('user:b', 'chunk-1');

    // Assess
    expect(other.status).toBe('new');
  });

  it('detects nothing with a window of 0', async () => {
    // Prepare
    const window = createChunkWindow(0);
    const claim = await window.claim('user:a', 'chunk-1');
    if (claim.status === 'new') claim.settle(true);

    // Act
    const again = await window.claim('user:a', 'chunk-1');

    // Assess
    expect(again.status).toBe('new');
    expect(window.size()).toBe(0);
  });
});
