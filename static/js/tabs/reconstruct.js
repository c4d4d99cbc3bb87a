// The Reconstruct tab's map, for the model in props.bundle_path (followed with watch, as in Explore): the visitor's
// digit's posterior q(z|x) = N(mu, sigma^2) as an ellipse, and the reparameterization trick shown: SAMPLES draws
// z = mu + sigma * eps, eps ~ N(0, I), decoded in the browser and drawn on the map inside the ellipse; "resample eps"
// draws again (a seeded generator: the first draw of a digit is the same every time). The drawing pad is
// widgets/drawing-pad.js; the encoding happens on the server (webapp/reconstruct.py).

import { normalGenerator } from "../core/latent.js";
import { greyToCanvas, onThemeChange, setupCanvas } from "../widgets/canvas.js";
import { modelMap } from "../widgets/latent-map.js";

const SAMPLES = 12;
const SAMPLE_PX = 48; // CSS px of a sample's digit

export class ReconstructTab {
  // element, props, watch: gr.HTML's; page: main.js's; options: {map_px}; stats: show()'s, for a posterior shown
  // before the tab was mounted
  constructor(element, props, watch, page, options, stats = null) {
    Object.assign(this, { element, props, page, mapPx: options.map_px });
    this.ellipse = null;
    this.view = null; // {map, model, strip, stripCtx}
    this.draw = 0; // which draw of eps: 0 for a new digit, then one more per "resample"
    this.samples = null; // {eps, z, pixels}: the samples shown (for tests, through debug)
    this.open(props.bundle_path);
    if (watch) watch("bundle_path", () => this.open(props.bundle_path));
    const resample = element.querySelector(".vae-resample");
    if (resample) resample.addEventListener("click", () => { this.draw++; this.paint(); });
    onThemeChange(() => this.paint());
    if (stats) this.show(stats);
  }

  open(path) {
    this.page.load(path).then((model) => {
      if (this.props.bundle_path !== path) return;
      const strip = this.element.querySelector("canvas.vae-samples");
      this.view = { model, strip, stripCtx: setupCanvas(strip, SAMPLES * SAMPLE_PX, SAMPLE_PX),
                    map: modelMap(this.element, model, this.page.config, this.mapPx) };
      this.paint();
      this.element.dataset.ready = "true";
    }).catch((error) => console.error(error));
  }

  // stats: the server's {mu, sigma, elbo, bce, kl} for the visitor's digit, or null
  show(stats) {
    this.ellipse = stats && stats.mu && stats.sigma ? { mu: stats.mu, sigma: stats.sigma } : null;
    for (const key of ["elbo", "bce", "kl"]) { // the explanation's live figures
      const value = stats && Number.isFinite(stats[key]) ? stats[key].toFixed(1) : "…";
      for (const el of this.element.querySelectorAll(`.vae-x-${key}`)) el.textContent = value;
    }
    this.draw = 0;
    this.paint();
  }

  paint() {
    const view = this.view, ellipse = this.ellipse, side = this.page.config.side;
    if (!view) return;
    let samples = [];
    const ctx = view.stripCtx, w = view.strip.width, h = view.strip.height;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#000"; ctx.fillRect(0, 0, w, h);
    this.samples = null;
    if (ellipse) {
      const normal = normalGenerator(1 + this.draw);
      const eps = Array.from({ length: SAMPLES }, () => [normal(), normal()]);
      samples = eps.map(([e1, e2]) => [ellipse.mu[0] + ellipse.sigma[0] * e1, ellipse.mu[1] + ellipse.sigma[1] * e2]);
      const pixels = view.model.decoder.decode(new Float32Array(samples.flat()), SAMPLES);
      const n = side * side, cell = w / SAMPLES;
      const tile = Object.assign(document.createElement("canvas"), { width: side, height: side });
      ctx.imageSmoothingEnabled = false;
      for (let i = 0; i < SAMPLES; i++) {
        greyToCanvas(pixels, i * n, side, side, tile);
        ctx.drawImage(tile, i * cell, 0, cell - 2, h);
      }
      this.samples = { eps, z: samples, pixels: Array.from(pixels.subarray(0, SAMPLES * n)) };
    }
    view.map.draw({ ellipse: ellipse || undefined, samples });
    this.element.dataset.posterior = ellipse ? JSON.stringify(ellipse) : "";
    for (const [cls, text] of [["vae-x-mu", ellipse ? `(${ellipse.mu.map((v) => v.toFixed(2)).join(", ")})` : "μ"],
                               ["vae-x-sigma", ellipse ? `(${ellipse.sigma.map((v) => v.toFixed(3)).join(", ")})`
                                 : "σ"]]) {
      for (const el of this.element.querySelectorAll(`.${cls}`)) el.textContent = text;
    }
  }
}
