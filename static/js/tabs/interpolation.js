// The Explore tab's path from A to B: PATH_STEPS digits decoded along it for the strip (t = linspace(0, 1, steps),
// as the server's /interpolate), and an animation playing along it, PATH_FRAMES frames a loop, decoded as it plays.
// Shift-click on the map sets B with A the current z; the "A = z" and "B = z" buttons (app.py) set either end to the
// current z, by touch and keyboard: the path appears once both ends are set and differ.

import { pathPoints } from "../core/cellcache.js";
import { keep } from "../core/stats.js";
import { greyToCanvas, setupCanvas } from "../widgets/canvas.js";

const PATH_STEPS = 10, PATH_FRAMES = 90;
const STRIP_CELL = 56, MOVIE_PX = 112; // CSS px of a strip's digit and of the moving digit

export class Interpolation {
  // element: the Explore tab's; page: main.js's {config, stats}; the tab, known only through callbacks: currentZ() ->
  // [z1, z2], currentModel() -> the page model shown (null until one has loaded), drawMap() repaints the main map
  // (whose overlay takes overlay(), the frame playing included), changed(): the path changed (the tab repaints, and
  // its address takes the ends once the view settles)
  constructor(element, page, { currentZ, currentModel, drawMap, changed }) {
    Object.assign(this, { element, page, currentZ, currentModel, drawMap, changed });
    this.path = null; // {a, b, at, frame, raf}
    this.strip = null; // {a, b, pixels}: the strip's decoded digits (for tests, through debug)
    this.marked = { a: null, b: null }; // ends set by the buttons before the path has both
    const clear = element.querySelector(".vae-path-clear");
    if (clear) clear.addEventListener("click", () => this.set(null));
  }

  ends() { return this.path ? { a: this.path.a, b: this.path.b } : null; }

  overlay() { return this.path && { a: this.path.a, b: this.path.b, at: this.path.at }; }

  // one end ("a" or "b") at the current z; the path once both ends are set and differ
  setEnd(end) {
    const z = this.currentZ();
    const ends = { ...(this.path ? { a: this.path.a, b: this.path.b } : this.marked), [end]: z };
    const { a, b } = ends, note = this.element.querySelector(".vae-path-marked");
    if (a && b && (a[0] !== b[0] || a[1] !== b[1])) {
      this.set(a, b);
    } else {
      this.marked = ends;
      const other = end === "a" ? "B" : "A";
      if (note) note.textContent = `${end.toUpperCase()} = (${z[0].toFixed(2)}, ${z[1].toFixed(2)}); move z and ` +
                                   `press ${other} = z.`;
    }
  }

  // the path from a to b ([z1, z2] each), or none (a or b null)
  set(a, b) {
    const root = this.element, model = this.currentModel(), side = this.page.config.side;
    cancelAnimationFrame(this.path?.raf || 0);
    this.path = a && b ? { a, b, at: null, frame: 0, raf: 0 } : null;
    this.strip = null;
    this.marked = { a: null, b: null };
    const note = root.querySelector(".vae-path-marked");
    if (note) note.textContent = "";
    const box = root.querySelector(".vae-path");
    if (box) box.classList.toggle("vae-path-on", !!this.path);
    if (this.path && model) {
      const strip = root.querySelector("canvas.vae-strip"), movie = root.querySelector("canvas.vae-movie");
      root.querySelector(".vae-path-ends").textContent =
        `A = (${a[0].toFixed(2)}, ${a[1].toFixed(2)}) → B = (${b[0].toFixed(2)}, ${b[1].toFixed(2)})`;
      const pixels = model.decoder.decode(pathPoints(a, b, PATH_STEPS), PATH_STEPS).slice();
      const ctx = setupCanvas(strip, PATH_STEPS * STRIP_CELL, STRIP_CELL), tile = document.createElement("canvas");
      tile.width = tile.height = side;
      for (let i = 0; i < PATH_STEPS; i++) {
        greyToCanvas(pixels, i * side * side, side, side, tile);
        ctx.drawImage(tile, i * strip.width / PATH_STEPS, 0, strip.width / PATH_STEPS, strip.height);
      }
      this.strip = { a, b, pixels: Array.from(pixels) };
      const download = root.querySelector(".vae-strip-png");
      if (download) download.href = strip.toDataURL("image/png");
      this.path.movieCtx = setupCanvas(movie, MOVIE_PX, MOVIE_PX);
      this.path.tile = tile;
      this.path.raf = requestAnimationFrame((t) => this.play(t));
    }
    this.changed();
  }

  play(time) {
    const path = this.path, model = this.currentModel(), side = this.page.config.side;
    if (!path || !model) return;
    const t = (path.frame % PATH_FRAMES) / (PATH_FRAMES - 1);
    path.at = [(1 - t) * path.a[0] + t * path.b[0], (1 - t) * path.a[1] + t * path.b[1]];
    const pixels = model.decoder.decode(new Float32Array(path.at), 1);
    greyToCanvas(pixels, 0, side, side, path.tile);
    path.movieCtx.drawImage(path.tile, 0, 0, path.movieCtx.canvas.width, path.movieCtx.canvas.height);
    this.drawMap();
    keep(this.page.stats.pathFrames, time);
    path.frame++;
    path.raf = requestAnimationFrame((t) => this.play(t));
  }
}
