// The page's training engine: a VAE executed from its training program (webapp/training_program.py), forward and
// backward, with the objective train/loop.py minimises. DOM-free: it runs in Node as in a Web Worker.
//
//   const vae = new TrainableVAE(program, tensors, kernel);    // tensors: {name: {shape, data: Float32Array}}
//   const { loss, bce, kl } = vae.lossAndGradients(x, eps, rows, beta);   // vae.gradients: {name: Float32Array}
//
// The objective (vae/objective.py), per image, with z = mu + exp(logvar / 2) * eps (VAE.reparameterize):
//   BCE = sum over pixels of max(l, 0) - l x + log(1 + exp(-|l|))           (binary_cross_entropy_with_logits)
//   KL  = -1/2 sum over latents of (1 + logvar - mu^2 - exp(logvar))          (Kingma & Welling 2013, appendix B)
// and the loss is the batch's mean of BCE + beta * KL.

import { javascriptKernel } from "./kernels.js";
import { compile } from "./layers.js";

export const TRAINING_FORMAT = "vae-explorer-training/1";

export class TrainableVAE {
  // kernel: the matrix products (kernels.js); the JavaScript one where none is given
  constructor(program, tensors, kernel = javascriptKernel()) {
    this.program = program;
    this.parameters = {};
    this.gradients = {};
    const used = new Set();
    const model = {
      kernel,
      tensor: (name, rank, shape) => {
        const t = tensors[name];
        if (t === undefined) throw new Error(`the weights lack ${name}, which the program uses`);
        if (used.has(name)) throw new Error(`the program uses ${name} twice`);
        if (t.shape.length !== rank || (shape && shape.some((s, i) => s !== t.shape[i]))) {
          throw new Error(`${name} has shape [${t.shape}], the program needs ${shape ? `[${shape}]` : `rank ${rank}`}`);
        }
        if (!(t.data instanceof Float32Array)) throw new Error(`${name} is not float32`);
        used.add(name);
        this.parameters[name] = t;
        return t;
      },
      gradient: (name) => (this.gradients[name] ??= new Float32Array(tensors[name].data.length)),
    };
    this.pixels = program.input;
    this.latent = program.latent;
    this.encoder = compile(program.encoder, model, this.pixels);
    this.muHead = compile(program.mu, model, this.encoder.outputWidth);
    this.logvarHead = compile(program.logvar, model, this.encoder.outputWidth);
    this.decoder = compile(program.decoder, model, this.latent);
    if (this.muHead.outputWidth !== this.latent || this.logvarHead.outputWidth !== this.latent) {
      throw new Error(`the program's heads give ${this.muHead.outputWidth} and ${this.logvarHead.outputWidth} ` +
        `latents, its latent size is ${this.latent}`);
    }
    if (this.decoder.outputWidth !== this.pixels) {
      throw new Error(`the decoder gives ${this.decoder.outputWidth} pixels, the input has ${this.pixels}`);
    }
    const unused = Object.keys(tensors).filter((name) => !used.has(name));
    if (unused.length) throw new Error(`the weights hold tensors the program does not use: ${unused.join(", ")}`);
    const loss = program.loss ?? {};
    if (loss.likelihood !== "bernoulli_logits" || loss.kl !== "standard_normal" || loss.reduction !== "mean") {
      throw new Error(`the training engine has no objective ${JSON.stringify(loss)}`);
    }
    this.scratch = { rows: -1 };
  }

  // x (rows, pixels) in [0, 1] -> {mu, logvar}, each (rows, latent); valid until the next call
  encode(x, rows) {
    const h = this.encoder.forward(x, rows);
    return { mu: this.muHead.forward(h, rows), logvar: this.logvarHead.forward(h, rows) };
  }

  // z (rows, latent) -> Bernoulli logits (rows, pixels); valid until the next call
  decodeLogits(z, rows) {
    return this.decoder.forward(z, rows);
  }

  // One batch: x (rows, pixels), eps (rows, latent) standard normal draws -> the batch means {loss, bce, kl}, and
  // the gradient of the mean loss in this.gradients
  lossAndGradients(x, eps, rows, beta) {
    const D = this.latent, P = this.pixels;
    if (x.length < rows * P || eps.length < rows * D) throw new Error(`a batch of ${rows} needs ${rows * P} pixels`);
    const s = this.buffersFor(rows);
    const { mu, logvar } = this.encode(x, rows);
    for (let i = 0; i < rows * D; i++) {
      s.std[i] = Math.exp(0.5 * logvar[i]);
      s.z[i] = mu[i] + s.std[i] * eps[i];
    }
    const logits = this.decodeLogits(s.z, rows);
    const { bce, kl } = objective(x, logits, mu, logvar, rows, P, D, s.dLogits);

    // -- backward: decoder, reparameterisation plus KL, heads, encoder (the data need no gradient)
    const dz = this.decoder.backward(s.dLogits, rows);
    for (let i = 0; i < rows * D; i++) {
      s.dMu[i] = dz[i] + (beta * mu[i]) / rows;
      s.dLogvar[i] = dz[i] * eps[i] * 0.5 * s.std[i] + (beta * 0.5 * (Math.exp(logvar[i]) - 1)) / rows;
    }
    const dhMu = this.muHead.backward(s.dMu, rows), dhLogvar = this.logvarHead.backward(s.dLogvar, rows);
    for (let i = 0; i < dhMu.length; i++) s.dh[i] = dhMu[i] + dhLogvar[i];
    this.encoder.backward(s.dh, rows, false);
    return { loss: (bce + beta * kl) / rows, bce: bce / rows, kl: kl / rows };
  }

  // The ELBO's terms without gradients, summed over the batch: x (rows, pixels), eps (rows, latent) -> {bce, kl};
  // the test figure's (trainer.js), from the same code as the training loss
  elboSums(x, eps, rows) {
    const D = this.latent, z = new Float32Array(rows * D); // not the training scratch, sized for the batch
    const { mu, logvar } = this.encode(x, rows);
    for (let i = 0; i < rows * D; i++) z[i] = mu[i] + Math.exp(0.5 * logvar[i]) * eps[i];
    return objective(x, this.decodeLogits(z, rows), mu, logvar, rows, this.pixels, D, null);
  }

  buffersFor(rows) {
    if (this.scratch.rows !== rows) {
      const D = this.latent, n = rows * D;
      this.scratch = { rows, std: new Float32Array(n), z: new Float32Array(n), dMu: new Float32Array(n),
        dLogvar: new Float32Array(n), dLogits: new Float32Array(rows * this.pixels),
        dh: new Float32Array(rows * this.encoder.outputWidth) };
    }
    return this.scratch;
  }
}

// BCE and KL summed over `rows` images (the formulas at the top); dLogits, when given, receives the gradient of the
// batch's mean loss at the logits, (sigmoid(l) - x) / rows
function objective(x, logits, mu, logvar, rows, P, D, dLogits) {
  let bce = 0, kl = 0;
  for (let r = 0; r < rows; r++) {
    let image = 0;
    for (let p = r * P; p < (r + 1) * P; p++) {
      const l = logits[p], t = x[p], e = Math.exp(-Math.abs(l)); // sigmoid(l) = 1 / (1 + e) or e / (1 + e)
      image += Math.max(l, 0) - l * t + Math.log1p(e);
      if (dLogits !== null) dLogits[p] = ((l >= 0 ? 1 : e) / (1 + e) - t) / rows;
    }
    bce += image;
    for (let i = r * D; i < (r + 1) * D; i++) kl += -0.5 * (1 + logvar[i] - mu[i] * mu[i] - Math.exp(logvar[i]));
  }
  return { bce, kl };
}
