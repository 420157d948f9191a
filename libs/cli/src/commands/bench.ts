/**
 * `fulcrum bench` — the SPEC §7 sweep: strategies scored against the oracle on the noise-free
 * ground truth of a virtual device or a profile table; summary table, JSON and plots.
 */
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_NOISE, DEFAULT_SEED, parseFamilyDevice, virtualDeviceIds, type VirtualWorkloadSpec } from '@fulcrum/devices';
import { SWEEP_NAMES, benchJson, formatAcross, formatSummary, runBench, summarize, summarizeAcross, writePlots, type BackendSpec, type BenchSummary, type SweepName } from '@fulcrum/bench';
import { createProgress } from '@fulcrum/bench/internal';
import { DEFAULT_TARGET_PROBABILITY, getStrategy, strategyNames } from '@fulcrum/strategies';
import type { CliIo } from '../io.js';
import { CommandError, UsageError, asUsageError, commaList, oneOf, positiveInteger } from '../usage.js';
import { assertProfileFile } from '../profile-file.js';
import { checkOutputDir, checkOutputFile } from '../output-path.js';
import { parseNoise, parseSeed, parseTargetProbability } from '../parse.js';
import { addWorkloadsOption, checkWorkloadKind, openRegistry, userVirtualWorkloads } from '../workloads.js';

export const DEFAULT_BENCH_STRATEGIES = ['oracle', 'gmd', 'als-50', 'als-100', 'als-150', 'random-15', 'random-50', 'random-150', 'powertrain-50', 'bo-15', 'maxn', 'best-preset'];

interface BenchCliOptions {
  device?: string;
  profiles?: string;
  strategies: string[];
  sweep: SweepName;
  json?: string;
  plots?: string;
  workers?: number;
  noise: number;
  seed: number;
  targetProbability: number;
  progress: boolean;
  workloads?: string[];
  train?: string[];
  infer?: string[];
}

function strategyList(text: string): string[] {
  const names = commaList((s) => s)(text);
  for (const n of names) {
    try {
      getStrategy(n);
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message.replace(/^strategy: /, '') + '.');
    }
  }
  return names;
}

export function registerBenchCommand(program: Command, io: CliIo): void {
  addWorkloadsOption(
    program
      .command('bench')
      .description('Sweep problem configurations and score strategies against the exhaustive oracle on the noise-free ground truth (SPEC §7).')
      .addOption(new Option('--device <id>', `virtual device (${virtualDeviceIds().join(', ')}), or family:N — variant N of the synthetic family (time and power laws outside the roofline shape, not a measured board); default orin-agx`))
      .option('--profiles <file.csv>', 'a profile table (SPEC §3 CSV): budgets and rates come from its own ranges'),
  )
    .option('--train <a,b,...>', "the workloads the sweep's keys train (default: every one; with --workloads on the virtual device, those of your folders that train)", commaList((s) => s))
    .option('--infer <a,b,...>', "the workloads the sweep's keys serve (default: every one; with --workloads on the virtual device, those of your folders that serve)", commaList((s) => s))
    .addOption(new Option('--strategies <a,b,...>', `strategies to run (${strategyNames().join(', ')})`).argParser(strategyList).default(DEFAULT_BENCH_STRATEGIES, DEFAULT_BENCH_STRATEGIES.join(',')))
    .addOption(new Option('--sweep <quick|paper>', 'quick: 108 configurations (CI); paper: 262,656 over 16 workload variants').argParser(oneOf(SWEEP_NAMES)).default('quick'))
    .option('--json <out.json>', 'write every configuration and the summary as JSON')
    .option('--plots <dir>', 'write the X/X* CDF and the cost-vs-quality plot (SVG and PNG)')
    .option('--workers <n>', 'worker threads (default: one per core)', positiveInteger)
    .addOption(new Option('--noise <x>', 'measurement noise of the virtual device (a table: 0 unless given)').argParser(parseNoise).default(DEFAULT_NOISE))
    .addOption(new Option('--seed <n>', 'noise and strategy seed').argParser(parseSeed).default(DEFAULT_SEED))
    .addOption(new Option('--target-probability <p>', 'one-sided probability a plan\'s constraints hold on the truth: margins are z·SE of each mode\'s measurements (SPEC §4)').argParser(parseTargetProbability).default(DEFAULT_TARGET_PROBABILITY))
    .option('--no-progress', 'no progress bar or progress log lines')
    .addHelpText('after', '\nExamples:\n  fulcrum bench --sweep quick\n  fulcrum bench --device orin-agx --sweep paper --json bench.json --plots bench-plots\n  fulcrum bench --profiles orin.csv --strategies oracle,gmd,als-50 --sweep quick\n  fulcrum bench --device family:3 --noise 0 --strategies oracle,gmd,als-150\n  fulcrum bench --workloads examples/workloads --train digits-classifier --infer digits-onnx --strategies oracle,gmd,als-50\n')
    .action(async (o: BenchCliOptions, cmd: Command) => {
      if (o.profiles !== undefined && o.device !== undefined) throw new UsageError('--profiles: give either --device or --profiles, not both');
      if (o.profiles !== undefined) assertProfileFile(o.profiles, '--profiles');
      const noiseGiven = cmd.getOptionValueSource('noise') === 'cli';
      const registry = openRegistry(o.workloads);
      let train = o.train;
      let infer = o.infer;
      let workloads: VirtualWorkloadSpec[] = [];
      if (o.profiles === undefined) {
        // The virtual board: the user's folders become workloads of the board; without --train /
        // --infer the sweep draws from them (from every workload for a kind none of them has).
        for (const [names, kind, flag] of [[train, 'train', '--train'], [infer, 'infer', '--infer']] as const) {
          for (const w of names ?? []) {
            if (!registry.has(w)) throw new UsageError(`${flag}: unknown workload ${JSON.stringify(w)}; known workloads: ${registry.names().join(', ')} (add your own with --workloads DIR)`);
            checkWorkloadKind(registry, w, kind, flag);
          }
        }
        const user = registry.userFolders();
        if (user.length > 0) {
          const names = (kind: 'train' | 'infer', folders: typeof user): string[] => folders.filter((f) => f.manifest[kind]).map((f) => f.manifest.name);
          const userTrain = names('train', user);
          const userInfer = names('infer', user);
          train ??= userTrain.length ? userTrain : names('train', registry.folders());
          infer ??= userInfer.length ? userInfer : names('infer', registry.folders());
        }
        if (train || infer) workloads = userVirtualWorkloads(registry, [...(train ?? []), ...(infer ?? [])]);
      }
      let variants: number[] | undefined;
      try {
        variants = o.device === undefined ? undefined : parseFamilyDevice(o.device);
      } catch (err) {
        throw new UsageError(`--device: ${(err as Error).message.replace(/^device: /, '')}`);
      }
      if (variants !== undefined && workloads.length > 0) throw new UsageError('--device family:N: the synthetic family runs the built-in workloads only (no --workloads)');
      if (variants !== undefined && variants.length > 1 && o.plots) throw new UsageError('--plots: plots are of one device; give one variant (family:N) with --plots');
      const backends: BackendSpec[] =
        o.profiles !== undefined
          ? [{ type: 'table', path: o.profiles, noise: noiseGiven ? o.noise : 0, seed: o.seed }]
          : variants !== undefined
            ? variants.map((variant) => ({ type: 'family', variant, noise: o.noise, seed: o.seed }) as const)
            : [{ type: 'virtual', device: o.device ?? 'orin-agx', noise: o.noise, seed: o.seed, ...(workloads.length ? { workloads } : {}) }];
      for (const backend of backends) {
        if (backend.type === 'virtual' && !virtualDeviceIds().includes(backend.device)) {
          throw new UsageError(`--device: unknown virtual device ${JSON.stringify(backend.device)}; known: ${virtualDeviceIds().join(', ')}, or family:N / family:A-B (synthetic variants)`);
        }
      }
      // Where the results go is checked before the sweep (minutes on the paper sweep), not after.
      if (o.json && o.plots && resolve(o.json) === resolve(o.plots)) throw new UsageError('--json: the same path as --plots (a file and a folder); give them different paths');
      if (o.json) checkOutputFile(o.json, '--json');
      if (o.plots) checkOutputDir(o.plots, '--plots');
      const summaries: BenchSummary[] = [];
      const jsons: unknown[] = [];
      for (const backend of backends) {
        const progress = o.progress ? createProgress({ label: backends.length > 1 && backend.type === 'family' ? `bench ${o.sweep} family:${backend.variant}` : `bench ${o.sweep}` }) : undefined;
        let run;
        try {
          run = await runBench({
            backend,
            strategies: o.strategies,
            sweep: o.sweep,
            ...(train ? { train } : {}),
            ...(infer ? { infer } : {}),
            ...(o.workers ? { workers: o.workers } : {}),
            seed: o.seed,
            targetProbability: o.targetProbability,
            ...(progress ? { onProgress: (done: number, total: number) => progress.update(done, total) } : {}),
          });
        } catch (err) {
          const usage = asUsageError(err, (f) => (f.startsWith('strategies') ? '--strategies' : f === 'train' ? '--train' : f === 'infer' ? '--infer' : f === 'workloads' ? `--profiles ${o.profiles}` : undefined));
          // A table the sweep cannot use (e.g. no mode holds both a trained and a served workload): one line, no stack.
          if (o.profiles !== undefined && !(usage instanceof UsageError) && usage instanceof Error) throw new UsageError(`--profiles ${o.profiles}: ${usage.message}`);
          throw usage;
        } finally {
          progress?.stop();
        }
        const summary = summarize(run);
        io.stdout(formatSummary(summary));
        summaries.push(summary);
        if (o.json) jsons.push(benchJson(run, summary));
        if (o.plots) {
          const files = await writePlots(run, summary, o.plots);
          io.stdout(`wrote ${files.join(', ')}\n`);
        }
      }
      const across = backends.length > 1 ? summarizeAcross(summaries) : undefined;
      if (across) io.stdout(formatAcross(`over the ${backends.length} variants ${o.device} (worst and mean):`, across));
      if (o.json) {
        try {
          await writeFile(o.json, JSON.stringify(across ? { runs: jsons, across } : jsons[0]));
        } catch (err) {
          // Checked before the sweep; a disk that filled up since still gets one line (the table above stands).
          throw new CommandError(`--json: cannot write ${o.json}: ${(err as Error).message}`);
        }
        io.stdout(`wrote ${o.json}\n`);
      }
    });
}
