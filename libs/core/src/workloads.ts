import { ValidationError, describeValue } from './errors.js';

export type WorkloadKind = 'train' | 'infer';
export const WORKLOAD_KINDS: readonly WorkloadKind[] = ['train', 'infer'];

/**
 * A DNN model Fulcrum knows how to train and serve. Time and power per minibatch come from a
 * device backend (model, profile table or board); this is only what the model *is*.
 */
export interface WorkloadDescriptor {
  readonly id: string;
  readonly displayName: string;
  /** Absent for a user's workload (one named only in a profile table): Fulcrum does not need it. */
  readonly domain?: 'vision' | 'detection' | 'nlp' | 'sequence';
  /** One sample's input, e.g. `3×224×224 image` or `128 tokens`; absent for a user's workload. */
  readonly input?: string;
  /** Absent for a user's workload. */
  readonly paramsMillions?: number;
  /** The training minibatch size bT used when a problem does not give one. */
  readonly defaultTrainBatchSize: number;
}

export const WORKLOADS: readonly WorkloadDescriptor[] = [
  { id: 'mobilenet', displayName: 'MobileNetV2', domain: 'vision', input: '3×224×224 image', paramsMillions: 3.5, defaultTrainBatchSize: 32 },
  { id: 'resnet18', displayName: 'ResNet-18', domain: 'vision', input: '3×224×224 image', paramsMillions: 11.7, defaultTrainBatchSize: 32 },
  { id: 'resnet50', displayName: 'ResNet-50', domain: 'vision', input: '3×224×224 image', paramsMillions: 25.6, defaultTrainBatchSize: 16 },
  { id: 'vgg16', displayName: 'VGG-16', domain: 'vision', input: '3×224×224 image', paramsMillions: 138.4, defaultTrainBatchSize: 16 },
  { id: 'yolov8n', displayName: 'YOLOv8n', domain: 'detection', input: '3×640×640 image', paramsMillions: 3.2, defaultTrainBatchSize: 8 },
  { id: 'bert-base', displayName: 'BERT-base', domain: 'nlp', input: '128 tokens', paramsMillions: 110, defaultTrainBatchSize: 16 },
  { id: 'bert-large', displayName: 'BERT-large', domain: 'nlp', input: '128 tokens', paramsMillions: 340, defaultTrainBatchSize: 8 },
  { id: 'lstm', displayName: 'LSTM (2 layers)', domain: 'sequence', input: '32-step sequence', paramsMillions: 20, defaultTrainBatchSize: 32 },
];

export function workloadIds(): string[] {
  return WORKLOADS.map((w) => w.id);
}

export function getWorkload(id: string, field = 'workload'): WorkloadDescriptor {
  const workload = WORKLOADS.find((w) => w.id === id);
  if (!workload) {
    throw new ValidationError(field, `unknown workload ${describeValue(id)}; known workloads: ${workloadIds().join(', ')}`);
  }
  return workload;
}

/** What a device or workload name may be: letters, digits, `_`, `.` and `-`, 1–64 characters. */
export const NAME_RULE = /^[A-Za-z0-9_.-]{1,64}$/;

/** Throws a ValidationError unless `name` follows NAME_RULE. */
export function requireName(field: string, name: unknown, what = 'name'): string {
  if (typeof name !== 'string' || !NAME_RULE.test(name)) {
    throw new ValidationError(field, `${what} must be 1–64 letters, digits, '_', '.' or '-', got ${describeValue(name)}`);
  }
  return name;
}

export function parseWorkloadKind(text: string, field = 'kind'): WorkloadKind {
  if (text === 'train' || text === 'infer') return text;
  throw new ValidationError(field, `must be "train" or "infer", got ${describeValue(text)}`);
}
