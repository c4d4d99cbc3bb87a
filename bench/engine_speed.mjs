// One timing of the page's training engine for bench/engine_speed.py: a training program, a batch (x, eps) and the
// number of steps, the kernels (javascript, or wasm: static/linear.wasm for the products and Adam) -> JSON {"images_per_s", "loss"} on stdout. Each step is what the
// page's trainer does per batch: forward, backward, one Adam update.
//
//   node bench/engine_speed.mjs PROGRAM.safetensors BATCH.safetensors STEPS KERNEL

import { readFileSync } from "node:fs";

import { Adam } from "../static/js/core/adam.js";
import { TrainableVAE } from "../static/js/core/engine.js";
import { javascriptKernel, wasmKernel } from "../static/js/core/kernels.js";
import { readSafetensors } from "../static/js/core/safetensors.js";

const [programFile, batchFile, steps, kernelName] = process.argv.slice(2);
const read = (path) => readSafetensors(readFileSync(path));
const initial = read(programFile), batch = read(batchFile);
const wasm = kernelName === "wasm"
  ? new WebAssembly.Module(readFileSync(new URL("../static/linear.wasm", import.meta.url))) : null;
const vae = new TrainableVAE(JSON.parse(initial.metadata.program), initial.tensors,
  wasm ? wasmKernel(wasm) : javascriptKernel());
const adam = new Adam(vae.parameters, { lr: 1e-3 }, wasm);
const { x, eps } = batch.tensors, rows = x.shape[0];
const step = () => {
  const { loss } = vae.lossAndGradients(x.data, eps.data, rows, 1.0);
  adam.step(vae.gradients);
  return loss;
};
step(); // the first step allocates the buffers and lets V8 compile the loops
const start = performance.now();
let loss;
for (let i = 0; i < Number(steps); i++) loss = step();
const seconds = (performance.now() - start) / 1000;
console.log(JSON.stringify({ images_per_s: (rows * Number(steps)) / seconds, loss }));
