// The aggregate posterior against the prior: ELBO surgery (Hoffman & Johnson 2016, "ELBO surgery: yet another way
// to carve up the variational evidence lower bound") on the test set's encodings, as vae/exact.py's
// aggregate_log_density and elbo_surgery compute it. DOM-free.
//
//   q(z) = 1/N sum_n N(z; mu_n, diag sigma_n^2)          the aggregate posterior over the N test images
//   mean KL(q(z|x) || p(z)) = I(x; z) + KL(q(z) || p(z))  p(z) = N(0, I); I(x; z) under q
//   holes: where q(z) < 0.1 p(z); their share is the prior's mass there
//
// KL(q(z) || p(z)) and the holes' share are sums over a square grid of the plane (vae/exact.py's PlaneGrid), each
// point standing for its cell: sum q (log q - log p) / sum q and sum_holes p / sum p, as elbo_surgery sums them.
// Each component is diagonal, so on a grid it is a product of one factor per axis, and q on the whole grid is a sum
// of outer products: (z1 points + z2 points) exponentials per image, not one per image and point. A factor is
// summed only within REACH sigmas of its mean: beyond, a component is under e^-72 of its peak, 1e-28 at most for
// the bundled MNIST model's narrowest (sigma 0.008): far under the holes' threshold anywhere the prior has mass
// (0.1 p(z) is above 1e-18 out to |z| = 8.5), so the figures are elbo_surgery's to float64 rounding.

export const SURGERY_GRID = { step: 0.05, extent: 6 }; // PlaneGrid(step=0.05, extent=6): 241 x 241 points
export const HOLE_RATIO = 0.1; // a hole: q(z) < HOLE_RATIO p(z)
const REACH = 12; // sigmas each way a component is summed over
// a shade of log q(z): full at this quantile of the view's cells (the narrow posteriors' spikes above it are not
// what the eye should compare) and none SHADE_NATS below it, a factor of e^8 = 3,000 in density
const SHADE_TOP = 0.99, SHADE_NATS = 8;
const LOG_2PI = Math.log(2 * Math.PI);

// The points start + i * step, i < count, of one axis of a grid
export function planeAxis({ step, extent }) {
  const count = Math.round((2 * extent) / step) + 1;
  return { start: -extent, step: (2 * extent) / (count - 1), count };
}

// The cell centres of [-limit, limit] cut into `cells` equal cells (a map's view)
export function viewAxis(limit, cells) {
  const step = (2 * limit) / cells;
  return { start: -limit + step / 2, step, count: cells };
}

export const axisPoint = (axis, i) => axis.start + i * axis.step;

// log N(z; 0, I) for a 2-D z
export const logPrior = (z1, z2) => -LOG_2PI - 0.5 * (z1 * z1 + z2 * z2);

// One axis's factors of component (m, s) at `axis`'s points, into out: the indices [lo, hi] where it is summed
function factors(axis, m, s, out) {
  const lo = Math.max(0, Math.ceil((m - REACH * s - axis.start) / axis.step));
  const hi = Math.min(axis.count - 1, Math.floor((m + REACH * s - axis.start) / axis.step));
  const norm = 1 / (Math.sqrt(2 * Math.PI) * s);
  for (let i = lo; i <= hi; i++) {
    const d = (axis.start + i * axis.step - m) / s;
    out[i] = norm * Math.exp(-0.5 * d * d);
  }
  return [lo, hi];
}

// q(z) at the points of axis1 x axis2 from means mu and standard deviations sigma, each (N * 2) as (z1, z2) per
// image -> Float64Array (axis2.count * axis1.count), rows over z2 (from axis2.start up), z1 fastest
export function aggregateDensity(mu, sigma, axis1, axis2) {
  const n1 = axis1.count, n2 = axis2.count, n = mu.length / 2, q = new Float64Array(n1 * n2);
  const a = new Float64Array(n1), b = new Float64Array(n2);
  for (let k = 0; k < n; k++) {
    const [i0, i1] = factors(axis1, mu[2 * k], sigma[2 * k], a);
    if (i0 > i1) continue;
    const [j0, j1] = factors(axis2, mu[2 * k + 1], sigma[2 * k + 1], b);
    for (let j = j0; j <= j1; j++) {
      const bj = b[j] / n, row = j * n1;
      for (let i = i0; i <= i1; i++) q[row + i] += a[i] * bj;
    }
  }
  return q;
}

// mean over images of KL(N(mu, diag sigma^2) || N(0, I)) = 1/2 sum (mu^2 + sigma^2 - 1 - log sigma^2), in nats
// (Kingma & Welling 2013, appendix B; vae/objective.py's kl_to_standard_normal)
export function meanKL(mu, sigma) {
  let total = 0;
  for (let i = 0; i < mu.length; i++) total += 0.5 * (mu[i] * mu[i] + sigma[i] * sigma[i] - 1 - 2 * Math.log(sigma[i]));
  return total / (mu.length / 2);
}

// ELBO surgery on the plane grid `grid` ({step, extent}) -> {meanKL, mutualInformation, marginalKL, holeShare} (nats;
// the prior's share of mass in holes, 0-1), elbo_surgery's Surgery
export function elboSurgery(mu, sigma, grid = SURGERY_GRID, holeRatio = HOLE_RATIO) {
  const axis = planeAxis(grid), q = aggregateDensity(mu, sigma, axis, axis);
  let qSum = 0, qLogRatio = 0, pSum = 0, pHoles = 0;
  for (let j = 0; j < axis.count; j++) {
    const z2 = axisPoint(axis, j);
    for (let i = 0; i < axis.count; i++) {
      const lp = logPrior(axisPoint(axis, i), z2), p = Math.exp(lp), qz = q[j * axis.count + i];
      if (qz > 0) { qSum += qz; qLogRatio += qz * (Math.log(qz) - lp); } // q log q -> 0 as q -> 0
      pSum += p;
      if (qz < holeRatio * p) pHoles += p;
    }
  }
  const kl = meanKL(mu, sigma), marginalKL = qLogRatio / qSum;
  return { meanKL: kl, mutualInformation: kl - marginalKL, marginalKL, holeShare: pHoles / pSum };
}

// q(z) over a map's view, [-limit, limit]^2 in `cells` x `cells` cells -> {cells, axis, logQ (Float64Array, cells^2,
// rows over z2 from -limit up; -Infinity where no component reaches), holes (Uint8Array, 1 where q < holeRatio p),
// level (Float32Array: log q on a shade's scale, 1 at the view's SHADE_TOP quantile of log q, 0 SHADE_NATS under),
// prior (Float32Array: sqrt(p(z) / p(0)), 1 at the origin, 0.01 at 3 sigmas: how much a hole there weighs)}
export function aggregateView(mu, sigma, limit, cells, holeRatio = HOLE_RATIO) {
  const axis = viewAxis(limit, cells), q = aggregateDensity(mu, sigma, axis, axis);
  const logQ = new Float64Array(q.length), holes = new Uint8Array(q.length), prior = new Float32Array(q.length);
  const logRatio = Math.log(holeRatio);
  for (let j = 0; j < cells; j++) {
    const z2 = axisPoint(axis, j);
    for (let i = 0; i < cells; i++) {
      const k = j * cells + i, lp = logPrior(axisPoint(axis, i), z2);
      logQ[k] = Math.log(q[k]);
      holes[k] = logQ[k] < lp + logRatio ? 1 : 0;
      prior[k] = Math.exp(0.5 * (lp + LOG_2PI));
    }
  }
  const finite = logQ.filter(Number.isFinite).sort(), level = new Float32Array(q.length);
  const top = finite.length ? finite[Math.min(finite.length - 1, Math.floor(SHADE_TOP * finite.length))] : 0;
  for (let k = 0; k < q.length; k++) level[k] = Math.min(1, Math.max(0, 1 + (logQ[k] - top) / SHADE_NATS));
  return { cells, axis, logQ, holes, level, prior };
}

// The sentences under the map for elboSurgery's figures; noun: what one image is ("digit")
export function surgerySentences({ meanKL, mutualInformation, marginalKL, holeShare }, noun = "digit") {
  return `KL(q(z)‖p(z)) = ${marginalKL.toFixed(2)} nats, I(x;z) = ${mutualInformation.toFixed(2)} nats of the mean ` +
    `KL ${meanKL.toFixed(2)} nats (mean KL = I(x;z) + KL(q(z)‖p(z))); ${(100 * holeShare).toFixed(1)}% of the ` +
    `prior's mass lies in holes, where q(z) < ${HOLE_RATIO} p(z): decoding there gives ${noun}s no test image ` +
    "encodes to.";
}
