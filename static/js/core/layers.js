// The operations of a model program (webapp/bundle.py, webapp/training_program.py), each with its forward pass and
// its backward pass, on (rows, width) float32 activations. The gradients are PyTorch's, formula for formula, at the
// same points (torch/csrc/autograd/FunctionsManual.cpp and the ATen kernels named beside each).
//
// A layer owns its output and its input gradient; forward keeps a reference to its input for backward, so an
// activation stays valid until the next forward. Each parameter's gradient is written (not added to) by backward:
// a program uses every tensor once, which the model that hands tensors to compile() checks (engine.js).

import { transpose } from "./matmul.js";

// A Float32Array of at least `size` elements, kept across calls: a batch of the same size allocates nothing.
class Buffers {
  constructor() { this.arrays = new Map(); }
  get(key, size) {
    let array = this.arrays.get(key);
    if (array === undefined || array.length < size) {
      array = new Float32Array(size);
      this.arrays.set(key, array);
    }
    return array.subarray(0, size);
  }
}

// y = x W^T + b; W (N, K), b (N,)
class Linear {
  constructor(op, model) {
    this.weight = model.tensor(op.weight, 2);
    [this.N, this.K] = this.weight.shape;
    this.bias = model.tensor(op.bias, 1, [this.N]);
    this.gradWeight = model.gradient(op.weight);
    this.gradBias = model.gradient(op.bias);
    this.kernel = model.kernel;
    this.inputWidth = this.K;
    this.outputWidth = this.N;
    this.buffers = new Buffers();
  }

  forward(x, rows) {
    this.x = x;
    const y = this.buffers.get("y", rows * this.N);
    this.kernel.nt(x, this.weight.data, y, rows, this.N, this.K, this.bias.data);
    return y;
  }

  backward(dy, rows, needInputGradient) {
    const { N, K } = this;
    const gb = this.gradBias;
    gb.fill(0);
    for (let r = 0; r < rows; r++) for (let n = 0; n < N; n++) gb[n] += dy[r * N + n];
    // dW (N, K) = dy^T x, a sum over the batch
    const dyT = this.buffers.get("dyT", N * rows);
    transpose(dy, dyT, rows, N);
    this.kernel.nn(dyT, this.x, this.gradWeight, N, K, rows);
    if (!needInputGradient) return null;
    // dx (rows, K) = dy W
    const dx = this.buffers.get("dx", rows * K);
    this.kernel.nn(dy, this.weight.data, dx, rows, K, N);
    return dx;
  }
}

// An operation without parameters, applied element by element: a subclass's `apply(x, y)` fills y and its
// `chain(dy, dx)` fills dx from what apply kept (each with its own loop, so V8 compiles each for its one function)
class Elementwise {
  constructor(op, width) {
    this.inputWidth = this.outputWidth = width;
    this.buffers = new Buffers();
  }

  forward(x) {
    this.x = x;
    const y = (this.y = this.buffers.get("y", x.length));
    this.apply(x, y);
    return y;
  }

  backward(dy) {
    const dx = this.buffers.get("dx", dy.length);
    this.chain(dy, dx);
    return dx;
  }
}

class LeakyReLU extends Elementwise { // leaky_relu_backward: the slope where x <= 0
  constructor(op, width) { super(op, width); this.slope = op.slope; }
  apply(x, y) { for (let i = 0; i < x.length; i++) y[i] = x[i] > 0 ? x[i] : x[i] * this.slope; }
  chain(dy, dx) { const x = this.x; for (let i = 0; i < dy.length; i++) dx[i] = x[i] > 0 ? dy[i] : dy[i] * this.slope; }
}

class SiLU extends Elementwise { // silu_backward: sigmoid(x) (1 + x (1 - sigmoid(x))), with sigmoid(x) kept
  apply(x, y) {
    const s = (this.s = this.buffers.get("s", x.length));
    for (let i = 0; i < x.length; i++) {
      const d = 1 + Math.exp(-x[i]);
      s[i] = 1 / d;
      y[i] = x[i] / d;
    }
  }
  chain(dy, dx) {
    const { x, s } = this;
    for (let i = 0; i < dy.length; i++) dx[i] = dy[i] * s[i] * (1 + x[i] * (1 - s[i]));
  }
}

class Sigmoid extends Elementwise { // sigmoid_backward: y (1 - y)
  apply(x, y) { for (let i = 0; i < x.length; i++) y[i] = 1 / (1 + Math.exp(-x[i])); }
  chain(dy, dx) { const y = this.y; for (let i = 0; i < dy.length; i++) dx[i] = dy[i] * y[i] * (1 - y[i]); }
}

class Clamp extends Elementwise { // clamp_backward: the gradient passes where min <= x <= max
  constructor(op, width) { super(op, width); this.lo = op.min; this.hi = op.max; }
  apply(x, y) { for (let i = 0; i < x.length; i++) y[i] = Math.min(Math.max(x[i], this.lo), this.hi); }
  chain(dy, dx) {
    const x = this.x;
    for (let i = 0; i < dy.length; i++) dx[i] = x[i] >= this.lo && x[i] <= this.hi ? dy[i] : 0;
  }
}

const ELEMENTWISE = { leaky_relu: LeakyReLU, silu: SiLU, sigmoid: Sigmoid, clamp: Clamp };

// y = (x - mean) / sqrt(var + eps) * gamma + beta over the last axis, biased variance (torch.nn.LayerNorm)
class LayerNorm {
  constructor(op, model, width) {
    this.gamma = model.tensor(op.weight, 1, [width]);
    this.beta = model.tensor(op.bias, 1, [width]);
    this.gradGamma = model.gradient(op.weight);
    this.gradBeta = model.gradient(op.bias);
    this.eps = op.eps;
    this.inputWidth = this.outputWidth = width;
    this.buffers = new Buffers();
    this.sums = new Float64Array(2 * width); // the parameters' gradients, summed over rows in float64
  }

  forward(x, rows) {
    const W = this.inputWidth, g = this.gamma.data, b = this.beta.data;
    const y = this.buffers.get("y", rows * W), xhat = (this.xhat = this.buffers.get("xhat", rows * W));
    const rstd = (this.rstd = this.buffers.get("rstd", rows));
    for (let r = 0; r < rows; r++) {
      const o = r * W;
      let mean = 0;
      for (let i = 0; i < W; i++) mean += x[o + i];
      mean /= W;
      let variance = 0;
      for (let i = 0; i < W; i++) variance += (x[o + i] - mean) ** 2;
      const s = 1 / Math.sqrt(variance / W + this.eps);
      rstd[r] = s;
      for (let i = 0; i < W; i++) {
        const h = (x[o + i] - mean) * s;
        xhat[o + i] = h;
        y[o + i] = h * g[i] + b[i];
      }
    }
    return y;
  }

  // layer_norm_backward: dx = rstd (g dy - mean(g dy) - xhat mean(g dy xhat)); dgamma = sum dy xhat; dbeta = sum dy
  backward(dy, rows) {
    const W = this.inputWidth, g = this.gamma.data, xhat = this.xhat, rstd = this.rstd, sums = this.sums;
    const dx = this.buffers.get("dx", rows * W);
    sums.fill(0);
    for (let r = 0; r < rows; r++) {
      const o = r * W;
      let a = 0, c = 0;
      for (let i = 0; i < W; i++) {
        const d = dy[o + i] * g[i];
        a += d;
        c += d * xhat[o + i];
        sums[i] += dy[o + i] * xhat[o + i];
        sums[W + i] += dy[o + i];
      }
      a /= W;
      c /= W;
      for (let i = 0; i < W; i++) dx[o + i] = rstd[r] * (dy[o + i] * g[i] - a - xhat[o + i] * c);
    }
    for (let i = 0; i < W; i++) {
      this.gradGamma[i] = sums[i];
      this.gradBeta[i] = sums[W + i];
    }
    return dx;
  }
}

// Operations in order; the first one's input gradient is skipped when nobody needs it (the data's)
class Sequence {
  constructor(layers, width) {
    this.layers = layers;
    this.inputWidth = width;
    this.outputWidth = layers.length ? layers[layers.length - 1].outputWidth : width;
  }

  forward(x, rows) {
    for (const layer of this.layers) x = layer.forward(x, rows);
    return x;
  }

  backward(dy, rows, needInputGradient = true) {
    for (let i = this.layers.length - 1; i >= 0; i--) {
      dy = this.layers[i].backward(dy, rows, i > 0 || needInputGradient);
    }
    return dy;
  }
}

// y = x + body(x)
class Residual {
  constructor(body, width) {
    if (body.outputWidth !== width) throw new Error(`a residual body maps ${width} to ${body.outputWidth} columns`);
    this.body = body;
    this.inputWidth = this.outputWidth = width;
    this.buffers = new Buffers();
  }

  forward(x, rows) {
    const r = this.body.forward(x, rows), y = this.buffers.get("y", x.length);
    for (let i = 0; i < y.length; i++) y[i] = x[i] + r[i];
    return y;
  }

  backward(dy, rows) {
    const dr = this.body.backward(dy, rows), dx = this.buffers.get("dx", dy.length);
    for (let i = 0; i < dx.length; i++) dx[i] = dy[i] + dr[i];
    return dx;
  }
}

// A program's operation list -> a Sequence on `width` input columns. `model` hands out tensors by name:
// tensor(name, rank, shape?) -> {shape, data} (checked), gradient(name) -> Float32Array, and the matrix products
// kernel (kernels.js).
export function compile(ops, model, width) {
  const layers = [];
  for (const op of ops) {
    let layer;
    if (Object.hasOwn(ELEMENTWISE, op.op)) layer = new ELEMENTWISE[op.op](op, width);
    else if (op.op === "linear") layer = new Linear(op, model);
    else if (op.op === "layernorm") layer = new LayerNorm(op, model, width);
    else if (op.op === "residual") layer = new Residual(compile(op.body, model, width), width);
    else throw new Error(`the training engine has no operation ${JSON.stringify(op.op)}`);
    if (layer.inputWidth !== width) {
      throw new Error(`${op.op} ${op.weight ?? ""} takes ${layer.inputWidth} columns but receives ${width}`);
    }
    width = layer.outputWidth;
    layers.push(layer);
  }
  return new Sequence(layers, layers.length ? layers[0].inputWidth : width);
}
