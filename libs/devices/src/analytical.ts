/**
 * Analytical FLOPs and memory-access bytes of one inference pass, counted layer by layer with the
 * conventions of Pagoda's analytical model (dream-lab/pagoda, `src/analytical_model/estimates.py`,
 * Apache-2.0; see data/SOURCES.md), written anew here so that models Pagoda did not publish
 * (ResNet-18, VGG-16, BERT-base) are counted the same way as the ones it did:
 *
 * * fp32 (4 bytes per element), batch-normalisation folded into the preceding convolution (as
 *   PyTorch's ONNX export does in eval mode), biases not counted as parameter bytes;
 * * Conv: FLOPs = 2·out·(Cin/groups·k·k) + out; bytes = weights + input + output;
 * * Gemm / MatMul: FLOPs = 2·rows·in·out; bytes = weights + input + output;
 * * ReLU: 1 FLOP/element, Tanh 5, Erf 8, Softmax 7; Add/Sub/Mul/Div: 1 FLOP/element and bytes for
 *   two inputs and one output; MaxPool: k²−1 FLOPs per output; global average pool: H·W per output;
 *   ReLU, pooling, Flatten, Transpose: bytes = input + output;
 * * operators Pagoda does not count (Gather, Reshape, ReduceMean, Pow, Sqrt, …) contribute nothing.
 *
 * `ANALYTICAL_CHECKS` compares this counter with Pagoda's published numbers for ResNet-50 and
 * BERT-large; the unpublished models are scaled by their published sibling's ratio (see
 * workload-costs.ts), so that all eight workloads share one convention.
 */

/** Per-sample totals of one inference pass (batch size 1). */
export interface LayerCount {
  /** FLOPs per sample. */
  readonly flops: number;
  /** Activation bytes per sample (inputs + outputs of every counted operator). */
  readonly activationBytes: number;
  /** Weight bytes, read once per minibatch whatever its size. */
  readonly paramBytes: number;
  /** Operators counted (≈ GPU kernels launched per minibatch). */
  readonly operators: number;
}

const F32 = 4;

class Counter {
  flops = 0;
  act = 0;
  params = 0;
  ops = 0;

  conv(cin: number, cout: number, k: number, hIn: number, stride: number, groups = 1): number {
    this.ops++;
    const pad = Math.floor(k / 2);
    const hOut = Math.floor((hIn + 2 * pad - k) / stride) + 1;
    const out = cout * hOut * hOut;
    this.flops += 2 * out * (cin / groups) * k * k + out;
    this.params += (cout * (cin / groups) * k * k) * F32;
    this.act += (cin * hIn * hIn + out) * F32;
    return hOut;
  }

  /** ReLU (1 FLOP/element), Tanh (5), Erf (8), Softmax (7): input + output bytes. */
  unary(elements: number, flopsPerElement: number): void {
    this.ops++;
    this.flops += elements * flopsPerElement;
    this.act += 2 * elements * F32;
  }

  /** Add, Sub, Mul, Div. */
  binary(elements: number): void {
    this.ops++;
    this.flops += elements;
    this.act += 3 * elements * F32;
  }

  maxPool(c: number, hIn: number, k: number, stride: number, pad: number): number {
    this.ops++;
    const hOut = Math.floor((hIn + 2 * pad - k) / stride) + 1;
    const out = c * hOut * hOut;
    this.flops += out * (k * k - 1);
    this.act += (c * hIn * hIn + out) * F32;
    return hOut;
  }

  globalAvgPool(c: number, h: number): void {
    this.ops++;
    this.flops += c * h * h;
    this.act += (c * h * h + c) * F32;
  }

  copy(elements: number): void {
    this.ops++;
    this.act += 2 * elements * F32;
  }

  /** A [rows × k] · [k × n] product whose right operand is a weight (Gemm / MatMul with initializer). */
  linear(rows: number, k: number, n: number): void {
    this.ops++;
    this.flops += 2 * rows * k * n;
    this.params += k * n * F32;
    this.act += (rows * k + rows * n) * F32;
  }

  /** An activation × activation MatMul (attention): Pagoda counts the right operand's last two dims as "params". */
  matmul(batchDims: number, rows: number, k: number, n: number): void {
    this.ops++;
    this.flops += 2 * batchDims * rows * k * n;
    this.params += k * n * F32;
    this.act += (batchDims * rows * k + batchDims * rows * n) * F32;
  }

  result(): LayerCount {
    return { flops: this.flops, activationBytes: this.act, paramBytes: this.params, operators: this.ops };
  }
}

/** torchvision ResNet (v1.5: stride on the 3×3), input 3×224×224. */
export function countResNet(depth: 18 | 50): LayerCount {
  const c = new Counter();
  let h = c.conv(3, 64, 7, 224, 2);
  c.unary(64 * h * h, 1);
  h = c.maxPool(64, h, 3, 2, 1);
  let cin = 64;
  const blocks = depth === 18 ? [2, 2, 2, 2] : [3, 4, 6, 3];
  const widths = [64, 128, 256, 512];
  for (let stage = 0; stage < 4; stage++) {
    const w = widths[stage]!;
    for (let i = 0; i < blocks[stage]!; i++) {
      const stride = stage > 0 && i === 0 ? 2 : 1;
      const cout = depth === 18 ? w : 4 * w;
      const hIn = h;
      let hh: number;
      if (depth === 18) {
        hh = c.conv(cin, w, 3, hIn, stride);
        c.unary(w * hh * hh, 1);
        hh = c.conv(w, w, 3, hh, 1);
      } else {
        hh = c.conv(cin, w, 1, hIn, 1);
        c.unary(w * hh * hh, 1);
        hh = c.conv(w, w, 3, hh, stride);
        c.unary(w * hh * hh, 1);
        hh = c.conv(w, cout, 1, hh, 1);
      }
      if (stride !== 1 || cin !== cout) c.conv(cin, cout, 1, hIn, stride);
      c.binary(cout * hh * hh);
      c.unary(cout * hh * hh, 1);
      cin = cout;
      h = hh;
    }
  }
  c.globalAvgPool(cin, h);
  c.copy(cin); // Flatten
  c.linear(1, cin, 1000);
  return c.result();
}

/** torchvision VGG-16 (configuration D, no batch norm), input 3×224×224. */
export function countVgg16(): LayerCount {
  const c = new Counter();
  const cfg: (number | 'M')[] = [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M'];
  let h = 224;
  let cin = 3;
  for (const v of cfg) {
    if (v === 'M') {
      h = c.maxPool(cin, h, 2, 2, 0);
    } else {
      h = c.conv(cin, v, 3, h, 1);
      c.unary(v * h * h, 1);
      cin = v;
    }
  }
  // AdaptiveAvgPool2d(7×7) on a 7×7 map is an identity in the exported graph; Flatten copies.
  c.copy(cin * h * h);
  c.linear(1, cin * h * h, 4096);
  c.unary(4096, 1);
  c.linear(1, 4096, 4096);
  c.unary(4096, 1);
  c.linear(1, 4096, 1000);
  return c.result();
}

/** A BERT encoder as exported to ONNX by Hugging Face (LayerNorm decomposed, GELU via Erf), `seq` tokens. */
export function countBert(layers: number, hidden: number, heads: number, seq = 128): LayerCount {
  const c = new Counter();
  const ffn = 4 * hidden;
  const dh = hidden / heads;
  const tok = seq * hidden;
  const layerNorm = (): void => {
    c.binary(tok); // x − mean
    c.binary(tok); // ÷ std
    c.binary(tok); // × γ
    c.binary(tok); // + β
  };
  // Embeddings: word + position + token type, then LayerNorm.
  c.binary(tok);
  c.binary(tok);
  layerNorm();
  for (let l = 0; l < layers; l++) {
    for (let i = 0; i < 3; i++) {
      c.linear(seq, hidden, hidden); // Q, K, V
      c.binary(tok); // bias
      c.copy(tok); // Transpose to heads
    }
    c.matmul(heads, seq, dh, seq); // Q·Kᵀ
    c.binary(heads * seq * seq); // ÷ √dh
    c.binary(heads * seq * seq); // + mask
    c.unary(heads * seq * seq, 7); // Softmax
    c.matmul(heads, seq, seq, dh); // ·V
    c.copy(tok); // Transpose back
    c.linear(seq, hidden, hidden); // output projection
    c.binary(tok); // bias
    c.binary(tok); // residual
    layerNorm();
    c.linear(seq, hidden, ffn);
    c.binary(seq * ffn); // bias
    c.binary(seq * ffn); // ÷ √2
    c.unary(seq * ffn, 8); // Erf
    c.binary(seq * ffn); // + 1
    c.binary(seq * ffn); // × x
    c.binary(seq * ffn); // × 0.5
    c.linear(seq, ffn, hidden);
    c.binary(tok); // bias
    c.binary(tok); // residual
    layerNorm();
  }
  // Pooler on the [CLS] token.
  c.linear(1, hidden, hidden);
  c.binary(hidden);
  c.unary(hidden, 5);
  return c.result();
}
