"""Fashion-MNIST as a second data set: the reader against the data set's published facts, config.json's "dataset"
(absent: MNIST, so every published model keeps loading), and `python -m train --dataset fashion-mnist` end to end on
a few hundred training images: the config, results, card (metadata, class names, figures, replay table) and latent
map name the data set; $FASHION_MNIST_DIR is read; a resume across data sets is refused.

    python -m pytest tests/test_fashion_mnist.py      # about 40 s; Fashion-MNIST from $FASHION_MNIST_DIR
"""

from __future__ import annotations

import json
import re
import shlex

import numpy as np
import pytest
import torch
from huggingface_hub import ModelCard
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from conftest import PRETRAINED
from vae import VAE, VAEConfig, evaluate_elbo
from vae.datasets import FASHION_MNIST, MNIST, DataSetError, as_tensor, get_dataset, load_split, resolve_data_dir
from vae.evaluate import pixel_entropy
from vae.latents import load_latents

# published facts (the data set's paper and README): 6,000 / 1,000 images per class, the first test labels, and
# the training split's mean intensity that every Fashion-MNIST normalisation uses (0.2860)
FIRST_TEST_LABELS = [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
SUBSET, EPOCHS = 400, 2


def test_the_fashion_test_split_matches_published_facts(fashion_test):
    images, labels = fashion_test
    assert images.shape == (10_000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels, minlength=10).tolist() == [1000] * 10
    assert labels[:10].tolist() == FIRST_TEST_LABELS
    assert list(FASHION_MNIST.class_names) == CLASSES


def test_the_fashion_train_split_matches_published_facts(fashion_path):
    images, labels = load_split(fashion_path, "train", "fashion-mnist")
    assert images.shape == (60_000, 28, 28) and np.bincount(labels, minlength=10).tolist() == [6000] * 10
    assert images.mean() / 255 == pytest.approx(0.2860, abs=1e-4)


def test_each_data_set_has_its_own_folder_variable(monkeypatch, fashion_path):
    monkeypatch.delenv("MNIST_DIR", raising=False)
    monkeypatch.setenv("FASHION_MNIST_DIR", str(fashion_path))
    assert resolve_data_dir(None, "fashion-mnist") == fashion_path
    with pytest.raises(DataSetError, match="No MNIST folder given.*MNIST_DIR"):
        resolve_data_dir(None, "mnist")
    monkeypatch.delenv("FASHION_MNIST_DIR")
    with pytest.raises(DataSetError) as e:
        load_split(None, "test", "fashion-mnist")
    assert "No Fashion-MNIST folder given" in str(e.value) and "FASHION_MNIST_DIR" in str(e.value)
    with pytest.raises(ValueError, match="unknown data set 'cifar'; choose one of mnist, fashion-mnist"):
        get_dataset("cifar")


def test_the_pixel_entropy_is_the_bce_of_a_perfect_reconstruction(fashion_test):
    x = as_tensor(fashion_test[0][:500])  # (500, 784)
    # BCE of logits that decode to exactly x (clamped away from 0 and 1, whose entropy is 0 anyway)
    p = x.double().clamp(1e-12, 1 - 1e-12)
    bce = torch.nn.functional.binary_cross_entropy(p, x.double(), reduction="none").sum(1).mean()
    assert pixel_entropy(x) == pytest.approx(float(bce), abs=1e-6)
    assert pixel_entropy(torch.zeros(3, 784)) == 0.0 and pixel_entropy(torch.full((1, 784), 0.5)) == \
        pytest.approx(784 * np.log(2))


# ---------------------------------------------------------------------------------------------------------
# config.json's data set


def test_a_config_without_a_data_set_is_an_mnist_model():
    bundled = json.loads((PRETRAINED / "config.json").read_text())
    assert "dataset" not in bundled  # published before data sets were named
    assert VAE.from_pretrained(PRETRAINED).config.dataset == "mnist"
    assert VAEConfig.from_dict({"arch": "mlp"}).dataset == "mnist"
    assert VAEConfig(dataset="fashion-mnist").to_dict()["dataset"] == "fashion-mnist"
    with pytest.raises(ValueError, match="unknown dataset 'cifar10'"):
        VAEConfig(dataset="cifar10")


# ---------------------------------------------------------------------------------------------------------
# the trainer end to end


@pytest.fixture(scope="module")
def fashion_run(tmp_path_factory, run_train, fashion_path):
    """`python -m train --dataset fashion-mnist` on 400 training images for 2 epochs, the folder from
    $FASHION_MNIST_DIR (no --data-dir)."""
    from conftest import TINY_RUN

    out = tmp_path_factory.mktemp("fashion") / "model"
    result = run_train("--dataset", "fashion-mnist", *TINY_RUN, "--out-dir", out, "--epochs", EPOCHS,
                       "--train-subset", SUBSET, "--batch-size", 50, env={"FASHION_MNIST_DIR": str(fashion_path)})
    assert result.returncode == 0, result.stderr[-3000:]
    return out, result


@pytest.mark.slow
def test_the_run_names_its_data_set_in_config_and_results(fashion_run, fashion_test, fashion_path):
    out, result = fashion_run
    assert json.loads((out / "config.json").read_text())["dataset"] == "fashion-mnist"
    assert json.loads((out / "train_config.json").read_text())["dataset"] == "fashion-mnist"
    model = VAE.from_pretrained(out)
    assert model.config.dataset == "fashion-mnist"
    results = json.loads((out / "results.json").read_text())
    x = as_tensor(fashion_test[0])
    assert results["dataset"] == "fashion-mnist"
    assert results["elbo"] == pytest.approx(evaluate_elbo(model, x)["elbo"], abs=1e-3)  # Fashion's test split
    assert results["pixel_entropy"] == pytest.approx(pixel_entropy(x), abs=1e-9)
    assert 150 < results["pixel_entropy"] < results["bce"]
    latents = load_latents(out / "latents.safetensors")
    assert np.array_equal(latents["labels"], fashion_test[1])
    with safe_open(str(out / "snapshots.safetensors"), framework="pt") as f:  # the replay's model is this one
        assert json.loads(f.metadata()["config"])["dataset"] == "fashion-mnist"
    assert "data_dir=" + str(fashion_path) in " ".join(result.stdout.split())


@pytest.mark.slow
def test_the_card_names_the_data_set(fashion_run):
    out, _ = fashion_run
    results = json.loads((out / "results.json").read_text())
    card = ModelCard.load(out / "README.md")
    assert card.data.datasets == [FASHION_MNIST.hub_id] and "fashion-mnist" in card.data.tags
    assert "mnist" not in card.data.tags
    for r in card.data.eval_results:
        assert (r.dataset_type, r.dataset_name, r.dataset_split) == (FASHION_MNIST.hub_id, "Fashion-MNIST", "test")
    text = card.text
    assert "# VAE with a 2-D latent space on Fashion-MNIST (resmlp)" in text
    assert "## Results on the Fashion-MNIST test split" in text
    assert re.findall(r"(?<!Fashion-)MNIST", text) == []  # no word of the other data set
    assert ", ".join(f"{i} {name}" for i, name in enumerate(CLASSES)) in text
    assert f"pixel entropy, **{results['pixel_entropy']:.2f}** nats per image" in text
    assert "Decoded images on a lattice" in text and "coloured by class" in text and "digit" not in text
    assert "## Training replay" in text and "| 0 | 0.00 |" in text  # the replay table, from step 0
    command = text[text.index("```bash\n") + 8:].split("\n")[0]
    words = shlex.split(command)
    assert words[:8] == ["python", "-m", "train", "--dataset", "fashion-mnist", "--download", "--data-dir",
                         "data/fashion-mnist"], command
    assert f"--train-subset {SUBSET}" in command


@pytest.mark.slow
def test_the_cards_command_resolves_to_the_same_settings(fashion_run):
    from train.__main__ import resolve_config

    out, _ = fashion_run
    text = ModelCard.load(out / "README.md").text
    words = shlex.split(text[text.index("```bash\n") + 8:].split("\n")[0])
    _, cfg = resolve_config(words[3:])
    trained = json.loads((out / "train_config.json").read_text())
    assert {**trained, "data_dir": "data/fashion-mnist"} == {k: v for k, v in vars(cfg).items()}


@pytest.mark.slow
def test_a_resume_on_another_data_set_is_refused(fashion_run, run_train, mnist_path, tmp_path):
    from conftest import TINY_RUN

    out, _ = fashion_run
    result = run_train("--data-dir", mnist_path, *TINY_RUN, "--out-dir", out, "--epochs", EPOCHS,
                       "--train-subset", SUBSET, "--batch-size", 50, "--resume")
    assert result.returncode == 1 and "different settings" in result.stderr and "dataset" in result.stderr


@pytest.mark.slow
def test_a_checkpoint_from_before_data_sets_were_named_is_mnist(fashion_run, run_train, fashion_path, tmp_path):
    # a run folder written before config.json named a data set: its checkpoint's settings lack "dataset"
    from conftest import TINY_RUN

    out, _ = fashion_run
    old = tmp_path / "old"
    old.mkdir()
    with safe_open(str(out / "checkpoint.safetensors"), framework="pt") as f:
        header = dict(f.metadata())
    meta = json.loads(header["meta"])
    del meta["train_config"]["dataset"]
    save_file(load_file(str(out / "checkpoint.safetensors")), str(old / "checkpoint.safetensors"),
              metadata={**header, "meta": json.dumps(meta)})
    result = run_train("--dataset", "fashion-mnist", "--data-dir", fashion_path, *TINY_RUN, "--out-dir", old,
                       "--epochs", EPOCHS, "--train-subset", SUBSET, "--batch-size", 50, "--resume", "--no-snapshots")
    assert result.returncode == 1 and "different settings (dataset)" in result.stderr, result.stderr[-2000:]
