// The points a view decodes, and the cell cache that makes a drag cheap. DOM-free.
//
// The sliders move in steps of 0.05 and the default span makes the grid's spacing 1/3, so while a slider is dragged
// most cells land on latent points already decoded (9 of 10 columns after a move of 1.0, all of them when dragging
// back). Points on the 1/180 lattice (every multiple of 0.05 of z and of span lands there) are snapped onto it
// exactly and their pixels kept, keyed by the lattice point; the pixels are the ones a full decode of that float32
// point gives, so the cache changes speed, never the picture.

const LATTICE = 180;
const CACHE_LIMIT = 20000; // cells, 784 bytes each, per model

// hits and misses of every cache, and the switch bench/browser_fps.py turns off to measure uncached frames
export const cacheCounters = { enabled: true, hits: 0, misses: 0 };

function latticeKey(v) {
  const k = Math.round(v * LATTICE);
  return Math.abs(v * LATTICE - k) < 1e-6 ? k : null;
}

// points: Float64Array (rows * 2) -> {pixels: uint8 (rows, pixels per point), decoded: the points not in the cache},
// decoding only the points not in the model's cache (`cacheLimit` cells at most, default CACHE_LIMIT; a page model's
// `limit` is its map's)
export function decodeCached({ decoder, cache, cacheLimit: limit = CACHE_LIMIT }, points, rows) {
  const n = decoder.pixelsPerRow, out = new Uint8ClampedArray(rows * n);
  const missing = [], keys = [];
  for (let r = 0; r < rows; r++) {
    const a = latticeKey(points[2 * r]), b = latticeKey(points[2 * r + 1]);
    const key = cacheCounters.enabled && a !== null && b !== null ? a * 100003 + b : null;
    if (key !== null) {
      points[2 * r] = a / LATTICE; points[2 * r + 1] = b / LATTICE;
      const hit = cache.get(key);
      if (hit) { out.set(hit, r * n); cacheCounters.hits++; continue; }
    }
    missing.push(r); keys.push(key);
  }
  cacheCounters.misses += missing.length;
  if (missing.length) {
    const batch = new Float32Array(missing.length * 2);
    missing.forEach((r, i) => { batch[2 * i] = points[2 * r]; batch[2 * i + 1] = points[2 * r + 1]; });
    const pixels = decoder.decode(batch, missing.length);
    missing.forEach((r, i) => {
      const cell = pixels.slice(i * n, (i + 1) * n);
      out.set(cell, r * n);
      if (keys[i] !== null) {
        cache.set(keys[i], cell);
        if (cache.size > limit) cache.delete(cache.keys().next().value); // oldest first
      }
    });
  }
  return { pixels: out, decoded: missing.length };
}

// The digit at (z1, z2), then the grid (grid x grid), row-major: column i at z1 + linspace(-span, span)[i],
// row j at z2 + linspace(span, -span)[j] (vae/imaging.py's latent_grid) -> Float64Array ((1 + grid^2) * 2)
export function viewPoints(z1, z2, span, grid) {
  const p = new Float64Array((1 + grid * grid) * 2); // float64 here: the cache's lattice test needs the exact value
  p[0] = z1; p[1] = z2;
  const step = (2 * span) / (grid - 1);
  for (let j = 0; j < grid; j++) {
    const y = j === grid - 1 ? z2 - span : z2 + span - j * step;
    for (let i = 0; i < grid; i++) {
      const x = i === grid - 1 ? z1 + span : z1 - span + i * step;
      const k = 1 + j * grid + i;
      p[2 * k] = x; p[2 * k + 1] = y;
    }
  }
  return p;
}

// (steps * 2) float32 points (1 - t) a + t b, t = linspace(0, 1, steps) (the server's /interpolate): exactly a and b
// at the ends
export function pathPoints(a, b, steps) {
  const points = new Float32Array(steps * 2);
  for (let i = 0; i < steps; i++) {
    const t = i / (steps - 1);
    points[2 * i] = (1 - t) * a[0] + t * b[0]; points[2 * i + 1] = (1 - t) * a[1] + t * b[1];
  }
  return points;
}
