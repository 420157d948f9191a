/** A Python worker's failures as one line for the CLI (`run`, `workload check`). */
import { WorkerCrashedError, WorkloadStepError } from '@fulcrum/executor';
import { CommandError, UsageError } from './usage.js';

/** Where the worker's python came from, for messages: `--python`, FULCRUM_PYTHON, or undefined (the default). */
export function pythonSource(flag: string | undefined): string | undefined {
  return flag ? '--python' : process.env['FULCRUM_PYTHON'] ? 'FULCRUM_PYTHON' : undefined;
}

/**
 * A worker's failure as one line: an interpreter that cannot run the worker (missing, no PyTorch,
 * not Python) is a usage error naming where it came from (`--python`, FULCRUM_PYTHON, or the
 * default); a workload's own step that raised names that workload; a worker that died later, too.
 */
export function workerError(err: unknown, source: string | undefined): unknown {
  if (err instanceof WorkloadStepError) return new CommandError(`${err.workload}: ${err.message}`);
  if (!(err instanceof WorkerCrashedError)) return err;
  if (err.starting) {
    const python = err.python ?? 'python';
    const from = source ? `${source} ${python}` : `the default python ${python} (set --python or FULCRUM_PYTHON)`;
    const module = /No module named '([^']{1,64})'/.exec(err.message)?.[1];
    const missing = /ENOENT/.test(err.message);
    const why = missing
      ? 'no such program'
      : module
        ? `it has no ${module} (No module named '${module}'); the worker needs a python with numpy and PyTorch, e.g. Debian's /usr/bin/python3 with python3-torch`
        : `it could not run the worker: ${err.message}`;
    return new UsageError(`${from}: ${why}`);
  }
  return new CommandError(`${err.workload ?? err.runner}: ${err.message}`);
}

