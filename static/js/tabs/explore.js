// The Explore tab: the digit at z, the grid around it and the latent map, decoded in the browser from the model's
// page bundle for every slider position (no server round trip), optionally beside a second model at the same z; a
// path from A to B (interpolation.js); the aggregate posterior q(z) against the prior on the map, with its holes and
// ELBO surgery's figures (core/aggregate.js); the view kept in the page's address and said aloud for screen readers.
//
// z has one owner: the tab's sliders. A click or drag on a map, an arrow key, a link's view or "Random" asks the
// sliders to move (props.value, then gr.HTML's change event, which app.py wires to them), and the sliders' change
// event comes back as setView, the only place the view changes, which paints once per display frame.

import { SURGERY_GRID, aggregateView, elboSurgery, surgerySentences } from "../core/aggregate.js";
import { decodeCached, viewPoints } from "../core/cellcache.js";
import { AskedViews, askSliders, classesOf, describePlace, round2 } from "../core/latent.js";
import { keep } from "../core/stats.js";
import { makeCells, onThemeChange, paintCells } from "../widgets/canvas.js";
import { listenToMap, modelMap } from "../widgets/latent-map.js";
import { showStatus } from "../widgets/status.js";
import { Interpolation } from "./interpolation.js";

const SETTLE_MS = 300; // a view unchanged this long is written to the address and announced
const AGGREGATE_CELLS = 150; // q(z)'s cells per side of a map's view: about 2 CSS px each on the 340-px map

// A page model's aggregate posterior (computed when first shown, then kept with the model): {view (aggregateView's,
// over the map's [-limit, limit]^2), surgery (elboSurgery's figures)}, or null for a map without sigmas. About
// 0.1 s for the bundled MNIST model's 10,000 test images (tests/node/aggregate.test.mjs times it)
function aggregateOf(model) {
  if (model.aggregate === undefined) {
    const latents = model.latents, sigma = latents && latents.sigma;
    model.aggregate = sigma && sigma.every((s) => s > 0 && Number.isFinite(s))
      ? { view: aggregateView(latents.mu, sigma, model.limit, AGGREGATE_CELLS),
          surgery: elboSurgery(latents.mu, sigma, SURGERY_GRID) }
      : null;
  }
  return model.aggregate;
}

export class ExploreTab {
  // element, props, trigger, watch: gr.HTML's (js_on_load); page: main.js's {config, load, stats, address, snap,
  // clamp}; options: {digit_px, grid_px, map_px (CSS px), view: the sliders' first {z1, z2, span}}. props:
  // bundle_path (the model; the server changes it when the visitor picks another), compare_bundle_path,
  // compare_label, main_label
  constructor(element, props, trigger, watch, page, options) {
    Object.assign(this, { element, props, trigger, page, sizes: options });
    this.view = { ...options.view, inputTime: null };
    this.asked = new AskedViews(); // views asked of the sliders, not yet back
    this.painted = null; this.raf = 0; this.model = null; this.panel = null; this.compare = null;
    this.showPrior = false; this.showAggregate = false;
    this.path = new Interpolation(element, page, {
      currentZ: () => [this.view.z1, this.view.z2], currentModel: () => this.model,
      drawMap: () => { if (this.panel) this.panel.map.draw(this.mapOverlay()); },
      changed: () => { this.repaint(); this.settle(); },
    });
    onThemeChange(() => this.repaint());
    this.open(props.bundle_path);
    if (watch) {
      watch("bundle_path", () => this.switchModel(props.bundle_path));
      watch("compare_bundle_path", () => this.compareWith(props.compare_bundle_path));
    }
  }

  failed(error) {
    console.error(error);
    showStatus(this.element, `The in-browser decoder could not start (${error.message}). ` +
                             "The API endpoints still work.", true);
  }

  // the panel's canvases in `root` for a loaded model, at `scale` of the props' sizes
  makePanel(root, model, scale = 1) {
    const { sizes } = this, { config } = this.page;
    return {
      ...makeCells(root, { digitPx: Math.round(sizes.digit_px * scale), gridPx: Math.round(sizes.grid_px * scale),
                           side: config.side, grid: config.grid }),
      model, map: modelMap(root, model, config, Math.round(sizes.map_px * scale)),
    };
  }

  open(path) {
    const element = this.element;
    showStatus(element, "Loading the decoder…");
    this.page.load(path).then((model) => {
      this.model = model;
      this.modelName = this.props.main_label || "default";
      const main = element.querySelector(".vae-main");
      this.panel = Object.assign(this.makePanel(main, model), {
        readout: element.querySelector(".vae-z"), spanReadout: element.querySelector(".vae-span-value"),
      });
      const backend = element.querySelector(".vae-backend");
      if (backend) backend.textContent = `decoded in your browser (${model.decoder.backend})`;
      this.page.stats.backend = model.decoder.backend;
      // either map: click or drag moves z there; the main one: shift-click sets B (A: the current z), and the arrow
      // keys move z by one slider step (Shift: ten)
      const pick = (z1, z2) => askSliders(this, z1, z2), { snap } = this.page;
      listenToMap(main.querySelector("canvas.vae-map"), {
        map: () => this.panel && this.panel.map, pick, step: this.page.config.zStep,
        at: () => this.asked.latest(this.view),
        shiftPick: (b1, b2) => this.path.set([this.view.z1, this.view.z2], [snap(b1), snap(b2)]),
      });
      listenToMap(element.querySelector(".vae-side canvas.vae-map"),
                  { map: () => this.compare && this.compare.map, pick });
      this.live = element.querySelector(".vae-live");
      const prior = element.querySelector(".vae-prior-toggle");
      if (prior) prior.addEventListener("change", () => { this.showPrior = prior.checked; this.repaint(); });
      const aggregate = element.querySelector(".vae-aggregate-toggle");
      if (aggregate) {
        aggregate.addEventListener("change", () => {
          this.showAggregate = aggregate.checked;
          this.describeAggregate();
          this.repaint();
        });
      }
      this.applyAddress();
      showStatus(element, "");
      element.dataset.ready = "true";
      element.dataset.bundle = path;
      this.repaint();
      this.settle(); // the live line: an earlier settle found no model to describe
      // the visitor's model arrived while this one loaded: switchModel waited for the panel, so switch now
      if (this.props.bundle_path !== path) this.switchModel(this.props.bundle_path);
    }).catch((e) => this.failed(e));
  }

  // the view in the page's address, once: ?z1=&z2=&span= and a path's ?a1=&a2=&b1=&b2=
  applyAddress() {
    const address = this.page.address, { snap, config } = this.page;
    const [z1, z2, span] = ["z1", "z2", "span"].map((k) => address.number(k));
    if (z1 !== undefined || z2 !== undefined || span !== undefined) {
      const s = span !== undefined && span > 0 && span <= config.spanLimit ? round2(span) : this.view.span;
      askSliders(this, z1 ?? this.view.z1, z2 ?? this.view.z2, s);
    }
    const [a1, a2, b1, b2] = ["a1", "a2", "b1", "b2"].map((k) => address.number(k));
    if ([a1, a2, b1, b2].every((v) => v !== undefined)) this.path.set([snap(a1), snap(a2)], [snap(b1), snap(b2)]);
    address.ready = true;
  }

  // A new view from the sliders (Gradio's change event hands their values over, app.py): the only way z changes
  setView(z1, z2, span) {
    const v = this.view, t = performance.now(), { clamp } = this.page;
    if (Number.isFinite(z1)) v.z1 = clamp(z1);
    if (Number.isFinite(z2)) v.z2 = clamp(z2);
    if (Number.isFinite(span) && span > 0) v.span = span;
    v.inputTime = t;
    this.asked.answer(v);
    keep(this.page.stats.inputs, { t, z1: v.z1, z2: v.z2, span: v.span });
    this.schedule();
    this.settle();
  }

  repaint() { this.painted = null; this.schedule(); }

  schedule() {
    if (!this.raf) this.raf = requestAnimationFrame((t) => this.paint(t));
  }

  // the pixels painted for a view, uint8 (1 + grid^2, side^2): the digit, then the grid's cells
  decodeView(z1, z2, span, model = this.model) {
    const t0 = performance.now(), { stats, config } = this.page;
    const { pixels, decoded } = decodeCached(model, viewPoints(z1, z2, span, config.grid), 1 + config.grid ** 2);
    keep(stats.decodeMs, performance.now() - t0);
    keep(stats.decodedRows, decoded);
    return pixels;
  }

  // what the map of `model` shows over its points: z, the grid's window, the prior and q(z) when asked, the path and
  // the frame playing
  mapOverlay(model = this.model) {
    const v = this.view, aggregate = this.showAggregate && model ? aggregateOf(model) : null;
    return { point: [v.z1, v.z2], window: v.span, prior: this.showPrior, aggregate: aggregate && aggregate.view,
             path: this.path.overlay() };
  }

  paintPanel(panel, pixels) {
    paintCells(panel, pixels);
    panel.map.draw(this.mapOverlay(panel.model));
  }

  // the legend and the sentences under the main map, for its model, while q(z) is shown; data-figures holds the
  // figures and data-grid the plane grid they were summed on (tests/test_browser_explore.py reads them)
  describeAggregate() {
    const box = this.element.querySelector(".vae-aggregate-about");
    if (!box || !this.model) return;
    const figures = box.querySelector(".vae-aggregate-figures");
    box.hidden = !this.showAggregate;
    if (!this.showAggregate) return;
    const aggregate = aggregateOf(this.model), words = classesOf(this.model, this.page.config);
    figures.textContent = aggregate ? surgerySentences(aggregate.surgery, words.noun)
      : "This model's latent map has the test set's means but not their σ: q(z) needs both.";
    figures.dataset.figures = aggregate ? JSON.stringify(aggregate.surgery) : "";
    figures.dataset.grid = JSON.stringify(SURGERY_GRID);
  }

  paint(frameStart) {
    this.raf = 0;
    const v = this.view, p = this.painted, panel = this.panel;
    if (!panel || !this.model) return;
    if (p && p.z1 === v.z1 && p.z2 === v.z2 && p.span === v.span) return;
    this.paintPanel(panel, this.decodeView(v.z1, v.z2, v.span));
    if (this.compare) this.paintPanel(this.compare, this.decodeView(v.z1, v.z2, v.span, this.compare.model));
    panel.readout.textContent = `z = (${v.z1.toFixed(2)}, ${v.z2.toFixed(2)})`;
    panel.spanReadout.textContent = v.span.toFixed(2);
    this.painted = { z1: v.z1, z2: v.z2, span: v.span };
    const frame = { z1: v.z1, z2: v.z2, span: v.span, input: v.inputTime, frameStart,
                    drawn: performance.now(), next: null, panels: this.compare ? 2 : 1 };
    keep(this.page.stats.frames, frame);
    requestAnimationFrame((t) => { frame.next = t; }); // the start of the next frame: this one has been presented
  }

  // Once the view has settled (no change for SETTLE_MS): the address holds it, and the live line says where z is
  settle() {
    clearTimeout(this.settleTimer);
    this.settleTimer = setTimeout(() => { this.writeAddress(); this.announce(); }, SETTLE_MS);
  }

  writeAddress() { this.page.address.write(this.view, this.path.ends()); }

  // the live line says where z is, for a screen reader (aria-live) and for everyone
  announce() {
    const panel = this.panel;
    if (!panel || !this.model) return;
    const v = this.view, { config } = this.page, z = `(${v.z1.toFixed(2)}, ${v.z2.toFixed(2)})`;
    const words = classesOf(this.model, config), line = describePlace(v.z1, v.z2, this.model.latents, words);
    if (this.live) this.live.textContent = line;
    for (const el of this.element.querySelectorAll(".vae-x-z")) el.textContent = z;
    for (const el of this.element.querySelectorAll(".vae-x-place")) el.textContent = line;
    for (const el of this.element.querySelectorAll(".vae-noun")) el.textContent = words.noun; // the captions
    panel.digit.setAttribute("aria-label", `decoded ${words.noun} at ${line}`);
    panel.grid.setAttribute("aria-label", `${config.grid} by ${config.grid} grid of decoded ${words.noun}s around ` +
                                          `z = ${z}, span ${v.span.toFixed(2)}`);
    panel.map.canvas.setAttribute("aria-label", `latent map at ${line}; arrow keys move z, click to move there, ` +
                                                "shift-click to set the end of a path");
  }

  // another model: its decoder and its latent map, same z
  switchModel(path) {
    showStatus(this.element, "Loading the model's decoder…");
    this.page.load(path).then((model) => {
      if (this.props.bundle_path !== path || !this.panel) return; // a later choice won
      this.model = model;
      this.modelName = this.props.main_label || "default";
      this.page.address.model = this.props.main_label || this.page.address.model;
      this.settle();
      this.panel.model = model;
      this.panel.map = modelMap(this.element.querySelector(".vae-main"), model, this.page.config, this.sizes.map_px);
      this.element.dataset.bundle = path;
      this.describeAggregate();
      showStatus(this.element, "");
      this.repaint();
    }).catch((e) => this.failed(e));
  }

  // a second model beside the first, at the same z ("" = none)
  compareWith(path) {
    const box = this.element.querySelector(".vae-explore"), element = this.element;
    if (!path) {
      this.compare = null;
      box.classList.remove("vae-comparing");
      element.dataset.compare = "";
      this.repaint();
      return;
    }
    showStatus(element, "Loading the second model's decoder…");
    this.page.load(path).then((model) => {
      if (this.props.compare_bundle_path !== path || !this.panel) return;
      box.classList.add("vae-comparing");
      const side = element.querySelector(".vae-side");
      this.compare = this.makePanel(side, model, 0.75);
      side.querySelector(".vae-side-name").textContent = this.props.compare_label || "";
      element.querySelector(".vae-main-name").textContent = this.props.main_label || "";
      element.dataset.compare = path;
      showStatus(element, "");
      this.repaint();
    }).catch((e) => this.failed(e));
  }
}
