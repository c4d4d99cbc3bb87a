// bench/browser_engine.py's Web Worker for TensorFlow.js 4.22's WebAssembly backend: the same VAE (vae/model.py's
// layers, by their state-dict names, from the same initial weights), objective (vae/objective.py) and Adam as the
// page's engine, answering bench/browser_engine_worker.js's messages. TensorFlow.js comes as one script that sets
// self.tf (bench/browser_engine.py bundles it from npm's packages and serves it under /tfjs/; the project ships none
// of it); a module worker has no importScripts, so the script runs through an indirect eval.
//
// The backend picks its .wasm file itself: threaded SIMD where the page is cross-origin isolated (SharedArrayBuffer),
// else SIMD, else plain; the bench's server sends no isolation headers (nor does a Gradio Space), so it runs SIMD on
// one thread, like the engine.

import { readSafetensors, writeSafetensors } from "../static/js/core/safetensors.js";
import { fetchBuffer, serve } from "./browser_worker_loop.js";

(0, eval)(await (await fetch("/tfjs/tfjs-bundle.min.js")).text()); // tfjs-core, its gradients, the wasm backend
const tf = self.tf;

const LOGVAR_MIN = -30, LOGVAR_MAX = 14; // vae/model.py's clamp of log sigma^2
let names = null, variables = null, optimizer = null, batch = null, config = null;

// vae/model.py's layers over p: {state-dict name: tensor}
const linear = (p, name, h) => tf.add(tf.matMul(h, p[`${name}.weight`], false, true), p[`${name}.bias`]);
const silu = (h) => tf.mul(h, tf.sigmoid(h));
function layerNorm(p, name, h) { // nn.LayerNorm: biased variance, eps 1e-5
  const { mean, variance } = tf.moments(h, -1, true);
  return tf.add(tf.mul(tf.mul(tf.sub(h, mean), tf.rsqrt(tf.add(variance, 1e-5))), p[`${name}.weight`]),
                p[`${name}.bias`]);
}
function residualMLP(p, prefix, h, blocks, output) { // _residual_mlp: Linear, SiLU, blocks, LayerNorm, SiLU[, Linear]
  h = silu(linear(p, `${prefix}.0`, h));
  for (let b = 0; b < blocks; b++) {
    const at = `${prefix}.${2 + b}`;
    h = tf.add(h, linear(p, `${at}.fc2`, silu(linear(p, `${at}.fc1`, layerNorm(p, `${at}.norm`, h)))));
  }
  h = silu(layerNorm(p, `${prefix}.${2 + blocks}`, h));
  return output ? linear(p, `${prefix}.${4 + blocks}`, h) : h;
}

// -> {loss, bce, kl} (batch means) of VAE.forward with this eps and vae/objective.py's -ELBO, beta = 1
function objective(p, x, eps) {
  let h, logits;
  if (config.arch === "mlp") {
    h = tf.leakyRelu(linear(p, "encoder.2", tf.leakyRelu(linear(p, "encoder.0", x), 0.5)), 0.2);
  } else {
    h = residualMLP(p, "encoder", x, config.blocks, false);
  }
  const mu = linear(p, "fc_mu", h), logvar = tf.clipByValue(linear(p, "fc_logvar", h), LOGVAR_MIN, LOGVAR_MAX);
  const z = tf.add(mu, tf.mul(tf.exp(tf.mul(logvar, 0.5)), eps));
  if (config.arch === "mlp") {
    const d = tf.leakyRelu(linear(p, "decoder.2", tf.leakyRelu(linear(p, "decoder.0", z), 0.2)), 0.5);
    logits = linear(p, "decoder.4", d);
  } else {
    logits = residualMLP(p, "decoder", z, config.blocks, true);
  }
  // binary_cross_entropy_with_logits summed over pixels: max(l, 0) - l x + log(1 + exp(-|l|))
  const bce = tf.sum(tf.add(tf.sub(tf.relu(logits), tf.mul(logits, x)), tf.log1p(tf.exp(tf.neg(tf.abs(logits))))), 1);
  const kl = tf.mul(tf.sum(tf.sub(tf.sub(tf.add(logvar, 1), tf.square(mu)), tf.exp(logvar)), 1), -0.5);
  return { loss: tf.mean(tf.add(bce, kl)), bce: tf.mean(bce), kl: tf.mean(kl) };
}

const parameters = () => Object.fromEntries(names.map((n, i) => [n, variables[i]]));

const handlers = {
  async load({ program, batch: batchURL }) {
    tf.wasm.setWasmPaths(new URL("/tfjs/node_modules/@tensorflow/tfjs-backend-wasm/dist/", self.location.href).href);
    if (!(await tf.setBackend("wasm"))) throw new Error("TensorFlow.js's wasm backend did not start");
    const [programBytes, batchBytes] = await Promise.all([fetchBuffer(program), fetchBuffer(batchURL)]);
    const file = readSafetensors(programBytes), b = readSafetensors(batchBytes).tensors;
    config = JSON.parse(file.metadata.config);
    names = Object.keys(file.tensors);
    variables = names.map((n) => tf.variable(tf.tensor(file.tensors[n].data, file.tensors[n].shape), true));
    optimizer = tf.train.adam(1e-3); // torch.optim.Adam's betas and eps are TensorFlow.js's defaults
    batch = { x: tf.tensor(b.x.data, b.x.shape), eps: tf.tensor(b.eps.data, b.eps.shape), rows: b.x.shape[0] };
    const simd = await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT");
    const threads = await tf.env().getAsync("WASM_HAS_MULTITHREAD_SUPPORT");
    return { type: "loaded", kernel: `TensorFlow.js ${tf.version_core} wasm (SIMD ${simd}, threads ${threads})` };
  },
  gradients() {
    const { value, grads } = tf.tidy(() => {
      const g = tf.valueAndGrads((...ts) => objective(Object.fromEntries(names.map((n, i) => [n, ts[i]])),
                                                      batch.x, batch.eps).loss);
      return g(variables.map((v) => v.clone()));
    });
    const parts = tf.tidy(() => objective(parameters(), batch.x, batch.eps));
    const tensors = Object.fromEntries(names.map((n, i) => [n, { shape: variables[i].shape,
                                                                 data: grads[i].dataSync() }]));
    const out = { type: "gradients", loss: value.dataSync()[0], bce: parts.bce.dataSync()[0],
                  kl: parts.kl.dataSync()[0], bytes: writeSafetensors(tensors) };
    tf.dispose([value, ...grads, parts.loss, parts.bce, parts.kl]);
    return out;
  },
  time({ steps }) {
    const p = parameters();
    const step = () => tf.dispose(optimizer.minimize(() => objective(p, batch.x, batch.eps).loss, false, variables));
    step(); // untimed, as the engine's
    variables[0].dataSync();
    const start = performance.now();
    for (let i = 0; i < steps; i++) step();
    variables[0].dataSync(); // the backend runs each kernel synchronously; this read makes sure all is done
    return { type: "timed", imagesPerSecond: (batch.rows * steps) / ((performance.now() - start) / 1000) };
  },
};

serve(handlers);
