// The Grafana dashboard (deploy/grafana/dashboards/fulcrum.json) and the Prometheus scrape config
// (deploy/prometheus/prometheus.yml) against the real services (issue 17, 2). `fulcrum serve all`
// runs as a process on a real nats-server, a real Prometheus (when installed) scrapes it with the
// deploy config from the start, a Solve profiles and applies a plan for board obs-board, and
// inference traffic (also for a stream the plan lacks, and at a rate far from the planned one, so
// the optimizer re-plans on arrivals) runs for the rest of the test. Then:
//  - every PromQL expression of the dashboard (panels, annotations, variables) parses with the
//    Prometheus project's own grammar (@prometheus-io/lezer-promql), and every metric and label
//    matcher it names matches series of the four services' /metrics as scraped, with the board and
//    stream variables set to real values; every `by (…)` label exists on the series aggregated,
//    every `{{label}}` of a legend survives the aggregation, rate/increase only take counters and
//    histogram_quantile only histogram buckets;
//  - `promtool check config` accepts the scrape config;
//  - Prometheus, scraping the services with that config (targets swapped for the test's ports),
//    has the four targets up and answers every panel query and variable with data.
// No Grafana here: the dashboard is checked through what its queries ask of Prometheus.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parser } from '@prometheus-io/lezer-promql';
import { connectNatsBus, inferSubject, isErrorReply, type EventBus } from '@fulcrum/bus';
import { freeLoopbackPort, startNatsServer, type NatsServer } from '@fulcrum/bus/testing';
import { runCli } from '@fulcrum/cli';
import { REPO_ROOT, serveAllProcess as serveAll, type ServeAll } from '../support/serve-process.js';

const DASHBOARD = join(REPO_ROOT, 'deploy/grafana/dashboards/fulcrum.json');
const SCRAPE_CONFIG = join(REPO_ROOT, 'deploy/prometheus/prometheus.yml');
const BOARD = 'obs-board';
const STREAM = 'cam';
/** Each service's target in the scrape config (compose host names, metrics on gRPC port + 1000). */
const TARGETS = { 'device-controller': 'device-controller:51051', executor: 'executor:51052', profiler: 'profiler:51053', optimizer: 'optimizer:51054' } as const;
type Service = keyof typeof TARGETS;
const SERVICES = Object.keys(TARGETS) as Service[];
/**
 * What Grafana puts for the dashboard's variables: the board, and two streams selected (a
 * multi-value variable becomes a regex alternation) — the planned one and `_unknown`, under which
 * the executor counts requests for a stream its plan lacks.
 */
const VARIABLES: Readonly<Record<string, string>> = {
  board: BOARD,
  stream: `(${STREAM}|_unknown)`,
  __rate_interval: '30s',
  __interval: '1h',
  __range: '1h',
};

function which(command: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    const file = join(dir, command);
    if (dir && existsSync(file)) return file;
  }
  return undefined;
}
const PROMTOOL = which('promtool');
const PROMETHEUS = which('prometheus');
const NO_PROMETHEUS = 'no prometheus binary on PATH (Debian/Ubuntu: apt-get install prometheus)';

// ------------------------------------------------------------------------------ the dashboard

interface Query {
  /** Where in the dashboard, for messages. */
  readonly where: string;
  readonly expr: string;
  readonly legend?: string | undefined;
  readonly kind: 'panel' | 'annotation' | 'variable';
  /** A variable's `label_values(…, label)` label. */
  readonly label?: string | undefined;
}

/** Every query of the dashboard: panel targets (rows included), annotations, query variables. */
function dashboardQueries(dashboard: any): Query[] {
  const out: Query[] = [];
  const panels = (list: any[]): void => {
    for (const p of list ?? []) {
      for (const t of p.targets ?? []) out.push({ where: `panel "${p.title}" ${t.refId}`, expr: t.expr, legend: t.legendFormat, kind: 'panel' });
      panels(p.panels);
    }
  };
  panels(dashboard.panels);
  for (const a of dashboard.annotations?.list ?? []) if (a.expr) out.push({ where: `annotation "${a.name}"`, expr: a.expr, kind: 'annotation' });
  for (const v of dashboard.templating?.list ?? []) {
    if (v.type !== 'query') continue;
    const q: string = typeof v.query === 'string' ? v.query : v.query.query;
    const m = /^label_values\((.+),\s*([a-zA-Z_]\w*)\s*\)$/.exec(q.trim());
    assert.ok(m, `variable ${v.name}: ${q} is not label_values(selector, label)`);
    assert.equal(v.definition, q, `variable ${v.name}: definition and query differ`);
    out.push({ where: `variable ${v.name}`, expr: m[1]!, label: m[2]!, kind: 'variable' });
  }
  return out;
}

/** The expression as Grafana sends it with VARIABLES set. */
function interpolate(expr: string): string {
  const out = expr.replace(/\$\{(\w+)\}|\$(\w+)/g, (all, a: string | undefined, b: string | undefined) => VARIABLES[(a ?? b)!] ?? all);
  assert.ok(!out.includes('$'), `an unknown variable in ${expr}`);
  return out;
}

// ------------------------------------------------------------------------------ PromQL

/** A node of the PromQL syntax tree (@lezer/common's SyntaxNode). */
type SyntaxNode = ReturnType<typeof parser.parse>['topNode'];

interface Matcher {
  readonly label: string;
  readonly op: '=' | '!=' | '=~' | '!~';
  readonly value: string;
}
interface Selector {
  readonly name: string;
  readonly matchers: readonly Matcher[];
  readonly node: SyntaxNode;
}
interface Parsed {
  readonly selectors: Selector[];
  /** Each aggregation's `by (…)` labels and the selectors under it. */
  readonly groupings: { readonly labels: readonly string[]; readonly selectors: readonly Selector[] }[];
  /** Selectors inside rate/irate/increase, and inside histogram_quantile. */
  readonly counterFns: { readonly fn: string; readonly selector: Selector }[];
  readonly quantiles: Selector[];
  readonly errors: string[];
}

function stringLiteral(text: string): string {
  if (text.startsWith('`')) return text.slice(1, -1);
  if (text.startsWith("'")) return JSON.parse(`"${text.slice(1, -1).replace(/\\'/g, "'").replace(/"/g, '\\"')}"`) as string;
  return JSON.parse(text) as string;
}

/** Every node of `type` below `node`, in document order. */
function descendants(node: SyntaxNode, type: string, out: SyntaxNode[] = []): SyntaxNode[] {
  for (let c = node.firstChild; c; c = c.nextSibling) {
    if (c.type.name === type) out.push(c);
    descendants(c, type, out);
  }
  return out;
}

function parsePromQL(expr: string): Parsed {
  const tree = parser.parse(expr);
  const text = (n: SyntaxNode): string => expr.slice(n.from, n.to);
  const errors: string[] = [];
  tree.iterate({ enter: (n) => void (n.type.isError && errors.push(`syntax error at ${n.from}: …${expr.slice(Math.max(0, n.from - 20), n.from + 20)}…`)) });
  const selectors: Selector[] = [];
  for (const node of descendants(tree.topNode, 'VectorSelector')) {
    const id = node.getChild('Identifier');
    if (!id) {
      errors.push(`a selector without a metric name: ${text(node)}`);
      continue;
    }
    const matchers: Matcher[] = [];
    for (const m of node.getChild('LabelMatchers')?.getChildren('UnquotedLabelMatcher') ?? []) {
      const label = m.getChild('LabelName');
      const op = m.getChild('MatchOp');
      const value = m.getChild('StringLiteral');
      if (!label || !op || !value) errors.push(`a label matcher it cannot read: ${text(m)}`);
      else matchers.push({ label: text(label), op: text(op) as Matcher['op'], value: stringLiteral(text(value)) });
    }
    const all = node.getChild('LabelMatchers') ? descendants(node.getChild('LabelMatchers')!, 'LabelName').length : 0;
    if (all !== matchers.length) errors.push(`label matchers other than name="value" (quoted names?): ${text(node)}`);
    selectors.push({ name: text(id), matchers, node });
  }
  const inside = (outer: SyntaxNode) => selectors.filter((s) => s.node.from >= outer.from && s.node.to <= outer.to);
  const groupings: Parsed['groupings'] = [];
  for (const agg of descendants(tree.topNode, 'AggregateExpr')) {
    const modifier = agg.getChild('AggregateModifier');
    if (!modifier) continue;
    if (!modifier.getChild('By')) {
      errors.push(`without (…) is not checked; use by (…): ${text(agg)}`);
      continue;
    }
    const labels = modifier.getChild('GroupingLabels')?.getChildren('LabelName').map(text) ?? [];
    groupings.push({ labels, selectors: inside(agg) });
  }
  const counterFns: Parsed['counterFns'] = [];
  const quantiles: Selector[] = [];
  for (const call of descendants(tree.topNode, 'FunctionCall')) {
    const fn = text(call.getChild('FunctionIdentifier')!);
    if (['rate', 'irate', 'increase'].includes(fn)) for (const selector of inside(call)) counterFns.push({ fn, selector });
    if (fn === 'histogram_quantile') quantiles.push(...inside(call));
  }
  return { selectors, groupings, counterFns, quantiles, errors };
}

// ------------------------------------------------------------------------------ /metrics

interface Series {
  readonly service: Service;
  readonly name: string;
  /** Non-empty labels only: Prometheus drops a label with an empty value. */
  readonly labels: Readonly<Record<string, string>>;
}
interface Scrape {
  readonly series: Series[];
  /** Metric family → type (counter, gauge, histogram, summary, untyped). */
  readonly types: Map<string, string>;
}

function parseExposition(service: Service, text: string, into: Scrape): void {
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) into.types.set(type[1]!, type[2]!);
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? \S+$/.exec(line);
    assert.ok(m, `${service}: a sample line it cannot read: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)) {
      const value = JSON.parse(`"${l[2]!}"`) as string;
      if (value !== '') labels[l[1]!] = value;
    }
    into.series.push({ service, name: m[1]!, labels });
  }
}

/** A histogram's `_bucket`/`_sum`/`_count` series belong to its family. */
function familyType(scrape: Scrape, name: string): { family: string; type: string | undefined; part?: string } {
  if (scrape.types.has(name)) return { family: name, type: scrape.types.get(name) };
  const m = /^(.*)_(bucket|sum|count)$/.exec(name);
  if (m && ['histogram', 'summary'].includes(scrape.types.get(m[1]!) ?? '')) return { family: m[1]!, type: scrape.types.get(m[1]!), part: m[2]! };
  return { family: name, type: undefined };
}

function matches(s: Series, selector: Selector): boolean {
  if (s.name !== selector.name) return false;
  return selector.matchers.every((m) => {
    const v = s.labels[m.label] ?? '';
    switch (m.op) {
      case '=':
        return v === m.value;
      case '!=':
        return v !== m.value;
      case '=~':
        return new RegExp(`^(?:${m.value})$`).test(v);
      case '!~':
        return !new RegExp(`^(?:${m.value})$`).test(v);
    }
  });
}

/** What in `query` the scraped series do not have (empty: all there). */
function checkAgainstScrape(query: Query, scrape: Scrape): string[] {
  const expr = interpolate(query.expr);
  const p = parsePromQL(expr);
  const problems = [...p.errors];
  const show = (s: Selector) => expr.slice(s.node.from, s.node.to);
  for (const s of p.selectors) {
    if (!scrape.series.some((x) => x.name === s.name)) problems.push(`no metric ${s.name} in any service's /metrics`);
    else if (!scrape.series.some((x) => matches(x, s))) {
      const missing = s.matchers.filter((m) => !scrape.series.some((x) => x.name === s.name && matches(x, { ...s, matchers: [m] })));
      problems.push(`no series of ${show(s)} (${missing.length ? `no series matches ${missing.map((m) => `${m.label}${m.op}"${m.value}"`).join(', ')}` : 'the matchers together match none'})`);
    }
  }
  for (const g of p.groupings) {
    for (const label of g.labels) {
      if (!g.selectors.some((s) => scrape.series.some((x) => matches(x, s) && x.labels[label] !== undefined))) problems.push(`by (${label}): no series of ${g.selectors.map(show).join(', ')} has the label ${label}`);
    }
  }
  for (const { fn, selector } of p.counterFns) {
    const t = familyType(scrape, selector.name);
    const ok = t.type === 'counter' || (t.part !== undefined && t.type === 'histogram');
    if (!ok) problems.push(`${fn}(${selector.name}): a ${t.type ?? 'metric of unknown type'}, not a counter`);
  }
  for (const s of p.quantiles) {
    const t = familyType(scrape, s.name);
    if (t.type !== 'histogram' || t.part !== 'bucket') problems.push(`histogram_quantile over ${s.name}: not a histogram's _bucket series`);
  }
  // A legend's {{label}} must survive the outermost aggregation (else Grafana draws it empty).
  const outer = p.groupings[0];
  for (const [, label] of (query.legend ?? '').matchAll(/\{\{\s*(\w+)\s*\}\}/g)) {
    const kept = outer ? outer.labels.filter((l) => l !== 'le') : undefined;
    if (kept && !kept.includes(label!)) problems.push(`legend {{${label}}} is not among by (${outer!.labels.join(', ')})`);
  }
  if (query.label && !p.selectors.some((s) => scrape.series.some((x) => matches(x, s) && x.labels[query.label!] !== undefined))) {
    problems.push(`label_values(…, ${query.label}): no series has the label`);
  }
  return problems;
}

async function scrapeAll(urls: Readonly<Record<Service, string>>): Promise<Scrape> {
  const scrape: Scrape = { series: [], types: new Map() };
  for (const service of SERVICES) {
    const res = await fetch(`${urls[service]}/metrics`);
    assert.equal(res.status, 200, `${service} /metrics`);
    parseExposition(service, await res.text(), scrape);
  }
  return scrape;
}

// ------------------------------------------------------------------------------ processes

async function stopChild(child: ChildProcess | undefined, graceMs = 5000): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  if ((await Promise.race([exited.then(() => 'done'), sleep(graceMs).then(() => 'late')])) === 'late') {
    child.kill('SIGKILL');
    await exited;
  }
}

/** The deploy scrape config with the compose targets swapped for the test's metrics ports, scraped every second. */
function testScrapeConfig(deployed: string, urls: Readonly<Record<Service, string>>): string {
  let out = deployed;
  for (const service of SERVICES) {
    const target = TARGETS[service];
    assert.equal(out.split(`'${target}'`).length, 2, `${target} appears once in prometheus.yml`);
    out = out.replace(`'${target}'`, `'${new URL(urls[service]).host}'`);
  }
  assert.match(out, /^ {2}scrape_interval: 5s$/m);
  return out.replace(/^ {2}scrape_interval: 5s$/m, '  scrape_interval: 1s').replace(/^ {2}scrape_timeout: 4s$/m, '  scrape_timeout: 1s');
}

async function promQuery(base: string, expr: string): Promise<{ ok: boolean; series: number; error?: string }> {
  const res = await fetch(`${base}/api/v1/query?${new URLSearchParams({ query: expr })}`);
  const body = (await res.json()) as { status: string; error?: string; data?: { result: unknown[] } };
  return body.status === 'success' ? { ok: true, series: body.data!.result.length } : { ok: false, series: 0, error: body.error ?? `HTTP ${res.status}` };
}

// ------------------------------------------------------------------------------ the test

describe('the Grafana dashboard and the Prometheus config against the real services', { timeout: 120_000 }, () => {
  let dir: string;
  let nats: NatsServer;
  let stack: ServeAll | undefined;
  let app: EventBus | undefined;
  let prometheus: ChildProcess | undefined;
  let prometheusUrl: string | undefined;
  let prometheusLog = '';
  let traffic: Promise<void> | undefined;
  let trafficOn = true;
  const sent = { ok: 0, failed: 0 };
  let metricsUrls: Record<Service, string>;
  const queries = dashboardQueries(JSON.parse(readFileSync(DASHBOARD, 'utf8')));

  const optimizerMetrics = async (): Promise<string> => (await fetch(`${metricsUrls.optimizer}/metrics`)).text();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fulcrum-observability-'));
    nats = await startNatsServer();
    stack = await serveAll([`--nats=${nats.url}`, '--grpc.port=0', `--board=${BOARD}`, `--profiler.store.path=${join(dir, 'p.db')}`]);
    metricsUrls = Object.fromEntries(SERVICES.map((s) => [s, stack!.ready[s].metricsUrl])) as Record<Service, string>;

    // Prometheus scrapes from the start, so it sees the plan applied and the re-plan happen.
    if (PROMETHEUS) {
      const config = join(dir, 'prometheus.yml');
      writeFileSync(config, testScrapeConfig(readFileSync(SCRAPE_CONFIG, 'utf8'), metricsUrls));
      const port = await freeLoopbackPort();
      prometheusUrl = `http://127.0.0.1:${port}`;
      prometheus = spawn(PROMETHEUS, [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, 'tsdb')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'], { stdio: ['ignore', 'ignore', 'pipe'] });
      prometheus.stderr!.on('data', (d: Buffer) => void (prometheusLog = (prometheusLog + d.toString()).slice(-20_000)));
    }

    // A Solve for the board: profiles the virtual Orin's modes and applies the plan on its executor.
    let stdout = '';
    let stderr = '';
    const code = await runCli(
      ['solve', '--remote', stack.ready.optimizer.address, '--board', BOARD, '--train', 'resnet18', '--train-batch', '32', '--stream', `workload=mobilenet,rate=30,latency=0.5,name=${STREAM}`, '--batch-sizes', '1,4,16', '--power', '30', '--json'],
      { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t) },
    );
    assert.equal(code, 0, stderr);
    assert.ok(JSON.parse(stdout).cost.modesProfiled >= 1);

    // Traffic until the end: the planned stream at ~25 requests/s (about 1.2/s of executor time at
    // serve all's time scale 20, far below the planned 30/s: the optimizer re-plans on arrivals),
    // and now and then a stream the plan lacks (an error: unknown-stream).
    app = await connectNatsBus({ url: nats.url });
    const bus = app;
    traffic = (async () => {
      for (let i = 0; trafficOn; i++) {
        const stream = i % 10 === 9 ? 'nope' : STREAM;
        void bus.request(inferSubject(BOARD, stream), { requestId: `r${i}`, input: [i] }, { timeoutMs: 10_000 }).then(
          (reply) => void (isErrorReply(reply) ? sent.failed++ : sent.ok++),
          () => void sent.failed++,
        );
        await sleep(40);
      }
    })();
    const deadline = Date.now() + 30_000;
    while (!new RegExp(`^fulcrum_optimizer_replans_total\\{[^}]*trigger="arrivals"[^}]*board="${BOARD}"`, 'm').test(await optimizerMetrics())) {
      assert.ok(Date.now() < deadline, `no re-plan on arrivals in 30 s (sent ${JSON.stringify(sent)}):\n${stack.log()}`);
      await sleep(200);
    }
  });

  after(async () => {
    trafficOn = false;
    await traffic;
    await app?.close();
    await stopChild(prometheus);
    await stopChild(stack?.child);
    await nats?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the dashboard is well formed: unique panel ids, every target on the datasource variable, on a 24-column grid', () => {
    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8'));
    assert.equal(dashboard.uid, 'fulcrum-board');
    const ids = new Set<number>();
    const walk = (list: any[]): void => {
      for (const p of list ?? []) {
        assert.ok(!ids.has(p.id), `panel id ${p.id} twice`);
        ids.add(p.id);
        assert.ok(p.gridPos.x + p.gridPos.w <= 24, `panel "${p.title}" overflows the grid`);
        if (p.type !== 'row') {
          assert.deepEqual(p.datasource, { type: 'prometheus', uid: '${datasource}' }, `panel "${p.title}"`);
          assert.ok(p.targets?.length > 0 && p.targets.every((t: any) => t.expr && t.datasource?.uid === '${datasource}'), `panel "${p.title}" targets`);
          assert.ok(p.description, `panel "${p.title}" says what it shows`);
        }
        walk(p.panels);
      }
    };
    walk(dashboard.panels);
    const names = dashboard.templating.list.map((v: any) => v.name);
    assert.deepEqual(names, ['datasource', 'board', 'stream']);
    assert.ok(queries.filter((q) => q.kind === 'panel').length >= 20);
  });

  it('every metric, label matcher and grouping label the dashboard queries is in the services’ /metrics', async () => {
    // Gauges of the running plan come and go with re-plans: retry a few scrapes before failing.
    let problems: string[] = [];
    for (let attempt = 0; attempt < 20; attempt++) {
      const scrape = await scrapeAll(metricsUrls);
      problems = queries.flatMap((q) => checkAgainstScrape(q, scrape).map((p) => `${q.where}: ${p}\n    ${q.expr}`));
      // The variables offer the values the checks used. The '_unknown' stream's series appears once the
      // executor has answered a request for a stream it does not serve (every 10th the traffic sends),
      // which on a slow host may come after the first clean scrape: it is retried like the gauges.
      const values = (metric: string, label: string) => new Set(scrape.series.filter((s) => s.name === metric).map((s) => s.labels[label]));
      const streams = values('fulcrum_executor_requests_total', 'stream');
      if (!values('fulcrum_device_power_watts', 'board').has(BOARD)) problems.push(`fulcrum_device_power_watts has no board="${BOARD}"`);
      if (!streams.has(STREAM) || !streams.has('_unknown')) problems.push(`fulcrum_executor_requests_total streams: ${[...streams].join(', ')} (want ${STREAM} and _unknown)`);
      if (problems.length === 0) return;
      await sleep(500);
    }
    assert.fail(`the dashboard asks for what the services do not export:\n${problems.join('\n')}`);
  });

  it('the checker itself finds a wrong metric, a wrong label value, a missing grouping label and a rate over a gauge', async () => {
    const scrape = await scrapeAll(metricsUrls);
    const check = (expr: string, legend?: string) => checkAgainstScrape({ where: 'probe', expr, legend, kind: 'panel' }, scrape);
    assert.deepEqual(check('max by (board) (fulcrum_device_power_watts{board=~"$board"})', '{{board}}'), []);
    assert.match(check('fulcrum_device_power_watt')[0]!, /no metric fulcrum_device_power_watt /);
    assert.match(check('fulcrum_device_clock_mhz{knob="dla"}')[0]!, /no series matches knob="dla"/);
    assert.match(check('sum by (stream) (fulcrum_device_power_watts)')[0]!, /by \(stream\): no series/);
    assert.match(check('rate(fulcrum_device_power_watts[1m])')[0]!, /a gauge, not a counter/);
    assert.match(check('histogram_quantile(0.99, rate(fulcrum_executor_requests_total[1m]))')[0]!, /not a histogram's _bucket/);
    assert.match(check('sum by (board) (fulcrum_device_power_watts)', '{{knob}}')[0]!, /legend \{\{knob\}\}/);
    assert.match(check('sum(rate(fulcrum_executor_requests_total[1m])')[0]!, /syntax error/);
    assert.match(check('fulcrum_executor_request_latency_seconds{stream="cam"}')[0]!, /no metric fulcrum_executor_request_latency_seconds /, 'a histogram is queried by its _bucket/_sum/_count');
  });

  it('promtool accepts deploy/prometheus/prometheus.yml', { skip: PROMTOOL ? false : 'no promtool on PATH (Debian/Ubuntu: apt-get install prometheus)' }, () => {
    const r = spawnSync(PROMTOOL!, ['check', 'config', SCRAPE_CONFIG], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout + r.stderr, /SUCCESS/);
  });

  it('a real Prometheus with the deploy scrape config has the four services up and answers every dashboard query with data', { skip: PROMETHEUS ? false : NO_PROMETHEUS }, async () => {
    const base = prometheusUrl!;
    const deadline = Date.now() + 20_000;
    let missing: string[] = [];
    for (;;) {
      missing = [];
      try {
        const targets = (await (await fetch(`${base}/api/v1/targets`)).json()) as { data: { activeTargets: { labels: { job: string }; health: string; lastError: string }[] } };
        for (const service of SERVICES) {
          const t = targets.data.activeTargets.find((x) => x.labels.job === service);
          if (t?.health !== 'up') missing.push(`target ${service}: ${t ? `${t.health} ${t.lastError}` : 'absent'}`);
        }
        if (missing.length === 0) {
          for (const q of queries) {
            const r = await promQuery(base, interpolate(q.expr));
            // An annotation's `… > 0` may rightly be empty; it must still evaluate.
            if (!r.ok) missing.push(`${q.where}: ${r.error}\n    ${q.expr}`);
            else if (r.series === 0 && q.kind !== 'annotation') missing.push(`${q.where}: no data\n    ${q.expr}`);
          }
        }
      } catch (err) {
        missing.push(`Prometheus not answering yet: ${String(err)}`);
      }
      if (missing.length === 0) break;
      if (Date.now() > deadline || prometheus?.exitCode != null) assert.fail(`${missing.join('\n')}\nprometheus log:\n${prometheusLog}`);
      await sleep(500);
    }
    // One query as a number: the board's power budget, the Solve's --power 30.
    const budget = (await (await fetch(`${base}/api/v1/query?${new URLSearchParams({ query: interpolate('max by (board) (fulcrum_executor_power_budget_watts{board=~"$board"})') })}`)).json()) as { data: { result: { metric: { board: string }; value: [number, string] }[] } };
    assert.deepEqual(budget.data.result.map((r) => [r.metric.board, Number(r.value[1])]), [[BOARD, 30]]);
  });
});
