"""The IDX reader (vae/mnist.py) against published facts about MNIST, raw and gzip files, and every way a folder
can be wrong: each must raise MNISTError with a message that says what is wrong and how to get MNIST, and the CLI
must turn it into a one-line error (no traceback) and a non-zero exit.

    python -m pytest tests/test_mnist.py      # about 15 s; MNIST from $MNIST_DIR (fetched once when unset)
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
import struct

import numpy as np
import pytest

from vae.mnist import MD5, MNISTError, load_mnist, read_idx, resolve_data_dir

# published facts (LeCun's page, torchvision): class counts of each split, first labels, canonical md5 of the .gz
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
CANONICAL_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
NAMES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


def _says_how_to_get_mnist(message: str) -> bool:
    return all(s in message for s in ("--data-dir", "MNIST_DIR", "--download"))


# ---------------------------------------------------------------------------------------------------------
# the real files


def test_test_split_matches_published_facts(mnist_test, mnist_path):
    images, labels = mnist_test
    assert images.shape == (10_000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10_000,) and labels.dtype == np.uint8
    assert np.bincount(labels, minlength=10).tolist() == TEST_COUNTS
    assert labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert images.min() == 0 and images.max() == 255
    assert images.mean() / 255 == pytest.approx(0.1325, abs=1e-4)  # the test split's well-known mean intensity
    # the shared test files are the canonical ones, and the library checks downloads against those same sums
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        assert hashlib.md5((mnist_path / name).read_bytes()).hexdigest() == CANONICAL_MD5[name]
    assert MD5 == CANONICAL_MD5


def test_train_split_matches_published_facts(mnist_path):
    images, labels = load_mnist(mnist_path, "train")
    assert images.shape == (60_000, 28, 28) and labels.shape == (60_000,)
    assert np.bincount(labels, minlength=10).tolist() == TRAIN_COUNTS
    assert labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert images.mean() / 255 == pytest.approx(0.1307, abs=1e-4)  # the usual normalisation constant


def test_reader_returns_the_file_bytes_in_order(mnist_path):
    # decode the header by hand (big-endian magic 0x00000803, then 10000, 28, 28) and compare the payload byte for
    # byte with what the reader returns: no reordering, no off-by-one in the header length
    raw = gzip.decompress((mnist_path / "t10k-images-idx3-ubyte.gz").read_bytes())
    assert struct.unpack(">IIII", raw[:16]) == (0x00000803, 10_000, 28, 28)
    images = read_idx(mnist_path / "t10k-images-idx3-ubyte.gz")
    assert images.tobytes() == raw[16:]


def test_raw_files_read_like_gzip_ones(tmp_path, mnist_path, mnist_test):
    # a folder of decompressed test files (and the train files as they are) gives the same arrays
    for name in NAMES[2:]:
        (tmp_path / name).write_bytes(gzip.decompress((mnist_path / f"{name}.gz").read_bytes()))
    images, labels = load_mnist(tmp_path, "test")
    assert np.array_equal(images, mnist_test[0]) and np.array_equal(labels, mnist_test[1])


def test_data_dir_falls_back_to_the_environment(monkeypatch, mnist_path, mnist_test):
    monkeypatch.setenv("MNIST_DIR", str(mnist_path))
    images, _ = load_mnist(None, "test")
    assert np.array_equal(images, mnist_test[0])
    monkeypatch.delenv("MNIST_DIR")
    with pytest.raises(MNISTError) as e:
        resolve_data_dir(None)
    assert "No MNIST folder given" in str(e.value) and _says_how_to_get_mnist(str(e.value))


# ---------------------------------------------------------------------------------------------------------
# broken folders and files


@pytest.fixture
def test_split_copy(tmp_path, mnist_path):
    """A folder with raw copies of the two test files, to be broken by each test."""
    for name in NAMES[2:]:
        (tmp_path / name).write_bytes(gzip.decompress((mnist_path / f"{name}.gz").read_bytes()))
    return tmp_path


def test_missing_folder(tmp_path):
    with pytest.raises(MNISTError) as e:
        load_mnist(tmp_path / "nowhere", "test")
    msg = str(e.value)
    assert "nowhere" in msg and "does not exist" in msg and _says_how_to_get_mnist(msg)


def test_missing_file(test_split_copy):
    (test_split_copy / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(MNISTError) as e:
        load_mnist(test_split_copy, "test")
    msg = str(e.value)
    assert "t10k-labels-idx1-ubyte" in msg and _says_how_to_get_mnist(msg)


def _break(path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncated raw":
        path.write_bytes(data[: len(data) // 2])
    elif how == "truncated inside the header":
        path.write_bytes(data[:10])
    elif how == "bad magic number":
        path.write_bytes(b"\x00\x00\x0d\x03" + data[4:])  # type 0x0D (float) instead of 0x08 (unsigned byte)
    elif how == "not idx at all":
        path.write_bytes(b"<html>404 Not Found</html>")
    else:
        raise AssertionError(how)


@pytest.mark.parametrize("how,says", [
    ("truncated raw", "bytes but its header"),
    ("truncated inside the header", "truncated"),
    ("bad magic number", "bad magic number"),
    ("not idx at all", "bad magic number"),
])
def test_broken_raw_file(test_split_copy, how, says):
    target = test_split_copy / "t10k-images-idx3-ubyte"
    _break(target, how)
    with pytest.raises(MNISTError) as e:
        load_mnist(test_split_copy, "test")
    msg = str(e.value)
    assert str(target) in msg and says in msg and _says_how_to_get_mnist(msg), msg


@pytest.mark.parametrize("how", ["truncated gzip", "corrupt gzip", "not gzip at all"])
def test_broken_gzip_file(tmp_path, mnist_path, how):
    for name in NAMES[2:]:
        shutil.copy(mnist_path / f"{name}.gz", tmp_path)
    target = tmp_path / "t10k-images-idx3-ubyte.gz"
    data = bytearray(target.read_bytes())
    if how == "truncated gzip":
        data = data[: len(data) // 2]
    elif how == "corrupt gzip":
        data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)  # zeroed stretch: deflate data or CRC fails
    else:
        data = bytearray(b"this is not a gzip file")
    target.write_bytes(bytes(data))
    with pytest.raises(MNISTError) as e:
        load_mnist(tmp_path, "test")
    msg = str(e.value)
    assert str(target) in msg and "corrupt" in msg and _says_how_to_get_mnist(msg), msg


def test_files_of_the_wrong_split_are_refused(test_split_copy, mnist_path):
    # the train labels under the test labels' name: a valid IDX file with 60,000 items
    (test_split_copy / "t10k-labels-idx1-ubyte").write_bytes(
        gzip.decompress((mnist_path / "train-labels-idx1-ubyte.gz").read_bytes()))
    with pytest.raises(MNISTError, match=r"expected \(10000, 28, 28\) and \(10000,\)"):
        load_mnist(test_split_copy, "test")


def test_labels_out_of_range_are_refused(test_split_copy):
    path = test_split_copy / "t10k-labels-idx1-ubyte"
    data = bytearray(path.read_bytes())
    data[8] = 10  # the first label
    path.write_bytes(bytes(data))
    with pytest.raises(MNISTError, match="labels above 9"):
        load_mnist(test_split_copy, "test")


# ---------------------------------------------------------------------------------------------------------
# the CLI: a clear one-line error, no traceback


def test_cli_with_a_missing_data_dir_says_how_to_get_mnist(tmp_path, run_train):
    result = run_train("--data-dir", tmp_path / "nowhere", "--out-dir", tmp_path / "out", "--no-progress",
                       "--epochs", "1")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "error:" in result.stderr and "does not exist" in result.stderr
    assert _says_how_to_get_mnist(result.stderr), result.stderr


def test_cli_with_a_corrupt_file_says_what_is_wrong(test_split_copy, mnist_path, tmp_path, run_train):
    for name in NAMES[:2]:
        (test_split_copy / f"{name}.gz").symlink_to(mnist_path / f"{name}.gz")
    _break(test_split_copy / "t10k-images-idx3-ubyte", "truncated raw")
    result = run_train("--data-dir", test_split_copy, "--out-dir", tmp_path / "out", "--no-progress", "--epochs", "1")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "t10k-images-idx3-ubyte" in result.stderr and _says_how_to_get_mnist(result.stderr), result.stderr
