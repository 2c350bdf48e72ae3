import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ErrorCode, ObjectKeyError } from '../../src/domain/errors.js';
import { parseKeyTimestamp, parseObjectKey } from '../../src/domain/object-key.js';
import { parseNdjsonLine, toLogRecord } from '../../src/domain/record.js';
import { parseRfc3339Ms } from '../../src/domain/timestamp.js';
import { findGeneratedConfigMap, kubectlUnavailable, renderKustomization } from '../helpers/kustomize.js';

/** The options of Vector's aws_s3 sink that decide an object's key and body. */
interface S3SinkConfig {
  type: string;
  inputs: string[];
  key_prefix: string;
  filename_time_format: string;
  filename_append_uuid: boolean;
  filename_extension?: string;
  compression: string;
  content_type?: string;
  encoding: { codec: string };
  framing: { method: string };
  acknowledgements?: { enabled: boolean };
  buffer: { type: string; max_size: number; when_full: string };
}

interface RemapConfig {
  type: string;
  inputs: string[];
  source: string;
  drop_on_error?: boolean;
  drop_on_abort?: boolean;
}

/** The fields of the central key, in key order. */
const KEY_FIELDS = ['cluster_id', 'namespace', 'application', 'pod_name'] as const;
type KeyField = (typeof KEY_FIELDS)[number];

/** Vector failed to render a template for an event: it drops the event and counts the error. */
class TemplateRenderError extends Error {}

/**
 * Renders a Vector template the way Vector does for `key_prefix`: each `{{ path }}` (with
 * or without a leading dot) is replaced by the event's value at that path; a path the event
 * lacks fails the render, and Vector then drops the event with an error instead of writing
 * it. Templates with strftime items (`%`) render against the event's timestamp in Vector;
 * that is not emulated here, and the configuration under test has none.
 */
function renderVectorTemplate(template: string, event: Record<string, unknown>): string {
  if (template.includes('%')) throw new Error(`strftime items in '${template}' are not emulated.`);
  return template.replace(/\{\{\s*\.?([\w.]+)\s*\}\}/g, (_match, path: string) => {
    const value = path.split('.').reduce<unknown>(
      (node, part) => (typeof node === 'object' && node !== null ? (node as Record<string, unknown>)[part] : undefined),
      event,
    );
    if (value === undefined || value === null) throw new TemplateRenderError(`Missing field '${path}' for template '${template}'.`);
    return typeof value === 'string' ? value : JSON.stringify(value);
  });
}

/** The strftime subset the configuration uses (chrono's specifiers), in UTC. */
function strftimeUtc(format: string, date: Date): string {
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  const items: Record<string, () => string> = {
    '%Y': () => pad(date.getUTCFullYear(), 4),
    '%m': () => pad(date.getUTCMonth() + 1),
    '%d': () => pad(date.getUTCDate()),
    '%H': () => pad(date.getUTCHours()),
    '%M': () => pad(date.getUTCMinutes()),
    '%S': () => pad(date.getUTCSeconds()),
    '%.3f': () => `.${pad(date.getUTCMilliseconds(), 3)}`,
    '%%': () => '%',
  };
  return format.replace(/%\.3f|%./g, (item) => {
    const render = items[item];
    if (!render) throw new Error(`strftime item '${item}' is not emulated.`);
    return render();
  });
}

/**
 * The object key Vector's aws_s3 sink writes for a batch: the rendered `key_prefix`, then
 * the send time formatted with `filename_time_format` (UTC), then `-<uuid v4>` when
 * `filename_append_uuid`, then `.` and `filename_extension` (by default the compression's
 * extension). See Vector's `src/sinks/aws_s3/sink.rs` (`S3RequestOptions::build_request`).
 */
function vectorS3ObjectKey(sink: S3SinkConfig, event: Record<string, unknown>, sentAt: Date, uuid: string): string {
  const prefix = renderVectorTemplate(sink.key_prefix, event);
  const time = strftimeUtc(sink.filename_time_format, sentAt);
  const name = sink.filename_append_uuid ? `${time}-${uuid}` : time;
  const extension = sink.filename_extension ?? (sink.compression === 'gzip' ? 'log.gz' : 'log');
  return `${prefix}${name}.${extension}`;
}

/** An event as the collector's remap leaves it, with its key fields set. */
function enrichedEvent(fields: Record<KeyField, string>): Record<string, unknown> {
  return {
    message: 'I0115 10:30:00.000000       1 controller.go:42] synced',
    timestamp: '2024-01-15T10:30:00.123Z',
    stream: 'stderr',
    kubernetes: { pod_name: fields.pod_name, pod_namespace: fields.namespace, container_name: 'main' },
    ...fields,
  };
}

// Kubernetes names: DNS-1123 labels (namespaces, containers), subdomains (pods) and label values.
const dnsLabel = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/);
const dnsSubdomain = fc.array(dnsLabel, { minLength: 1, maxLength: 4 }).map((labels) => labels.join('.').slice(0, 253))
  .filter((name) => /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/.test(name));
const labelValue = fc.stringMatching(/^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$/);
const sendTime = fc.date({ min: new Date(0), max: new Date(Date.UTC(9999, 11, 31)), noInvalidDate: true });

let sink: S3SinkConfig;
let remap: RemapConfig;
let clusterId: string;

describe.skipIf(kubectlUnavailable)('the collector\'s central keys (deploy/k8s overlays/aws)', () => {
  beforeAll(async () => {
    const objects = await renderKustomization('overlays/aws');
    const vector = findGeneratedConfigMap(objects, 'tlr-collector-vector').data;
    const sinks = (parseYaml(vector['sink.yaml']!) as { sinks: Record<string, S3SinkConfig> }).sinks;
    const transforms = (parseYaml(vector['pipeline.yaml']!) as { transforms: Record<string, RemapConfig> }).transforms;
    const s3 = Object.values(sinks).filter((s) => s.type === 'aws_s3');
    if (s3.length !== 1) throw new Error(`Expected one aws_s3 sink, found ${s3.length}.`);
    sink = s3[0]!;
    const [remapId] = sink.inputs;
    remap = transforms[remapId!]!;
    clusterId = findGeneratedConfigMap(objects, 'tlr-collector-settings').data['CLUSTER_ID']!;
  }, 120_000);

  it('writes keys whose cluster, tenant, application and pod the processor\'s parser reads back', () => {
    // Prepare
    const fields = { cluster_id: clusterId, namespace: 'team-a', application: 'kube-apiserver', pod_name: 'kube-apiserver-7d9f-x2' };
    const sentAt = new Date(Date.UTC(2024, 0, 15, 10, 30, 5, 250));
    const uuid = randomUUID();

    // Act
    const key = vectorS3ObjectKey(sink, enrichedEvent(fields), sentAt, uuid);
    const parsed = parseObjectKey(key);

    // Assess
    expect(key).toBe(`${clusterId}/team-a/kube-apiserver/kube-apiserver-7d9f-x2/20240115-103005-${uuid}.json.gz`);
    expect(parsed).toEqual({
      kind: 'log',
      key,
      clusterId,
      tenantId: 'team-a',
      application: 'kube-apiserver',
      podName: 'kube-apiserver-7d9f-x2',
      middle: [],
      fileName: `20240115-103005-${uuid}.json.gz`,
    });
    expect(parseKeyTimestamp(parsed.kind === 'log' ? parsed.fileName : '')).toBe(Date.UTC(2024, 0, 15, 10, 30, 5));
  });

  it('round-trips every Kubernetes namespace, pod name and application label value through the key', () => {
    fc.assert(
      fc.property(dnsLabel, dnsSubdomain, labelValue, sendTime,
        (namespace, podName, application, sentAt) => {
          // Prepare
          const uuid = randomUUID();

          // Act
          const event = enrichedEvent({ cluster_id: clusterId, namespace, application, pod_name: podName });
          const key = vectorS3ObjectKey(sink, event, sentAt, uuid);
          const parsed = parseObjectKey(key);

          // Assess
          expect(parsed).toMatchObject({ kind: 'log', clusterId, tenantId: namespace, application, podName, middle: [] });
          expect(parsed.kind === 'log' && parseKeyTimestamp(parsed.fileName)).toBe(Math.floor(sentAt.getTime() / 1000) * 1000);
        }),
      { numRuns: 300 },
    );
  });

  it.each(KEY_FIELDS)('renders no key at all for an event without %s (Vector drops it with an error)', (field) => {
    // Prepare
    const event = enrichedEvent({ cluster_id: clusterId, namespace: 'team-a', application: 'app', pod_name: 'pod-1' });
    delete event[field];

    // Act
    const render = () => vectorS3ObjectKey(sink, event, new Date(), randomUUID());

    // Assess
    expect(render).toThrow(TemplateRenderError);
  });

  it.each(KEY_FIELDS)('writes a key the processor dead-letters as invalid when %s is empty', (field) => {
    // Prepare
    const fields = { cluster_id: clusterId, namespace: 'team-a', application: 'app', pod_name: 'pod-1', [field]: '' };
    const key = vectorS3ObjectKey(sink, enrichedEvent(fields), new Date(), randomUUID());

    // Act
    let error: unknown;
    try {
      parseObjectKey(key);
    } catch (caught) {
      error = caught;
    }

    // Assess
    expect(error).toBeInstanceOf(ObjectKeyError);
    expect((error as ObjectKeyError).code).toBe(ErrorCode.INVALID_OBJECT_KEY);
    expect((error as ObjectKeyError).message).toContain(`empty ${field}`);
  });

  it('keys on exactly the four fields the remap sets, never on the log line', () => {
    // Prepare
    const referenced = [...sink.key_prefix.matchAll(/\{\{\s*\.?([\w.]+)\s*\}\}/g)].map((m) => m[1]);

    // Act
    const assigned = KEY_FIELDS.filter((field) => new RegExp(`^\\s*\\.${field} = `, 'm').test(remap.source));

    // Assess
    expect(referenced).toEqual([...KEY_FIELDS]);
    expect(assigned).toEqual([...KEY_FIELDS]);
    expect(sink.key_prefix.endsWith('/')).toBe(true);
  });

  it('sets every key field to a non-empty string or drops the event in the remap, so no event reaches the sink without one', () => {
    // Prepare
    const guarded = (field: Exclude<KeyField, 'cluster_id'>) => {
      // `if !is_string(x) || x == "" { abort }` right before `.field = x`
      const match = new RegExp(`if !is_string\\((\\w+)\\) \\|\\| \\1 == "" \\{ abort \\}\\s*\\n\\s*\\.${field} = \\1\\s*$`, 'm')
        .exec(remap.source);
      return match !== null;
    };

    // Act
    const unguarded = (['namespace', 'application', 'pod_name'] as const).filter((field) => !guarded(field));

    // Assess
    expect(unguarded).toEqual([]);
    // Vector refuses to start when CLUSTER_ID is unset or empty (${VAR:?message}).
    expect(remap.source).toMatch(/^\s*\.cluster_id = "\$\{CLUSTER_ID:\?[^}]+\}"\s*$/m);
    expect(remap.drop_on_abort).toBe(true);
    expect(remap.drop_on_error).toBe(true);
  });

  it('writes gzip NDJSON bodies whose lines the processor reads with the remap\'s timestamp', () => {
    // Prepare: Vector's json codec with newline framing writes one JSON object per line.
    const format = /format_timestamp!\(event_time, format: "([^"]+)"\)/.exec(remap.source)![1]!;
    const eventTime = new Date(Date.UTC(2024, 1, 29, 23, 59, 58, 7));
    const event = { ...enrichedEvent({ cluster_id: clusterId, namespace: 'team-a', application: 'app', pod_name: 'pod-1' }),
      timestamp: strftimeUtc(format, eventTime) };
    const body = `${JSON.stringify(event)}\n`;

    // Act
    const [line] = body.split('\n');
    const parsed = parseNdjsonLine(line!);
    const record = parsed.ok ? toLogRecord(parsed.events[0]!, 0, -1) : undefined;

    // Assess
    expect(sink).toMatchObject({
      compression: 'gzip',
      filename_extension: 'json.gz',
      content_type: 'application/x-ndjson',
      encoding: { codec: 'json' },
      framing: { method: 'newline_delimited' },
    });
    expect(parseRfc3339Ms(event.timestamp)).toBe(eventTime.getTime());
    expect(record?.timestampMs).toBe(eventTime.getTime());
    expect(record?.event).toMatchObject({ namespace: 'team-a', application: 'app', pod_name: 'pod-1', cluster_id: clusterId });
  });

  it('buffers on disk, blocks when full and acknowledges only what reached the buffer', () => {
    // Assess: Vector's disk buffers take at least 256 MiB + 32 bytes.
    expect(sink.buffer).toMatchObject({ type: 'disk', when_full: 'block' });
    expect(sink.buffer.max_size).toBeGreaterThanOrEqual(268_435_488);
    expect(sink.acknowledgements?.enabled).toBe(true);
  });
});
