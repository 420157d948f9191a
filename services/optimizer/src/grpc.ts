/**
 * The optimizer's gRPC adapter (`fulcrum.optimizer.v1.Optimizer`): requests to the `Optimizer`
 * library through the one conversion module of `@fulcrum/proto`, its events and plans back.
 */
import { ValidationError, requireToken } from '@fulcrum/core';
import { costToProto, optimizer, planToProto, problemFromProto, profileResultToProto, strategyFromProto } from '@fulcrum/proto';
import { callSignal, serverStream, unary } from '@fulcrum/runtime/internal';
import type { Logger } from 'pino';
import type { Optimizer, SolveEvent } from './optimizer.js';

export const OPTIMIZER_SERVICE_NAME = 'fulcrum.optimizer.v1.Optimizer';

export function solveEventToProto(ev: SolveEvent): optimizer.SolveResponse {
  if (ev.type === 'completed') {
    return optimizer.SolveResponse.fromPartial({ event: { $case: 'completed', value: { plan: planToProto(ev.plan), cost: costToProto(ev.cost) } } });
  }
  return optimizer.SolveResponse.fromPartial({
    event: {
      $case: 'modeProfiled',
      value: { mode: ev.mode, reused: ev.reused, remeasured: ev.remeasured, results: ev.results.map(profileResultToProto), cost: costToProto(ev.cost), bestPlan: ev.bestPlan ? planToProto(ev.bestPlan) : undefined },
    },
  });
}

function checkModeBudget(modeBudget: number): void {
  if (modeBudget > 10_000) throw new ValidationError('modeBudget', `must be at most 10000, got ${modeBudget}`);
}

/** The gRPC implementation over an optimizer. */
export function optimizerGrpcImplementation(lib: Optimizer, defaults: { device: string }, logger?: Logger): optimizer.OptimizerServer {
  return {
    solve: serverStream(async function* (req: optimizer.SolveRequest, call) {
      checkModeBudget(req.modeBudget);
      // A Solve for a board: the problem's device defaults to the board's model.
      const board = req.board ? lib.board(requireToken('board', req.board, 'a board id')) : undefined;
      const problem = problemFromProto(req.problem, { catalog: lib.catalog, defaultDevice: board?.device ?? defaults.device });
      lib.checkProblem(problem);
      const strategy = strategyFromProto(req.strategy, req.modeBudget);
      // A client that cancels (or whose deadline passes) stops the Solve's profiling at once.
      const cancel = callSignal(call);
      try {
        for await (const ev of lib.solve({ problem, strategy, grid: req.grid || undefined, seed: req.seed || undefined, signal: cancel.signal, ...(board ? { board: board.board } : {}) })) yield solveEventToProto(ev);
      } finally {
        cancel.dispose();
      }
    }, logger),
    listBoards: unary(() =>
      optimizer.ListBoardsResponse.fromPartial({
        boards: lib.boards().map((b) => ({ board: b.board, device: b.device, softwareStack: b.softwareStack, executorAddress: b.executorAddress, planId: b.planId ?? '', lastSeen: b.lastSeen, state: b.state })),
      }),
    logger),
    getParetoFront: unary(async (req: optimizer.GetParetoFrontRequest) => {
      const problem = problemFromProto(req.problem, { catalog: lib.catalog, defaultDevice: defaults.device, budgetsOptional: true });
      lib.checkProblem(problem);
      const front = await lib.paretoFront(problem);
      return optimizer.GetParetoFrontResponse.fromPartial({ points: front.points.map(planToProto), modesConsidered: front.modesConsidered });
    }, logger),
    replan: unary(async (req: optimizer.ReplanRequest) => {
      const problem = problemFromProto(req.problem, { catalog: lib.catalog, defaultDevice: defaults.device });
      lib.checkProblem(problem);
      const out = await lib.replan({ problem, previousPlanId: req.previousPlanId || undefined, allowProfiling: req.allowProfiling, strategy: strategyFromProto(req.strategy, 0) });
      return optimizer.ReplanResponse.fromPartial({ plan: planToProto(out.plan), cost: costToProto(out.cost), changed: out.changed });
    }, logger),
  };
}

