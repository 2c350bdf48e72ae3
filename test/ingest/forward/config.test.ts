import { describe, expect, it } from 'vitest';
import { ConfigValidationError } from '../../../src/domain/errors.js';
import {
  CONTAINER_LOG_TAG_PATTERN,
  DEFAULT_FORWARD_HOST,
  DEFAULT_FORWARD_PORT,
  DEFAULT_MAX_MESSAGE_BYTES,
  defaultForwardConfig,
  POD_LOG_TAG_PATTERN,
  validateForwardAuthConfig,
  validateForwardConfig,
} from '../../../src/ingest/forward/config.js';

function fieldsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigValidationError);
    return (error as ConfigValidationError).fieldErrors.map((e) => e.field);
  }
  throw new Error('expected a ConfigValidationError');
}

describe('defaultForwardConfig', () => {
  it('listens on 127.0.0.1:24224 with 16 MiB messages and the kubelet log tag patterns', () => {
    // Act
    const config = defaultForwardConfig();

    // Assess
    expect(config).toMatchObject({
      host: DEFAULT_FORWARD_HOST,
      port: DEFAULT_FORWARD_PORT,
      maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
      mapping: { namespace: [], application: [], podName: [], messageFields: ['log'] },
    });
    expect(config.host).toBe('127.0.0.1');
    expect(config.port).toBe(24224);
    expect(config.mapping.tagPatterns).toEqual([CONTAINER_LOG_TAG_PATTERN, POD_LOG_TAG_PATTERN]);
    expect(config.tls).toBeUndefined();
  });
});

describe('validateForwardConfig', () => {
  it('fills in defaults, nested ones included, for the keys left out', () => {
    // Act
    const config = validateForwardConfig({ port: 0, mapping: { namespace: ['/kubernetes/labels/tenant'] } });

    // Assess
    expect(config).toEqual({
      ...defaultForwardConfig(),
      port: 0,
      mapping: { ...defaultForwardConfig().mapping, namespace: ['/kubernetes/labels/tenant'] },
    });
  });

  it.each([
    ['an unknown key', { maxMessageSize: 1 }, 'maxMessageSize'],
    ['a port out of range', { port: 70_000 }, 'port'],
    ['a tiny message limit', { maxMessageBytes: 10 }, 'maxMessageBytes'],
    ['TLS without a key file', { tls: { certFile: 'cert.pem' } }, 'tls.keyFile'],
    ['a pointer without a leading slash', { mapping: { namespace: ['kubernetes.namespace_name'] } }, 'mapping.namespace[0]'],
    ['a tag pattern that is not a regex', { mapping: { tagPatterns: ['(?<namespace>[a-z'] } }, 'mapping.tagPatterns[0]'],
    ['a tag pattern without a namespace group', { mapping: { tagPatterns: ['^(?<pod>.*)$'] } }, 'mapping.tagPatterns[0]'],
  ])('refuses %s, naming the key', (_case, input, field) => {
    // Act
    const fields = fieldsOf(() => validateForwardConfig(input));

    // Assess
    expect(fields.join(' ')).toContain(field);
  });
});

describe('validateForwardAuthConfig', () => {
  const user = { username: 'u', password: 'password-0123456789', cluster_id: 'c1', namespaces: ['team-*'] };

  it('binds a shared key alone to cluster local and every namespace by default', () => {
    // Act
    const auth = validateForwardAuthConfig({ shared_key: 'shared-key-0123456789' });

    // Assess
    expect(auth).toEqual({ shared_key: 'shared-key-0123456789', cluster_id: 'local', namespaces: ['*'], users: [] });
  });

  it.each([
    ['a short shared key', { shared_key: 'short' }, 'shared_key'],
    ['users without a shared key', { users: [user] }, 'shared_key'],
    ['a short password', { shared_key: 'shared-key-0123456789', users: [{ ...user, password: 'pw' }] }, 'users[0].password'],
    ['a user listed twice', { shared_key: 'shared-key-0123456789', users: [user, user] }, 'users[1].username'],
    ['a cluster id with a slash', { shared_key: 'shared-key-0123456789', cluster_id: 'a/b' }, 'cluster_id'],
    ['an internal cluster id', { shared_key: 'shared-key-0123456789', users: [{ ...user, cluster_id: '_x' }] }, 'users[0].cluster_id'],
    ['an upper-case namespace', { shared_key: 'shared-key-0123456789', namespaces: ['Team'] }, 'namespaces'],
    ['an unknown key', { shared_key: 'shared-key-0123456789', sharedKey: 'x' }, 'sharedKey'],
  ])('refuses %s, naming the key', (_case, input, field) => {
    // Act
    const fields = fieldsOf(() => validateForwardAuthConfig(input));

    // Assess
    expect(fields).toContain(field);
  });
});
