// The live training's -ELBO curve, split into its two terms: the running means of -ELBO (= BCE + KL), BCE and KL
// against the Adam step, as lines, and the test figures as dots, on a log axis of nats (KL's few nats and BCE's
// hundreds both stay readable), with the exact -log p(x) of test images as dots joined by a dashed line, the gap to
// -ELBO between them; in the page's theme. It takes records as they come and knows no tab.

import { drawAxes } from "./axes.js";
import { followTheme, setupCanvas, themeColours } from "./canvas.js";

// static/train-tab.html's key uses the same
export const LOSS_COLOURS = { elbo: "#1f77b4", bce: "#2ca02c", kl: "#d62728", exact: "#9467bd" };
const KEPT = 2000; // points per line: beyond, every other one is dropped (the line keeps its shape)
const DECADES = [0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000];

export class LossCurve {
  constructor(canvas, cssWidth, cssHeight) {
    Object.assign(this, { canvas, cssWidth, cssHeight });
    this.margin = { left: 44, right: 12, top: 10, bottom: 32 };
    this.ctx = setupCanvas(canvas, cssWidth, cssHeight);
    this.dpr = canvas.width / cssWidth;
    this.clear();
    this.restyle();
    followTheme(this);
  }

  clear() {
    this.train = []; // {step, bce, kl}: running means
    this.tests = []; // {step, elbo, bce, kl}
    this.exact = []; // {step, exact, elbo}: exact -log p(x) and -ELBO of the same test images
  }

  // records: [{step, bce, kl}] of the running means; tests: [{step, elbo, bce, kl}]; exact: [{step, exact, elbo}]
  add(records, tests, exact = []) {
    for (const r of records) this.train.push({ step: r.step, bce: r.bce, kl: r.kl });
    if (this.train.length > KEPT) this.train = this.train.filter((_, i) => i % 2 === 1);
    this.tests.push(...tests);
    this.exact.push(...exact);
  }

  restyle() { this.colours = themeColours(this.canvas); }

  // the axes: steps from 0 to the last (at least 100), nats from the smallest to the largest value on a log scale
  axes() {
    const values = [];
    for (const r of this.train) values.push(r.bce + r.kl, r.kl);
    for (const t of this.tests) values.push(t.elbo, t.kl);
    for (const e of this.exact) values.push(e.exact);
    const finite = values.filter((v) => Number.isFinite(v) && v > 0);
    const lo = finite.length ? Math.max(0.1, Math.min(...finite)) : 1, hi = finite.length ? Math.max(...finite) : 600;
    const last = Math.max(100, ...this.train.map((r) => r.step), ...this.tests.map((t) => t.step),
                          ...this.exact.map((e) => e.step));
    return { yLow: Math.log10(lo * 0.8), yHigh: Math.log10(hi * 1.25), xHigh: last };
  }

  draw() {
    const ctx = this.ctx, m = this.margin, W = this.cssWidth, H = this.cssHeight, a = this.axes();
    const { background } = this.colours;
    const x0 = m.left, x1 = W - m.right, y0 = m.top, y1 = H - m.bottom;
    const toX = (step) => x0 + (step / a.xHigh) * (x1 - x0);
    const toY = (v) => y0 + ((a.yHigh - Math.log10(Math.max(v, 1e-3))) / (a.yHigh - a.yLow)) * (y1 - y0);
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    const yTicks = DECADES.filter((v) => Math.log10(v) >= a.yLow && Math.log10(v) <= a.yHigh)
      .map((v) => [toY(v), String(v)]);
    const xTicks = [0, 1, 2, 3, 4].map((i) => Math.round((a.xHigh * i) / 4))
      .map((step) => [toX(step), step.toLocaleString("en")]);
    drawAxes(ctx, { width: W, height: H, box: { x0, x1, y0, y1 }, colours: this.colours, xTicks, yTicks,
                    xTitle: "Adam steps", yTitle: "nats (log scale)" });
    ctx.save();
    ctx.beginPath(); ctx.rect(x0, y0, x1 - x0, y1 - y0); ctx.clip();
    const series = { elbo: (r) => r.bce + r.kl, bce: (r) => r.bce, kl: (r) => r.kl };
    for (const [key, value] of Object.entries(series)) {
      ctx.strokeStyle = LOSS_COLOURS[key]; ctx.fillStyle = LOSS_COLOURS[key]; ctx.lineWidth = 1.5;
      ctx.beginPath();
      this.train.forEach((r, i) => (i ? ctx.lineTo : ctx.moveTo).call(ctx, toX(r.step), toY(value(r))));
      ctx.stroke();
      for (const t of this.tests) {
        const v = key === "elbo" ? t.elbo : t[key];
        ctx.beginPath(); ctx.arc(toX(t.step), toY(v), 3.5, 0, 2 * Math.PI); ctx.fill();
        ctx.strokeStyle = background; ctx.lineWidth = 1; ctx.stroke(); ctx.strokeStyle = LOSS_COLOURS[key];
      }
    }
    // exact -log p(x): dashed between its figures, a diamond at each, just under the -ELBO dots at its steps
    ctx.strokeStyle = LOSS_COLOURS.exact; ctx.fillStyle = LOSS_COLOURS.exact; ctx.lineWidth = 1.5;
    ctx.setLineDash([4, 3]);
    ctx.beginPath();
    this.exact.forEach((e, i) => (i ? ctx.lineTo : ctx.moveTo).call(ctx, toX(e.step), toY(e.exact)));
    ctx.stroke();
    ctx.setLineDash([]);
    for (const e of this.exact) {
      const x = toX(e.step), y = toY(e.exact);
      ctx.beginPath(); ctx.moveTo(x, y - 4.5); ctx.lineTo(x + 4.5, y); ctx.lineTo(x, y + 4.5); ctx.lineTo(x - 4.5, y);
      ctx.closePath(); ctx.fill();
      ctx.strokeStyle = background; ctx.lineWidth = 1; ctx.stroke(); ctx.strokeStyle = LOSS_COLOURS.exact;
    }
    ctx.restore();
  }
}
