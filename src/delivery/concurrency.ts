/**
 * Runs `fn` over `items` with at most `limit` calls in flight, taking items in order.
 * Rejects with the first failure once the calls in flight have settled their items.
 *
 * @param limit - calls at once; at least 1
 */
export async function forEachConcurrently<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
