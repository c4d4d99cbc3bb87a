// The Training tab replays how the latent space formed. webapp/replay.py's bundle holds the snapshots the trainer took
// at log-spaced moments (vae/snapshots.py): each one's decoder weights, the posterior means of 2,000 fixed test
// digits, its step and its -ELBO; core/bundles.js gives each snapshot a decoder and a cell cache of its own, so any
// snapshot's grid is decoded here and scrubbing back over a snapshot re-uses its cells. The tab's position is a real
// number in [0, snapshots - 1]: the map moves every digit's point between the two snapshots either side of it (eased,
// so the points come to rest at each snapshot); the grid, the digit and the curve's dots show the nearest snapshot,
// decoded when that changes. As in Explore, z has one owner, the tab's sliders: the map asks them, setView follows.

import { decodeCached, viewPoints } from "../core/cellcache.js";
import { AskedViews, askSliders, classesOf } from "../core/latent.js";
import { keep } from "../core/stats.js";
import { makeCells, onThemeChange, paintCells, unfollowTheme } from "../widgets/canvas.js";
import { ElboCurve } from "../widgets/elbo-curve.js";
import { LatentMap, listenToMap } from "../widgets/latent-map.js";
import { showStatus } from "../widgets/status.js";

const PLAY_SECONDS = 1.2; // per snapshot while playing
const SNAP_SPEED = 6; // snapshots per second: the glide to the nearest snapshot when the scrubber is let go
const CURVE_HEIGHT = 200; // CSS px of the -ELBO curve; its width is the grid's

export class TrainingTab {
  // element, props, trigger, watch: gr.HTML's; page: main.js's {config, loadReplay, stats, address, snap, clamp};
  // options: {digit_px, grid_px, map_px (CSS px), view: the tab's sliders' first {z1, z2, span}}. props:
  // replay_path (the replay bundle, "" when the model has none; the server changes it when the visitor picks another
  // model), replay_message (what the tab says instead), replay_error. Nothing is fetched before the tab is shown.
  constructor(element, props, trigger, watch, page, options) {
    const { config } = page;
    Object.assign(this, { element, props, trigger, page, sizes: options });
    this.path = null; // the replay shown or on its way ("": the model has none)
    this.replay = null; // once shown
    this.opened = false; // the tab has been shown
    this.pos = 0; // the position in [0, count - 1]
    this.target = null; this.speed = 0; this.tick = null; // a glide towards `target` at `speed` snapshots/s
    this.playing = false; this.raf = 0; this.painted = null;
    this.view = { ...options.view };
    this.asked = new AskedViews(); // views asked of the sliders, not yet back
    this.cells = makeCells(element, { digitPx: options.digit_px, gridPx: options.grid_px, side: config.side,
                                      grid: config.grid });
    this.mapCanvas = element.querySelector("canvas.vae-map");
    this.map = null; this.curve = null; this.mixed = null;
    this.scrub = element.querySelector(".vae-scrub");
    this.play = element.querySelector(".vae-play");
    this.when = element.querySelector(".vae-train-when");
    this.listen();
    if (watch) { // another model: if the tab has been shown, its replay now; else when the tab is shown
      watch("replay_path", () => { if (this.opened) this.open(); });
      watch("replay_message", () => { if (this.opened) this.open(); });
    }
    onThemeChange(() => { this.painted = null; this.schedule(); });
    // Gradio mounts a tab's content when the tab is first shown, and hides it (no size) when another is chosen. The
    // tab's select event opens it (main.js's setTab); so does the element getting a size, for a tab chosen by
    // ?tab=training, which sends no select event.
    this.retired = false; // a newer mount of the tab took over (main.js)
    new ResizeObserver(() => { if (!this.retired && element.offsetWidth > 0) this.open(); }).observe(element);
    if (page.address.tab === "training") this.open();
  }

  listen() {
    this.play.addEventListener("click", () => (this.playing ? this.pause() : this.start()));
    // the scrubber: dragged, the points follow it between snapshots; let go, they glide to the nearest snapshot
    this.scrub.addEventListener("input", () => {
      this.pause();
      this.pos = parseFloat(this.scrub.value);
      this.schedule();
    });
    this.scrub.addEventListener("change", () => this.glideTo(Math.round(this.pos), SNAP_SPEED));
    this.scrub.addEventListener("keydown", (e) => { // one snapshot per key, not the range's 0.01
      const k = Math.round(this.pos), last = this.replay ? this.replay.count - 1 : 0;
      const to = { ArrowLeft: k - 1, ArrowDown: k - 1, ArrowRight: k + 1, ArrowUp: k + 1, Home: 0, End: last }[e.key];
      if (to === undefined) return;
      e.preventDefault();
      this.setSnapshot(Math.max(0, Math.min(last, to)));
    });
    // click or drag on the map, or the arrow keys on it: z moves there, through the tab's sliders
    listenToMap(this.mapCanvas, { map: () => this.map, pick: (z1, z2) => askSliders(this, z1, z2),
                                  step: this.page.config.zStep, at: () => this.asked.latest(this.view) });
  }

  // Show the replay in props.replay_path (fetched now, once), or props.replay_message when there is none
  open() {
    this.opened = true;
    const path = this.props.replay_path || "", element = this.element;
    if (path && path === this.path) return; // shown already, or on its way
    this.pause();
    this.path = path;
    this.replay = null;
    element.querySelector(".vae-training").classList.remove("vae-train-ready");
    element.dataset.replay = path;
    if (!path) {
      element.dataset.state = "none";
      showStatus(element, this.props.replay_message || "This model has no training replay.", !!this.props.replay_error);
      return;
    }
    element.dataset.state = "loading";
    showStatus(element, "Loading the training replay…");
    this.page.loadReplay(path).then((replay) => {
      if (this.path === path && !this.retired) this.show(replay); // else another model was chosen meanwhile
    }).catch((error) => {
      if (this.path !== path) return;
      console.error(error);
      element.dataset.state = "error";
      showStatus(element, `The training replay could not be shown (${error.message}). The other tabs still work.`,
                 true);
    });
  }

  show(replay) {
    const { sizes } = this, { config } = this.page, last = replay.snapshots[replay.count - 1];
    if (this.map) unfollowTheme(this.map);
    if (this.curve) unfollowTheme(this.curve);
    // the axes fit the final snapshot's spread, as the server's replay GIF does (webapp/replay.py's map_limit)
    this.map = new LatentMap(this.mapCanvas, this.element.querySelector(".vae-legend"), {
      data: { mu: last.mu, labels: replay.labels }, size: sizes.map_px, limit: replay.limit, margin: config.margin,
      zLimit: config.zLimit, colours: config.colours, names: classesOf(replay, config).names, moving: true,
    });
    this.curve = new ElboCurve(this.element.querySelector("canvas.vae-curve"), replay.records, sizes.grid_px,
                               CURVE_HEIGHT);
    this.replay = replay;
    this.mixed = new Float32Array(2 * replay.labels.length);
    this.pos = Math.min(this.pos, replay.count - 1); // a new model: the same moment, if it has one
    this.scrub.max = String(replay.count - 1);
    this.painted = null;
    showStatus(this.element, "");
    this.element.querySelector(".vae-training").classList.add("vae-train-ready"); // page.css shows the body
    this.element.dataset.state = "ready";
    this.schedule();
  }

  showPlaying() {
    this.play.textContent = this.playing ? "❚❚ pause" : "▶ play";
    this.play.setAttribute("aria-label", this.playing ? "pause the replay" : "play the replay");
    this.element.dataset.playing = String(this.playing);
  }

  // Play from here (from the start when at the end) to the last snapshot, PLAY_SECONDS per snapshot
  start() {
    if (!this.replay) return false;
    const last = this.replay.count - 1;
    if (this.pos >= last) this.pos = 0;
    this.glideTo(last, 1 / PLAY_SECONDS);
    this.playing = true;
    this.showPlaying();
    return true;
  }

  retire() {
    this.retired = true;
    this.pause();
    cancelAnimationFrame(this.raf);
  }

  pause() {
    this.target = null;
    this.tick = null;
    if (this.playing) { this.playing = false; this.showPlaying(); }
  }

  glideTo(target, speed) {
    if (!this.replay) return;
    this.target = target; this.speed = speed; this.tick = null;
    this.schedule();
  }

  // Show snapshot k at once (negative: counted from the end) -> the snapshot shown, or null before the replay
  setSnapshot(k) {
    if (!this.replay) return null;
    const n = this.replay.count;
    k = Math.round(k);
    k = Math.max(0, Math.min(n - 1, k < 0 ? k + n : k));
    this.pause();
    this.pos = k;
    this.schedule();
    return k;
  }

  // A new view from the tab's sliders (app.py hands their values over): the only way the tab's z changes
  setView(z1, z2, span) {
    const v = this.view, { clamp } = this.page;
    if (Number.isFinite(z1)) v.z1 = clamp(z1);
    if (Number.isFinite(z2)) v.z2 = clamp(z2);
    if (Number.isFinite(span) && span > 0) v.span = span;
    this.asked.answer(v);
    this.schedule();
  }

  schedule() {
    if (!this.raf) this.raf = requestAnimationFrame((t) => this.paint(t));
  }

  // the pixels snapshot k's decoder gives for a view, as the tab paints them, uint8 (1 + grid^2, side^2)
  decodeView(z1, z2, span, k) {
    const grid = this.page.config.grid;
    return decodeCached(this.replay.snapshots[k].view, viewPoints(z1, z2, span, grid), 1 + grid * grid);
  }

  // the test digits' points at position pos: between snapshots i and i + 1, eased (smoothstep), so that while
  // playing they slow down into each snapshot and set off again
  mixLatents(pos) {
    const snaps = this.replay.snapshots, i = Math.min(Math.floor(pos), snaps.length - 1), u = pos - i;
    const a = snaps[i].mu;
    if (u <= 0 || i + 1 >= snaps.length) return a;
    const b = snaps[i + 1].mu, e = u * u * (3 - 2 * u), out = this.mixed;
    for (let j = 0; j < a.length; j++) out[j] = a[j] + e * (b[j] - a[j]);
    return out;
  }

  // Once per display frame while anything moves: the position's points on the map and the curve's marker; the
  // nearest snapshot's digit and grid when the snapshot or the view changed
  paint(frameStart) {
    this.raf = 0;
    if (!this.replay) return;
    if (this.target !== null) { // playing, or gliding to a snapshot
      const dt = this.tick === null ? 0 : Math.min(0.1, (frameStart - this.tick) / 1000); // a stall does not jump
      this.tick = frameStart;
      const gap = this.target - this.pos, step = this.speed * dt;
      this.pos = Math.abs(gap) <= step ? this.target : this.pos + Math.sign(gap) * step;
      if (this.pos === this.target) this.pause(); else this.schedule();
    }
    const v = this.view, pos = this.pos, k = Math.round(pos), p = this.painted, replay = this.replay;
    if (p && p.pos === pos && p.z1 === v.z1 && p.z2 === v.z2 && p.span === v.span) return;
    const t0 = performance.now();
    let decoded = null;
    if (!p || p.k !== k || p.z1 !== v.z1 || p.z2 !== v.z2 || p.span !== v.span) {
      const cells = this.decodeView(v.z1, v.z2, v.span, k);
      decoded = cells.decoded;
      paintCells(this.cells, cells.pixels);
      this.describe(k);
    }
    const t1 = performance.now();
    this.map.draw({ cloud: { mu: this.mixLatents(pos), labels: replay.labels }, point: [v.z1, v.z2], window: v.span });
    this.curve.draw(pos);
    if (this.scrub.value !== String(pos)) this.scrub.value = String(pos);
    this.painted = { pos, k, z1: v.z1, z2: v.z2, span: v.span };
    keep(this.page.stats.trainingFrames, { pos, k, z1: v.z1, z2: v.z2, span: v.span, frameStart,
                                           drawn: performance.now(), decodeMs: decoded === null ? null : t1 - t0,
                                           decoded });
  }

  // the line under the scrubber, the readouts and the canvases' labels for snapshot k
  describe(k) {
    const v = this.view, r = this.replay.records[k], { grid } = this.page.config;
    const { noun } = classesOf(this.replay, this.page.config);
    for (const el of this.element.querySelectorAll(".vae-noun")) el.textContent = noun; // the captions
    const elbo = (x) => (Number.isFinite(x) ? x.toFixed(1) : "–");
    this.when.textContent = `snapshot ${k + 1} of ${this.replay.count}: step ${r.step.toLocaleString("en")} (epoch ` +
      `${r.epoch.toFixed(2)}), −ELBO train ${elbo(r.train_elbo)}, test ${elbo(r.test_elbo)} nats`;
    const z = `(${v.z1.toFixed(2)}, ${v.z2.toFixed(2)})`;
    for (const el of this.element.querySelectorAll(".vae-train-z")) el.textContent = `z = ${z}`;
    for (const el of this.element.querySelectorAll(".vae-train-span")) el.textContent = v.span.toFixed(2);
    this.cells.digit.setAttribute("aria-label",
                                  `the ${noun} at z = ${z} decoded by snapshot ${k + 1} (step ${r.step})`);
    this.cells.grid.setAttribute("aria-label", `${grid} by ${grid} grid around z = ${z}, span ${v.span.toFixed(2)}, ` +
                                               `decoded by snapshot ${k + 1} (step ${r.step})`);
  }

  // for tests and bench (through debug): the tab's state
  summary() {
    const replay = this.replay;
    return { ready: !!replay, opened: this.opened, count: replay ? replay.count : 0,
             snapshot: replay ? Math.round(this.pos) : null, position: this.pos, playing: this.playing,
             path: this.path, view: { ...this.view } };
  }
}
