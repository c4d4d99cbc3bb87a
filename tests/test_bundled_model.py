"""The bundled models (pretrained/ at the repo root, what the app loads when the Hub is out of reach,
pretrained/reference/, the spec's network trained with the spec's recipe, and pretrained/fashion/, the default recipe
on Fashion-MNIST): each loads, its stated test figure is true on the real test split of its data set, its model card
states the same figure and data set, and its latents file is that test split encoded by these very weights.

    python -m pytest tests/test_bundled_model.py      # about 10 s
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from huggingface_hub import ModelCard

from conftest import PRETRAINED
from vae import VAE, evaluate_elbo
from vae.datasets import as_tensor, get_dataset
from vae.latents import load_latents

BUNDLED = {"default": (PRETRAINED, "resmlp", "mnist"), "reference": (PRETRAINED / "reference", "mlp", "mnist"),
           "fashion": (PRETRAINED / "fashion", "resmlp", "fashion-mnist")}


@pytest.fixture(scope="module", params=sorted(BUNDLED))
def folder(request) -> Path:
    return BUNDLED[request.param][0]


@pytest.fixture(scope="module")
def bundled_model(folder):
    return VAE.from_pretrained(folder)


@pytest.fixture(scope="module")
def split(folder, request) -> tuple:
    """(test images as a (10000, 784) tensor, labels) of the data set the folder's model was trained on."""
    dataset = next(d for f, _, d in BUNDLED.values() if f == folder)
    images, labels = request.getfixturevalue("mnist_test" if dataset == "mnist" else "fashion_test")
    return as_tensor(images), labels


@pytest.fixture(scope="module")
def stated(folder) -> dict:
    """results.json: the figures the folder claims (written by `python -m train`)."""
    path = folder / "results.json"
    assert path.is_file(), f"{path} is missing: a bundled model must state its test figures (copy the run's results.json)"
    return json.loads(path.read_text())


def test_the_bundled_folder_is_complete(bundled_model, folder):
    for name in ("model.safetensors", "config.json", "latents.safetensors", "README.md", "results.json"):
        assert (folder / name).is_file(), name
    assert not bundled_model.training
    assert bundled_model.config.latent_dim == 2  # the app's two sliders
    assert (bundled_model.config.arch, bundled_model.config.dataset) == next(
        (arch, dataset) for f, arch, dataset in BUNDLED.values() if f == folder)
    assert not (folder / "checkpoint.safetensors").exists()  # the training checkpoint is not shipped


def test_the_stated_test_elbo_is_true(bundled_model, split, stated):
    # same measurement as the trainer's: one posterior sample per image, seed 0, beta 1, all 10,000 test images.
    # Measured so, it equals results.json to the last digit (on a 2-core x86 CPU, with 1 or 2 threads); summing in
    # another order (batches of 1,000 instead of 2,000: the same samples) moves it by 6e-6 nats, as another CPU's
    # float32 kernels may; other samples (seed 1) move it by 1e-3. So 1e-4: room for float rounding, none for other
    # weights, data or estimator.
    measured = evaluate_elbo(bundled_model, split[0])
    assert measured["elbo"] == pytest.approx(stated["elbo"], abs=1e-4)
    assert measured["kl"] == pytest.approx(stated["kl"], abs=1e-4)
    # the importance-weighted bound is tighter than the ELBO (Burda et al. 2015, theorem 1)
    if "iwae" in stated:
        assert stated["iwae"] <= stated["elbo"]


def test_the_model_card_states_the_same_figure(stated, folder, bundled_model):
    card = ModelCard.load(folder / "README.md")
    assert get_dataset(bundled_model.config.dataset).hub_id in (card.data.datasets or [])
    figures = {r.metric_type: r.metric_value for r in (card.data.eval_results or [])}
    assert "neg_elbo" in figures, f"{folder}/README.md has no model-index entry for the test -ELBO"
    assert figures["neg_elbo"] == round(stated["elbo"], 2)
    if "iwae" in stated:
        assert figures.get("iwae_bound") == round(stated["iwae"], 2)


def test_the_latents_are_this_models_encoding_of_the_test_split(bundled_model, folder, split):
    latents = load_latents(folder / "latents.safetensors")
    assert latents["mu"].shape == latents["sigma"].shape == (10_000, 2)
    assert np.array_equal(latents["labels"], split[1])
    with torch.no_grad():
        mu, logvar = bundled_model.encode(split[0])
    np.testing.assert_allclose(latents["mu"], mu.numpy(), rtol=0, atol=1e-4)
    np.testing.assert_allclose(latents["sigma"], torch.exp(0.5 * logvar).numpy(), rtol=1e-4, atol=1e-6)
