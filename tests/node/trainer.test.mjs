// The page's training loop (static/js/core/trainer.js) on real MNIST images from $TRAINER_FIXTURES (written by
// tests/test_node_trainer.py: training programs and initial weights of seeds 0 and 1, 10,000 training and 2,000 test
// images as uint8, train/loop.py's learning-rate factors, and the same 10,000 training images as the page receives
// them: webapp/training_data.py's file, data.bin). The trained weights go to $TRAINER_FIXTURES/trained for PyTorch to
// load.
//
//   python -m pytest tests/test_node_trainer.py        (writes the fixtures, then runs node --test on this file)

import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import test from "node:test";

import { wasmKernel } from "../../static/js/core/kernels.js";
import { readSafetensors, writeSafetensors } from "../../static/js/core/safetensors.js";
import { Trainer, lrFactor } from "../../static/js/core/trainer.js";
import { readTrainingData, receiveTrainingData } from "../../static/js/core/trainingdata.js";
import { chunkEnd, heldBack } from "./held-file.mjs";

const folder = process.env.TRAINER_FIXTURES;
if (!folder) throw new Error("TRAINER_FIXTURES is unset: run python -m pytest tests/test_node_trainer.py");
const read = (name) => readSafetensors(readFileSync(join(folder, name)));
const wasm = new WebAssembly.Module(readFileSync(new URL("../../static/linear.wasm", import.meta.url)));

// what core/trainingdata.js gives the page
const file = read("data.safetensors").tensors;
const data = { images: file.images.data, labels: file.labels.data, n: file.labels.data.length,
               testImages: file.test_images.data, testLabels: file.test_labels.data,
               testN: file.test_labels.data.length };
const SETTINGS = { batch_size: 64, lr: 3e-3, epochs: 5, schedule: "onecycle", warmup: 0.05, beta: 1, seed: 0 };

// a trainer from seed `seed`'s initial weights (a fresh copy each time: training updates them in place)
function trainer(settings = {}, on = data) {
  const s = { ...SETTINGS, ...settings }, initial = read(`program-seed${s.seed}.safetensors`);
  return new Trainer({ program: JSON.parse(initial.metadata.program), tensors: initial.tensors, data: on,
                       settings: s, kernel: wasmKernel(wasm), adamWasm: wasm });
}

const run = (t, steps) => {
  for (let i = 0; i < steps; i++) assert.ok(t.step(), `step ${i + 1}: ${t.stopped?.message}`);
};

test("the learning-rate schedules equal train/loop.py's lr_factor", () => {
  const schedules = JSON.parse(readFileSync(join(folder, "schedules.json"), "utf8"));
  for (const [name, { warmup, total, steps, factors }] of Object.entries(schedules)) {
    steps.forEach((s, i) => {
      const got = lrFactor(name, s, total, warmup);
      assert.ok(Math.abs(got - factors[i]) <= 1e-12, `${name} at step ${s}: ${got}, Python ${factors[i]}`);
    });
  }
  assert.throws(() => trainer({ schedule: "linear" }), /unknown schedule "linear"/);
  assert.throws(() => trainer({ lr: -1 }), /lr must be a positive number/);
});

test("the loss falls over 300 steps on real MNIST, and the weights load into PyTorch", (t) => {
  const trainerA = trainer(), before = trainerA.testFigure();
  run(trainerA, 300);
  const after = trainerA.testFigure();
  t.diagnostic(`test -ELBO ${before.elbo.toFixed(1)} -> ${after.elbo.toFixed(1)} nats; running mean ` +
               `${trainerA.running.loss.toFixed(1)}; epoch ${trainerA.epoch.toFixed(2)}`);
  assert.ok(before.elbo > 500, `an untrained decoder pays about 543 nats, not ${before.elbo}`);
  assert.ok(after.elbo < 0.6 * before.elbo, `300 steps took the test -ELBO from ${before.elbo} to ${after.elbo}`);
  assert.ok(trainerA.running.loss < 0.6 * before.elbo, `running mean ${trainerA.running.loss}`);
  assert.equal(trainerA.epoch, 300 / Math.ceil(data.n / 64));
  const means = trainerA.latentMeans();
  assert.equal(means.length, 2 * 2000);
  assert.ok(means.every(Number.isFinite));
  const out = join(folder, "trained");
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, "model.safetensors"), writeSafetensors(trainerA.vae.parameters));
  writeFileSync(join(out, "config.json"), read("program-seed0.safetensors").metadata.config);
  writeFileSync(join(out, "test_figure.json"), JSON.stringify(after));
});

test("raising beta while training lowers KL", (t) => {
  const kept = trainer(), raised = trainer();
  run(kept, 150);
  run(raised, 150);
  raised.setBeta(8);
  run(kept, 150);
  run(raised, 150);
  const a = kept.testFigure(), b = raised.testFigure();
  t.diagnostic(`KL ${a.kl.toFixed(2)} at beta 1, ${b.kl.toFixed(2)} after beta 8; BCE ${a.bce.toFixed(1)}, ` +
               `${b.bce.toFixed(1)}`);
  assert.ok(b.kl < 0.8 * a.kl, `KL ${b.kl} at beta 8, ${a.kl} at beta 1`);
  assert.ok(b.bce > a.bce, "a higher beta pays in reconstruction");
  assert.throws(() => raised.setBeta(Number.NaN), /beta must be a positive number/);
});

test("a huge learning rate stops training with the divergence message, weights finite", () => {
  const t = trainer({ lr: 10, schedule: "constant" });
  let steps = 0;
  while (t.step()) steps++;
  assert.equal(t.stopped.reason, "diverged");
  assert.match(t.stopped.message, /diverged at step \d+: the loss became .* learning rate 10 is too high.*reset/);
  assert.ok(steps < 100, `it ran ${steps} steps before stopping`);
  assert.equal(t.step(), null); // stopped stays stopped
  for (const [name, { data: w }] of Object.entries(t.vae.parameters)) assert.ok(w.every(Number.isFinite), name);
  const pixels = t.decode(new Float32Array([0, 0, 1, -1]), 2);
  assert.equal(pixels.length, 2 * 784);
});

test("the same seed gives the same weights, another seed other weights", () => {
  const [a, b, c] = [trainer(), trainer(), trainer({ seed: 1 })];
  for (const t of [a, b, c]) run(t, 20);
  for (const [name, { data }] of Object.entries(a.vae.parameters)) {
    assert.deepEqual(b.vae.parameters[name].data, data, name);
  }
  const w = "fc_mu.weight";
  assert.notDeepEqual(c.vae.parameters[w].data, a.vae.parameters[w].data);
});

test("the schedule ends training after its epochs", () => {
  const small = { ...data, n: 128 }, initial = read("program-seed0.safetensors");
  const t = new Trainer({ program: JSON.parse(initial.metadata.program), tensors: initial.tensors, data: small,
                          settings: { ...SETTINGS, epochs: 2 } });
  let steps = 0;
  while (t.step()) steps++;
  assert.equal(steps, 4); // 2 batches of 64 per epoch
  assert.equal(t.stopped.reason, "finished");
  assert.equal(t.epoch, 2);
});

test("a partly arrived file trains on the images in place, then on the whole set once the rest arrives", async (t) => {
  const bytes = new Uint8Array(readFileSync(join(folder, "data.bin")));
  const { stream, release } = heldBack(bytes, chunkEnd(bytes, 1)); // the test chunk and the first training chunk
  const { data: partial, complete } = await receiveTrainingData(stream);
  assert.equal(partial.n, 10_000);
  assert.equal(partial.arrived, 2500); // the first training chunk; the rest has not been sent
  const settings = { batch_size: 64, epochs: 3 };
  const streamed = trainer(settings, partial), before = streamed.testFigure();
  const stepsPerEpoch = Math.ceil(10_000 / 64);
  assert.equal(streamed.stepsPerEpoch, stepsPerEpoch); // the schedule counts the whole set from the start
  for (let i = 0; i < 60; i++) {
    assert.ok(streamed.step(), streamed.stopped?.message);
    assert.ok(Math.max(...streamed.batch) < 2500, `step ${i + 1} drew an image that has not arrived`);
  }
  const early = streamed.testFigure();
  t.diagnostic(`on 2,500 images: test -ELBO ${before.elbo.toFixed(1)} -> ${early.elbo.toFixed(1)} nats`);
  assert.ok(early.elbo < 0.8 * before.elbo, `60 steps on the arrived images: ${before.elbo} -> ${early.elbo}`);

  release();
  const whole = await complete;
  assert.equal(whole, partial);
  assert.equal(streamed.arrived, 10_000);
  const reference = await readTrainingData(bytes);
  assert.deepEqual(partial.images, reference.images);
  assert.deepEqual(partial.labels, reference.labels);
  // the rest of the first epoch draws from a shuffle of the whole set, then each epoch sees every image once
  const late = new Set();
  while (streamed.steps < stepsPerEpoch) {
    assert.ok(streamed.step(), streamed.stopped?.message);
    for (const k of streamed.batch) late.add(k);
  }
  assert.ok([...late].some((k) => k >= 2500), "the images that arrived later are trained on");
  const seen = new Uint8Array(10_000);
  for (let i = 0; i < stepsPerEpoch; i++) {
    assert.ok(streamed.step(), streamed.stopped?.message);
    const rows = Math.min(64, 10_000 - i * 64);
    for (const k of streamed.batch.subarray(0, rows)) seen[k] += 1;
  }
  assert.ok(seen.every((count) => count === 1), "the second epoch sees every image once");

  // a file whole before the first step trains exactly as one read whole
  const again = heldBack(bytes, chunkEnd(bytes, 1)), received = await receiveTrainingData(again.stream);
  again.release();
  await received.complete;
  const [a, b] = [trainer(settings, received.data), trainer(settings, reference)];
  run(a, 30);
  run(b, 30);
  for (const [name, { data: w }] of Object.entries(a.vae.parameters)) assert.deepEqual(b.vae.parameters[name].data, w);
});
