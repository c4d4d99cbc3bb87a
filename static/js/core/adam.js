// Adam (Kingma & Ba 2015) exactly as torch.optim.Adam computes it (amsgrad and maximize off), so the page's
// training follows python -m train's: weight decay is L2 added to the gradient (not AdamW's decoupled decay), the
// first moment moves by lerp, and eps is added after the bias-corrected square root:
//
//   g <- g + weight_decay p
//   m <- m + (1 - beta1) (g - m)            v <- beta2 v + (1 - beta2) g^2
//   p <- p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
//
// Moments and parameters are float32, and each operation rounds to float32 as PyTorch's float32 kernels do.

export class Adam {
  // parameters: {name: {data: Float32Array}} (updated in place); wasm: a compiled static/linear.wasm to run the
  // update with WebAssembly SIMD (float32 operations in the same order), or null for the JavaScript loop
  constructor(parameters, { lr = 1e-3, betas = [0.9, 0.999], eps = 1e-8, weightDecay = 0 } = {}, wasm = null) {
    if (!(lr >= 0) || !(eps >= 0) || !(weightDecay >= 0) || !betas.every((b) => b >= 0 && b < 1)) {
      throw new Error(`invalid Adam settings: lr ${lr}, betas ${betas}, eps ${eps}, weight decay ${weightDecay}`);
    }
    Object.assign(this, { lr, betas, eps, weightDecay });
    this.parameters = parameters;
    this.update = wasm ? wasmUpdate(parameters, wasm) : javascriptUpdate(parameters);
    this.steps = 0;
  }

  // One update from gradients {name: Float32Array}; `lr` overrides the base rate for this step (a schedule)
  step(gradients, lr = this.lr) {
    for (const name of Object.keys(this.parameters)) {
      if (gradients[name] === undefined) throw new Error(`no gradient for ${name}`);
    }
    this.steps += 1;
    const f = Math.fround, [beta1, beta2] = this.betas;
    // PyTorch's scalars enter its float32 kernels as float32
    this.update(gradients, { w1: f(1 - beta1), b2: f(beta2), w2: f(1 - beta2), eps: f(this.eps),
      decay: f(this.weightDecay), stepSize: f(-lr / (1 - beta1 ** this.steps)),
      correction2: f(Math.sqrt(1 - beta2 ** this.steps)) });
  }
}

function javascriptUpdate(parameters) {
  const moments = {};
  for (const [name, t] of Object.entries(parameters)) {
    moments[name] = { m: new Float32Array(t.data.length), v: new Float32Array(t.data.length) };
  }
  return (gradients, scalars) => {
    for (const [name, t] of Object.entries(parameters)) {
      update(t.data, gradients[name], moments[name].m, moments[name].v, scalars);
    }
  };
}

function update(p, g, m, v, { w1, b2, w2, eps, decay, stepSize, correction2 }) {
  const f = Math.fround;
  for (let i = 0; i < p.length; i++) {
    const gi = decay ? f(g[i] + f(decay * p[i])) : g[i];
    m[i] = f(m[i] + f(w1 * f(gi - m[i]))); // lerp(m, g, 1 - beta1)
    v[i] = f(f(v[i] * b2) + f(w2 * f(gi * gi)));
    const denominator = f(f(f(Math.sqrt(v[i])) / correction2) + eps);
    p[i] = f(p[i] + f(stepSize * f(m[i] / denominator))); // addcdiv(p, m, denominator, value=-step_size)
  }
}

// All parameters side by side in the module's memory, each from a multiple of 4 floats: p, g, then the moments m
// and v, which live there between steps. A step copies p and g in and p out.
function wasmUpdate(parameters, module) {
  const offsets = {};
  let total = 0;
  for (const [name, t] of Object.entries(parameters)) {
    offsets[name] = total;
    total += Math.ceil(t.data.length / 4) * 4;
  }
  const memory = new WebAssembly.Memory({ initial: Math.ceil((16 * total) / 65536) + 1 });
  const { adam } = new WebAssembly.Instance(module, { env: { memory } }).exports;
  const heap = new Float32Array(memory.buffer);
  const P = 0, G = total, M = 2 * total, V = 3 * total;
  return (gradients, { w1, b2, w2, eps, decay, stepSize, correction2 }) => {
    for (const [name, t] of Object.entries(parameters)) {
      heap.set(t.data, P + offsets[name]);
      heap.set(gradients[name], G + offsets[name]);
    }
    adam(P * 4, G * 4, M * 4, V * 4, total, w1, b2, w2, eps, decay, stepSize, correction2);
    for (const [name, t] of Object.entries(parameters)) {
      t.data.set(heap.subarray(P + offsets[name], P + offsets[name] + t.data.length));
    }
  };
}
