// The exact test log-likelihood of a 2-D latent model, by quadrature on the plane, as vae/exact.py's PlaneGrid
// computes it: one grid decoded once, every image's log joint at every point, a log-sum-exp per image in float64.
//
//   log p(x) ≈ logsumexp_j [log p(x|z_j) + log N(z_j; 0, I)] + 2 log h       (z_j on a square grid of step h)
//   log p(x|z) = x · l(z) - sum softplus(l(z))                                (Bernoulli on grey levels, logits l)
//
// DOM-free: the training worker (train-worker.js) runs it on the weights training now, tests/node/exact.test.mjs
// under Node.
//
//   const sample = new LikelihoodSample(images, count, pixels);   // uint8 (count * pixels), /255 as the trainer's
//   const { mean, logPx } = sample.logLikelihood((z, rows) => vae.decodeLogits(z, rows), kernel);

import { javascriptKernel } from "./kernels.js";

// The grid: 101 x 101 points over [-4, 4]^2. On the bundled model (pretrained/) and the first 200 MNIST test images,
// its mean log p(x) is 0.13 nats under PlaneGrid(step=0.02, extent=6)'s (-127.457 against -127.323; the worst image
// 2.7 nats under: a trained model's posteriors are about a step wide), and PlaneGrid(0.08, 4)'s to 1e-3 nats
// (tests/test_node_exact.py). A step of 0.1 was 0.29 nats under, of 0.05 0.01 under at 2.5 times the points.
export const EXACT_GRID = { step: 0.08, extent: 4 };
const LOG_2PI = Math.log(2 * Math.PI);
const ROWS = 500; // grid points per decoder pass (the trainer's EVAL_ROWS): its activations stay small

// softplus(l) = log(1 + e^l), without overflow
const softplus = (l) => Math.max(l, 0) + Math.log1p(Math.exp(-Math.abs(l)));

// A fixed set of images, in [0, 1] as core/trainer.js feeds the model
export class LikelihoodSample {
  // images: uint8 grey levels (at least count * pixels), x = level / 255
  constructor(images, count, pixels) {
    if (images.length < count * pixels || count < 1) throw new Error(`the sample needs ${count} images of ${pixels}`);
    this.count = count;
    this.pixels = pixels;
    this.x = new Float32Array(count * pixels); // (count, pixels)
    for (let k = 0; k < count * pixels; k++) this.x[k] = images[k] / 255;
  }

  // decode: (z Float32Array (rows * 2), rows) -> Bernoulli logits (rows * pixels), valid until its next call (the
  // engine's decodeLogits); kernel: kernels.js's, for x · l(z) of every image and point (the worker's WebAssembly
  // one: the product is most of the work), the log joint in float32 as PlaneGrid's, its log-sum-exp in float64
  // -> {mean: the mean log p(x) in nats, logPx: Float64Array (count)}
  logLikelihood(decode, kernel = javascriptKernel(), grid = EXACT_GRID) {
    const { count, pixels, x } = this, { step, extent } = grid;
    const n = Math.round((2 * extent) / step) + 1, G = n * n; // points, z1 fastest (PlaneGrid.points' order)
    const h = (2 * extent) / (n - 1); // PlaneGrid.axis's spacing (linspace), step itself where it divides 2 extent
    const top = new Float64Array(count).fill(-Infinity), sum = new Float64Array(count); // running log-sum-exp
    const z = new Float32Array(ROWS * 2), prior = new Float64Array(ROWS), bias = new Float32Array(ROWS);
    const joint = new Float32Array(count * ROWS);
    for (let g0 = 0; g0 < G; g0 += ROWS) {
      const rows = Math.min(ROWS, G - g0);
      for (let r = 0; r < rows; r++) {
        const g = g0 + r, z1 = -extent + (g % n) * h, z2 = -extent + Math.floor(g / n) * h;
        z[2 * r] = z1; z[2 * r + 1] = z2;
        prior[r] = -LOG_2PI - 0.5 * (z1 * z1 + z2 * z2); // log N(z; 0, I)
      }
      const logits = decode(z, rows);
      for (let r = 0; r < rows; r++) { // log N(z; 0, I) - sum softplus(l(z)), in float64, then float32
        let s = prior[r];
        for (let p = r * pixels; p < (r + 1) * pixels; p++) s -= softplus(logits[p]);
        bias[r] = s;
      }
      // log p(x_i | z_r) + log p(z_r) = x_i · l(z_r) + bias_r, (count, rows)
      kernel.nt(x, logits, joint, count, rows, pixels, bias.subarray(0, rows));
      for (let i = 0; i < count; i++) { // fold this chunk into image i's log-sum-exp, rescaled to the new maximum
        const at = i * rows;
        let m = top[i];
        for (let r = 0; r < rows; r++) if (joint[at + r] > m) m = joint[at + r];
        let s = sum[i] * Math.exp(top[i] - m);
        for (let r = 0; r < rows; r++) s += Math.exp(joint[at + r] - m);
        top[i] = m; sum[i] = s;
      }
    }
    const logPx = new Float64Array(count), cell = 2 * Math.log(step);
    let total = 0;
    for (let i = 0; i < count; i++) total += (logPx[i] = top[i] + Math.log(sum[i]) + cell);
    return { mean: total / count, logPx };
  }
}
