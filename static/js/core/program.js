// The decoder: it executes a bundle's program (webapp/bundle.py writes it from the model), an ordered list of
// operations on a (rows, width) activation, each naming the tensors it uses. Nothing here knows a layer's name or an
// architecture, so any decoder the bundle writer can describe runs unchanged. The fully connected layers run on the
// WebAssembly SIMD kernel (static/linear.wat), or in plain JavaScript where SIMD is missing; both give the same
// float32 products. DOM-free: it runs in Node as in the page (tests/node/).

import { packBlocks } from "./kernels.js";

const pad8 = (n) => Math.ceil(n / 8) * 8; // widths are padded to multiples of 8 for the kernel; padding stays 0

// static/linear.wasm's bytes -> a compiled module to give every Decoder (the replay makes one per snapshot), or
// null where WebAssembly SIMD is missing (the decoders then run in JavaScript)
export async function compileKernel(bytes) {
  if (typeof WebAssembly !== "object" || !bytes || !WebAssembly.validate(bytes)) return null;
  return WebAssembly.compile(bytes);
}

export class Decoder {
  // program: the operations; tensors: {name: {shape, data}}; inputDim: latent dimensions; outputShape: [h, w];
  // maxRows: the most points one decode() takes; kernel: compileKernel's module, or null for plain JavaScript
  constructor(program, tensors, inputDim, outputShape, { maxRows, kernel = null }) {
    this.inputDim = inputDim;
    const get = (name) => {
      const t = tensors[name];
      if (!t) throw new Error(`the weights file has no tensor ${name}`);
      return t;
    };
    const linears = [];
    let depth = 0, widest = pad8(inputDim);
    // --- compile: check every operation and give it the width of the activations it sees;
    // -> {steps, width (padded), real}
    const compile = (ops, width, real, level) => {
      depth = Math.max(depth, level);
      const steps = ops.map((op) => {
        if (op.op === "linear") {
          const w = get(op.weight), b = get(op.bias);
          const [n, k] = w.shape;
          if (k !== real) throw new Error(`${op.weight} takes ${k} inputs, the activations have ${real}`);
          const layer = { op: "linear", n, np: pad8(n), kp: width, w, b };
          linears.push(layer);
          width = layer.np; real = n; widest = Math.max(widest, width);
          return layer;
        }
        if (op.op === "layernorm") {
          const gamma = get(op.weight).data, beta = get(op.bias).data;
          if (gamma.length !== real) throw new Error(`${op.weight} normalises ${gamma.length}, not ${real}`);
          return { op: "layernorm", gamma, beta, eps: op.eps, real };
        }
        if (op.op === "residual") {
          const body = compile(op.body, width, real, level + 1);
          if (body.real !== real) throw new Error(`a residual branch maps ${real} features to ${body.real}`);
          return { op: "residual", body: body.steps, real };
        }
        if (op.op === "leaky_relu") return { op: "leaky_relu", slope: op.slope, real };
        if (op.op === "silu" || op.op === "sigmoid") return { op: op.op, real };
        throw new Error(`the browser decoder does not know the operation ${op.op}`);
      });
      return { steps, width, real };
    };
    const compiled = compile(program, inputDim, inputDim, 0);
    this.program = compiled.steps;
    const [height, widthPx] = outputShape;
    if (compiled.real !== height * widthPx) {
      throw new Error(`the decoder makes ${compiled.real} values per point, expected ${height}x${widthPx} pixels`);
    }
    this.pixelsPerRow = height * widthPx;
    this.maxRows = maxRows;
    const rowsPadded = Math.ceil(maxRows / 4) * 4; // the SIMD kernel works on 4 rows at a time
    // --- memory: packed weights, then activation buffers (two, plus one per level of residual nesting), then
    // the input points
    let floats = 0;
    const alloc = (n) => { const at = floats; floats += n + (4 - (n % 4)) % 4; return at; };
    for (const l of linears) { l.wAt = alloc(l.np * l.kp); l.bAt = alloc(l.np); }
    this.buffers = Array.from({ length: 2 + depth }, () => alloc(rowsPadded * widest));
    this.inputAt = alloc(rowsPadded * inputDim);
    this.rows = rowsPadded;
    this.simd = !!kernel;
    if (this.simd) {
      const memory = new WebAssembly.Memory({ initial: Math.ceil((floats * 4) / 65536) + 1 });
      this.kernel = new WebAssembly.Instance(kernel, { env: { memory } }).exports.linear;
      this.heap = new Float32Array(memory.buffer);
    } else {
      this.heap = new Float32Array(floats);
    }
    // --- pack W (N, K) row-major into (N/8, K, 8) blocks; padding stays 0
    for (const l of linears) {
      packBlocks(l.w.data, l.w.shape[0], l.w.shape[1], this.heap, l.wAt, l.kp);
      this.heap.set(l.b.data, l.bAt);
      delete l.w; delete l.b; // the packed copy is all the decoder needs
    }
    this.pixels = new Uint8ClampedArray(maxRows * this.pixelsPerRow);
    this.backend = this.simd ? "WebAssembly SIMD" : "JavaScript";
  }

  linear(x, l, y) {
    if (this.simd) {
      this.kernel(x * 4, l.wAt * 4, l.bAt * 4, y * 4, this.rows, l.kp, l.np);
      return;
    }
    const h = this.heap, K = l.kp, N = l.np; // same packed layout, scalar loops
    for (let nb = 0; nb < N; nb += 8) {
      const wBlock = l.wAt + nb * K;
      for (let r = 0; r < this.rows; r++) {
        const xRow = x + r * K, yRow = y + r * N + nb;
        for (let j = 0; j < 8; j++) {
          let acc = h[l.bAt + nb + j];
          for (let k = 0, wp = wBlock + j; k < K; k++, wp += 8) acc += h[xRow + k] * h[wp];
          h[yRow + j] = acc;
        }
      }
    }
  }

  elementwise(at, stride, real, fn) {
    const h = this.heap;
    for (let r = 0; r < this.rows; r++) {
      const row = at + r * stride;
      for (let i = 0; i < real; i++) h[row + i] = fn(h[row + i]);
    }
  }

  layerNorm(at, stride, { real, gamma, beta, eps }) { // in place, over each row's `real` features
    const h = this.heap;
    for (let r = 0; r < this.rows; r++) {
      const s = at + r * stride;
      let mean = 0;
      for (let i = 0; i < real; i++) mean += h[s + i];
      mean /= real;
      let variance = 0;
      for (let i = 0; i < real; i++) { const c = h[s + i] - mean; variance += c * c; }
      const inv = 1 / Math.sqrt(variance / real + eps); // biased variance, as torch
      for (let i = 0; i < real; i++) h[s + i] = (h[s + i] - mean) * inv * gamma[i] + beta[i];
    }
  }

  // Run `steps` on the activations at `cur` (row stride `stride`) without touching the buffers in `busy`;
  // -> [where the result is, its stride]
  run(steps, cur, stride, busy) {
    const h = this.heap;
    const free = (...also) => this.buffers.find((b) => !busy.includes(b) && !also.includes(b));
    for (const step of steps) {
      if (step.op === "linear") {
        const out = free(cur);
        this.linear(cur, step, out);
        cur = out; stride = step.np;
      } else if (step.op === "leaky_relu") {
        const s = step.slope;
        this.elementwise(cur, stride, step.real, (v) => (v >= 0 ? v : s * v));
      } else if (step.op === "silu") {
        this.elementwise(cur, stride, step.real, (v) => v / (1 + Math.exp(-v)));
      } else if (step.op === "sigmoid") {
        this.elementwise(cur, stride, step.real, (v) => 1 / (1 + Math.exp(-v)));
      } else if (step.op === "layernorm") {
        this.layerNorm(cur, stride, step);
      } else if (step.op === "residual") { // cur + body(cur): the body runs on a copy
        const copy = free(cur);
        h.copyWithin(copy, cur, cur + this.rows * stride);
        const [out] = this.run(step.body, copy, stride, [...busy, cur]);
        for (let r = 0; r < this.rows; r++) {
          const a = cur + r * stride, b = out + r * stride;
          for (let i = 0; i < step.real; i++) h[a + i] += h[b + i];
        }
      }
    }
    return [cur, stride];
  }

  // The activations after the program, before rounding: Float32Array (rows, pixels), a copy (for tests that compare
  // with PyTorch's probabilities); points as decode()
  probabilities(points, rows) {
    const [out, stride] = this.forward(points, rows), n = this.pixelsPerRow, p = new Float32Array(rows * n);
    for (let r = 0; r < rows; r++) p.set(this.heap.subarray(out + r * stride, out + r * stride + n), r * n);
    return p;
  }

  forward(points, rows) {
    if (rows > this.maxRows) throw new Error(`${rows} points in one decode; this decoder takes ${this.maxRows}`);
    const h = this.heap, dim = this.inputDim;
    this.rows = Math.ceil(rows / 4) * 4; // the SIMD kernel's tile height
    h.fill(0, this.inputAt, this.inputAt + this.rows * dim);
    h.set(points.subarray(0, rows * dim), this.inputAt);
    return this.run(this.program, this.inputAt, dim, []);
  }

  // points: Float32Array (rows * inputDim), rows <= maxRows -> uint8 (rows, pixels) = round(255 p), a view on
  // this.pixels. Each row is computed on its own, in the same order whatever the batch.
  decode(points, rows) {
    const [out, stride] = this.forward(points, rows), h = this.heap, px = this.pixels, n = this.pixelsPerRow;
    for (let r = 0; r < rows; r++) {
      const row = out + r * stride;
      for (let i = 0; i < n; i++) px[r * n + i] = 255 * h[row + i]; // clamped, rounded to nearest (even)
    }
    return px.subarray(0, rows * n);
  }
}
