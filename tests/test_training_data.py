"""The in-browser trainer's data (webapp/training_data.py, static/js/core/trainingdata.js): the file written from the
real MNIST IDX files, read back under Node by the page's reader and compared image by image with the IDX files
(tests/node/trainingdata.test.mjs: the test subset exact, every training image within the 4-bit quantisation, the
first chunks readable before the rest has arrived, damaged and truncated files refused); its size within 12 MB for
both data sets; and, without the data set, no file and a message that says how to get it.

Needs MNIST and Fashion-MNIST (tests/conftest.py: MNIST_DIR, FASHION_MNIST_DIR) and Node.js 18+.
Run: python -m pytest tests/test_training_data.py   (about a minute on 2 busy cores)
"""

from __future__ import annotations

import gzip
import json
import os
import struct
import subprocess

import numpy as np
import pytest

from vae.datasets import load_split
from vae.snapshots import subset_indices
from webapp.training_data import (MAX_BYTES, TEST_SIZE, encode, missing_message, training_data_path,
                                  training_order)

from conftest import REPO

NODE_TEST = REPO / "tests" / "node" / "trainingdata.test.mjs"


def header_of(data: bytes) -> dict:
    (length,) = struct.unpack("<I", data[8:12])
    return json.loads(data[12:12 + length])


@pytest.fixture(scope="module")
def mnist_file(mnist_path, tmp_path_factory, monkeypatch_module):
    monkeypatch_module.setenv("MNIST_DIR", str(mnist_path))
    return training_data_path("mnist", tmp_path_factory.mktemp("bundles"))


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def test_the_page_reads_mnist_as_the_idx_files_hold_it(mnist_file, mnist_path, node_executable, tmp_path):
    data = mnist_file.read_bytes()
    header = header_of(data)
    assert header["train_n"] == 60_000 and header["test_n"] == TEST_SIZE and len(data) <= MAX_BYTES
    # what the Node test compares with: the file's order of the training images and the test subset's indices
    training_order(60_000).astype("<i4").tofile(tmp_path / "order.i32")
    subset_indices(10_000, TEST_SIZE).astype("<i4").tofile(tmp_path / "test.i32")
    env = {**os.environ, "TRAINING_DATA_FILE": str(mnist_file), "TRAINING_DATA_IDX": str(mnist_path),
           "TRAINING_DATA_INDICES": str(tmp_path)}
    run = subprocess.run([node_executable, "--test", str(NODE_TEST)], cwd=REPO, capture_output=True, text=True,
                         timeout=600, env=env)
    if run.returncode != 0:
        pytest.fail(f"node --test failed ({run.returncode}):\n{run.stdout}\n{run.stderr}", pytrace=False)
    assert "# fail 0" in run.stdout and "# pass 0" not in run.stdout, run.stdout


def test_the_same_data_writes_the_same_file_once(mnist_file, mnist_path):
    again = training_data_path("mnist", mnist_file.parent)
    assert again == mnist_file and list(mnist_file.parent.glob("training-data-*")) == [mnist_file]
    assert not list(mnist_file.parent.glob(".*.tmp"))  # the atomic write left no temporary file


def test_fashion_mnist_fits_in_12_mb(fashion_path):
    """Fashion-MNIST's images compress less: the file holds the shuffled order's first chunks that fit."""
    train, test = load_split(fashion_path, "train", "fashion-mnist"), load_split(fashion_path, "test", "fashion-mnist")
    data, held = encode("fashion-mnist", train, test)
    header = header_of(data)
    assert len(data) <= MAX_BYTES and header["train_n"] == len(held) >= 50_000
    assert (held == training_order(60_000)[:len(held)]).all()
    # the test chunk is the replay's subset, exact: the gzip stream right after the header
    start = 12 + struct.unpack("<I", data[8:12])[0]
    raw = gzip.decompress(data[start:start + header["chunks"][0]["bytes"]])
    keep = subset_indices(10_000, TEST_SIZE)
    assert raw == test[1][keep].tobytes() + test[0][keep].tobytes()


def test_without_the_data_set_there_is_no_file_and_a_message(tmp_path, monkeypatch):
    for name in ("MNIST_DIR", "FASHION_MNIST_DIR", "SPACE_ID"):
        monkeypatch.delenv(name, raising=False)
    assert training_data_path("mnist", tmp_path) is None
    assert "MNIST_DIR" in missing_message("mnist") and "--download" in missing_message("mnist")
    assert "FASHION_MNIST_DIR" in missing_message("fashion-mnist")
    monkeypatch.setenv("MNIST_DIR", str(tmp_path / "nowhere"))
    assert training_data_path("mnist", tmp_path) is None
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "train-images-idx3-ubyte").write_bytes(b"\0\0\x08\x03 not an idx file")
    monkeypatch.setenv("MNIST_DIR", str(tmp_path / "broken"))
    assert training_data_path("mnist", tmp_path) is None
    assert not list(tmp_path.glob("training-data-*"))
