// bench/browser_engine.py's Web Worker for the page's training engine: the modules static/js/train-worker.js runs
// (core/engine.js with core/kernels.js's WebAssembly SIMD kernel on static/linear.wasm, Adam in core/adam.js on the
// same module), fed one fixed batch. bench/browser_tfjs_worker.js answers the same messages with TensorFlow.js.
//
// page -> worker  {type: "load", program, batch (URLs)}  -> {type: "loaded", kernel}
//                 {type: "gradients"}   the loss and every gradient at the initial weights, before any step
//                                       -> {type: "gradients", loss, bce, kl, bytes: safetensors of the gradients}
//                 {type: "time", steps} -> {type: "timed", imagesPerSecond}: `steps` Adam steps, timed
// Any failure -> {type: "error", message}.

import { Adam } from "../static/js/core/adam.js";
import { TrainableVAE } from "../static/js/core/engine.js";
import { wasmKernel } from "../static/js/core/kernels.js";
import { readSafetensors, writeSafetensors } from "../static/js/core/safetensors.js";
import { fetchBuffer, serve } from "./browser_worker_loop.js";

let vae = null, adam = null, batch = null;

const handlers = {
  async load({ program, batch: batchURL }) {
    const [programBytes, batchBytes, wasmBytes] = await Promise.all(
      [fetchBuffer(program), fetchBuffer(batchURL), fetchBuffer(new URL("../static/linear.wasm", import.meta.url))]);
    const wasm = new WebAssembly.Module(wasmBytes);
    const file = readSafetensors(programBytes), { x, eps } = readSafetensors(batchBytes).tensors;
    const kernel = wasmKernel(wasm);
    vae = new TrainableVAE(JSON.parse(file.metadata.program), file.tensors, kernel);
    adam = new Adam(vae.parameters, { lr: 1e-3 }, wasm);
    batch = { x: x.data, eps: eps.data, rows: x.shape[0] };
    return { type: "loaded", kernel: kernel.name };
  },
  gradients() {
    const { loss, bce, kl } = vae.lossAndGradients(batch.x, batch.eps, batch.rows, 1.0);
    const tensors = Object.fromEntries(Object.entries(vae.gradients).map(
      ([name, data]) => [name, { shape: vae.parameters[name].shape, data }]));
    return { type: "gradients", loss, bce, kl, bytes: writeSafetensors(tensors) };
  },
  time({ steps }) {
    const step = () => { vae.lossAndGradients(batch.x, batch.eps, batch.rows, 1.0); adam.step(vae.gradients); };
    step(); // untimed: V8 compiles the loops and the buffers are allocated
    const start = performance.now();
    for (let i = 0; i < steps; i++) step();
    return { type: "timed", imagesPerSecond: (batch.rows * steps) / ((performance.now() - start) / 1000) };
  },
};

serve(handlers);
