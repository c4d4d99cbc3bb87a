// VAE 2-D Latent Explorer: the page's wiring. app.py's gr.HTML components import this module from their js_on_load
// (webapp/page.py's mount_js) and call its mount functions; it fetches the model's page bundle (webapp/bundle.py)
// and its training replay (webapp/replay.py), hands them to the tabs, and sets window.vaeExplorer, which Gradio's js
// hooks in app.py call: setView and setTrainingView (the sliders moved), setTab, showPosterior, randomLatent,
// copyLink, pathEnds, setPathEnd. What only tests and bench/ use sits in window.vaeExplorer.debug.
//
// The page decodes the digit and the grid for every slider position right here (core/program.js, on the WebAssembly
// kernel static/linear.wasm), so a drag is painted at display rate with no server round trip; the server's /generate
// and /grid compute the same pixels with PyTorch, and tests/test_browser_explore.py checks that the two agree within
// 1/255 for both architectures.

import { PAGE_FORMAT, REPLAY_FORMAT, pageModel, replayModel } from "./core/bundles.js";
import { cacheCounters } from "./core/cellcache.js";
import { normalGenerator, round2, snapper } from "./core/latent.js";
import { compileKernel } from "./core/program.js";
import { checkFormat, readSafetensors } from "./core/safetensors.js";
import { newStats } from "./core/stats.js";
import { Address, appURL } from "./widgets/address.js";
import { mountDrawing } from "./widgets/drawing-pad.js";
import { showStatus } from "./widgets/status.js";
import { ExploreTab } from "./tabs/explore.js";
import { ReconstructTab } from "./tabs/reconstruct.js";
import { TrainingTab } from "./tabs/training.js";

const REPLAYS_KEPT = 2; // replays kept loaded (the bundled default's 13 decoders take about 60 MB)

// static/linear.wasm, beside this folder, compiled once for every decoder (null: no WebAssembly SIMD here)
const kernel = fetch(new URL("../linear.wasm", import.meta.url))
  .then((r) => (r.ok ? r.arrayBuffer() : null))
  .then((bytes) => compileKernel(bytes && new Uint8Array(bytes)))
  .catch(() => null);

// One of the app's safetensors files (a page or replay bundle) -> Promise of {metadata, tensors}; refused unless its
// metadata says `format`
function fetchSafetensors(path, format) {
  const url = appURL(path);
  return fetch(url, { cache: "force-cache" })
    .then((r) => {
      if (!r.ok) throw new Error(`GET ${url}: HTTP ${r.status}`);
      return r.arrayBuffer();
    })
    .then((buffer) => checkFormat(readSafetensors(buffer), format, url));
}

let page = null; // what every tab shares, made from the first mounted component's props
const tabs = { explore: null, reconstruct: null, training: null, train: null };
let pendingPosterior = null; // a posterior shown before the Reconstruct tab was mounted

// webapp/page.py's page_constants(), the same for every panel
function sharedPage(constants) {
  if (page) return page;
  const c = constants, config = {
    zLimit: c.z_limit, zStep: c.z_step, spanMin: c.span_min, spanLimit: c.span_limit, grid: c.grid, side: c.side,
    margin: c.map_margin, colours: c.class_colours, names: c.class_names, noun: c.noun,
  };
  const models = new Map(), replays = new Map(), rows = 1 + config.grid * config.grid;
  // a model's page bundle -> Promise of core/bundles.js's pageModel, fetched once per path
  const load = (path) => {
    if (!models.has(path)) {
      models.set(path, Promise.all([fetchSafetensors(path, PAGE_FORMAT), kernel])
        .then(([file, module]) => pageModel(file, { maxRows: rows, kernel: module })));
    }
    return models.get(path);
  };
  // a replay bundle -> Promise of replayModel, fetched once per path while among the REPLAYS_KEPT latest; a failure
  // is forgotten
  const loadReplay = (path) => {
    if (replays.has(path)) { // the latest again
      const kept = replays.get(path);
      replays.delete(path);
      replays.set(path, kept);
      return kept;
    }
    const loading = Promise.all([fetchSafetensors(path, REPLAY_FORMAT), kernel])
      .then(([file, module]) => replayModel(file, { maxRows: rows, kernel: module }));
    loading.catch(() => { if (replays.get(path) === loading) replays.delete(path); });
    replays.set(path, loading);
    for (const old of replays.keys()) if (replays.size > REPLAYS_KEPT) replays.delete(old); // the oldest first
    return loading;
  };
  page = { config, load, loadReplay, stats: newStats(), address: new Address(),
           ...snapper(config.zLimit, config.zStep) };
  return page;
}

// The panels' js_on_load (app.py, webapp/page.py's mount_js) call these with gr.HTML's element, props, trigger and
// watch, and the options Python wrote into the call: {constants, digit_px, grid_px, map_px, view: {z1, z2, span}}
export function mountExplore(element, props, trigger, watch, options) {
  tabs.explore = new ExploreTab(element, props, trigger, watch, sharedPage(options.constants), options);
}

export function mountPosterior(element, props, watch, options) {
  tabs.reconstruct = new ReconstructTab(element, props, watch, sharedPage(options.constants), options,
                                        pendingPosterior);
}

export function mountTraining(element, props, trigger, watch, options) {
  if (tabs.training) tabs.training.retire();
  tabs.training = new TrainingTab(element, props, trigger, watch, sharedPage(options.constants), options);
}

// the Train tab: server holds gr.HTML's server functions (webapp/train_tab.py's train_tab: train_options and
// training_program), upload its upload function (a file to Gradio's upload route, for Explore this model and Publish).
// Its markup (static/train-tab.html), choices and module are fetched now, when the tab is first shown.
export async function mountTrain(element, props, trigger, watch, server, upload, options) {
  if (tabs.train) tabs.train.stopWorker(); // mounted again: the old run goes
  tabs.train = null;
  try {
    const markup = fetch(new URL("../train-tab.html", import.meta.url), { cache: "force-cache" }).then((r) => {
      if (!r.ok) throw new Error(`GET train-tab.html: HTTP ${r.status}`);
      return r.text();
    });
    // the tab's module too: none of it is fetched before the tab is shown
    const [html, live, { TrainTab }] = await Promise.all([markup, server.train_options(), import("./tabs/train.js")]);
    element.querySelector(".vae-lab-root").innerHTML = html;
    tabs.train = new TrainTab(element, server, sharedPage(options.constants), { ...options, live, upload });
  } catch (error) {
    console.error(error);
    showStatus(element, `The Train tab could not start (${error.message}). The other tabs still work.`, true);
  }
}

export { mountDrawing };

window.vaeExplorer = {
  setView: (z1, z2, span) => tabs.explore && tabs.explore.setView(z1, z2, span),
  setTrainingView: (z1, z2, span) => tabs.training && tabs.training.setView(z1, z2, span),
  showPosterior(stats) {
    pendingPosterior = stats && stats.mu && stats.sigma ? stats : null;
    if (tabs.reconstruct) tabs.reconstruct.show(stats);
  },
  // z ~ N(0, I), clipped to the sliders' range, 2 decimals
  randomLatent() {
    const normal = normalGenerator(), clamp = page ? page.clamp : (v) => v;
    return [round2(clamp(normal())), round2(clamp(normal()))];
  },
  // the tab shown (app.py's Tab.select events), kept in the address; the Training tab loads its replay when first
  // shown, and stops playing when left
  setTab(tab) {
    if (!page) return;
    page.address.tab = tab;
    if (tabs.explore) tabs.explore.settle();
    if (tabs.training) { if (tab === "training") tabs.training.open(); else tabs.training.pause(); }
  },
  // the "Copy link" button: the address of this view to the clipboard -> the line that says so (Markdown), with the
  // link itself where the browser refuses the clipboard (an iframe without the permission, an insecure origin)
  async copyLink() {
    if (tabs.explore) tabs.explore.writeAddress();
    const link = location.href;
    try {
      await navigator.clipboard.writeText(link);
      return `✓ [The link to this view](${link}) is copied.`;
    } catch (error) {
      return `Copy [this link](${link}) (the browser kept the clipboard closed).`;
    }
  },
  // the Train tab's "Explore this model" and "Publish to the Hub" buttons (webapp/train_tab.py's TrainUI): the model
  // the page trains now, sent to the server -> {path, config} for the button's server event, or {error}
  sendTrainedModel() {
    return tabs.train ? tabs.train.sendModel() : { error: "Open the Train live tab and train a model first." };
  },
  // the "A = z" and "B = z" buttons: that end of the path at the current z
  setPathEnd: (end) => tabs.explore && tabs.explore.path.setEnd(end),
  // the path's ends for the server's GIF (app.py's "GIF of the path" button): [a1, a2, b1, b2], or nulls
  pathEnds() {
    const ends = tabs.explore && tabs.explore.path.ends();
    return ends ? [...ends.a, ...ends.b] : [null, null, null, null];
  },
  // for tests and bench/ only
  debug: {
    get stats() { return page.stats; },
    get ready() { return !!(tabs.explore && tabs.explore.panel); },
    get state() { const v = tabs.explore.view; return { z1: v.z1, z2: v.z2, span: v.span, inputTime: v.inputTime }; },
    get backend() { return tabs.explore && tabs.explore.model ? tabs.explore.model.decoder.backend : null; },
    get comparing() { return !!(tabs.explore && tabs.explore.compare); },
    // the name of the model whose decoder the Explore tab is using now
    get model() { return tabs.explore ? tabs.explore.modelName || null : null; },
    // the cell cache: setCache(false) makes every frame decode all the points (bench/browser_fps.py measures both)
    setCache(enabled) {
      cacheCounters.enabled = !!enabled;
      if (tabs.explore && tabs.explore.model) tabs.explore.model.cache.clear();
    },
    // the pixels the page paints for a view, uint8 (101, 784): the digit, then the grid's cells; of the compared
    // model with second = true
    decodeView(z1, z2, span, second) {
      const ex = tabs.explore;
      return Array.from(ex.decodeView(z1, z2, span, second ? ex.compare.model : ex.model));
    },
    // where the latent point (z1, z2) is on a map, in client (viewport) pixels
    mapPoint: (z1, z2) => tabs.explore.panel.map.clientPoint(z1, z2),
    setPath: (a, b) => tabs.explore.path.set(a, b),
    strip: () => (tabs.explore ? tabs.explore.path.strip : null), // the path's strip: {a, b, pixels}
    samples: () => (tabs.reconstruct ? tabs.reconstruct.samples : null), // the posterior's: {eps, z, pixels}
    // the Training tab: setSnapshot(k) shows snapshot k (negative: from the end), playTraining() plays to the end
    setSnapshot: (k) => (tabs.training ? tabs.training.setSnapshot(k) : null),
    playTraining: () => (tabs.training ? tabs.training.start() : false),
    pauseTraining: () => tabs.training && tabs.training.pause(),
    get training() {
      return tabs.training ? tabs.training.summary()
        : { ready: false, opened: false, count: 0, snapshot: null, position: null, playing: false, path: null,
            view: null };
    },
    trainingMapPoint: (z1, z2) => tabs.training.map.clientPoint(z1, z2),
    decodeTraining(z1, z2, span, k) {
      const tr = tabs.training, i = k < 0 ? k + tr.replay.count : k;
      return Array.from(tr.decodeView(z1, z2, span, i).pixels);
    },
    // the Train tab: its state (state, step, epoch, beta, running means, test figures, points on the map, message)
    get live() { return tabs.train ? tabs.train.summary() : null; },
    readSafetensors, // a safetensors file's tensors as this page reads them (F16 widened, I8, I32)
  },
};
