/** @fulcrum/workloads/internal — everything public plus the schema, for Fulcrum's own packages. */
export * from './index.js';
export { manifestSchema } from './manifest.js';
export { UNARY_FLOPS } from './onnx-cost.js';
