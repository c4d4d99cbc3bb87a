"""Shared fixtures. MNIST comes from $MNIST_DIR; when unset, from ../shared/data/mnist beside the repo
(where this project's CI and workspace keep it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
PRETRAINED = REPO / "pretrained"


def mnist_dir() -> Path:
    return Path(os.environ.get("MNIST_DIR") or REPO.parent / "shared" / "data" / "mnist")


@pytest.fixture(scope="session")
def mnist_path() -> Path:
    path = mnist_dir()
    if not path.is_dir():
        pytest.fail(f"MNIST not found at {path}: set MNIST_DIR to the folder with the four IDX files")
    return path


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


# ---------------------------------------------------------------------------------------------------------
# running the training CLI


# a model and an evaluation small enough for a 2-core machine: seconds per run, not minutes
TINY_RUN = ["--arch", "resmlp", "--hidden", "32", "--blocks", "1", "--device", "cpu", "--threads", "1",
            "--no-progress", "--iwae-k", "50", "--iwae-images", "100"]


def cli_env(**extra: str) -> dict[str, str]:
    """The environment for `python -m train` in a subprocess: the repo importable, offline, no MNIST_DIR (tests
    pass --data-dir), unbuffered output so a killed run's log is complete up to the kill."""
    env = {k: v for k, v in os.environ.items() if k not in ("MNIST_DIR", "HF_TOKEN")}
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
