// The page's ELBO surgery (static/js/core/aggregate.js) on the bundled model's page bundle, against vae/exact.py's
// elbo_surgery and aggregate_log_density on the same means and standard deviations, which tests/test_node_aggregate.py
// computes and writes (its docstring says why these tolerances); and how long the page's figures take here.
// Run: python -m pytest tests/test_node_aggregate.py   (it writes the fixtures, then runs node --test on this file)

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import { SURGERY_GRID, aggregateView, elboSurgery } from "../../static/js/core/aggregate.js";
import { PAGE_FORMAT, pageModel } from "../../static/js/core/bundles.js";
import { checkFormat, readSafetensors } from "../../static/js/core/safetensors.js";

const folder = process.env.AGGREGATE_FIXTURES;
if (!folder) throw new Error("AGGREGATE_FIXTURES is not set: run this through python -m pytest tests/test_node_aggregate.py");
const index = JSON.parse(readFileSync(join(folder, "fixtures.json"), "utf8"));
const model = pageModel(checkFormat(readSafetensors(readFileSync(join(folder, index.bundle))), PAGE_FORMAT, "bundle"),
                        { maxRows: 101, kernel: null });
const { mu, sigma } = model.latents;
const FIGURE_TOLERANCE = 1e-9; // nats, and the hole share's

test("the page bundle carries the test set's standard deviations beside its means", () => {
  assert.ok(sigma, "the bundle has no latents.sigma");
  assert.equal(sigma.length, mu.length);
  assert.equal(mu.length, 2 * model.latents.labels.length);
});

test("mean KL, I(x; z), KL(q(z) || p(z)) and the hole share are elbo_surgery's", () => {
  const got = elboSurgery(mu, sigma, index.grid, index.hole_ratio), want = index.surgery;
  for (const key of ["meanKL", "mutualInformation", "marginalKL"]) {
    assert.ok(Math.abs(got[key] - want[key]) <= FIGURE_TOLERANCE, `${key}: ${got[key]} against ${want[key]}`);
  }
  console.log(`# page ${JSON.stringify(got)}; vae/exact.py ${JSON.stringify(want)}`);
  const slack = FIGURE_TOLERANCE + index.hole_share_slack;
  assert.ok(Math.abs(got.holeShare - want.holeShare) <= slack, `holeShare: ${got.holeShare} against ${want.holeShare}`);
});

test("log q(z) and the holes on a map's view are aggregate_log_density's", () => {
  const { limit, cells } = index.view, { logQ, holes } = aggregateView(mu, sigma, limit, cells, index.hole_ratio);
  const { log_q: wantQ, holes: wantHoles, near } = index.view;
  assert.equal(logQ.length, wantQ.length);
  let worst = 0, holeCount = 0;
  for (let k = 0; k < logQ.length; k++) {
    if (wantQ[k] > -40) worst = Math.max(worst, Math.abs(logQ[k] - wantQ[k]));
    else assert.ok(logQ[k] < -39, `point ${k}: log q ${logQ[k]} against ${wantQ[k]}`);
    if (!near[k]) assert.equal(holes[k], wantHoles[k], `point ${k}: hole ${holes[k]} against ${wantHoles[k]}`);
    holeCount += holes[k];
  }
  assert.ok(worst <= FIGURE_TOLERANCE, `log q differs by ${worst}`);
  console.log(`# log q(z) on the view: at most ${worst.toExponential(1)} from aggregate_log_density's`);
  assert.ok(holeCount > 0 && holeCount < logQ.length, `${holeCount} holes of ${logQ.length}`); // the mask says something
});

test("the page's figures take under half a second here (its grid, 10,000 images)", () => {
  const times = [];
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now();
    elboSurgery(mu, sigma, SURGERY_GRID);
    aggregateView(mu, sigma, model.limit, 150);
    times.push(performance.now() - t0);
  }
  console.log(`# the page's ELBO surgery and view: ${times.map((t) => t.toFixed(0)).join(", ")} ms`);
  assert.ok(Math.min(...times) < 500, times.join(", "));
});
