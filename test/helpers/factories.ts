import { randomUUID } from 'node:crypto';
import type { DeliveryConfig } from '../../src/domain/delivery-config.js';

/** A short random id, lowercase hex: valid in tenant ids, key segments and names. */
export function randomId(): string {
  return randomUUID().replaceAll('-', '').slice(0, 12);
}

/** A delivery config as a caller sends it: defaults not applied, any field allowed. */
export type DeliveryConfigInput = Partial<DeliveryConfig> & Record<string, unknown>;

/**
 * A valid `file` delivery config for a random tenant.
 *
 * @param overrides - fields to set or replace, valid or not; set a field to `undefined` to leave it out
 */
export function deliveryConfigFactory(
  overrides: Record<string, unknown> = {},
): DeliveryConfigInput & { tenant_id: string; type: string } {
  const id = randomId();
  const config: Record<string, unknown> = {
    tenant_id: `tenant-${id}`,
    type: 'file',
    directory: `/var/log/tlr/${id}`,
    ...overrides,
  };
  for (const [key, value] of Object.entries(config)) if (value === undefined) delete config[key];
  return config as DeliveryConfigInput & { tenant_id: string; type: string };
}

/** The parts of a central object key, each a random valid segment. */
export function objectKeyPartsFactory(
  overrides: Partial<{ clusterId: string; namespace: string; application: string; podName: string }> = {},
): { clusterId: string; namespace: string; application: string; podName: string } {
  const id = randomId();
  return {
    clusterId: `cluster-${id}`,
    namespace: `tenant-${id}`,
    application: `app-${id}`,
    podName: `pod-${id}-0`,
    ...overrides,
  };
}
