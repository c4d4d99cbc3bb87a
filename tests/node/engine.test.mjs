// The page's training engine against PyTorch: for each model in $ENGINE_FIXTURES (written by
// tests/test_node_engine.py: initial weights and program from webapp/training_program.py, real MNIST test images,
// the noise eps, and what PyTorch computed from them), the loss and every parameter's gradient, then a few Adam
// steps, whose weights are exported as safetensors for PyTorch to load.
//
//   python -m pytest tests/test_node_engine.py        (writes the fixtures, then runs node --test on this file)

import assert from "node:assert/strict";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import test from "node:test";

import { Adam } from "../../static/js/core/adam.js";
import { TRAINING_FORMAT, TrainableVAE } from "../../static/js/core/engine.js";
import { javascriptKernel, wasmKernel } from "../../static/js/core/kernels.js";
import { writeSafetensors } from "../../static/js/core/safetensors.js";
import { fixturesFolder, readFixture } from "./fixtures.mjs";

const TOLERANCE = 1e-4; // the bound on gradients, losses and weights

// ||actual - expected|| / ||expected|| over a whole tensor (Euclidean norms); exact zeros must stay zero
function relativeError(actual, expected) {
  assert.equal(actual.length, expected.length);
  let diff = 0, norm = 0;
  for (let i = 0; i < expected.length; i++) {
    diff += (actual[i] - expected[i]) ** 2;
    norm += expected[i] ** 2;
  }
  return norm === 0 ? Math.sqrt(diff) : Math.sqrt(diff / norm);
}

function maxAbsoluteDifference(actual, expected) {
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  return worst;
}

const root = fixturesFolder(), folder = join(root, "models");
const wasm = new WebAssembly.Module(readFileSync(new URL("../../static/linear.wasm", import.meta.url)));
// every test runs with each: the engine's products (kernels.js) and Adam's update, in JavaScript or WebAssembly SIMD
const BACKENDS = [
  { name: "JavaScript", kernel: javascriptKernel, adam: null },
  { name: "WebAssembly SIMD", kernel: () => wasmKernel(wasm), adam: wasm },
];
const each = (names) => names.sort().flatMap((name) => BACKENDS.map((backend) => [name, backend]));

for (const [file, backend] of each(readdirSync(root).filter((f) => f.startsWith("adam-")))) {
  test(`${backend.name}: Adam's steps equal torch.optim.Adam's (${file})`, (t) => {
    const { metadata, tensors } = readFixture(root, file);
    const { lr, weight_decay: weightDecay } = JSON.parse(metadata.settings);
    const n = tensors.start.data.length, steps = tensors.gradients.shape[0];
    const parameter = { data: tensors.start.data.slice() };
    const adam = new Adam({ p: parameter }, { lr, weightDecay }, backend.adam);
    let worst = 0;
    for (let step = 0; step < steps; step++) {
      adam.step({ p: tensors.gradients.data.subarray(step * n, (step + 1) * n) });
      const expected = tensors.after.data.subarray(step * n, (step + 1) * n);
      for (let i = 0; i < n; i++) {
        // float32 rounding: a few units in the last place of the operands, the weight and its step of about lr
        const error = Math.abs(parameter.data[i] - expected[i]);
        assert.ok(error <= 1e-6 * (Math.abs(expected[i]) + lr), `step ${step}, element ${i}: ${parameter.data[i]}, ` +
          `PyTorch ${expected[i]} (gradient ${tensors.gradients.data[step * n + i]})`);
        worst = Math.max(worst, error);
      }
    }
    t.diagnostic(`largest difference over ${steps} steps of ${n} values: ${worst.toExponential(2)}`);
  });
}

for (const [name, backend] of each(readdirSync(folder))) {
  const kernel = backend.kernel();
  const reference = readFixture(folder, name, "pytorch.safetensors");
  const settings = JSON.parse(reference.metadata.settings); // {beta, lr, weight_decay, steps, rows, losses, ...}
  const { rows, steps, beta } = settings;
  const batch = (tensor, width, step) => tensor.data.subarray(step * rows * width, (step + 1) * rows * width);
  // a fresh copy of the initial weights for each test: training updates them in place
  const initial = () => {
    const file = readFixture(folder, name, "init.safetensors");
    assert.equal(file.metadata.format, TRAINING_FORMAT);
    return { program: JSON.parse(file.metadata.program), config: file.metadata.config, tensors: file.tensors };
  };

  test(`${name}, ${kernel.name}: the loss and every parameter's gradient equal PyTorch's`, (t) => {
    const { program, tensors } = initial();
    const vae = new TrainableVAE(program, tensors, kernel);
    const P = program.input, D = program.latent;
    const got = vae.lossAndGradients(batch(reference.tensors.x, P, 0), batch(reference.tensors.eps, D, 0), rows, beta);
    for (const part of ["loss", "bce", "kl"]) {
      const error = Math.abs(got[part] - settings[part]) / Math.abs(settings[part]);
      t.diagnostic(`${part}: ${got[part]} (PyTorch ${settings[part]}), relative error ${error.toExponential(2)}`);
      assert.ok(error <= TOLERANCE, `${part} ${got[part]} differs from PyTorch's ${settings[part]} by ${error}`);
    }
    const names = Object.keys(tensors);
    assert.equal(names.length, Object.keys(vae.gradients).length);
    let worst = 0;
    for (const tensor of names) {
      const error = relativeError(vae.gradients[tensor], reference.tensors[`grad.${tensor}`].data);
      assert.ok(error <= TOLERANCE, `the gradient of ${tensor} differs from PyTorch's by ${error} (relative norm)`);
      worst = Math.max(worst, error);
    }
    t.diagnostic(`largest relative error of a gradient over ${names.length} tensors: ${worst.toExponential(2)}`);
  });

  test(`${name}, ${kernel.name}: ${steps} Adam steps stay within ${TOLERANCE} of PyTorch's weights`, (t) => {
    const { program, config, tensors } = initial();
    const vae = new TrainableVAE(program, tensors, kernel);
    const adam = new Adam(vae.parameters, { lr: settings.lr, weightDecay: settings.weight_decay }, backend.adam);
    const P = program.input, D = program.latent;
    for (let step = 0; step < steps; step++) {
      const { loss } = vae.lossAndGradients(batch(reference.tensors.x, P, step), batch(reference.tensors.eps, D, step),
        rows, beta);
      const expected = settings.losses[step];
      assert.ok(Math.abs(loss - expected) <= TOLERANCE * Math.abs(expected),
        `step ${step}: loss ${loss}, PyTorch's ${expected}`);
      adam.step(vae.gradients);
    }
    // per tensor, as for the gradients: where a gradient is a sum that cancels to almost nothing, float32 leaves its
    // sign to rounding and Adam's first steps move such a weight by +-lr either way (PyTorch's own float32 and float64
    // runs differ by ~1e-4 at some elements), so the largest single difference is reported, not bounded
    let worst = 0, largest = 0;
    for (const [tensor, { data }] of Object.entries(vae.parameters)) {
      const expected = reference.tensors[`after.${tensor}`].data, error = relativeError(data, expected);
      assert.ok(error <= TOLERANCE, `${tensor} differs from PyTorch's after ${steps} steps by ${error} (relative)`);
      worst = Math.max(worst, error);
      largest = Math.max(largest, maxAbsoluteDifference(data, expected));
    }
    t.diagnostic(`after ${steps} steps: largest relative error of a tensor ${worst.toExponential(2)}, ` +
      `largest difference of one weight ${largest.toExponential(2)}`);
    // what a visitor downloads: tests/test_node_engine.py loads it with VAE.from_pretrained
    const out = join(folder, name, "exported", kernel.name.replaceAll(" ", "-"));
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, "model.safetensors"), writeSafetensors(vae.parameters));
    writeFileSync(join(out, "config.json"), config);
  });
}

test("a program the engine cannot run is refused with what is wrong", () => {
  const name = readdirSync(folder).sort()[0];
  const file = readFixture(folder, name, "init.safetensors");
  const program = JSON.parse(file.metadata.program);
  const conv = { ...program, encoder: [{ op: "conv2d" }] };
  assert.throws(() => new TrainableVAE(conv, file.tensors), /no operation "conv2d"/);
  const { "fc_mu.bias": _, ...lacking } = file.tensors;
  assert.throws(() => new TrainableVAE(program, lacking), /lack fc_mu\.bias/);
  const wrong = { ...file.tensors, "fc_mu.weight": { shape: [2, 7], data: new Float32Array(14) } };
  assert.throws(() => new TrainableVAE(program, wrong), /fc_mu\.weight takes 7 columns but receives \d+/);
});
