"""MNIST from its four IDX files (gzip or raw, original names): reading, checking, and downloading.

IDX format: http://yann.lecun.com/exdb/mnist/ (bottom of the page): a big-endian magic number whose third
byte is the element type (0x08 = uint8) and fourth the number of dimensions, then one uint32 per dimension.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

DATA_DIR_ENV = "MNIST_DIR"  # environment variable naming the folder with the IDX files

FILES = {  # split -> (images, labels), the original names
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
COUNTS = {"train": 60_000, "test": 10_000}

# md5 of the canonical .gz files, as torchvision and the original site publish them
MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
HOW_TO_GET = (
    f"Pass --data-dir (or set {DATA_DIR_ENV}) to a folder holding the four MNIST IDX files "
    "(train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], "
    "t10k-labels-idx1-ubyte[.gz]), or add --download to fetch them from the public mirrors."
)
# for a file that is there but broken (--download skips files that exist, so it must go first)
FETCH_AGAIN = f"Delete or replace the broken file. {HOW_TO_GET}"


class MNISTError(RuntimeError):
    """MNIST cannot be read: the message says what is wrong and how to get it."""


# ---------------------------------------------------------------------------------------------------------
# reading


def resolve_data_dir(data_dir: str | os.PathLike | None) -> Path:
    """The folder given, else $MNIST_DIR; never a guessed default."""
    chosen = data_dir if data_dir is not None else os.environ.get(DATA_DIR_ENV)
    if not chosen:
        raise MNISTError(f"No MNIST folder given. {HOW_TO_GET}")
    return Path(chosen).expanduser()


def _find(data_dir: Path, name: str) -> Path:
    for candidate in (data_dir / f"{name}.gz", data_dir / name):
        if candidate.is_file():
            return candidate
    raise MNISTError(f"{data_dir} has no {name}.gz or {name}. {HOW_TO_GET}")


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """One IDX file (gzip or raw) -> uint8 array of its shape; a corrupt file raises MNISTError."""
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise MNISTError(f"{path} cannot be read ({e}); it is corrupt or incomplete. {FETCH_AGAIN}") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise MNISTError(f"{path} is not an IDX file of unsigned bytes (bad magic number). {FETCH_AGAIN}")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise MNISTError(f"{path} is truncated inside its header. {FETCH_AGAIN}")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape, dtype=np.int64))
    if len(raw) != expected:
        raise MNISTError(f"{path} has {len(raw)} bytes but its header {shape} needs {expected}; it is corrupt. {FETCH_AGAIN}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def load_mnist(data_dir: str | os.PathLike | None, split: str) -> tuple[np.ndarray, np.ndarray]:
    """-> (images uint8 (N, 28, 28), labels uint8 (N,)) of the split 'train' or 'test'."""
    if split not in FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    folder = resolve_data_dir(data_dir)
    if not folder.is_dir():
        raise MNISTError(f"MNIST folder {folder} does not exist. {HOW_TO_GET}")
    images_name, labels_name = FILES[split]
    images, labels = read_idx(_find(folder, images_name)), read_idx(_find(folder, labels_name))
    n = COUNTS[split]
    if images.shape != (n, 28, 28) or labels.shape != (n,):
        raise MNISTError(
            f"MNIST {split} files in {folder} have shapes {images.shape} and {labels.shape}, "
            f"expected ({n}, 28, 28) and ({n},). {FETCH_AGAIN}"
        )
    if labels.max() > 9:
        raise MNISTError(f"{folder / labels_name} holds labels above 9; it is corrupt. {FETCH_AGAIN}")
    return images, labels


def as_tensor(images: np.ndarray):
    """uint8 (N, 28, 28) -> float32 torch tensor (N, 784) in [0, 1]: the whole split as one tensor."""
    import torch

    return torch.from_numpy(images.reshape(len(images), -1).astype(np.float32) / 255.0)


# ---------------------------------------------------------------------------------------------------------
# downloading


def md5_of(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download_mnist(data_dir: str | os.PathLike | None, mirrors: tuple[str, ...] | None = None,
                   timeout: float = 30.0) -> Path:
    """Fetch the four .gz files that are absent into data_dir (None: $MNIST_DIR), trying each mirror in turn
    (default: MIRRORS), and check their md5.

    Each file is written to a temporary name in the folder and renamed only once its checksum matches, so an
    interrupted or corrupt download never leaves a file that looks complete. If the download fails, the folders it
    created are removed again as long as they are empty; a folder that existed before is never removed.
    """
    mirrors = MIRRORS if mirrors is None else mirrors  # read at call time, so the list can be changed (tests, forks)
    chosen = data_dir if data_dir is not None else os.environ.get(DATA_DIR_ENV)
    if not chosen:
        raise MNISTError(f"--download needs a folder to put MNIST in: pass --data-dir (e.g. data/mnist) or set "
                         f"{DATA_DIR_ENV}.")
    folder = Path(chosen).expanduser()
    created = [p for p in (folder, *folder.parents) if not p.exists()]  # deepest first
    folder.mkdir(parents=True, exist_ok=True)
    try:
        for name, md5 in MD5.items():
            if not ((folder / name).is_file() or (folder / name.removesuffix(".gz")).is_file()):
                _fetch(folder / name, md5, mirrors, timeout)
    except BaseException:  # also Ctrl-C: no empty folder left behind
        for p in created:
            try:
                p.rmdir()  # only ever removes an empty folder
            except OSError:
                break  # it holds files (some downloads succeeded): keep it and its parents
        raise
    return folder


def _fetch(target: Path, md5: str, mirrors: tuple[str, ...], timeout: float) -> None:
    errors = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + target.name
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
                shutil.copyfileobj(response, out)
            got = md5_of(Path(tmp))
            if got != md5:
                errors.append(f"{url}: md5 {got} does not match the expected {md5}")
                continue
            os.replace(tmp, target)
            return
        except (urllib.error.URLError, OSError, TimeoutError) as e:
            errors.append(f"{url}: {e}")
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    # the user asked for the download already: say why it failed and the ways around it, not "add --download"
    raise MNISTError(
        f"could not download {target.name}: " + "; ".join(errors) + ". The download failed: check the internet "
        f"connection (and any proxy) and run the same command again, or put the four MNIST IDX files "
        f"({', '.join(MD5)}) into {target.parent} yourself, or pass --data-dir (or set {DATA_DIR_ENV}) to a folder "
        "that holds them."
    )
