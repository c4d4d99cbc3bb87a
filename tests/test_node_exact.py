"""The page's exact log-likelihood (static/js/core/exact.js) under Node, against vae/exact.py's PlaneGrid: the bundled
model (pretrained/) as the Train tab's worker holds a model (its training program and weights,
webapp/training_program.py, run by core/engine.js's TrainableVAE with the WebAssembly kernel), on the first 200 MNIST
test images. The page's mean log p(x) on its grid (EXACT_GRID) is PlaneGrid's on the same grid within 1e-3 nats (the
two decoders round differently in float32, the log-sum-exp is float64 in both), each image's within 1e-2, and within
0.25 nats of PlaneGrid(step=0.02, extent=6)'s, which is exact to 0.01 (the page's grid was 0.13 nats under it when
chosen). Python writes the program, the images and its figures into a temporary folder; tests/node/exact.test.mjs
reads them, and reports how long one evaluation takes.

    python -m pytest tests/test_node_exact.py   (about 40 s on 2 busy cores: PlaneGrid(0.02) is most of it; needs
                                                 Node.js 18+ and MNIST)
"""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.numpy import save_file

from conftest import node_test
from vae.exact import PlaneGrid
from webapp.training_program import write_training_program

NODE_TEST = "tests/node/exact.test.mjs"
IMAGES = 200  # the worker's sample
PAGE_GRID = PlaneGrid(step=0.08, extent=4.0)  # core/exact.js's EXACT_GRID
FINE_GRID = PlaneGrid(step=0.02, extent=6.0)


def test_the_page_computes_plane_grid_log_likelihood(node_executable, bundled_model, mnist_test, tmp_path):
    images = mnist_test[0][:IMAGES].reshape(IMAGES, -1)  # uint8, as the worker holds the test images
    x = torch.tensor(images, dtype=torch.float32) / 255
    torch.set_num_threads(1)
    page_grid = PAGE_GRID.log_px(bundled_model, x)[0]
    fine = FINE_GRID.log_px(bundled_model, x)[0]
    write_training_program(bundled_model.config, 0, tmp_path / "program.safetensors", model=bundled_model)
    save_file({"images": images}, str(tmp_path / "images.safetensors"))
    (tmp_path / "expected.json").write_text(json.dumps({
        "grid": {"step": PAGE_GRID.step, "extent": PAGE_GRID.extent}, "log_px": page_grid.tolist(),
        "mean": page_grid.mean().item(), "fine_mean": fine.mean().item()}))
    run = node_test(node_executable, NODE_TEST, EXACT_FIXTURES=str(tmp_path))
    if run.returncode != 0:
        pytest.fail(f"node --test failed ({run.returncode}):\n{run.stdout}\n{run.stderr}", pytrace=False)
    assert "# fail 0" in run.stdout and "# pass 0" not in run.stdout, run.stdout
    print(run.stdout)
