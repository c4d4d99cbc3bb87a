"""The page's training loop (static/js/core/trainer.js) under Node, on real MNIST: the loss falls over a few hundred
steps; raising beta while training lowers KL; a huge learning rate stops training with the divergence message and
finite weights; the same seed gives the same weights and another seed other weights; its learning-rate schedules
equal train/loop.py's lr_factor; a file that has partly arrived trains on the images in place, then on all of them;
and PyTorch, given the weights the page trained, computes the page's test figure.
Python writes the training programs (webapp/training_program.py), the first 10,000 training images and 2,000 test
images (uint8, and the training images also as webapp/training_data.py's file) and the schedules' values into a
temporary folder; tests/node/trainer.test.mjs reads them.

    python -m pytest tests/test_node_trainer.py   (about a minute on 2 busy cores; needs Node.js 18+ and MNIST)
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.numpy import save_file

from conftest import node_test
from train.loop import lr_factor
from vae import VAE, VAEConfig, negative_elbo
from vae.mnist import load_mnist
from webapp.training_data import encode
from webapp.training_program import write_training_program

NODE_TEST = "tests/node/trainer.test.mjs"
TRAIN_IMAGES, TEST_IMAGES = 10_000, 2_000
CONFIG = VAEConfig(arch="resmlp", hidden=128, blocks=1)  # small enough for a few hundred steps in seconds
SCHEDULES = {"onecycle": 0.05, "cosine": 0.0, "constant": 0.0}  # schedule: warm-up fraction
SUBSET = 1000  # test images of the page's test figure (trainer.js's TEST_SUBSET)


@pytest.fixture(scope="module")
def trainer_run(node_executable, mnist_path, tmp_path_factory):
    """Write the fixtures, run the Node test over them -> (folder, CompletedProcess)."""
    folder = tmp_path_factory.mktemp("trainer-fixtures")
    train_images, train_labels = load_mnist(mnist_path, "train")
    test_images, test_labels = load_mnist(mnist_path, "test")
    save_file({"images": train_images[:TRAIN_IMAGES].reshape(TRAIN_IMAGES, -1), "labels": train_labels[:TRAIN_IMAGES],
               "test_images": test_images[:TEST_IMAGES].reshape(TEST_IMAGES, -1),
               "test_labels": test_labels[:TEST_IMAGES]}, str(folder / "data.safetensors"))
    # the same training images as the page receives them (a file of 4 chunks), for the test that trains as they arrive
    data, _ = encode("mnist", (train_images[:TRAIN_IMAGES], train_labels[:TRAIN_IMAGES]), (test_images, test_labels))
    (folder / "data.bin").write_bytes(data)
    for seed in (0, 1):
        write_training_program(CONFIG, seed, folder / f"program-seed{seed}.safetensors")
    total = 1000
    steps = [0, 1, 10, 49, 50, 51, 300, 999]
    schedules = {name: {"warmup": warmup, "total": total, "steps": steps,
                        "factors": [lr_factor(name, s, total, warmup) for s in steps]}
                 for name, warmup in SCHEDULES.items()}
    (folder / "schedules.json").write_text(json.dumps(schedules))
    done = node_test(node_executable, NODE_TEST, timeout=900, TRAINER_FIXTURES=str(folder))
    return folder, done


@pytest.mark.slow
def test_the_page_trainer_learns_follows_beta_stops_on_divergence_and_repeats_a_seed(trainer_run):
    _, done = trainer_run
    assert done.returncode == 0, f"node --test {NODE_TEST} failed:\n{done.stdout[-12000:]}\n{done.stderr[-4000:]}"
    assert "# pass 7" in done.stdout and "# fail 0" in done.stdout, done.stdout[-4000:]


@pytest.mark.slow
@torch.inference_mode()
def test_pytorch_computes_the_page_trainers_test_figure_from_its_weights(trainer_run, test_tensor):
    """The weights trained in the page load into VAE strictly, and PyTorch's BCE and KL on the test subset agree
    with the page's test figure (its own noise: one posterior sample per image, so within a nat or two)."""
    folder, done = trainer_run
    assert done.returncode == 0, "the Node test failed: see the test above"
    model = VAE.from_pretrained(folder / "trained")
    assert model.config == CONFIG
    page = json.loads((folder / "trained" / "test_figure.json").read_text())
    x = test_tensor[:SUBSET]
    mu, logvar = model.encode(x)
    at_mu = negative_elbo(model.decode_logits(mu), x, mu, logvar, beta=1.0)
    kl = at_mu.kl.mean().item()
    assert abs(kl - page["kl"]) <= 1e-3 * max(1.0, kl), (kl, page)  # KL needs no noise: exact to float32
    torch.manual_seed(0)
    z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
    bce = negative_elbo(model.decode_logits(z), x, mu, logvar, beta=1.0).bce.mean().item()
    assert abs(bce - page["bce"]) <= 2.0, (bce, page)
    assert np.isfinite(page["elbo"]) and page["elbo"] == pytest.approx(page["bce"] + page["kl"])
