"""Shared fixtures, and how the tests get what they need from outside the repo, the same way on every machine:

- MNIST: the folder $MNIST_DIR names; when unset, the tests download it once (md5-checked, vae.mnist.download_mnist)
  into data/mnist/ in the repo (git-ignored) and reuse it after that.
- Fashion-MNIST: the same way, from $FASHION_MNIST_DIR or downloaded once into data/fashion-mnist/.
- Chromium (browser tests): $CHROMIUM, else /usr/bin/chromium, else chromium or chromium-browser on the PATH.
- The earlier version's weights (tests/test_model.py's anchor checks): $ANCHOR_WEIGHTS.
- Node.js (the page's core under `node --test`): `node` on the PATH.

What cannot be had is skipped with a reason that says how to get it; under CI (CI=true or 1) it fails instead,
so CI can never pass by skipping.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
PRETRAINED = REPO / "pretrained"
MNIST_DOWNLOAD_DIR = REPO / "data" / "mnist"  # git-ignored (/data/)
FASHION_DOWNLOAD_DIR = REPO / "data" / "fashion-mnist"


def png(path) -> np.ndarray:
    """A PNG file the app returned -> its pixels (and the proof that it is a PNG)."""
    with Image.open(path) as im:
        assert im.format == "PNG"
        return np.asarray(im)


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1")


def unavailable(reason: str):
    """Something a test needs is missing: skip with the reason, or fail under CI, where a skip would hide it."""
    if in_ci():
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


# ---------------------------------------------------------------------------------------------------------
# MNIST and Fashion-MNIST


def idx_folder(name: str, download_dir: Path) -> Path:
    """The folder holding data set `name`'s four IDX files: the one its environment variable names, else
    `download_dir`, filled on first use (md5-checked); missing and not downloadable: unavailable()."""
    from vae.datasets import FILES, DataSetError, download, get_dataset

    dataset = get_dataset(name)
    how_to_get = f"set {dataset.env} to a folder with the four IDX files, or run with internet once"
    if os.environ.get(dataset.env):
        path = Path(os.environ[dataset.env]).expanduser()
        names = [name for pair in FILES.values() for name in pair]
        missing = [n for n in names if not (path / n).is_file() and not (path / f"{n}.gz").is_file()]
        if missing:
            unavailable(f"{dataset.env}={path} lacks {', '.join(missing)}: {how_to_get}")
        return path
    try:
        # fetches only the files that are absent, md5-checked; a failed first download leaves no empty data/ behind
        return download(download_dir, dataset)
    except DataSetError as e:
        first_error = re.sub(r"https?://\S+: ", "", str(e).split(";")[0].split(". ")[0])  # the first mirror's
        unavailable(f"{dataset.title} is not in {download_dir} and the tests {first_error}; {how_to_get}")


@pytest.fixture(scope="session")
def mnist_path() -> Path:
    """The folder holding the four MNIST IDX files (downloaded on first use when MNIST_DIR is unset)."""
    return idx_folder("mnist", MNIST_DOWNLOAD_DIR)


@pytest.fixture(scope="session")
def fashion_path() -> Path:
    """The folder holding the four Fashion-MNIST IDX files (downloaded on first use when FASHION_MNIST_DIR is
    unset)."""
    return idx_folder("fashion-mnist", FASHION_DOWNLOAD_DIR)


@pytest.fixture(scope="session")
def fashion_test(fashion_path):
    """(images uint8 (10000, 28, 28), labels uint8 (10000,)) of Fashion-MNIST's real test split."""
    from vae.datasets import load_split

    return load_split(fashion_path, "test", "fashion-mnist")


@pytest.fixture(scope="session")
def mnist_test(mnist_path):
    """(images uint8 (10000, 28, 28), labels uint8 (10000,)) of the real test split."""
    from vae.mnist import load_mnist

    return load_mnist(mnist_path, "test")


@pytest.fixture(scope="session")
def test_tensor(mnist_test) -> torch.Tensor:
    from vae.mnist import as_tensor

    return as_tensor(mnist_test[0])


@pytest.fixture(scope="session")
def bundled_model():
    from vae import VAE

    return VAE.from_pretrained(PRETRAINED)


@pytest.fixture(scope="session")
def quick_mlp(mnist_path, tmp_path_factory):
    """The spec's `mlp` trained for one epoch over 6,000 training images (about 3 s on 2 cores), once per session:
    a model of that architecture whose outputs look like digits (a random initialisation's KL is ~0)."""
    from train.loop import TrainConfig, train

    cfg = TrainConfig(arch="mlp", epochs=1, train_subset=6000, batch_size=64, lr=1e-3, schedule="constant",
                      data_dir=str(mnist_path), device="cpu", threads=1, snapshots=False)
    return train(cfg, tmp_path_factory.mktemp("quick-mlp"), progress=False, log=lambda _: None).model.eval()


# ---------------------------------------------------------------------------------------------------------
# Chromium, for the browser tests


CHROMIUM_NAMES = ("/usr/bin/chromium", "chromium", "chromium-browser")  # Debian's path, then the PATH


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    """The path of a Chromium to drive with Playwright: $CHROMIUM, else /usr/bin/chromium, else one on the PATH."""
    chosen = os.environ.get("CHROMIUM")
    if chosen:
        if not Path(chosen).is_file():
            unavailable(f"CHROMIUM={chosen} is not a file: point it at a Chromium or Chrome binary, or unset it")
        return chosen
    found = find_chromium()
    if found is None:
        unavailable("no Chromium found: install it (Debian/Ubuntu: apt-get install chromium), "
                    "or set CHROMIUM to a Chromium or Chrome binary")
    return found


# ---------------------------------------------------------------------------------------------------------
# Node.js, for the page's core under `node --test`


@pytest.fixture(scope="session")
def node_executable() -> str:
    """The path of Node.js (18 or later: `node --test` and ES modules)."""
    found = shutil.which("node")
    if found is None:
        unavailable("no Node.js for the page's Node tests: install it (Debian/Ubuntu: apt-get install nodejs)")
    version = subprocess.run([found, "--version"], capture_output=True, text=True).stdout.strip()
    if int(version.lstrip("v").split(".")[0] or 0) < 18:
        unavailable(f"Node.js {version} is too old for `node --test`: install 18 or later")
    return found


def node_test(node_executable: str, *files, timeout: int = 600, **env: str) -> subprocess.CompletedProcess:
    """`node --test files` from the repository's root, with `env` (the fixtures' folders) added to the environment."""
    return subprocess.run([node_executable, "--test", *map(str, files)], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **env})


# ---------------------------------------------------------------------------------------------------------
# running the training CLI


# a model and an evaluation small enough for a 2-core machine: seconds per run, not minutes
TINY_RUN = ["--arch", "resmlp", "--hidden", "32", "--blocks", "1", "--device", "cpu", "--threads", "1",
            "--no-progress", "--iwae-k", "50", "--iwae-images", "100", "--exact-images", "100"]


def cli_env(**extra: str) -> dict[str, str]:
    """The environment for `python -m train` in a subprocess: the repo importable, offline, no MNIST_DIR or
    FASHION_MNIST_DIR (tests pass --data-dir), unbuffered output so a killed run's log is complete up to the kill."""
    env = {k: v for k, v in os.environ.items() if k not in ("MNIST_DIR", "FASHION_MNIST_DIR", "HF_TOKEN")}
    env.update(PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1", **extra)
    return env


@pytest.fixture(scope="session")
def tiny_run_args(mnist_path) -> list[str]:
    """Options for a seconds-long training run on the real data (add --out-dir, --epochs, --train-subset)."""
    return ["--data-dir", str(mnist_path), *TINY_RUN]


@pytest.fixture(scope="session")
def run_train():
    """run_train(*args, env=None, timeout=600) -> CompletedProcess of `python -m train ARGS` (text, captured)."""

    def run(*args, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "train", *map(str, args)], cwd=REPO, env=cli_env(**(env or {})),
                              capture_output=True, text=True, timeout=timeout)

    return run
