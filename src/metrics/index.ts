export { counter, gauge, histogram } from './prometheus.js';
