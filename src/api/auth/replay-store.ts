/**
 * The port the API's replay check writes through: in memory for one process
 * (`createReplayGuard`), or shared by every replica (`createDynamoReplayStore` on AWS).
 */

/** Remembers signatures of mutating requests until they can no longer be accepted anyway. */
export interface ReplayStore {
  /**
   * Record a signature until `expiresAtMs`, in one step with the check.
   *
   * @param signature - hex signature, any case
   * @param expiresAtMs - epoch ms after which the signature would be refused anyway (its
   *   signed timestamp + the accepted skew)
   * @returns `true` when the signature was already recorded and has not expired (a replay)
   * @throws the store's error when it cannot answer; the API then answers 503
   */
  remember(signature: string, expiresAtMs: number): Promise<boolean>;
}
