export { type RedriveResult, redriveDeadLetters } from './dead-letters.js';
export {
  type ApplyResult,
  applyDeliveryConfigs,
  ConfigBatchValidationError,
  type ConfigRowView,
  type IndexedConfigErrors,
  viewConfigRow,
} from './delivery-configs.js';
export { type ReplayOptions, type ReplayResult, replayTenant } from './replay.js';
