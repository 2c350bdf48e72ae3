export { IngestRequestError, postEvents } from './ingest-client.js';
export { type DemoRunOptions, type DemoRunResult, runDemo } from './run-demo.js';
export {
  DEMO_CLUSTER_ID,
  DEMO_TENANTS,
  type DemoEvent,
  type DemoExpectation,
  demoConfigs,
  expectDeliveries,
  readDelivered,
  summarizeDemo,
  type TenantSummary,
} from './scenario.js';
export { type DemoTrafficOptions, startDemoTraffic } from './traffic.js';
