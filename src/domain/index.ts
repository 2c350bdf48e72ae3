export {
  commonConfigProperties,
  configSchemaFor,
  createApplicationFilter,
  type DeliveryConfig,
  destinationId,
  isConfigActive,
  type KindLookup,
  type KindSpec,
  parseConfigType,
  type ReadConfigResult,
  readDeliveryConfig,
  schemaFieldErrors,
  TENANT_ID_REGEX,
  TENANT_SETTINGS_TYPE,
  type ValidatedDeliveryConfig,
  validateDeliveryConfig,
} from './delivery-config.js';
export {
  AbortedError,
  ConfigValidationError,
  CorruptObjectError,
  DeliveryError,
  ErrorCode,
  type FieldError,
  NotificationError,
  ObjectKeyError,
  ObjectNotFoundError,
  RetriesExhaustedError,
  RouterError,
} from './errors.js';
export {
  APPLICATION_GROUPS,
  groupMembers,
  groupNames,
} from './groups.js';
export {
  buildObjectKey,
  formatKeyTimestamp,
  INTERNAL_KEY_PREFIX,
  type InternalObjectKey,
  isValidKeySegment,
  keySegmentProblem,
  MAX_KEY_SEGMENT_BYTES,
  type LogObjectKey,
  type ParsedObjectKey,
  parseKeyTimestamp,
  parseObjectKey,
} from './object-key.js';
export {
  COLLECTOR_METADATA_FIELDS,
  LineSkipReason,
  type LogRecord,
  messageText,
  type ParsedLine,
  parseNdjsonLine,
  toLogRecord,
} from './record.js';
export { EPOCH_SECONDS_MAX, parseRfc3339Ms, toEpochMs } from './timestamp.js';
