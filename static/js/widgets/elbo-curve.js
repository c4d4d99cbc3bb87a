// The training replay's -ELBO curve: every snapshot's train and test -ELBO against its step, on a log axis, in the
// page's theme. It takes the snapshots' records and knows no tab.

import { drawAxes } from "./axes.js";
import { followTheme, setupCanvas, themeColours } from "./canvas.js";

const CURVE_COLOURS = { train: "#1f77b4", test: "#d62728" }; // the caption's key in page.css uses the same

// 1, 2 or 5 times a power of ten, at least `raw`: the spacing of an axis's ticks
function niceStep(raw) {
  const p = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw);
}

// The -ELBO curve: every snapshot's train and test -ELBO against its step, on a log axis (log10(1 + step), so
// step 0 has a place), in the page's theme; draw(pos) adds a line at the position and rings the nearest snapshot
export class ElboCurve {
  constructor(canvas, records, cssWidth, cssHeight) {
    this.canvas = canvas;
    this.records = records;
    this.cssWidth = cssWidth;
    this.cssHeight = cssHeight;
    this.margin = { left: 48, right: 12, top: 10, bottom: 32 };
    this.ctx = setupCanvas(canvas, cssWidth, cssHeight);
    this.dpr = canvas.width / cssWidth;
    const values = records.flatMap((r) => [r.train_elbo, r.test_elbo]).filter(Number.isFinite);
    let lo = values.length ? Math.min(...values) : 0, hi = values.length ? Math.max(...values) : 1;
    if (hi - lo < 1e-6) { lo -= 1; hi += 1; }
    this.yStep = niceStep((hi - lo) / 4);
    this.yLow = Math.floor(lo / this.yStep) * this.yStep;
    this.yHigh = Math.ceil(hi / this.yStep) * this.yStep;
    this.xHigh = Math.log10(1 + Math.max(10, records[records.length - 1].step));
    this.restyle();
    followTheme(this);
  }

  toX(step) {
    const m = this.margin;
    return m.left + (Math.log10(1 + step) / this.xHigh) * (this.cssWidth - m.left - m.right);
  }

  toY(value) {
    const m = this.margin, h = this.cssHeight - m.top - m.bottom;
    return m.top + ((this.yHigh - value) / (this.yHigh - this.yLow)) * h;
  }

  // where position `pos` lies on the step axis: between its two snapshots, in proportion on the log axis
  posX(pos) {
    const n = this.records.length, i = Math.min(Math.floor(pos), n - 1), u = pos - i;
    const x = this.toX(this.records[i].step);
    return i + 1 < n ? x + u * (this.toX(this.records[i + 1].step) - x) : x;
  }

  restyle() {
    this.colours = themeColours(this.canvas);
    this.base = this.drawBase();
  }

  drawBase() {
    const base = document.createElement("canvas");
    base.width = this.canvas.width;
    base.height = this.canvas.height;
    const ctx = base.getContext("2d"), m = this.margin, W = this.cssWidth, H = this.cssHeight;
    ctx.scale(this.dpr, this.dpr);
    const x0 = m.left, x1 = W - m.right, y0 = m.top, y1 = H - m.bottom;
    const names = ["0", "10", "100", "1k", "10k", "100k", "1M"]; // step 0, then the powers of ten up to the last step
    const xTicks = names.map((name, e) => [e === 0 ? 0 : 10 ** e, name])
      .filter(([step], e) => e === 0 || Math.log10(1 + step) <= this.xHigh + 1e-9)
      .map(([step, name]) => [this.toX(step), name]);
    const yTicks = [];
    for (let v = this.yLow; v <= this.yHigh + 1e-9; v += this.yStep) {
      yTicks.push([this.toY(v), String(Math.round(v * 100) / 100)]);
    }
    drawAxes(ctx, { width: W, height: H, box: { x0, x1, y0, y1 }, colours: this.colours, xTicks, yTicks,
                    xTitle: "Adam steps (log scale)", yTitle: "−ELBO" });
    // test solid, then train dashed on top: the two nearly coincide, and both stay visible
    for (const [key, colour, dash] of [["test_elbo", CURVE_COLOURS.test, []],
                                       ["train_elbo", CURVE_COLOURS.train, [5, 4]]]) {
      const points = this.records.filter((r) => Number.isFinite(r[key]))
        .map((r) => [this.toX(r.step), this.toY(r[key])]);
      ctx.strokeStyle = colour; ctx.fillStyle = colour; ctx.lineWidth = 1.5; ctx.setLineDash(dash);
      ctx.beginPath();
      points.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
      ctx.stroke();
      ctx.setLineDash([]);
      for (const [x, y] of points) { ctx.beginPath(); ctx.arc(x, y, 2.5, 0, 2 * Math.PI); ctx.fill(); }
    }
    return base;
  }

  draw(pos) {
    const ctx = this.ctx, m = this.margin, k = Math.round(pos), r = this.records[k];
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.drawImage(this.base, 0, 0);
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    const x = this.posX(pos);
    ctx.strokeStyle = this.colours.ink; ctx.lineWidth = 1.5; ctx.setLineDash([3, 3]);
    ctx.beginPath(); ctx.moveTo(x, m.top); ctx.lineTo(x, this.cssHeight - m.bottom); ctx.stroke();
    ctx.setLineDash([]);
    for (const [key, colour] of [["train_elbo", CURVE_COLOURS.train], ["test_elbo", CURVE_COLOURS.test]]) {
      if (!Number.isFinite(r[key])) continue;
      ctx.beginPath(); ctx.arc(this.toX(r.step), this.toY(r[key]), 5, 0, 2 * Math.PI);
      ctx.fillStyle = colour; ctx.fill(); ctx.strokeStyle = this.colours.background; ctx.lineWidth = 2; ctx.stroke();
    }
  }
}
