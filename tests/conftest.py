"""Shared fixtures. MNIST comes from $MNIST_DIR; when unset, from ../shared/data/mnist beside the repo
(where this project's CI and workspace keep it)."""

from __future__ import annotations

import os
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
