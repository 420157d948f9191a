// The ONNX counter on real graphs exported by torch in this test (/usr/bin/python3 with Debian's
// python3-torch, or FULCRUM_PYTHON): a ResNet-18 (torchvision's architecture, written out so that
// torchvision is not needed), a small BERT-shaped encoder, a 2-layer LSTM, an MLP exported with a
// fixed batch, and a graph with a data-dependent NonZero; compared with @fulcrum/devices'
// analytical.ts, which the virtual board's built-in costs come from.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { countBert, countResNet } from '@fulcrum/devices/internal';
import { ValidationError } from '@fulcrum/core';
import { countOnnxCost, ONNX_COST_LIMITS, type OnnxCost } from './onnx-cost.js';

const EXPORT_PY = String.raw`
import math, sys, warnings
warnings.filterwarnings('ignore')
import torch, torch.nn as nn
torch.manual_seed(0)
out = sys.argv[1]
def export(m, dummy, name, dynamic=True):
    m.eval()
    axes = {'input': {0: 'batch'}, 'output': {0: 'batch'}} if dynamic else None
    torch.onnx.export(m, dummy, f'{out}/{name}.onnx', input_names=['input'], output_names=['output'], dynamic_axes=axes, opset_version=13)
class Block(nn.Module):
    def __init__(s, cin, cout, stride):
        super().__init__()
        s.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False); s.bn1 = nn.BatchNorm2d(cout)
        s.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False); s.bn2 = nn.BatchNorm2d(cout)
        s.relu = nn.ReLU(inplace=True)
        s.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)) if stride != 1 or cin != cout else None
    def forward(s, x):
        y = s.bn2(s.conv2(s.relu(s.bn1(s.conv1(x)))))
        return s.relu(y + (s.down(x) if s.down is not None else x))
class ResNet18(nn.Module):  # torchvision 0.14's resnet18
    def __init__(s):
        super().__init__()
        s.stem = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1))
        layers, cin = [], 64
        for i, w in enumerate([64, 128, 256, 512]):
            for j in range(2):
                layers.append(Block(cin, w, 2 if i > 0 and j == 0 else 1)); cin = w
        s.layers = nn.Sequential(*layers); s.pool = nn.AdaptiveAvgPool2d(1); s.fc = nn.Linear(512, 1000)
    def forward(s, x):
        return s.fc(torch.flatten(s.pool(s.layers(s.stem(x))), 1))
class Layer(nn.Module):
    def __init__(s, h, heads):
        super().__init__()
        s.h, s.heads = h, heads
        s.q, s.k, s.v, s.o = nn.Linear(h, h), nn.Linear(h, h), nn.Linear(h, h), nn.Linear(h, h)
        s.ln1, s.ln2 = nn.LayerNorm(h), nn.LayerNorm(h)
        s.f1, s.f2 = nn.Linear(h, 4 * h), nn.Linear(4 * h, h)
    def split(s, x):
        b, t, _ = x.shape
        return x.view(b, t, s.heads, s.h // s.heads).transpose(1, 2)
    def forward(s, x):
        b, t, _ = x.shape
        q, k, v = s.split(s.q(x)), s.split(s.k(x)), s.split(s.v(x))
        a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(s.h // s.heads), dim=-1)
        x = s.ln1(x + s.o((a @ v).transpose(1, 2).reshape(b, t, s.h)))
        return s.ln2(x + s.f2(nn.functional.gelu(s.f1(x))))
class MiniBert(nn.Module):  # analytical.ts's countBert(2, 64, 4, 16) structure
    def __init__(s, vocab=1000, h=64, heads=4, layers=2, seq=16):
        super().__init__()
        s.tok, s.pos = nn.Embedding(vocab, h), nn.Embedding(seq, h)
        s.ln = nn.LayerNorm(h); s.layers = nn.ModuleList([Layer(h, heads) for _ in range(layers)])
        s.pool = nn.Linear(h, h)
    def forward(s, ids):
        x = s.ln(s.tok(ids) + s.pos.weight)
        for l in s.layers: x = l(x)
        return torch.tanh(s.pool(x[:, 0]))
class Lstm(nn.Module):
    def __init__(s):
        super().__init__()
        s.lstm = nn.LSTM(16, 32, num_layers=2, batch_first=True); s.fc = nn.Linear(32, 4)
    def forward(s, x):
        y, _ = s.lstm(x)
        return s.fc(y[:, -1])
class NonZero(nn.Module):
    def forward(s, x): return torch.nonzero(x > 0).float().sum() + x.relu().sum(dim=1)
mlp = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 10))
export(ResNet18(), torch.randn(1, 3, 224, 224), 'resnet18')
export(MiniBert(), torch.randint(0, 1000, (2, 16)), 'bert')
export(Lstm(), torch.randn(2, 8, 16), 'lstm')
export(mlp, torch.randn(4, 32), 'mlp_fixed', dynamic=False)
export(NonZero(), torch.randn(2, 5), 'nonzero')
`;

const python = process.env['FULCRUM_PYTHON'] || '/usr/bin/python3';
let dir: string;
const counted = new Map<string, OnnxCost>();
/** Counts each exported model once per file. */
function cost(name: string): OnnxCost {
  let c = counted.get(name);
  if (!c) {
    c = countOnnxCost(join(dir, `${name}.onnx`));
    counted.set(name, c);
  }
  return c;
}

function near(actual: number, expected: number, tolerance: number, what: string): void {
  const rel = Math.abs(actual - expected) / expected;
  assert.ok(rel <= tolerance, `${what}: ${actual} vs ${expected} (${(rel * 100).toFixed(2)}% off, tolerance ${tolerance * 100}%)`);
}

describe('countOnnxCost (ONNX graphs exported by torch)', () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'fulcrum-onnx-cost-'));
    writeFileSync(join(dir, 'export.py'), EXPORT_PY);
    execFileSync(python, [join(dir, 'export.py'), dir], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 120_000 });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("counts a ResNet-18 as analytical.ts's countResNet(18) does", () => {
    const c = cost('resnet18');
    const a = countResNet(18);
    near(c.flopsPerSample, a.flops, 0.01, 'FLOPs per sample');
    near(c.activationBytesPerSample, a.activationBytes, 0.01, 'activation bytes per sample');
    near(c.paramBytes, a.paramBytes, 0.01, 'parameter bytes');
    assert.equal(c.operators, a.operators);
    assert.equal(c.flopsPerBatch, 0);
    assert.equal(c.activationBytesPerBatch, 0);
    assert.deepEqual(c.inputShape, [3, 224, 224]);
    assert.equal(c.inputDtype, 'float32');
    assert.equal(c.batchDynamic, true);
    assert.deepEqual(c.uncounted, []);
    assert.equal(c.computeClass, 'conv');
    assert.equal(c.ops['Conv'], 20);
    assert.ok(c.initializerBytes > c.paramBytes, 'biases are stored but not counted as parameter bytes');
    assert.match(c.source, /resnet18\.onnx \(ONNX opset 13, exported by pytorch/);
  });

  it('counts a BERT-shaped encoder close to countBert (attention MatMuls, LayerNorm and GELU decomposed)', () => {
    const c = cost('bert');
    const a = countBert(2, 64, 4, 16);
    near(c.flopsPerSample, a.flops, 0.02, 'FLOPs per sample');
    near(c.paramBytes, a.paramBytes, 0.01, 'parameter bytes (weights plus the attention operands, as analytical.ts)');
    // This counter also counts the LayerNorm's ReduceMean, Pow, Sqrt and the embedding Gather.
    near(c.activationBytesPerSample, a.activationBytes, 0.1, 'activation bytes per sample');
    assert.deepEqual(c.inputShape, [16]);
    assert.equal(c.inputDtype, 'int64');
    assert.equal(c.computeClass, 'matmul');
    assert.deepEqual(c.uncounted, []);
  });

  it('counts LSTM layers from their weights and the sequence length', () => {
    const c = cost('lstm');
    // Per step: 2·4H·(I+H) for the gates, 2·4H bias adds, 25H element-wise; then the 32→4 Linear.
    const layer = (i: number): number => 8 * (2 * 4 * 32 * (i + 32) + 2 * 4 * 32 + 25 * 32);
    assert.equal(c.flopsPerSample, layer(16) + layer(32) + 2 * 32 * 4);
    assert.equal(c.computeClass, 'recurrent');
    assert.deepEqual(c.inputShape, [8, 16]);
  });

  it('reports a fixed batch: counted at that batch, divided by it, batchDynamic false', () => {
    const c = cost('mlp_fixed');
    assert.equal(c.batchDynamic, false);
    assert.equal(c.fixedBatchSize, 4);
    assert.equal(c.flopsPerSample, 2 * 32 * 64 + 64 + 2 * 64 * 10);
    assert.deepEqual(c.inputShape, [32]);
    assert.match(c.notes[0]!, /batch dimension is fixed at 4/);
  });

  it('names a node whose output shape depends on the data, and counts the rest', () => {
    const c = cost('nonzero');
    assert.ok(c.uncounted.includes('NonZero'), c.uncounted.join(','));
    assert.match(c.notes.join('\n'), /node "\/NonZero" \(NonZero\) not counted: its output shape depends on the values/);
    assert.ok(c.flopsPerSample > 0, 'the Relu and ReduceSum on the input are counted');
  });

  it('reads the bytes as well as a path, and checks the manifest input shape against the model', () => {
    const bytes = readFileSync(join(dir, 'mlp_fixed.onnx'));
    assert.equal(countOnnxCost(bytes).flopsPerSample, cost('mlp_fixed').flopsPerSample);
    assert.deepEqual(countOnnxCost(join(dir, 'resnet18.onnx'), { inputShape: [3, 224, 224] }).inputShape, [3, 224, 224]);
    assert.throws(
      () => countOnnxCost(join(dir, 'resnet18.onnx'), { inputShape: [3, 256, 256] }),
      /resnet18\.onnx: input "input" has shape \[3, 224, 224\] besides the batch, but the manifest's infer\.input\.shape is \[3, 256, 256\]/,
    );
  });

  it('refuses a truncated, garbage, empty or missing file with a ValidationError naming it', () => {
    const whole = readFileSync(join(dir, 'bert.onnx'));
    const truncated = join(dir, 'truncated.onnx');
    writeFileSync(truncated, whole.subarray(0, Math.floor(whole.length / 2)));
    assert.throws(() => countOnnxCost(truncated), (err: unknown) => err instanceof ValidationError && err.field === 'truncated.onnx' && /is not a readable ONNX model \(the protobuf does not decode: .*truncated or corrupt/.test(err.reason));
    const garbage = join(dir, 'garbage.onnx');
    writeFileSync(garbage, 'this is not an ONNX model, just text\n'.repeat(20));
    assert.throws(() => countOnnxCost(garbage), /garbage\.onnx: is not (a readable ONNX model|an ONNX model)/);
    assert.throws(() => countOnnxCost(new Uint8Array(0), { name: 'empty.onnx' }), /empty\.onnx: is not an ONNX model \(no graph with nodes in it\)/);
    assert.throws(() => countOnnxCost(join(dir, 'missing.onnx')), /missing\.onnx: cannot be read/);
  });

  it('never throws anything but a ValidationError on corrupted bytes', () => {
    const whole = readFileSync(join(dir, 'bert.onnx'));
    let seed = 7;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    for (let i = 0; i < 150; i++) {
      const b = Buffer.from(whole);
      for (let k = 0; k < 3; k++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
      try {
        const c = countOnnxCost(b);
        assert.ok(Number.isFinite(c.flopsPerSample) && Number.isFinite(c.activationBytesPerSample));
      } catch (err) {
        assert.ok(err instanceof ValidationError, String(err));
      }
    }
  });

  it('documents its limits', () => {
    assert.equal(ONNX_COST_LIMITS.maxBytes, 2 * 1024 ** 3 - 1);
    assert.ok(ONNX_COST_LIMITS.maxNodes >= 100_000);
  });
});
