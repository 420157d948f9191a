/**
 * @fulcrum/workloads — workload folders (docs/WORKLOADS.md): the manifest, the folder loader, the
 * content hash, and the one open registry of built-in and user workloads.
 */
export { INPUT_DTYPES, MANIFEST_LIMITS, TRAINING_COST_FACTOR, parseManifest, checkManifest } from './manifest.js';
export type { InputDtype, WorkloadManifest, WorkloadCostSpec } from './manifest.js';
export { MANIFEST_FILES, FOLDER_LIMITS, loadWorkloadFolder, findWorkloadFolders, isWorkloadFolder, contentHash } from './folder.js';
export type { WorkloadFolder } from './folder.js';
export { BUILTIN_WORKLOADS_DIR, WorkloadRegistry, builtinWorkloadFolders, descriptorOf, parseWorkloadPaths, stackTagOf } from './registry.js';
export { MAX_WORKLOAD_PATHS, workloadsConfigSchema, workloadPaths, openWorkloadRegistry } from './config.js';
export type { WorkloadsConfig } from './config.js';
export { ONNX_COST_LIMITS, countOnnxCost, onnxDtypeName } from './onnx-cost.js';
export type { OnnxCost, OnnxCountOptions, OnnxComputeClass } from './onnx-cost.js';
export { virtualWorkloadOf, virtualWorkloadsOf, simulatableWorkloads, inspectWorkload, formatInspection } from './virtual-cost.js';
export type { WorkloadInspection, InspectOptions, KindCost, VirtualEstimate, CostOrigin } from './virtual-cost.js';
