"""MNIST by the names it has always had here: vae/datasets.py's reader and downloader with the data set fixed to
MNIST (folder from --data-dir or $MNIST_DIR)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from vae import datasets
from vae.datasets import MNIST, as_tensor

MD5 = MNIST.md5  # the same dict: a change here is a change of what the downloader checks
MNISTError = datasets.DataSetError

__all__ = ["MD5", "MNISTError", "as_tensor", "download_mnist", "load_mnist", "read_idx", "resolve_data_dir"]


def resolve_data_dir(data_dir: str | os.PathLike | None) -> Path:
    """The folder given, else $MNIST_DIR; never a guessed default."""
    return datasets.resolve_data_dir(data_dir, MNIST)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """One IDX file (gzip or raw) -> uint8 array of its shape; a corrupt file raises MNISTError."""
    return datasets.read_idx(path, MNIST)


def load_mnist(data_dir: str | os.PathLike | None, split: str) -> tuple[np.ndarray, np.ndarray]:
    """-> (images uint8 (N, 28, 28), labels uint8 (N,)) of the split 'train' or 'test'."""
    return datasets.load_split(data_dir, split, MNIST)


def download_mnist(data_dir: str | os.PathLike | None, mirrors: tuple[str, ...] | None = None,
                   timeout: float = 30.0) -> Path:
    """The four MNIST .gz files that are absent, fetched into data_dir (None: $MNIST_DIR), md5-checked
    (datasets.download)."""
    return datasets.download(data_dir, MNIST, mirrors, timeout)
