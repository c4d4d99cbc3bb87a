// Small helpers about the latent plane: the map's transform between z and pixels, snapping z to the sliders' steps,
// the views a tab asked its sliders for and the asking, seeded uniform and normal draws (posterior samples, the
// trainer's batches and noise), and the sentence that says where z is. DOM-free: the sliders are asked through
// gr.HTML's props and trigger, which a tab hands over.

// The latent map's transform for a square map of `size` CSS px whose plot area, inside `margin` ({left, right, top,
// bottom}), shows [-limit, limit] on both axes, z2 upwards -> {toPixel(z1, z2), toLatent(x, y)}
export function mapTransform(size, limit, margin) {
  const w = size - margin.left - margin.right, h = size - margin.top - margin.bottom;
  return {
    toPixel: (z1, z2) => [margin.left + ((z1 + limit) / (2 * limit)) * w,
                          margin.top + ((limit - z2) / (2 * limit)) * h],
    toLatent: (x, y) => [((x - margin.left) / w) * 2 * limit - limit, limit - ((y - margin.top) / h) * 2 * limit],
  };
}

export const round2 = (v) => Math.round(v * 100) / 100;

// z clamped to the sliders' range [-zLimit, zLimit] and snapped to their step, to 2 decimals
export function snapper(zLimit, step) {
  const clamp = (v) => Math.min(zLimit, Math.max(-zLimit, v));
  return { clamp, snap: (v) => round2(Math.round(clamp(v) / step) * step) };
}

// The views a tab asked its sliders for (a map click, an arrow key: view = {z1, z2, span}) that have not come back yet
// as the sliders' change, so that the next key moves on from the view asked last, not from the one shown: keys pressed
// faster than the sliders answer all count. A view that comes back drops itself and those asked before it (a drag's
// views may come back only in part); one that matches none is the sliders' own move, after which nothing asked is on
// its way. The same view twice in a row (a change event per slider moved) counts once.
export class AskedViews {
  constructor(limit = 32) {
    this.pending = [];
    this.limit = limit; // views kept, the newest: a drag asks once per pointer move
    this.arrived = null;
  }

  ask(view) {
    this.pending.push({ ...view });
    if (this.pending.length > this.limit) this.pending.shift();
  }

  // the sliders' view, as the tab now shows it
  answer(view) {
    const same = (a) => a !== null && ["z1", "z2", "span"].every((k) => Math.abs(a[k] - view[k]) < 1e-9);
    if (same(this.arrived)) return;
    this.arrived = { ...view };
    this.pending = this.pending.slice(this.pending.findLastIndex(same) + 1 || this.pending.length);
  }

  // the view the next move starts from
  latest(shown) {
    return this.pending.at(-1) ?? shown;
  }
}

// Ask a tab's sliders for a view (props.value, then gr.HTML's change event, which app.py wires to them); it comes
// back through the tab's setView. tab: {page, props, trigger, view, asked (an AskedViews)}; the span, unless given:
// the one asked last
export function askSliders(tab, z1, z2, span = tab.asked.latest(tab.view).span) {
  const { snap } = tab.page, view = { z1: snap(z1), z2: snap(z2), span };
  tab.asked.ask(view);
  tab.props.value = view;
  tab.trigger("change");
}

// A uniform generator on [0, 1): seeded (mulberry32), so a seed repeats its draws, or Math.random without a seed
export function uniformGenerator(seed) {
  if (seed === undefined) return Math.random;
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// A normal generator: the uniform one's draws through Box-Muller, so the first draw of a digit is the same every
// time for a seed
export function normalGenerator(seed) {
  const uniform = uniformGenerator(seed);
  return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

// The words for a model's classes (a page or replay model, core/bundles.js): its bundle's, else the page's MNIST
// words ({names, noun} of webapp/page.py's constants)
export function classesOf(model, config) {
  return model && model.words ? model.words : { names: config.names, plurals: null, noun: config.noun };
}

const NEARBY = 50; // test digits whose latent means are nearest z

// "z = (0.45, -1.20): mostly 7s nearby", from the test set's latent means nearest z; names: the classes' names
// ("0".."9" for MNIST), plurals: as a sentence says them ("7s", "sneakers"; default: name + "s"), noun: what one
// image is ("digit")
export function describePlace(z1, z2, latents, { names, plurals, noun }) {
  const where = `z = (${z1.toFixed(2)}, ${z2.toFixed(2)})`;
  if (!latents) return `${where}: no latent map for this model`;
  const { mu, labels } = latents, n = labels.length, d = new Float64Array(n), order = new Uint32Array(n);
  for (let i = 0; i < n; i++) { d[i] = (mu[2 * i] - z1) ** 2 + (mu[2 * i + 1] - z2) ** 2; order[i] = i; }
  order.sort((a, b) => d[a] - d[b]);
  if (Math.sqrt(d[order[0]]) > 0.75) return `${where}: no test ${noun}s nearby; the decoder is guessing here`;
  const counts = new Array(names.length).fill(0), k = Math.min(NEARBY, n);
  for (let j = 0; j < k; j++) counts[labels[order[j]] % names.length]++;
  const best = counts.indexOf(Math.max(...counts)), share = counts[best] / k;
  const word = share >= 0.8 ? "mostly" : share >= 0.5 ? "more than half" : "a mix, most often";
  return `${where}: ${word} ${plurals ? plurals[best] : `${names[best]}s`} nearby`;
}
