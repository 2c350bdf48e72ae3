import Type, { type Static } from 'typebox';
import Value from 'typebox/value';
import {
  ConfigValidationError,
  type FieldError,
  INTERNAL_KEY_PREFIX,
  isValidKeySegment,
  schemaFieldErrors,
} from '../../domain/index.js';

/** 1 MiB in bytes. */
const MIB = 1024 * 1024;

/** Listeners bind loopback unless told otherwise (architecture property 4). */
export const DEFAULT_FORWARD_HOST = '127.0.0.1';
/** The port fluentd's `in_forward` and every Forward client default to. */
export const DEFAULT_FORWARD_PORT = 24224;
/** The name the server gives in PONG; a client refuses a server that has its own name. */
export const DEFAULT_FORWARD_SELF_HOSTNAME = 'tlr';
/**
 * Default largest message on the wire. fluentd's memory buffer cuts chunks at 8 MB and Fluent
 * Bit's at about 2 MB, so 16 MiB takes either with room; a file buffer (256 MB chunks by
 * default) must set `chunk_limit_size` below it.
 */
export const DEFAULT_MAX_MESSAGE_BYTES = 16 * MIB;
/**
 * Default largest entry stream after gunzip. It bounds what one gzip bomb can cost; a chunk
 * of log lines rarely compresses more than 10:1, so 64 MiB leaves a 16 MiB chunk room.
 */
export const DEFAULT_MAX_DECOMPRESSED_BYTES = 64 * MIB;
/** Default most connections at once; each may hold one message, so this bounds memory too. */
export const DEFAULT_MAX_CONNECTIONS = 100;
/** Default time a connection may stay silent before it is closed. Clients reconnect on their own. */
export const DEFAULT_IDLE_TIMEOUT_MS = 300_000;
/** Default time from HELO to the client's PING. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
/** Default idle time before the kernel starts TCP keep-alive probes (dead peers are found). */
export const DEFAULT_KEEPALIVE_INITIAL_DELAY_MS = 30_000;
/** Default buffered bytes above which connections stop being read; same as the HTTP ingest's 503 threshold. */
export const DEFAULT_FORWARD_MAX_BUFFERED_BYTES = 256 * MIB;
/** Default period at which a connection held back by a full buffer checks it again. */
export const DEFAULT_BACKPRESSURE_CHECK_MS = 200;
/**
 * Default acked chunk ids remembered per client identity. fluentd sends one chunk at a time
 * per connection and resends an unacked one on reconnect, so a few thousand covers any resend.
 */
export const DEFAULT_DEDUP_WINDOW_CHUNKS = 4_096;
/** Shared keys and passwords are typed by operators; refuse ones short enough to guess. */
export const MIN_FORWARD_SECRET_CHARS = 16;
/** The cluster a shared key writes as when the auth config names none (`tlr up`'s local cluster). */
export const DEFAULT_FORWARD_CLUSTER_ID = 'local';

/**
 * Where the kubelet's container log files sit, as tail inputs turn their path into a tag:
 * `kube.var.log.containers.<pod>_<namespace>_<container>-<64 hex>.log` (Fluent Bit) or
 * `kubernetes.var.log.containers.…` (fluentd, OpenShift).
 */
export const CONTAINER_LOG_TAG_PATTERN =
  '(?:^|\\.)containers\\.(?<pod_name>[^_]+)_(?<namespace>[^_]+)_(?<container_name>.+)-[0-9a-f]{64}\\.log$';
/** The newer `/var/log/pods/<namespace>_<pod>_<uid>/<container>/<n>.log` layout, as a tag. */
export const POD_LOG_TAG_PATTERN =
  '(?:^|\\.)pods\\.(?<namespace>[^_.]+)_(?<pod_name>[^_]+)_[0-9a-f-]{36}\\.(?<container_name>[^.]+)\\.\\d+\\.log$';

/** A namespace name in which `*` may stand for any run of characters (same rule as the ingest tokens). */
const NAMESPACE_PATTERN_REGEX = /^[a-z0-9*]([-a-z0-9*]{0,251}[a-z0-9*])?$/;
/** RFC 6901 JSON Pointer: empty, or `/`-separated reference tokens. */
const JSON_POINTER_REGEX = /^(\/([^~/]|~[01])*)+$/;

const PointerList = (what: string) =>
  Type.Array(Type.String({ pattern: JSON_POINTER_REGEX.source, errorMessage: 'must be JSON Pointers (RFC 6901)' }), {
    default: [],
    description:
      `JSON Pointers (RFC 6901, e.g. \`/kubernetes/labels/app.kubernetes.io~1name\`) tried in order for the ${what}; ` +
      'the first one set wins over the built-in layouts. Default none: the built-in layouts only.',
  });

/** How a Forward record finds its place in the central key, beyond the built-in layouts. */
export const ForwardMappingConfigSchema = Type.Object(
  {
    namespace: PointerList('namespace'),
    application: PointerList('application'),
    podName: PointerList('pod name'),
    tagPatterns: Type.Array(Type.String({ minLength: 1 }), {
      default: [CONTAINER_LOG_TAG_PATTERN, POD_LOG_TAG_PATTERN],
      description:
        'Regular expressions tried on the tag of a record that names no namespace itself; named groups ' +
        '`namespace` (required), `pod_name`, `application` or `container_name` fill the key. ' +
        'Default: the kubelet log file tags of Fluent Bit and fluentd tail inputs.',
    }),
    messageFields: Type.Array(Type.String({ minLength: 1 }), {
      default: ['log'],
      description:
        'Top-level string fields renamed to `message` when a record has none (Fluent Bit and fluentd tail ' +
        "records carry the line in `log`), so destinations get the line and not the record's JSON. Default `log`.",
    }),
  },
  {
    additionalProperties: false,
    default: {},
    description:
      'Key mapping. Built in, in this order: flat `namespace`/`application`/`pod_name`; Vector ' +
      '`kubernetes.pod_namespace`/`pod_labels.app`; fluentd and Fluent Bit `kubernetes.namespace_name`, ' +
      '`pod_name`, `labels.app`, `container_name`.',
  },
);
/** The key mapping of the Forward input. */
export type ForwardMappingConfig = Static<typeof ForwardMappingConfigSchema>;

/** The Forward input's config, as an operator writes it (secrets are in the auth config). */
export const ForwardConfigSchema = Type.Object(
  {
    host: Type.String({ minLength: 1, default: DEFAULT_FORWARD_HOST, description: 'Listen address. Default 127.0.0.1.' }),
    port: Type.Integer({
      minimum: 0,
      maximum: 65_535,
      default: DEFAULT_FORWARD_PORT,
      description: 'Listen TCP port; 0 picks a free one. Default 24224.',
    }),
    selfHostname: Type.String({
      minLength: 1,
      default: DEFAULT_FORWARD_SELF_HOSTNAME,
      description: "The server's name in the handshake (fluentd `self_hostname`). Default `tlr`.",
    }),
    tls: Type.Optional(
      Type.Object(
        {
          certFile: Type.String({ minLength: 1, description: 'PEM certificate chain file.' }),
          keyFile: Type.String({ minLength: 1, description: 'PEM private key file.' }),
        },
        { additionalProperties: false, description: 'Serve TLS (fluentd `transport tls`, Fluent Bit `tls on`).' },
      ),
    ),
    maxMessageBytes: Type.Integer({
      minimum: 1024,
      default: DEFAULT_MAX_MESSAGE_BYTES,
      description: 'Largest msgpack message on the wire; a larger one is a bad frame and closes the connection. Default 16 MiB.',
    }),
    maxDecompressedBytes: Type.Integer({
      minimum: 1024,
      default: DEFAULT_MAX_DECOMPRESSED_BYTES,
      description: 'Largest entry stream of a CompressedPackedForward message after gunzip. Default 64 MiB.',
    }),
    maxConnections: Type.Integer({
      minimum: 1,
      default: DEFAULT_MAX_CONNECTIONS,
      description: 'Most connections at once; further ones are closed at accept. Default 100.',
    }),
    idleTimeoutMs: Type.Integer({
      minimum: 1,
      default: DEFAULT_IDLE_TIMEOUT_MS,
      description: 'A connection silent this long is closed (not counted while held back by back-pressure). Default 300000.',
    }),
    handshakeTimeoutMs: Type.Integer({
      minimum: 1,
      default: DEFAULT_HANDSHAKE_TIMEOUT_MS,
      description: 'Time a client has to answer HELO with PING. Default 10000.',
    }),
    keepAliveInitialDelayMs: Type.Integer({
      minimum: 0,
      default: DEFAULT_KEEPALIVE_INITIAL_DELAY_MS,
      description: 'Idle time before TCP keep-alive probes start. Default 30000.',
    }),
    maxBufferedBytes: Type.Integer({
      minimum: 1,
      default: DEFAULT_FORWARD_MAX_BUFFERED_BYTES,
      description:
        'Ingest buffer bytes not yet written as objects above which connections are no longer read (TCP back-pressure). Default 256 MiB.',
    }),
    backpressureCheckMs: Type.Integer({
      minimum: 10,
      default: DEFAULT_BACKPRESSURE_CHECK_MS,
      description: 'How often a held-back connection checks the buffer again. Default 200.',
    }),
    dedupWindowChunks: Type.Integer({
      minimum: 0,
      default: DEFAULT_DEDUP_WINDOW_CHUNKS,
      description:
        'Acked chunk ids remembered per client identity; a resent chunk within the window is acked without being stored again. Default 4096.',
    }),
    mapping: ForwardMappingConfigSchema,
  },
  { additionalProperties: false, description: 'Fluent Forward input: listener, limits and key mapping.' },
);
/** The Forward input's config. */
export type ForwardConfig = Static<typeof ForwardConfigSchema>;

function tagPatternErrors(patterns: readonly string[]): FieldError[] {
  const errors: FieldError[] = [];
  patterns.forEach((source, i) => {
    try {
      new RegExp(source);
    } catch (error) {
      errors.push({ field: `mapping.tagPatterns[${i}]`, message: `is not a regular expression: ${(error as Error).message}` });
      return;
    }
    if (!source.includes('(?<namespace>')) {
      errors.push({ field: `mapping.tagPatterns[${i}]`, message: "must have a named group 'namespace'" });
    }
  });
  return errors;
}

/** The suggested defaults, taken from the schema. */
export function defaultForwardConfig(): ForwardConfig {
  return validateForwardConfig({});
}

/**
 * Validates an operator's config, filling in defaults for missing keys.
 *
 * @param input - the config block as written (unknown keys are refused)
 * @throws ConfigValidationError listing every bad field
 */
export function validateForwardConfig(input: unknown): ForwardConfig {
  const candidate = Value.Default(ForwardConfigSchema, structuredClone(input ?? {}));
  const errors = schemaFieldErrors(ForwardConfigSchema, candidate);
  if (errors.length === 0) errors.push(...tagPatternErrors((candidate as ForwardConfig).mapping.tagPatterns));
  if (errors.length > 0) throw new ConfigValidationError(errors, 'Forward input config');
  return candidate as ForwardConfig;
}

/** One user of the handshake's user authentication, bound like an ingest token. */
export const ForwardUserSchema = Type.Object(
  {
    username: Type.String({ minLength: 1, description: 'The `username` of the client.' }),
    password: Type.String({
      minLength: MIN_FORWARD_SECRET_CHARS,
      description: `The raw password (at least ${MIN_FORWARD_SECRET_CHARS} characters); only its salted digest crosses the wire.`,
      errorMessage: `must be at least ${MIN_FORWARD_SECRET_CHARS} characters`,
    }),
    cluster_id: Type.String({ minLength: 1, description: "The cluster this user's events belong to." }),
    namespaces: Type.Array(Type.String(), {
      minItems: 1,
      description: "Namespaces (or globs with '*') the user may write.",
    }),
  },
  { additionalProperties: false },
);

/**
 * The Forward auth config (`tlr up --forward-auth <file>`): a shared key, bound to a cluster
 * and namespaces, and optionally users. With users, every client must log in as one of them
 * and writes with that user's binding; without, the shared key's binding applies.
 */
export const ForwardAuthConfigSchema = Type.Object(
  {
    shared_key: Type.Optional(
      Type.String({
        minLength: MIN_FORWARD_SECRET_CHARS,
        description: `The shared key of the handshake (fluentd \`shared_key\`), at least ${MIN_FORWARD_SECRET_CHARS} characters. Without it there is no handshake.`,
        errorMessage: `must be at least ${MIN_FORWARD_SECRET_CHARS} characters`,
      }),
    ),
    cluster_id: Type.String({
      minLength: 1,
      default: DEFAULT_FORWARD_CLUSTER_ID,
      description: 'The cluster of events sent with the shared key alone (no users). Default `local`.',
    }),
    namespaces: Type.Array(Type.String(), {
      minItems: 1,
      default: ['*'],
      description: 'Namespaces the shared key alone may write. Default every one (`*`).',
    }),
    users: Type.Array(ForwardUserSchema, {
      default: [],
      description: 'Users of the handshake; when any is listed, clients must log in (fluentd `user_auth`).',
    }),
  },
  { additionalProperties: false, description: 'Forward input authentication.' },
);
/** The Forward auth config, validated. */
export type ForwardAuthConfig = Static<typeof ForwardAuthConfigSchema>;

/**
 * How a runtime is asked to run the Forward input (`tlr up`, `tlr ingest serve`): listener,
 * TLS and limits over `defaultForwardConfig()`, and the `--forward-auth` file's content; each
 * runtime says what it uses when `auth` is absent.
 */
export interface ForwardInputOptions {
  /** `port` 0 picks a free port. */
  readonly config?: Partial<ForwardConfig>;
  readonly auth?: Partial<ForwardAuthConfig>;
}

function bindingErrors(field: string, clusterId: string, namespaces: readonly string[]): FieldError[] {
  const errors: FieldError[] = [];
  if (!isValidKeySegment(clusterId) || clusterId.startsWith(INTERNAL_KEY_PREFIX)) {
    errors.push({
      field: `${field}cluster_id`,
      message: `must be a non-blank key segment without '/' not starting with '${INTERNAL_KEY_PREFIX}'`,
    });
  }
  if (!namespaces.every((p) => NAMESPACE_PATTERN_REGEX.test(p))) {
    errors.push({
      field: `${field}namespaces`,
      message: "must list namespace names or globs with '*' (lowercase letters, digits, '-', '*')",
    });
  }
  return errors;
}

/**
 * Validates a Forward auth config, filling in defaults.
 *
 * @param input - the parsed JSON of the auth file (unknown keys are refused)
 * @throws ConfigValidationError listing every bad field; users without a shared key are refused,
 *   since the handshake that carries their password is keyed by it
 */
export function validateForwardAuthConfig(input: unknown): ForwardAuthConfig {
  const candidate = Value.Default(ForwardAuthConfigSchema, structuredClone(input ?? {}));
  const errors = schemaFieldErrors(ForwardAuthConfigSchema, candidate);
  if (errors.length === 0) {
    const auth = candidate as ForwardAuthConfig;
    errors.push(...bindingErrors('', auth.cluster_id, auth.namespaces));
    const seen = new Set<string>();
    auth.users.forEach((user, i) => {
      errors.push(...bindingErrors(`users[${i}].`, user.cluster_id, user.namespaces));
      if (seen.has(user.username)) errors.push({ field: `users[${i}].username`, message: 'is listed twice' });
      seen.add(user.username);
    });
    if (auth.users.length > 0 && auth.shared_key === undefined) {
      errors.push({ field: 'shared_key', message: "is required when 'users' are listed" });
    }
  }
  if (errors.length > 0) throw new ConfigValidationError(errors, 'Forward auth config');
  return candidate as ForwardAuthConfig;
}
