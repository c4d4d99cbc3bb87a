// The Train tab: a VAE trains in the visitor's browser while they watch. The server writes the chosen model's
// training program and initial weights (webapp/live_training.py); a Web Worker (train-worker.js) fetches them and
// the training images and trains (core/trainer.js), posting at display rate the running losses, the test figures,
// the 2,000 test images' posterior means and the digit and grid at z decoded by the current weights; this tab paints
// them. beta moves while it trains. A failing worker shows its message here and touches no other tab. The weights
// trained so far leave the worker for Download model, and for the server (sendModel: Explore this model, Publish).
//
// z has one owner, the tab's view: the sliders, a click or drag on the map and the arrow keys ask it to change; the
// worker decodes what it says.

import { appURL } from "../widgets/address.js";
import { makeCells, onThemeChange, paintCells, unfollowTheme } from "../widgets/canvas.js";
import { LatentMap, listenToMap } from "../widgets/latent-map.js";
import { LossCurve } from "../widgets/loss-curve.js";
import { showStatus } from "../widgets/status.js";

// the map's axes: [-4, 4] (the prior's 4 sigma) at first, widened to the next when 2% of the points lie beyond (a low
// beta spreads them); never narrowed during a run, so the picture does not jump back and forth
const MAP_LIMITS = [4, 6, 10, 16];
const CURVE_HEIGHT = 200;

// a range filled up to its thumb, as Gradio's sliders are (static/train-tab.html draws --range_progress)
function fillTrack(range) {
  const min = Number(range.min), max = Number(range.max);
  range.style.setProperty("--range_progress", `${(100 * (Number(range.value) - min)) / (max - min)}%`);
}

const fmt = (v, digits = 1) => (Number.isFinite(v) ? v.toFixed(digits) : "–");

export class TrainTab {
  // element, trigger: gr.HTML's; server: its server functions (training_program); page: main.js's shared page;
  // options: {digit_px, grid_px, map_px, view, live: webapp/live_training.py's LiveTraining.options(), upload:
  // gr.HTML's upload function}; the tab's markup (static/train-tab.html) is in element
  constructor(element, server, page, options) {
    const { config } = page;
    Object.assign(this, { element, server, page, sizes: options, live: options.live, upload: options.upload });
    this.weightsWanted = []; // [resolve, reject] of each requestWeights() the worker has not answered yet
    this.view = { ...options.view };
    this.q = (name) => element.querySelector(`.vae-lab-${name}`);
    this.cells = makeCells(element, { digitPx: options.digit_px, gridPx: options.grid_px, side: config.side,
                                      grid: config.grid });
    this.mapCanvas = element.querySelector("canvas.vae-map");
    this.curve = new LossCurve(this.q("curve"), options.grid_px, CURVE_HEIGHT);
    this.map = null;
    this.worker = null;
    this.state = "idle"; // idle | loading | paused | running | stopped | failed
    this.seed = 0;
    this.latestRunning = null; // the curve's last running means {step, bce, kl}
    this.latest = null; // the last progress: {step, epoch, imagesPerSecond, lr, beta, running, test, exact}
    this.data = { from: null, kept: false }; // the run's training data: read from "network" or the "kept copy"; kept
    this.means = null; this.labels = null; this.pixels = null;
    this.frames = 0; this.raf = 0;
    this.fillControls();
    this.fillSliders(config);
    this.listen();
    onThemeChange(() => this.schedule());
    this.showState();
    this.paint();
  }

  fillControls() {
    const live = this.live, option = (value, text) => Object.assign(document.createElement("option"),
                                                                      { value: String(value), textContent: text });
    this.q("dataset").replaceChildren(...live.datasets.map((d) => option(d.name, d.title)));
    this.q("preset").replaceChildren(...live.presets.map((p) => option(p.name, p.label)), option("", "custom"));
    this.q("model").replaceChildren(...live.models.map((m) => option(m.key, m.label)));
    this.q("lr").replaceChildren(...live.learning_rates.map((lr) => option(lr, String(lr))));
    this.q("batch").replaceChildren(...live.batch_sizes.map((b) => option(b, String(b))));
    this.applyPreset("quick");
  }

  // z1, z2 and the span: the Explore tab's ranges and step (page_constants), the view's values; min and max before
  // the value, which the range would otherwise clamp
  fillSliders(config) {
    const slider = (name, min, max, value) => Object.assign(this.q(name), { min: String(min), max: String(max),
                                                                           step: String(config.zStep),
                                                                           value: String(value) });
    slider("z1", -config.zLimit, config.zLimit, this.view.z1);
    slider("z2", -config.zLimit, config.zLimit, this.view.z2);
    slider("span", config.spanMin, config.spanLimit, this.view.span);
    this.setView();
  }

  // a preset's model, learning rate, batch size, epochs and beta into the controls
  applyPreset(name) {
    const p = this.live.presets.find((x) => x.name === name);
    if (!p) return;
    this.q("preset").value = name;
    this.q("model").value = p.model;
    this.q("lr").value = String(p.lr);
    this.q("batch").value = String(p.batch_size);
    this.q("epochs").value = String(p.epochs);
    this.setBeta(p.beta);
  }

  // the settings of a new run, TrainConfig's names (core/trainer.js)
  settings() {
    const preset = this.live.presets.find((p) => p.name === this.q("preset").value) || this.live.presets[0];
    return { batch_size: Number(this.q("batch").value), lr: Number(this.q("lr").value),
             epochs: Math.max(1, Math.round(Number(this.q("epochs").value) || 1)), schedule: preset.schedule,
             warmup: preset.warmup, weight_decay: preset.weight_decay, beta: this.beta(), seed: this.seed };
  }

  beta() { return 10 ** Number(this.q("beta").value); }

  setBeta(beta) {
    this.q("beta").value = String(Math.log10(beta));
    this.betaChanged();
  }

  betaChanged() {
    const beta = this.beta();
    this.q("beta-value").textContent = beta.toFixed(2);
    fillTrack(this.q("beta"));
    if (this.worker) this.worker.postMessage({ type: "beta", beta });
    this.explain();
  }

  listen() {
    const on = (name, event, f) => this.q(name).addEventListener(event, f);
    on("preset", "change", () => { this.applyPreset(this.q("preset").value); this.settingsChanged(); });
    for (const name of ["model", "lr", "batch", "epochs", "dataset"]) {
      on(name, "change", () => { this.q("preset").value = ""; this.settingsChanged(); });
    }
    on("beta", "input", () => this.betaChanged());
    on("train", "click", () => this.train());
    on("pause", "click", () => this.pause());
    on("step", "click", () => this.step());
    on("reset", "click", () => this.reset());
    on("download", "click", () => this.requestWeights().then((bytes) => this.download(bytes), () => {}));
    for (const name of ["z1", "z2", "span"]) on(name, "input", () => this.setView());
    listenToMap(this.mapCanvas, { map: () => this.map, pick: (z1, z2) => this.request(z1, z2),
                                  step: this.page.config.zStep, at: () => this.view });
  }

  // the model, learning rate and batch size apply to a new run; while one exists, say so
  settingsChanged() {
    if (this.worker && this.state !== "failed") {
      showStatus(this.element, "The new settings apply from the next run: press Reset, then Train.");
    }
  }

  // z moved by the map or a key: the sliders show it, then the view follows them
  request(z1, z2) {
    const { snap } = this.page;
    this.q("z1").value = String(snap(z1));
    this.q("z2").value = String(snap(z2));
    this.setView();
  }

  setView() {
    const v = this.view;
    v.z1 = Number(this.q("z1").value); v.z2 = Number(this.q("z2").value); v.span = Number(this.q("span").value);
    this.q("z").textContent = `z = (${v.z1.toFixed(2)}, ${v.z2.toFixed(2)})`;
    this.q("span-value").textContent = v.span.toFixed(2);
    for (const name of ["z1", "z2", "span"]) {
      this.q(`${name}-out`).textContent = v[name].toFixed(2);
      fillTrack(this.q(name));
    }
    this.postView();
    this.schedule();
  }

  postView() {
    if (this.worker) this.worker.postMessage({ type: "view", ...this.view, grid: this.page.config.grid });
  }

  // Train: a new run (the program and data fetched, the worker started), or on from a pause
  train() {
    if (this.state === "paused") this.run();
    else if (this.state === "idle") this.begin("run");
  }

  run() {
    this.state = "running";
    this.worker.postMessage({ type: "run" });
    this.showState();
  }

  pause() {
    if (this.state !== "running") return;
    this.state = "paused";
    this.worker.postMessage({ type: "pause" });
    this.showState();
  }

  step() {
    if (this.state === "idle") { this.begin("step"); return; }
    if (this.state === "running") this.pause();
    if (this.state === "paused") this.worker.postMessage({ type: "step" });
  }

  // A new run from the controls' settings: ask the server for the program, start the worker; then: "run" to train
  // on once it is ready, "step" for one step
  async begin(then) {
    this.state = "loading";
    this.showState();
    showStatus(this.element, "Fetching the model's initial weights and the training images…");
    let reply;
    try {
      reply = await this.server.training_program({ dataset: this.q("dataset").value, model: this.q("model").value,
                                                   seed: this.seed });
    } catch (error) {
      reply = { error: `the server did not answer (${error.message || error})` };
    }
    if (this.state !== "loading") return; // reset meanwhile
    if (reply.error) { this.fail(reply.error, "idle"); return; }
    this.config = reply.config;
    const worker = new Worker(new URL("../train-worker.js", import.meta.url), { type: "module" });
    this.worker = worker;
    this.data = { from: null, kept: false };
    worker.onerror = (event) => {
      event.preventDefault();
      if (worker === this.worker) this.fail(`The training worker failed (${event.message || "no message"}).`);
    };
    worker.onmessage = ({ data }) => { if (worker === this.worker) this.receive(data, then); };
    worker.postMessage({ type: "start", program: appURL(reply.program), data: appURL(reply.data),
                         settings: this.settings() });
    this.postView();
  }

  receive(message, then) {
    if (message.type === "ready") {
      this.labels = message.labels;
      this.names = message.classNames || this.page.config.names;
      this.makeMap(MAP_LIMITS[0]);
      this.backend = message.backend;
      this.totalSteps = message.totalSteps;
      this.data.from = message.dataFrom;
      showStatus(this.element, "");
      this.state = "paused";
      if (then === "run") this.run();
      else { this.showState(); this.worker.postMessage({ type: "step" }); }
    } else if (message.type === "progress") {
      const latest = (list, key) => (list.length ? list[list.length - 1] : this.latest && this.latest[key]);
      this.latest = { ...message, test: latest(message.tests, "test"), exact: latest(message.exact, "exact") };
      this.curve.add(message.losses, message.tests, message.exact);
      if (message.means) { this.means = message.means; this.fitMap(); }
      if (message.pixels) this.pixels = message.pixels;
      this.schedule();
    } else if (message.type === "stopped") {
      this.state = "stopped";
      this.stopped = message;
      showStatus(this.element, message.reason === "diverged" ? `${message.message}` : message.message,
                 message.reason === "diverged");
      this.showState();
    } else if (message.type === "kept") {
      this.data.kept = true;
    } else if (message.type === "weights") {
      const wanted = this.weightsWanted.shift();
      if (wanted) wanted[0](message.bytes);
    } else if (message.type === "error") {
      this.fail(`Training stopped: ${message.message}.`);
    }
  }

  makeMap(limit) {
    if (this.map) unfollowTheme(this.map);
    const { config } = this.page;
    this.map = new LatentMap(this.mapCanvas, this.element.querySelector(".vae-legend"), {
      data: { mu: new Float32Array(0), labels: [] }, size: this.sizes.map_px, limit, margin: config.margin,
      zLimit: config.zLimit, colours: config.colours, names: this.names, moving: true });
  }

  // a wider map when more than 2% of the points lie beyond its axes
  fitMap() {
    const mu = this.means, n = mu.length / 2, limit = this.map.limit;
    let beyond = 0;
    for (let i = 0; i < n; i++) if (Math.max(Math.abs(mu[2 * i]), Math.abs(mu[2 * i + 1])) > limit) beyond++;
    if (beyond <= 0.02 * n) return;
    const wider = MAP_LIMITS.find((l) => l > limit);
    if (wider) this.makeMap(wider);
  }

  // whether the run has weights to export (Download model, Explore this model, Publish)
  hasModel() {
    return !!(this.worker && ["paused", "running", "stopped"].includes(this.state));
  }

  // the worker's current weights -> Promise of model.safetensors bytes (rejected when there is no run)
  requestWeights() {
    if (!this.hasModel()) return Promise.reject(new Error("Train a model first: press Train"));
    return new Promise((resolve, reject) => {
      this.weightsWanted.push([resolve, reject]);
      this.worker.postMessage({ type: "weights" });
    });
  }

  // the config.json VAE.from_pretrained reads with the weights (beta: the KL weight training ends with)
  modelConfig() {
    return { ...this.config, beta: Number(this.beta().toFixed(4)) };
  }

  // Explore this model and Publish (webapp/train_tab.py's TrainUI): the current weights to Gradio's upload route ->
  // {path, config: config.json's text} for the button's server event, which checks them as /upload_model does; or
  // {error} saying why nothing was sent
  async sendModel() {
    try {
      const bytes = await this.requestWeights();
      const file = new File([bytes], "model.safetensors", { type: "application/octet-stream" });
      const { path } = await this.upload(file);
      return { path, config: JSON.stringify(this.modelConfig()) };
    } catch (error) {
      return { error: `${error.message || error}.` };
    }
  }

  // Download model: the worker's weights as model.safetensors beside its config.json
  download(bytes) {
    const config = this.modelConfig();
    const files = [["model.safetensors", new Blob([bytes], { type: "application/octet-stream" })],
                   ["config.json", new Blob([JSON.stringify(config, null, 2) + "\n"], { type: "application/json" })]];
    for (const [name, blob] of files) {
      const link = Object.assign(document.createElement("a"), { href: URL.createObjectURL(blob), download: name });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
    }
  }

  // something went wrong: say so here (the other tabs go on), and offer Reset
  fail(message, state = "failed") {
    showStatus(this.element, `${message} The other tabs still work; press Reset to start again.`, true);
    if (state === "idle") { this.stopWorker(); this.state = "idle"; } else this.state = state;
    this.dropWeightRequests(message);
    this.showState();
  }

  stopWorker() {
    if (this.worker) this.worker.terminate();
    this.worker = null;
    this.dropWeightRequests("the run was reset");
  }

  // the worker will not answer: requestWeights() calls waiting on it fail with `reason`
  dropWeightRequests(reason) {
    for (const [, reject] of this.weightsWanted.splice(0)) reject(new Error(reason));
  }

  // Reset: the run is dropped; the next Train starts from new initial weights and a new seed
  reset() {
    this.stopWorker();
    this.seed = 1 + Math.floor(Math.random() * 1e6);
    Object.assign(this, { state: "idle", latest: null, latestRunning: null, means: null, pixels: null,
                          stopped: null, data: { from: null, kept: false } });
    this.curve.clear();
    showStatus(this.element, `Reset: the next run starts from new initial weights (seed ${this.seed}).`);
    this.showState();
    this.schedule();
  }

  showState() {
    const s = this.state;
    this.element.dataset.state = s;
    this.q("train").disabled = !(s === "idle" || s === "paused");
    this.q("pause").disabled = s !== "running";
    this.q("step").disabled = !(s === "idle" || s === "paused" || s === "running");
    this.q("download").disabled = !this.hasModel();
    this.schedule();
  }

  // the sentences beside the curve, with the live numbers
  explain() {
    const r = this.latestRunning, beta = this.beta();
    const kl = r ? `${fmt(r.kl, 2)} nats` : "KL", bce = r ? `${fmt(r.bce, 1)} nats` : "BCE";
    this.q("explain").textContent =
      `β = ${beta.toFixed(2)} prices each nat of KL at ${beta.toFixed(2)} nats of loss. KL (now ${kl}) is how much ` +
      `z says about each image beyond the prior; BCE (now ${bce}) is what the decoder still gets wrong. Raise β and ` +
      "KL falls: the points crowd into the prior's circles and the images blur; lower it and BCE falls as the " +
      "classes spread apart, leaving gaps between them.";
  }

  schedule() {
    if (!this.raf) this.raf = requestAnimationFrame(() => this.paint());
  }

  paint() {
    this.raf = 0;
    const v = this.view, p = this.latest;
    if (this.map) {
      const cloud = this.means && this.labels ? { mu: this.means, labels: this.labels } : null;
      this.map.draw({ cloud, prior: true, point: [v.z1, v.z2], window: v.span });
    }
    if (this.pixels) paintCells(this.cells, this.pixels);
    this.curve.draw();
    if (p) {
      const last = this.curve.train[this.curve.train.length - 1];
      this.latestRunning = last;
      const t = p.test, test = t ? `; test −ELBO ${fmt(t.elbo)} (BCE ${fmt(t.bce)} + KL ${fmt(t.kl, 2)})` : "";
      // the exact figure's own -ELBO, of the same images: the gap is the weights', not the two samples'
      const e = p.exact, exact = e ? `. At step ${e.step.toLocaleString("en")}, ${e.images} test images: exact ` +
        `−log p(x) ${fmt(e.exact)} nats, ${fmt(e.elbo - e.exact, 2)} under their −ELBO ${fmt(e.elbo)}: the gap ` +
        "a better q(z|x) could close" : "";
      // while the training images still arrive, batches come from those in place (core/trainer.js)
      const arriving = p.arrived < p.n ? ` (${p.arrived.toLocaleString("en")} of ${p.n.toLocaleString("en")} ` +
        "training images arrived)" : "";
      this.q("readout").textContent = `step ${p.step.toLocaleString("en")} · epoch ${fmt(p.epoch, 2)}${arriving} · ` +
        `${Math.round(p.imagesPerSecond).toLocaleString("en")} images/s · learning rate ${p.lr.toExponential(2)} · ` +
        `β ${fmt(p.beta, 2)} · running −ELBO ${last ? fmt(last.bce + last.kl) : "–"} nats${test}` +
        (this.backend ? ` · ${this.backend}` : "") + exact;
    }
    this.explain();
    this.frames += 1;
  }

  // for tests (through debug): the tab's state
  summary() {
    const p = this.latest, last = this.curve.train[this.curve.train.length - 1] || null;
    // workerRunning: what the worker's latest message says (after Pause, false once its last slice has reported)
    return { state: this.state, workerRunning: p ? p.running : false, seed: this.seed, step: p ? p.step : 0,
             epoch: p ? p.epoch : 0, beta: this.beta(), arrived: p ? p.arrived : 0, n: p ? p.n : 0,
             imagesPerSecond: p ? p.imagesPerSecond : 0, running: last, tests: this.curve.tests.slice(),
             exact: p ? p.exact : null, exacts: this.curve.exact.slice(),
             points: this.means ? this.means.length / 2 : 0, dataFrom: this.data.from, dataKept: this.data.kept,
             meansFinite: this.means ? this.means.every(Number.isFinite) : null, pixels: this.pixels !== null,
             message: this.element.querySelector(".vae-status").textContent, frames: this.frames };
  }
}
