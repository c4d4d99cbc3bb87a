// The page's exact log p(x) (static/js/core/exact.js) on the bundled model, decoded by the training engine as the
// Train tab's worker decodes, against vae/exact.py's PlaneGrid on the same 200 MNIST test images, which
// tests/test_node_exact.py computes and writes (its docstring says why these tolerances); and how long it takes here.
// Run: python -m pytest tests/test_node_exact.py   (it writes the fixtures, then runs node --test on this file)

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import { TrainableVAE } from "../../static/js/core/engine.js";
import { EXACT_GRID, LikelihoodSample } from "../../static/js/core/exact.js";
import { wasmKernel } from "../../static/js/core/kernels.js";
import { readSafetensors } from "../../static/js/core/safetensors.js";

const folder = process.env.EXACT_FIXTURES;
if (!folder) throw new Error("EXACT_FIXTURES is not set: run this through python -m pytest tests/test_node_exact.py");
const read = (name) => readSafetensors(readFileSync(join(folder, name)));
const expected = JSON.parse(readFileSync(join(folder, "expected.json"), "utf8"));
const wasm = new WebAssembly.Module(readFileSync(new URL("../../static/linear.wasm", import.meta.url)));
const file = read("program.safetensors"), program = JSON.parse(file.metadata.program);
const vae = new TrainableVAE(program, file.tensors, wasmKernel(wasm));
const images = read("images.safetensors").tensors.images.data;
const sample = new LikelihoodSample(images, expected.log_px.length, program.input);
const decode = (z, rows) => vae.decodeLogits(z, rows);

const MEAN_TOLERANCE = 1e-3, IMAGE_TOLERANCE = 1e-2, FINE_TOLERANCE = 0.25; // nats

test("the page's grid is the one the fixtures were computed on", () => {
  assert.deepEqual(EXACT_GRID, expected.grid);
});

test("the mean log p(x) is PlaneGrid's on the same grid, and near PlaneGrid(0.02)'s", (t) => {
  const t0 = performance.now(), { mean, logPx } = sample.logLikelihood(decode), ms = performance.now() - t0;
  t.diagnostic(`page ${mean.toFixed(4)}, PlaneGrid ${expected.mean.toFixed(4)} on the same grid, ` +
               `${expected.fine_mean.toFixed(4)} at step 0.02; ${ms.toFixed(0)} ms for ${logPx.length} images`);
  assert.ok(Math.abs(mean - expected.mean) <= MEAN_TOLERANCE, `mean ${mean} against ${expected.mean}`);
  let worst = 0;
  logPx.forEach((v, i) => { worst = Math.max(worst, Math.abs(v - expected.log_px[i])); });
  t.diagnostic(`each image within ${worst.toExponential(1)} nats of PlaneGrid's`);
  assert.ok(worst <= IMAGE_TOLERANCE, `an image's log p(x) differs by ${worst}`);
  assert.ok(Math.abs(mean - expected.fine_mean) <= FINE_TOLERANCE, `mean ${mean} against ${expected.fine_mean}`);
});

test("a sample too small for its count is refused", () => {
  assert.throws(() => new LikelihoodSample(new Uint8Array(10), 2, program.input), /needs 2 images/);
});
