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
export {
  type ConfigService,
  type ConfigServiceDeps,
  ConfigChangedError,
  ConfigExistsError,
  ConfigNotFoundError,
  ConfigRequestError,
  type ConfigValidationReport,
  createConfigService,
  type DestinationCircuitView,
  type DestinationErrorView,
  type DestinationStatusView,
  type TenantStatusView,
} from './config-service.js';
