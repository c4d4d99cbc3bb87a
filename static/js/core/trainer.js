// The page's training loop around the engine (engine.js) and Adam (adam.js), as python -m train runs it
// (train/loop.py): shuffled batches of an in-memory training set, one epoch after another, the learning rate of the
// same schedules, and a stop with a message when the loss diverges. DOM-free: the Web Worker (train-worker.js) runs
// it in the page, tests/node/trainer.test.mjs under Node.
//
//   const trainer = new Trainer({ program, tensors, data, settings, kernel, adamWasm });
//   trainer.step();                  // one Adam step -> {step, loss, bce, kl}, or null once stopped
//   trainer.testFigure();            // -ELBO, BCE and KL on a fixed test subset (beta = 1, as vae/evaluate.py)
//   trainer.latentMeans();           // the posterior means of the first MAP_POINTS test images, (n * 2)
//
// settings: TrainConfig's names (batch_size, lr, schedule, warmup, epochs, beta, weight_decay, seed); the seed also
// drew the initial weights (webapp/training_program.py), and here draws the batches' order and the noise eps.
//
// Training may start while the data is still arriving (core/trainingdata.js's receiveTrainingData: data.arrived of
// data.n images in place, growing). Until all n are in, each batch is drawn at random (with replacement) from the
// images that have arrived, a uniform sample of the set; the epochs and the schedule count all n images from the
// start. Once all have arrived, the rest of that epoch takes its batches from a shuffle of the whole set, so this
// partial first epoch may see some images twice and others never; from the next epoch on, every epoch sees each image
// once. A run whose data was whole at its first step (a copy kept in Cache Storage) is the same for the same seed; one
// that starts while the data arrives also depends on when each chunk arrived.

import { Adam } from "./adam.js";
import { TrainableVAE } from "./engine.js";
import { javascriptKernel } from "./kernels.js";
import { normalGenerator, uniformGenerator } from "./latent.js";

export const MAP_POINTS = 2000; // test images whose posterior means the map shows (as the replay's)
export const TEST_SUBSET = 1000; // test images of the test figure: a fixed subset, with fixed noise
const EVAL_ROWS = 500; // images per forward pass when evaluating or encoding
const RUNNING = 50; // steps the running means of BCE and KL average over (exponentially)
// A loss above this many times a coin-flip decoder's (every pixel p = 1/2: 784 ln 2 = 543 nats) has diverged: a
// learning rate that large throws the weights far from anything training recovers from
const DIVERGED_FACTOR = 5;

// Multiplier of the base learning rate at `step` of `total` (train/loop.py's lr_factor, line for line)
export function lrFactor(schedule, step, total, warmup) {
  if (schedule === "constant") return 1;
  const progress = step / Math.max(1, total);
  if (schedule === "cosine") return 0.5 * (1 + Math.cos(Math.PI * progress));
  if (schedule === "onecycle") {
    const w = Math.max(1, Math.trunc(warmup * total));
    if (step < w) return (step + 1) / w;
    return 0.5 * (1 + Math.cos((Math.PI * (step - w)) / Math.max(1, total - w)));
  }
  throw new Error(`unknown schedule ${JSON.stringify(schedule)}; choose constant, cosine or onecycle`);
}

// images (n * pixels) uint8 from `start`, `rows` of them picked by `order` (or in turn) -> float32 in [0, 1]
function toFloat(images, pixels, rows, out, pick) {
  for (let r = 0; r < rows; r++) {
    const from = pick(r) * pixels, to = r * pixels;
    for (let p = 0; p < pixels; p++) out[to + p] = images[from + p] / 255;
  }
  return out;
}

export class Trainer {
  // program, tensors: a training program's (webapp/training_program.py, read by core/safetensors.js); data:
  // core/trainingdata.js's {images, labels, n, testImages, testLabels, testN}; kernel: kernels.js's (JavaScript
  // where none is given); adamWasm: static/linear.wasm compiled, for Adam's update, or null
  constructor({ program, tensors, data, settings, kernel = javascriptKernel(), adamWasm = null }) {
    const s = { schedule: "onecycle", warmup: 0.05, weight_decay: 0, seed: 0, ...settings };
    for (const key of ["batch_size", "lr", "epochs", "beta"]) {
      if (!(Number.isFinite(s[key]) && s[key] > 0)) throw new Error(`${key} must be a positive number, not ${s[key]}`);
    }
    lrFactor(s.schedule, 0, 1, s.warmup); // an unknown schedule is refused now, not at the first step
    this.settings = s;
    this.vae = new TrainableVAE(program, tensors, kernel);
    this.adam = new Adam(this.vae.parameters, { lr: s.lr, weightDecay: s.weight_decay }, adamWasm);
    this.data = data;
    this.pixels = program.input;
    if (data.images.length < data.n * this.pixels || data.n < 1 || this.arrived < 1) {
      throw new Error("the training set holds no images");
    }
    this.batchSize = Math.min(Math.trunc(s.batch_size), data.n);
    this.stepsPerEpoch = Math.ceil(data.n / this.batchSize);
    this.totalSteps = this.stepsPerEpoch * Math.trunc(s.epochs);
    this.beta = s.beta;
    this.steps = 0;
    this.uniform = uniformGenerator(s.seed + 1); // the batches' order, apart from the noise (as train/loop.py)
    this.normal = normalGenerator(s.seed + 2);
    this.order = new Uint32Array(data.n);
    this.ordered = false; // whether this epoch's order is a shuffle of the whole set (not while the data arrives)
    this.batch = new Uint32Array(this.batchSize); // the indices of the last batch's images
    this.x = new Float32Array(this.batchSize * this.pixels);
    this.eps = new Float32Array(this.batchSize * program.latent);
    this.running = null; // {loss, bce, kl}: the running means
    this.stopped = null; // why training stopped: {reason: "finished" | "diverged", message}
  }

  get epoch() { return this.steps / this.stepsPerEpoch; }
  get arrived() { return this.data.arrived ?? this.data.n; } // training images in place (see the top of the file)
  get lr() { return this.settings.lr * lrFactor(this.settings.schedule, this.steps, this.totalSteps,
                                                this.settings.warmup); }

  // the KL weight from the next step on (the page's slider moves it while training)
  setBeta(beta) {
    if (!(Number.isFinite(beta) && beta > 0)) throw new Error(`beta must be a positive number, not ${beta}`);
    this.beta = beta;
  }

  // a new random order of the training set (Fisher-Yates) at each epoch's start
  shuffle() {
    const order = this.order;
    this.ordered = true;
    for (let i = 0; i < order.length; i++) order[i] = i;
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(this.uniform() * (i + 1)), t = order[i];
      order[i] = order[j]; order[j] = t;
    }
  }

  // One Adam step on the next batch -> {step, loss, bce, kl} (the batch's means), or null when training has stopped. A
  // loss or gradient that is not finite, or a loss beyond DIVERGED_FACTOR coin-flip decoders, stops training before the
  // update, so the weights stay the last finite ones: they are all the visitor has (no checkpoint; Download model,
  // Explore and Publish take them); and with no gradient clipping, a too-high learning rate is stopped once the loss is
  // past recovering (DIVERGED_FACTOR), not left to run until it overflows while the visitor waits on a picture that no
  // longer improves. train/loop.py stops only on a non-finite loss or test figure: a CLI run keeps the last epoch's
  // checkpoint on disk to --resume from, has --grad-clip, and leaves a finite loss, however high, to the user watching
  // its log.
  step() {
    if (this.stopped) return null;
    if (this.steps >= this.totalSteps) {
      this.stopped = { reason: "finished", message: `Training finished: ${this.settings.epochs} epochs, ` +
        `${this.steps.toLocaleString("en")} steps.` };
      return null;
    }
    const i = this.steps % this.stepsPerEpoch, B = this.batchSize, n = this.data.n, arrived = this.arrived;
    const rows = Math.min(B, n - i * B), start = i * B, batch = this.batch;
    if (arrived < n) { // the data still arriving: a batch drawn from what is in place
      this.ordered = false;
      for (let r = 0; r < rows; r++) batch[r] = Math.floor(this.uniform() * arrived);
    } else {
      if (i === 0 || !this.ordered) this.shuffle();
      batch.set(this.order.subarray(start, start + rows));
    }
    toFloat(this.data.images, this.pixels, rows, this.x, (r) => batch[r]);
    for (let k = 0; k < rows * this.vae.latent; k++) this.eps[k] = this.normal();
    const lr = this.lr;
    const { loss, bce, kl } = this.vae.lossAndGradients(this.x, this.eps, rows, this.beta);
    const limit = DIVERGED_FACTOR * this.pixels * Math.LN2;
    if (!Number.isFinite(loss) || loss > limit || !this.gradientsFinite()) {
      const what = Number.isFinite(loss) ? `${loss.toFixed(0)} nats, more than ${DIVERGED_FACTOR} times what a ` +
        `decoder that draws every pixel as a coin flip pays (${(this.pixels * Math.LN2).toFixed(0)})` : String(loss);
      this.stopped = { reason: "diverged", message: `Training diverged at step ${this.steps + 1}: the loss became ` +
        `${what}. The learning rate ${this.settings.lr} is too high for this model; reset, then lower it.` };
      return null;
    }
    this.adam.step(this.vae.gradients, lr);
    this.steps += 1;
    const k = Math.min(this.steps, RUNNING), r = this.running ?? { loss, bce, kl };
    this.running = { loss: r.loss + (loss - r.loss) / k, bce: r.bce + (bce - r.bce) / k, kl: r.kl + (kl - r.kl) / k };
    return { step: this.steps, loss, bce, kl, rows };
  }

  gradientsFinite() {
    let sum = 0;
    for (const g of Object.values(this.vae.gradients)) for (let i = 0; i < g.length; i++) sum += g[i] * g[i];
    return Number.isFinite(sum);
  }

  // The test figure: mean -ELBO, BCE and KL in nats over the first `count` test images, one posterior sample each
  // with noise of a fixed seed, beta = 1 (the true ELBO whatever beta trains, as vae/evaluate.py reports it).
  // `images` (uint8, n * pixels) in place of the data's test images: bench/browser_training.py's whole test split
  testFigure(count = TEST_SUBSET, images = null) {
    const testImages = images ?? this.data.testImages, testN = images ? images.length / this.pixels : this.data.testN;
    const P = this.pixels, D = this.vae.latent, n = Math.min(count, testN);
    const normal = normalGenerator(0), x = new Float32Array(EVAL_ROWS * P), eps = new Float32Array(EVAL_ROWS * D);
    let bce = 0, kl = 0;
    for (let start = 0; start < n; start += EVAL_ROWS) {
      const rows = Math.min(EVAL_ROWS, n - start);
      toFloat(testImages, P, rows, x, (r) => start + r);
      for (let i = 0; i < rows * D; i++) eps[i] = normal();
      const sums = this.vae.elboSums(x, eps, rows);
      bce += sums.bce;
      kl += sums.kl;
    }
    return { step: this.steps, elbo: (bce + kl) / n, bce: bce / n, kl: kl / n, images: n };
  }

  // the posterior means of the first `count` test images -> Float32Array (count * latent)
  latentMeans(count = MAP_POINTS) {
    const { testImages, testN } = this.data, P = this.pixels, D = this.vae.latent, n = Math.min(count, testN);
    const out = new Float32Array(n * D), x = new Float32Array(EVAL_ROWS * P);
    for (let start = 0; start < n; start += EVAL_ROWS) {
      const rows = Math.min(EVAL_ROWS, n - start);
      toFloat(testImages, P, rows, x, (r) => start + r);
      out.set(this.vae.encode(x, rows).mu.subarray(0, rows * D), start * D);
    }
    return out;
  }

  // points (rows * latent) -> the decoder's pixels, uint8 (rows * pixels), sigmoid(logits) * 255 rounded
  decode(points, rows) {
    const logits = this.vae.decodeLogits(points, rows), out = new Uint8ClampedArray(rows * this.pixels);
    for (let p = 0; p < out.length; p++) out[p] = 255 / (1 + Math.exp(-logits[p]));
    return out;
  }
}
