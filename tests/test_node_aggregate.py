"""The page's ELBO surgery (static/js/core/aggregate.js) under Node, against vae/exact.py on the same numbers: the
bundled model's page bundle, written as the app writes it, with its 10,000 test means and standard deviations
(pretrained/latents.safetensors); elbo_surgery's mean KL, I(x; z), KL(q(z) || p(z)) and hole share on a plane grid,
and aggregate_log_density with the hole mask on a map's view grid. Python writes the bundle and its figures into a
temporary folder; tests/node/aggregate.test.mjs reads the latents from the bundle, as the page does.

Tolerances (the page's sums are elbo_surgery's, to float64 rounding; they differ by 1e-14 here): the figures within
1e-9 nats, which any slip of a formula (a sigma for a variance, a lost normalisation) misses by far more; log q(z)
within 1e-9 where it is above -40 (the page leaves out what a component has beyond 12 sigmas, under 1e-28: 3e-11
of q there, relative) and under -39 (or -inf) elsewhere; the holes the same at every point, and the hole share
within 1e-9, except at points whose q / p is within 1e-6 of the threshold, where rounding may decide, whose prior
mass the tolerance then adds.

    python -m pytest tests/test_node_aggregate.py   (about 45 s on 2 busy cores; needs Node.js 18+)
"""

from __future__ import annotations

import json
import math

import pytest
import torch
from safetensors import safe_open

from conftest import PRETRAINED, node_test
from vae.exact import PlaneGrid, aggregate_log_density, elbo_surgery, log_prior
from vae.latents import load_latents
from webapp.bundle import write_page_bundle

NODE_TEST = "tests/node/aggregate.test.mjs"
GRID = PlaneGrid(step=0.1, extent=6.0)  # 121 x 121 points: elbo_surgery takes about 20 s on 10,000 images here
VIEW_CELLS = 64  # the view grid's cells per side
HOLE_RATIO = 0.1
NEAR_THRESHOLD = 1e-6  # nats of log q - log p from log 0.1: points where rounding may decide a hole


def near_threshold_mass(log_q: torch.Tensor, log_p: torch.Tensor) -> float:
    """The prior's share (of the grid's) at the points whose hole or not rounding may decide."""
    near = (log_q - log_p - math.log(HOLE_RATIO)).abs() < NEAR_THRESHOLD
    p = log_p.exp()
    return float(p[near].sum() / p.sum())


def write_fixtures(folder, model) -> None:
    latents = load_latents(PRETRAINED / "latents.safetensors")
    bundle = write_page_bundle(model, latents, folder)
    mu = torch.from_numpy(latents["mu"]).double()  # (N, 2), the float32 values the bundle holds
    logvar = 2 * torch.log(torch.from_numpy(latents["sigma"]).double())
    surgery = elbo_surgery(mu, logvar, GRID, HOLE_RATIO)
    log_q_plane, log_p_plane = aggregate_log_density(mu, logvar, GRID.points), log_prior(GRID.points)
    # the view: cell centres of [-limit, limit]^2 in VIEW_CELLS^2 cells, z1 fastest, rows over z2 upwards
    with safe_open(bundle, "numpy") as f:
        limit = json.loads(f.metadata()["map_limit"])
    step = 2 * limit / VIEW_CELLS
    axis = torch.arange(VIEW_CELLS, dtype=torch.float64) * step - limit + step / 2
    z2, z1 = torch.meshgrid(axis, axis, indexing="ij")
    z = torch.stack([z1.reshape(-1), z2.reshape(-1)], 1)
    log_q, log_p = aggregate_log_density(mu, logvar, z), log_prior(z)
    holes = (log_q < log_p + math.log(HOLE_RATIO)).to(torch.uint8)
    near = (log_q - log_p - math.log(HOLE_RATIO)).abs() < NEAR_THRESHOLD
    (folder / "fixtures.json").write_text(json.dumps({  # JSON: float64 both ways (the page reads no F64 tensors)
        "bundle": bundle.name, "grid": {"step": GRID.step, "extent": GRID.extent}, "hole_ratio": HOLE_RATIO,
        "view": {"limit": limit, "cells": VIEW_CELLS, "log_q": [v if math.isfinite(v) else -1e308 for v in
                                                                 log_q.tolist()],
                 "holes": holes.tolist(), "near": near.to(torch.uint8).tolist()},
        "surgery": {"meanKL": surgery.mean_kl, "mutualInformation": surgery.mutual_information,
                    "marginalKL": surgery.marginal_kl, "holeShare": surgery.hole_share},
        "hole_share_slack": near_threshold_mass(log_q_plane, log_p_plane)}))


def test_the_page_computes_elbo_surgery_as_vae_exact_does(node_executable, bundled_model, tmp_path):
    write_fixtures(tmp_path, bundled_model)
    run = node_test(node_executable, NODE_TEST, AGGREGATE_FIXTURES=str(tmp_path))
    if run.returncode != 0:
        pytest.fail(f"node --test failed ({run.returncode}):\n{run.stdout}\n{run.stderr}", pytrace=False)
    assert "# fail 0" in run.stdout and "# pass 0" not in run.stdout, run.stdout
    print(run.stdout)
