/**
 * `fulcrum workload check DIR` — validates a workload folder the way the runtime will use it: the
 * manifest (a bad field exits 2 naming it), the module imported by the real Python worker, one
 * training step and inference minibatches (Python and ONNX where both exist) with their output
 * counts checked. `fulcrum workload inspect DIR` prints the virtual board's estimate for it.
 * `fulcrum workload list` shows the registry.
 */
import { readdirSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { ValidationError } from '@fulcrum/core';
import { OnnxModelError, OnnxRunner, PythonWorker, WorkloadStepError, workerWorkloadOf, type WorkerInfo } from '@fulcrum/executor';
import { virtualDeviceIds } from '@fulcrum/devices';
import { builtinWorkloadFolders, formatInspection, inspectWorkload, isWorkloadFolder, loadWorkloadFolder, type WorkloadFolder, type WorkloadInspection } from '@fulcrum/workloads';
import type { CliIo } from '../io.js';
import { CommandError, UsageError, oneOf, positiveInteger } from '../usage.js';
import { pythonSource, workerError } from '../worker-errors.js';
import { addWorkloadsOption, openRegistry } from '../workloads.js';

interface CheckOptions {
  python?: string;
  device: 'cpu' | 'auto';
  trainBatch?: number;
  json?: boolean;
}

export interface CheckReport {
  readonly name: string;
  readonly folder: string;
  readonly contentHash: string;
  readonly kinds: string[];
  readonly worker?: Pick<WorkerInfo, 'torch' | 'device'>;
  readonly train?: { readonly batchSize: number; readonly timeS: number; readonly loadS: number; readonly loss: number | undefined; readonly checkpoints: boolean };
  readonly infer: Array<{ readonly runner: 'python-torch' | 'onnxruntime'; readonly batchSize: number; readonly timeS: number; readonly outputs: number; readonly example: unknown }>;
  readonly onnx?: { readonly inputName: string; readonly inputShape: readonly number[]; readonly inputType: string; readonly inputs?: readonly { readonly name: string; readonly shape: readonly number[]; readonly type: string }[] };
  /** Samples where Python and ONNX gave the same class (both exist and answer with classes). */
  readonly agreement?: { readonly same: number; readonly of: number };
  readonly problems: string[];
}

function loadFolder(dir: string): WorkloadFolder {
  try {
    return loadWorkloadFolder(dir);
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    // A folder of workload folders (what --workloads takes) is not one: name the ones in it.
    let subs: string[] = [];
    try {
      subs = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory() && isWorkloadFolder(join(dir, e.name))).map((e) => join(dir, e.name)).sort();
    } catch {
      // not a readable folder: the loader's message says why
    }
    throw new UsageError(subs.length && !isWorkloadFolder(dir) ? `${err.message} (it holds workload folders: give one of ${subs.join(', ')})` : err.message);
  }
}

/** Generated inputs of the manifest's (or the model's) sample shape, the same for Python and ONNX. */
function sampleInputs(n: number, size: number, integer: boolean, seed: number): Float32Array[] {
  let x = seed >>> 0 || 1;
  const next = (): number => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
  return Array.from({ length: n }, () => Float32Array.from({ length: size }, () => (integer ? Math.floor(next() * 100) : next() * 2 - 1)));
}

const classOf = (o: unknown): number | undefined => (o && typeof o === 'object' && 'classIndex' in o ? Number((o as { classIndex: number }).classIndex) : undefined);

export async function checkWorkload(folder: WorkloadFolder, o: CheckOptions): Promise<CheckReport> {
  const m = folder.manifest;
  const problems: string[] = [];
  const kinds = [...(m.train ? ['train'] : []), ...(m.infer ? ['infer'] : [])];
  const pythonInfer = !!m.infer && !!folder.modulePath;
  const needPython = (!!m.train || pythonInfer) && !!folder.modulePath;
  const report: { -readonly [K in keyof CheckReport]: CheckReport[K] } = { name: m.name, folder: folder.dir, contentHash: folder.contentHash(), kinds, infer: [], problems };
  // Every command that loads folders refuses two with one name, and the built-in ones are always loaded.
  const builtin = folder.builtin ? undefined : builtinWorkloadFolders().find((f) => f.manifest.name === m.name && realpathSync(f.dir) !== realpathSync(folder.dir));
  if (builtin) problems.push(`name: ${JSON.stringify(m.name)} is a built-in workload's (${builtin.dir}); run, serve, solve and the rest refuse two folders with one name: rename it`);
  const batches = m.infer ? [...new Set([m.infer.batchSizes[0]!, m.infer.batchSizes[Math.min(1, m.infer.batchSizes.length - 1)]!])] : [];
  let onnx: OnnxRunner | undefined;
  if (folder.onnxPath) {
    try {
      onnx = await OnnxRunner.create({ models: { check: { path: folder.onnxPath, ...(m.infer?.input ? { inputShape: m.infer.input.shape } : {}) } } });
      const info = onnx.model('check')!;
      report.onnx = { inputName: info.inputName, inputShape: info.inputShape, inputType: info.inputType, ...(info.inputs ? { inputs: info.inputs } : {}) };
    } catch (err) {
      if (err instanceof OnnxModelError) throw new UsageError(`infer.onnx: ${err.message}`);
      throw err;
    }
  }
  const shape = m.infer?.input?.shape ?? report.onnx?.inputShape;
  const size = shape ? shape.reduce((a, b) => a * b, 1) : 0;
  const integer = (m.infer?.input?.dtype ?? report.onnx?.inputType ?? 'float32').startsWith('int') || (m.infer?.input?.dtype ?? '') === 'uint8';
  const worker = needPython
    ? new PythonWorker({ workload: workerWorkloadOf(folder), threads: 1, device: o.device, ...(o.python ? { python: o.python } : {}), replyTimeoutS: 600 })
    : undefined;
  try {
    if (worker) {
      let info: WorkerInfo;
      try {
        info = await worker.start();
      } catch (err) {
        // The user's module failed to load (a SyntaxError, no FulcrumWorkload): bad input, exit 2.
        if (err instanceof WorkloadStepError) throw new UsageError(`${folder.modulePath}: ${err.message.replace(/^python worker: /, '')}`);
        throw workerError(err, pythonSource(o.python));
      }
      report.worker = { torch: info.torch, device: info.device };
    }
    if (m.train && worker) {
      const b = o.trainBatch ?? m.train.batchSize;
      try {
        const r = await worker.runTraining(b);
        report.train = { batchSize: b, timeS: r.timeS, loadS: r.loadS ?? 0, loss: r.loss, checkpoints: false };
        if (r.loss === undefined || !Number.isFinite(r.loss)) problems.push('train_step returned no finite "loss"');
      } catch (err) {
        problems.push(`training step: ${(err as Error).message.replace(/^python worker: /, '')}`);
      }
    }
    const agreement = { same: 0, of: 0 };
    for (const b of batches) {
      const inputs = size ? sampleInputs(b, size, integer, b) : new Array<undefined>(b).fill(undefined);
      let pyOut: readonly unknown[] | undefined;
      if (worker && m.infer) {
        try {
          const r = await worker.runInference(m.name, shape ? inputs : new Array(b).fill(undefined));
          pyOut = r.outputs;
          report.infer.push({ runner: 'python-torch', batchSize: b, timeS: r.timeS, outputs: r.outputs.length, example: r.outputs[0] });
          if (r.outputs.length !== b) problems.push(`Python infer gave ${r.outputs.length} results for a batch of ${b}`);
        } catch (err) {
          problems.push(`Python infer (batch ${b}): ${(err as Error).message.replace(/^python worker: /, '')}`);
        }
      }
      if (onnx) {
        try {
          const r = await onnx.runInference('check', inputs);
          report.infer.push({ runner: 'onnxruntime', batchSize: b, timeS: r.timeS, outputs: r.outputs.length, example: r.outputs[0] });
          if (r.outputs.length !== b) problems.push(`ONNX model gave ${r.outputs.length} results for a batch of ${b}`);
          if (pyOut && shape) {
            r.outputs.forEach((out, i) => {
              const a = classOf(out);
              const p = classOf(pyOut![i]);
              if (a !== undefined && p !== undefined) {
                agreement.of++;
                if (a === p) agreement.same++;
              }
            });
          }
        } catch (err) {
          problems.push(`ONNX inference (batch ${b}): ${(err as Error).message}`);
        }
      }
    }
    if (agreement.of > 0) {
      report.agreement = agreement;
      if (agreement.same < agreement.of) problems.push(`Python infer and the ONNX model disagree on the class of ${agreement.of - agreement.same} of ${agreement.of} samples (is model.onnx exported from the same weights?)`);
    }
    if (m.infer && !shape) problems.push('infer.input is not given: requests without a payload cannot be generated for this workload (give infer.input.shape and dtype)');
  } finally {
    await worker?.close();
    await onnx?.close();
  }
  return report;
}

const ms = (s: number): string => `${(s * 1000).toFixed(2)} ms`;

export function formatCheck(r: CheckReport): string {
  const lines = [`workload ${r.name} (${r.folder}, content ${r.contentHash.slice(0, 12)}): ${r.kinds.join(' + ')}`];
  if (r.worker) lines.push(`  python worker: PyTorch ${r.worker.torch} on ${r.worker.device}`);
  if (r.train) lines.push(`  train: one step of batch ${r.train.batchSize}: ${ms(r.train.timeS)} (+ ${ms(r.train.loadS)} data loading), loss ${r.train.loss?.toPrecision(4) ?? '–'}`);
  if (r.onnx) {
    const inputs = r.onnx.inputs ?? [{ name: r.onnx.inputName, shape: r.onnx.inputShape, type: r.onnx.inputType }];
    lines.push(`  onnx: input${inputs.length > 1 ? 's' : ''} ${inputs.map((i) => `${JSON.stringify(i.name)} [batch, ${i.shape.join(', ')}] ${i.type}`).join(', ')}, dynamic batch`);
  }
  for (const i of r.infer) lines.push(`  infer (${i.runner}): batch ${i.batchSize}: ${i.outputs} results in ${ms(i.timeS)}; first: ${JSON.stringify(i.example).slice(0, 80)}`);
  if (r.agreement) lines.push(`  python vs onnx: same class on ${r.agreement.same} of ${r.agreement.of} samples`);
  lines.push(r.problems.length ? `problems:\n${r.problems.map((p) => `  - ${p}`).join('\n')}` : 'ok: the folder is ready for fulcrum run / serve / profiling');
  return lines.join('\n') + '\n';
}

export function registerWorkloadCommands(program: Command, io: CliIo): void {
  const workload = program.command('workload').description('Workload folders (docs/WORKLOADS.md): check, inspect and list them');
  workload
    .command('check')
    .description('Validate a workload folder: the manifest, the module (imported by the real Python worker), one training step and inference minibatches (Python and ONNX where both exist), output batch sizes')
    .argument('<dir>', 'the workload folder')
    .option('--python <path>', 'python with torch (default: $FULCRUM_PYTHON or /usr/bin/python3)')
    .addOption(new Option('--device <cpu|auto>', 'the PyTorch device: auto = CUDA where available').argParser(oneOf(['cpu', 'auto'] as const)).default('auto'))
    .addOption(new Option('--train-batch <n>', "the training step's batch size (default: the manifest's train.batch_size)").argParser(positiveInteger))
    .option('--json', 'print the report as JSON')
    .action(async (dir: string, o: CheckOptions) => {
      const folder = loadFolder(dir);
      const report = await checkWorkload(folder, o);
      io.stdout(o.json ? JSON.stringify(report, null, 2) + '\n' : formatCheck(report));
      if (report.problems.length) throw new CommandError(`${folder.manifest.name}: ${report.problems.length} problem${report.problems.length === 1 ? '' : 's'} (listed above)`);
    });
  workload
    .command('inspect')
    .description(
      "Show a workload folder's FLOPs and bytes per minibatch (from the manifest's cost: section, else counted on its ONNX graph: an estimate), " +
        "where they come from, and the virtual board's estimated minibatch times and powers (a model's prediction, not a measurement)",
    )
    .argument('<dir>', 'the workload folder')
    .addOption(new Option('--device <id>', `the virtual board of the estimate (${virtualDeviceIds().join(', ')})`).default('orin-agx'))
    .option('--preset <name>', "the board's power preset of the estimate (e.g. MAXN, 30W)", 'MAXN')
    .option('--json', 'print the inspection as JSON')
    .addHelpText('after', '\nExamples:\n  fulcrum workload inspect examples/workloads/digits-onnx\n  fulcrum workload inspect ./my-model --device orin-nano --preset 15W --json\n')
    .action((dir: string, o: { device: string; preset: string; json?: boolean }) => {
      if (!virtualDeviceIds().includes(o.device)) throw new UsageError(`--device: unknown virtual device ${JSON.stringify(o.device)}; known: ${virtualDeviceIds().join(', ')}`);
      const folder = loadFolder(dir);
      let inspection: WorkloadInspection;
      try {
        inspection = inspectWorkload(folder, { device: o.device, preset: o.preset });
      } catch (err) {
        if (err instanceof ValidationError) throw new UsageError(err.field === 'preset' ? `--preset: ${err.reason}` : err.field === 'device' ? `--device: ${err.reason}` : err.message);
        throw err;
      }
      io.stdout(o.json ? JSON.stringify(inspection, null, 2) + '\n' : formatInspection(inspection) + '\n');
    });
  addWorkloadsOption(
    workload
      .command('list')
      .description('List the workloads: the built-in folders and those --workloads / $FULCRUM_WORKLOADS add')
      .option('--json', 'print JSON'),
  ).action((o: { workloads?: string[]; json?: boolean }) => {
    const registry = openRegistry(o.workloads);
    const rows = registry.folders().map((f) => ({
      name: f.manifest.name,
      displayName: f.manifest.displayName,
      kinds: [...(f.manifest.train ? ['train'] : []), ...(f.manifest.infer ? [f.onnxPath ? 'infer (onnx)' : 'infer'] : [])].join(', '),
      builtin: f.builtin,
      folder: f.dir,
      ...(f.manifest.approximation ? { approximation: f.manifest.approximation } : {}),
    }));
    if (o.json) io.stdout(JSON.stringify(rows, null, 2) + '\n');
    // The approximation's first sentence here; the whole text in --json and the manifest.
    else for (const r of rows) io.stdout(`${r.name.padEnd(20)} ${r.kinds.padEnd(22)} ${r.builtin ? 'built-in' : r.folder}${r.approximation ? `  (an approximation: ${r.approximation.split(/(?<=[.:;])\s/)[0]!.replace(/[.:;]$/, '')})` : ''}\n`);
  });
}
