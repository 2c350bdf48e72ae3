export { createEmfEmitter, EMF_NAMESPACE, type EmfEmitter } from './emf.js';
export { counter, gauge, histogram } from './prometheus.js';
