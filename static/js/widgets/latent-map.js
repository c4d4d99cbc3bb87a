// The latent map: the test digits' latent means coloured by class, the axes, and the overlays a tab asks for (z, the
// grid's window, the prior, the aggregate posterior q(z) with its holes, a path, a posterior's ellipse and samples).
// It takes its data and options as arguments and knows no tab.

import { classesOf, mapTransform } from "../core/latent.js";
import { MARK, followTheme, setupCanvas, themeColours } from "./canvas.js";

// q(z)'s shade (rgb, the most opaque alpha) under the points, and the holes' hatching: lines in the ink's colour,
// HATCH_WIDTH of every HATCH_PERIOD CSS px along the diagonal (static/page.css's legend swatches draw the same), from
// HATCH_ALPHA's first opacity where the prior has next to no mass to its second at the origin: the holes that hold
// the prior's mass stand out, not the plane's far corners
const SHADE = { light: [40, 60, 130], dark: [150, 180, 255], alpha: 0.4 };
const HATCH_PERIOD = 6, HATCH_WIDTH = 1.5, HATCH_ALPHA = [0.3, 0.8];

// A map's pointer and keys, for a tab: a click or drag calls pick(z1, z2) with the z under the pointer (map(): the
// LatentMap shown now, or null), a shift-click shiftPick(z1, z2) when given; with `step`, the canvas takes focus and
// the arrow keys call pick with at()'s {z1, z2} moved by one step (Shift: ten)
export function listenToMap(canvas, { map, pick, shiftPick = null, step = null, at = null }) {
  let dragging = false;
  const moveTo = (event) => pick(...map().eventLatent(event));
  canvas.addEventListener("pointerdown", (e) => {
    if (!map()) return;
    if (e.shiftKey && shiftPick) { shiftPick(...map().eventLatent(e)); return; }
    dragging = true; canvas.setPointerCapture(e.pointerId); moveTo(e);
  });
  canvas.addEventListener("pointermove", (e) => { if (dragging && map()) moveTo(e); });
  canvas.addEventListener("pointerup", () => { dragging = false; });
  canvas.addEventListener("pointercancel", () => { dragging = false; });
  if (!step) return;
  canvas.tabIndex = 0;
  canvas.addEventListener("keydown", (e) => {
    const d = (e.shiftKey ? 10 : 1) * step, { z1, z2 } = at();
    const moves = { ArrowLeft: [-d, 0], ArrowRight: [d, 0], ArrowUp: [0, d], ArrowDown: [0, -d] };
    if (!moves[e.key]) return;
    e.preventDefault();
    pick(z1 + moves[e.key][0], z2 + moves[e.key][1]);
  });
}

export class LatentMap {
  // canvas, legend (an element for the colour key, or null); options: {data: {mu (N * 2), labels (N,)} or null,
  // size (CSS px), limit (the axes' half-width), margin ({left, right, top, bottom} CSS px), zLimit (the sliders'
  // range, outlined), colours (one per class), names (the classes' names), moving (true: `data` only sizes the
  // axes; the points come with each draw, as overlay.cloud)}
  constructor(canvas, legend, { data, size, limit, margin, zLimit, colours, names, moving = false }) {
    Object.assign(this, { canvas, data, moving, cssSize: size, limit, margin, zLimit, classColours: colours });
    Object.assign(this, mapTransform(size, limit, margin));
    this.ctx = setupCanvas(canvas, size, size);
    this.dpr = canvas.width / size;
    this.restyle();
    followTheme(this);
    if (legend) {
      legend.replaceChildren(...colours.map((colour, i) => {
        const key = Object.assign(document.createElement("span"), { className: "vae-key" });
        const swatch = document.createElement("i");
        swatch.style.background = colour;
        key.append(swatch, names[i]);
        return key;
      }));
    }
  }

  restyle() {
    this.colours = themeColours(this.canvas);
    this.base = this.drawBase();
    this.aggregateBase = null; // drawn again, in the new colours, when next asked for
  }

  // where a pointer event is on the map, in latent coordinates (CSS may have shrunk the canvas)
  eventLatent(event) {
    const r = this.canvas.getBoundingClientRect(), scale = this.cssSize / r.width;
    return this.toLatent((event.clientX - r.left) * scale, (event.clientY - r.top) * scale);
  }

  // the map's background, points and axes; with `aggregate` (core/aggregate.js's aggregateView), q(z) shaded and its
  // holes hatched between the background and the points
  drawBase(aggregate = null) {
    const base = document.createElement("canvas");
    base.width = this.canvas.width;
    base.height = this.canvas.height;
    const ctx = base.getContext("2d");
    ctx.scale(this.dpr, this.dpr);
    const s = this.cssSize, L = this.limit, Z = this.zLimit;
    const { background, ink, dark } = this.colours;
    ctx.fillStyle = background;
    ctx.fillRect(0, 0, s, s);
    const [x0, y0] = this.toPixel(-L, L), [x1, y1] = this.toPixel(L, -L);
    ctx.save();
    ctx.beginPath(); ctx.rect(x0, y0, x1 - x0, y1 - y0); ctx.clip();
    if (aggregate) ctx.drawImage(this.aggregateLayer(aggregate, x1 - x0, y1 - y0), x0, y0, x1 - x0, y1 - y0);
    if (this.data && !this.moving) this.drawPoints(ctx, this.data);
    // the sliders' range
    const [r0, q0] = this.toPixel(-Z, Z), [r1, q1] = this.toPixel(Z, -Z);
    ctx.strokeStyle = dark ? "rgba(255,255,255,0.3)" : "rgba(0,0,0,0.25)"; ctx.setLineDash([2, 3]); ctx.lineWidth = 1;
    ctx.strokeRect(r0, q0, r1 - r0, q1 - q0);
    ctx.restore();
    ctx.setLineDash([]);
    ctx.strokeStyle = ink; ctx.lineWidth = 1;
    ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
    ctx.fillStyle = ink; ctx.font = "11px sans-serif";
    for (let t = -Math.floor(L); t <= L; t++) {
      const [px] = this.toPixel(t, 0), [, py] = this.toPixel(0, t);
      ctx.beginPath();
      ctx.moveTo(px, y1); ctx.lineTo(px, y1 + 4); // tick on the z1 axis
      ctx.moveTo(x0 - 4, py); ctx.lineTo(x0, py); // tick on the z2 axis
      ctx.stroke();
      ctx.textAlign = "center"; ctx.textBaseline = "top"; ctx.fillText(String(t), px, y1 + 5);
      ctx.textAlign = "right"; ctx.textBaseline = "middle"; ctx.fillText(String(t), x0 - 6, py);
    }
    ctx.textAlign = "center"; ctx.textBaseline = "bottom"; ctx.fillText("z1", (x0 + x1) / 2, s - 1);
    ctx.save(); ctx.translate(10, (y0 + y1) / 2); ctx.rotate(-Math.PI / 2);
    ctx.textBaseline = "middle"; ctx.fillText("z2", 0, 0); ctx.restore();
    if (!this.data) {
      ctx.fillStyle = ink; ctx.textAlign = "center";
      ctx.fillText("no latents.safetensors beside the weights", (x0 + x1) / 2, (y0 + y1) / 2);
    }
    return base;
  }

  // aggregateView's {cells, level, holes, prior} as an image of the plot area (w x h CSS px) at the canvas's
  // resolution: each pixel takes its cell's shade, or in a hole the hatching's colour on the hatching's lines
  aggregateLayer({ cells, level, holes, prior }, w, h) {
    const dpr = this.dpr, width = Math.round(w * dpr), height = Math.round(h * dpr);
    const layer = Object.assign(document.createElement("canvas"), { width, height });
    const image = layer.getContext("2d").createImageData(width, height), px = image.data;
    const dark = this.colours.dark, [sr, sg, sb] = dark ? SHADE.dark : SHADE.light, hatch = dark ? 255 : 0;
    const period = HATCH_PERIOD * dpr, line = HATCH_WIDTH * dpr, [faint, strong] = HATCH_ALPHA;
    for (let y = 0; y < height; y++) {
      const row = (cells - 1 - Math.floor((y * cells) / height)) * cells; // z2 upwards
      for (let x = 0; x < width; x++) {
        const k = row + Math.floor((x * cells) / width), o = 4 * (y * width + x);
        if (holes[k] && (x + y) % period < line) {
          px[o] = px[o + 1] = px[o + 2] = hatch; px[o + 3] = 255 * (faint + (strong - faint) * prior[k]);
        } else if (level[k] > 0) {
          px[o] = sr; px[o + 1] = sg; px[o + 2] = sb; px[o + 3] = 255 * SHADE.alpha * level[k];
        }
      }
    }
    layer.getContext("2d").putImageData(image, 0, 0);
    return layer;
  }

  // each latent mean (mu: (N * 2), labels: (N,)) as a 2-px square in its class's colour
  drawPoints(ctx, { mu, labels }) {
    const colours = this.classColours;
    ctx.globalAlpha = 0.55;
    for (let i = 0; i < labels.length; i++) {
      const [px, py] = this.toPixel(mu[2 * i], mu[2 * i + 1]);
      ctx.fillStyle = colours[labels[i] % colours.length];
      ctx.fillRect(px - 1, py - 1, 2, 2);
    }
    ctx.globalAlpha = 1;
  }

  // overlay: {cloud: {mu, labels}, point: [z1, z2], window: span, prior, aggregate: aggregateView's {cells, level,
  // holes, prior} (q(z) under the points, its holes hatched, and the prior's circles), path: {a, b, at}, ellipse:
  // {mu, sigma}, samples: [[z1, z2], ...]}
  draw(overlay) {
    const ctx = this.ctx;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.drawImage(overlay.aggregate ? this.baseWith(overlay.aggregate) : this.base, 0, 0);
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    const m = this.margin, s = this.cssSize;
    ctx.save();
    ctx.beginPath(); ctx.rect(m.left, m.top, s - m.left - m.right, s - m.top - m.bottom); ctx.clip();
    if (overlay.cloud) this.drawPoints(ctx, overlay.cloud); // the replay's points, where they are this frame
    if (overlay.prior || overlay.aggregate) this.drawPrior(ctx);
    if (overlay.path) this.drawPath(ctx, overlay.path);
    if (overlay.window !== undefined && overlay.point) {
      const [z1, z2] = overlay.point, span = overlay.window;
      const [a, b] = this.toPixel(z1 - span, z2 + span), [c, d] = this.toPixel(z1 + span, z2 - span);
      ctx.fillStyle = this.colours.dark ? "rgba(255,255,255,0.08)" : "rgba(0,0,0,0.06)";
      ctx.fillRect(a, b, c - a, d - b);
      ctx.strokeStyle = this.colours.ink; ctx.lineWidth = 1.5; ctx.strokeRect(a, b, c - a, d - b);
    }
    if (overlay.ellipse) this.drawEllipse(ctx, overlay.ellipse);
    for (const [a, b] of overlay.samples || []) { // posterior samples z = mu + sigma * eps
      const [px, py] = this.toPixel(a, b);
      ctx.beginPath(); ctx.arc(px, py, 3, 0, 2 * Math.PI);
      ctx.fillStyle = "#6a0dad"; ctx.fill(); ctx.strokeStyle = "#fff"; ctx.lineWidth = 1; ctx.stroke();
    }
    if (overlay.point) {
      const [px, py] = this.toPixel(overlay.point[0], overlay.point[1]);
      ctx.beginPath(); ctx.arc(px, py, 5, 0, 2 * Math.PI);
      ctx.fillStyle = "#ffffff"; ctx.fill();
      ctx.lineWidth = 2.5; ctx.strokeStyle = "#000"; ctx.stroke();
      ctx.beginPath(); ctx.arc(px, py, 2, 0, 2 * Math.PI); ctx.fillStyle = MARK; ctx.fill();
    }
    ctx.restore();
  }

  // the base with q(z) under the points: drawn once per aggregateView and theme
  baseWith(aggregate) {
    if (!this.aggregateBase || this.aggregateBase.aggregate !== aggregate) {
      this.aggregateBase = { aggregate, base: this.drawBase(aggregate) };
    }
    return this.aggregateBase.base;
  }

  drawPrior(ctx) { // the prior N(0, I): circles of radius 1, 2, 3 around the origin
    const [ox, oy] = this.toPixel(0, 0), unit = this.toPixel(1, 0)[0] - ox;
    ctx.strokeStyle = "rgba(60, 60, 200, 0.7)"; ctx.lineWidth = 1.2; ctx.setLineDash([4, 3]);
    ctx.fillStyle = "rgba(60, 60, 200, 0.9)"; ctx.font = "10px sans-serif"; ctx.textAlign = "left";
    for (const r of [1, 2, 3]) {
      ctx.beginPath(); ctx.arc(ox, oy, r * unit, 0, 2 * Math.PI); ctx.stroke();
      ctx.fillText(`${r}σ`, ox + r * unit * Math.SQRT1_2 + 2, oy - r * unit * Math.SQRT1_2 - 2);
    }
    ctx.setLineDash([]);
  }

  drawPath(ctx, { a, b, at }) { // the interpolation: a straight line from A to B, and the frame playing now
    const [ax, ay] = this.toPixel(a[0], a[1]), [bx, by] = this.toPixel(b[0], b[1]);
    ctx.strokeStyle = "#6a0dad"; ctx.lineWidth = 2.5; ctx.setLineDash([]);
    ctx.beginPath(); ctx.moveTo(ax, ay); ctx.lineTo(bx, by); ctx.stroke();
    ctx.fillStyle = "#6a0dad"; ctx.font = "bold 12px sans-serif"; ctx.textAlign = "center";
    for (const [x, y, name] of [[ax, ay, "A"], [bx, by, "B"]]) {
      ctx.beginPath(); ctx.arc(x, y, 4, 0, 2 * Math.PI); ctx.fill(); ctx.fillText(name, x, y - 8);
    }
    if (at) {
      const [px, py] = this.toPixel(at[0], at[1]);
      ctx.beginPath(); ctx.arc(px, py, 4, 0, 2 * Math.PI); ctx.strokeStyle = "#fff"; ctx.lineWidth = 2; ctx.stroke();
    }
  }

  drawEllipse(ctx, { mu, sigma }) { // the posterior: 1-sigma ellipse to scale, then mu as a crosshair on top of it
    const [cx, cy] = this.toPixel(mu[0], mu[1]);
    const [ex] = this.toPixel(mu[0] + sigma[0], 0), [, ey] = this.toPixel(0, mu[1] + sigma[1]);
    const [ox] = this.toPixel(mu[0], 0), [, oy] = this.toPixel(0, mu[1]);
    ctx.beginPath();
    ctx.ellipse(cx, cy, Math.max(1, Math.abs(ex - ox)), Math.max(1, Math.abs(oy - ey)), 0, 0, 2 * Math.PI);
    ctx.fillStyle = "rgba(255,140,0,0.35)"; ctx.fill();
    ctx.strokeStyle = MARK; ctx.lineWidth = 2; ctx.stroke();
    ctx.strokeStyle = "#000"; ctx.lineWidth = 1.5;
    ctx.beginPath();
    for (const [dx, dy] of [[1, 0], [-1, 0], [0, 1], [0, -1]]) {
      ctx.moveTo(cx + 3 * dx, cy + 3 * dy); ctx.lineTo(cx + 9 * dx, cy + 9 * dy);
    }
    ctx.stroke();
  }

  // where the latent point (z1, z2) is on the screen, in client (viewport) pixels (tests use it through debug)
  clientPoint(z1, z2) {
    const r = this.canvas.getBoundingClientRect(), scale = r.width / this.cssSize, [x, y] = this.toPixel(z1, z2);
    return { x: r.left + x * scale, y: r.top + y * scale };
  }
}

// A map in `root` (.vae-map, .vae-legend) of `size` CSS px for a loaded page model (core/bundles.js), on the page's
// config (main.js's: margin, zLimit, colours and the class names when the bundle has none)
export function modelMap(root, model, config, size) {
  return new LatentMap(root.querySelector("canvas.vae-map"), root.querySelector(".vae-legend"), {
    data: model.latents, size, limit: model.limit, margin: config.margin, zLimit: config.zLimit,
    colours: config.colours, names: classesOf(model, config).names,
  });
}
