import { NotificationError } from '../domain/index.js';

/**
 * Queue message bodies the processor understands:
 * - an SNS envelope whose `Message` string holds an S3 event (S3 → SNS → SQS);
 * - a raw S3 event (S3 → SQS);
 * - a router work item (`{"v":1,"key":…}`): written by ingest, delayed retries, redrive and replay.
 */

/** One object to process, optionally limited to some destinations. */
export interface WorkItem {
  /** The decoded object key. */
  readonly key: string;
  /** The bucket, when the notification named one. */
  readonly bucket?: string;
  /** Config `type`s to deliver to; undefined = every matching destination. */
  readonly destinations?: readonly string[];
  /** How many delayed retries came before this one (0 for the first delivery). */
  readonly attempt: number;
  /**
   * Replay id: progress is tracked apart from the first delivery, so a replay re-delivers
   * objects whose checkpoints say done.
   */
  readonly replayId?: string;
  /** A delayed retry the processor scheduled (counted as pending in the destination's status). */
  readonly delayed?: boolean;
  /**
   * When a delayed retry was scheduled, epoch ms: a destination whose config was created
   * after it (the tenant was offboarded and onboarded again) does not get the old work.
   */
  readonly scheduledAtMs?: number;
}

/** The parsed body: zero items for `s3:TestEvent` and events that are not object creations. */
export interface ParsedNotification {
  readonly items: WorkItem[];
  /** Why nothing is to be done, when `items` is empty. */
  readonly ignoredReason?: 'test_event' | 'not_object_created';
}

const WORK_ITEM_VERSION = 1;

/** Where an item's progress is kept: its object key, apart per replay. */
export function checkpointKey(item: WorkItem): string {
  return item.replayId === undefined ? item.key : `${item.key}#replay:${item.replayId}`;
}

/** Serializes a work item as a queue message body. */
export function encodeWorkItem(item: WorkItem): string {
  return JSON.stringify({
    v: WORK_ITEM_VERSION,
    key: item.key,
    ...(item.bucket !== undefined && { bucket: item.bucket }),
    ...(item.destinations !== undefined && { destinations: item.destinations }),
    attempt: item.attempt,
    ...(item.replayId !== undefined && { replay_id: item.replayId }),
    ...(item.delayed === true && { delayed: true }),
    ...(item.scheduledAtMs !== undefined && { scheduled_at_ms: item.scheduledAtMs }),
  });
}

/** S3 keys in notifications are form-URL-encoded: `+` is a space. */
export function decodeS3Key(encoded: string): string {
  try {
    return decodeURIComponent(encoded.replace(/\+/g, ' '));
  } catch (cause) {
    throw new NotificationError(`Object key '${encoded}' is not valid URL encoding.`, { cause });
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new NotificationError(`${what} is not valid JSON.`, { cause });
  }
}

function parseWorkItem(body: Record<string, unknown>): WorkItem {
  const { key, bucket, destinations, attempt, replay_id: replayId, delayed, scheduled_at_ms: scheduledAtMs } = body;
  if (typeof key !== 'string' || key === '') throw new NotificationError("Work item has no 'key' string.");
  if (attempt !== undefined && (!Number.isInteger(attempt) || (attempt as number) < 0)) {
    throw new NotificationError("Work item 'attempt' must be a whole number ≥ 0.");
  }
  if (
    destinations !== undefined &&
    !(Array.isArray(destinations) && destinations.every((d) => typeof d === 'string'))
  ) {
    throw new NotificationError("Work item 'destinations' must be a list of config types.");
  }
  return {
    key,
    ...(typeof bucket === 'string' && { bucket }),
    ...(destinations !== undefined && { destinations: destinations as string[] }),
    attempt: (attempt as number | undefined) ?? 0,
    ...(typeof replayId === 'string' && { replayId }),
    ...(delayed === true && { delayed: true }),
    ...(typeof scheduledAtMs === 'number' && Number.isFinite(scheduledAtMs) && { scheduledAtMs }),
  };
}

function parseS3Event(event: Record<string, unknown>): ParsedNotification {
  if (event['Event'] === 's3:TestEvent') return { items: [], ignoredReason: 'test_event' };
  const records = event['Records'];
  if (!Array.isArray(records)) throw new NotificationError("S3 event has no 'Records' list.");
  const items: WorkItem[] = [];
  for (const [i, record] of records.entries()) {
    if (!isRecord(record)) throw new NotificationError(`S3 event record ${i} is not an object.`);
    const eventName = record['eventName'];
    if (typeof eventName === 'string' && !eventName.startsWith('ObjectCreated')) continue;
    const s3 = record['s3'];
    const object = isRecord(s3) ? s3['object'] : undefined;
    const key = isRecord(object) ? object['key'] : undefined;
    if (typeof key !== 'string') throw new NotificationError(`S3 event record ${i} has no 's3.object.key'.`);
    const bucket = isRecord(s3) && isRecord(s3['bucket']) ? s3['bucket']['name'] : undefined;
    items.push({ key: decodeS3Key(key), ...(typeof bucket === 'string' && { bucket }), attempt: 0 });
  }
  return items.length > 0 ? { items } : { items, ignoredReason: 'not_object_created' };
}

/**
 * Parses a queue message body.
 *
 * @throws NotificationError with a precise message for anything it cannot read
 */
export function parseNotification(body: string): ParsedNotification {
  const outer = parseJson(body, 'Message body');
  if (!isRecord(outer)) throw new NotificationError('Message body is not a JSON object.');
  if (outer['v'] === WORK_ITEM_VERSION) return { items: [parseWorkItem(outer)] };
  if (outer['Type'] === 'Notification' || typeof outer['TopicArn'] === 'string') {
    const message = outer['Message'];
    if (typeof message !== 'string') throw new NotificationError("SNS envelope has no 'Message' string.");
    const inner = parseJson(message, "SNS envelope 'Message'");
    if (!isRecord(inner)) throw new NotificationError("SNS envelope 'Message' is not a JSON object.");
    return parseS3Event(inner);
  }
  if ('Records' in outer || 'Event' in outer) return parseS3Event(outer);
  throw new NotificationError('Message body is neither an S3 event, an SNS envelope nor a router work item.');
}
