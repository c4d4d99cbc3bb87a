"""The training data the page trains on in the visitor's browser: one compact file per data set, written once from
the IDX files the library reads (vae/datasets.py), served like the page bundles and read by
static/js/core/trainingdata.js.

    training_data_path("mnist")      # -> Path of the file, or None when the data set is not there
    missing_message("fashion-mnist")  # what the Train tab says instead

The file, "vae-explorer-training-data/1" (all integers little-endian):

    magic    8 bytes  b"VAEDATA1"
    H        uint32   length of the header
    header   H bytes  UTF-8 JSON: {"format", "dataset", "title", "class_names", "side": 28, "grey_step": 17,
                      "train_n", "test_n", "source_train_n", "chunks": [{"split", "n", "bits", "bytes"}]}
    chunks   back to back, in the header's order, "bytes" each: its own gzip stream (what the browser's
             DecompressionStream("gzip") reads) of n labels (uint8) then n images of side * side pixels,
             bits 8: a byte per pixel; bits 4: two pixels a byte, the first in the high nibble, grey = level * 17

The test chunk comes first: the fixed subset of TEST_SIZE test images (vae/snapshots.py's subset_indices, the
same images the Training tab's replay maps) with their exact grey levels, a byte per pixel, so the page's test
−ELBO and map are those of the real images. Then the training images in a fixed shuffled order, in chunks of
CHUNK_IMAGES: the shuffled order and the small chunks let the page start training on the first chunks while the rest
arrives, each chunk a uniform sample of the training set. When every training image fits within MAX_BYTES exactly
(MNIST: 10.1 MB), they are stored exactly; otherwise (Fashion-MNIST's busier images compress less: 26 MB) at 4-bit
grey levels (round(g / 17), shown as level * 17: within 8 of the original grey level), as many chunks as fit
(Fashion-MNIST: 55,000 of the 60,000 images, 11.7 MB; docs/app.md gives what that costs in test −ELBO).

Written atomically under the page bundles' folder, at most one file per data set, its name holding the data set and
a digest of the encoding and of the IDX files, so a browser may keep it as long as it likes (the name changes when
the data does). Where the app runs on a Space (SPACE_ID set) and the data set's folder is not set, the data set is
downloaded, md5-checked, by the library's own download into a folder beside the bundles' folder.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import struct
import tempfile
import threading
from pathlib import Path

import numpy as np

from vae.atomic import atomic_write
from vae.datasets import DataSetError, download, get_dataset, load_split
from vae.snapshots import subset_indices

log = logging.getLogger("vae_explorer")

FORMAT = "vae-explorer-training-data/1"
MAGIC = b"VAEDATA1"
MAX_BYTES = 12_000_000  # the most one data set may cost a visitor's download (issue: <= 12 MB)
BITS = 4  # grey levels of the training images: 16 (a level * 17 is the grey shown)
GREY_STEP = 255 // (2**BITS - 1)  # 17
TEST_SIZE = 2000  # test images the page maps and evaluates, lossless
CHUNK_IMAGES = 2500  # training images per chunk: about 0.2-0.5 MB, the granularity at which the page can start
ORDER_SEED = 0  # the fixed shuffle of the training set
SPACE_ENV = "SPACE_ID"  # set by Hugging Face Spaces: the app is online and may download the data set
NAME_PREFIX = "training-data-"

_writing = threading.Lock()  # one writer per process: two visitors pressing Train at once write the file once


def quantise(images: np.ndarray) -> np.ndarray:
    """uint8 grey levels g -> uint8 4-bit levels 0..15, round(g / 17) (never a tie: 17 is odd); the page shows
    level * GREY_STEP."""
    return ((images.astype(np.uint16) + GREY_STEP // 2) // GREY_STEP).astype(np.uint8)


def dequantise(levels: np.ndarray) -> np.ndarray:
    """4-bit levels -> the grey levels the page trains on."""
    return (levels.astype(np.uint16) * GREY_STEP).astype(np.uint8)


def pack(levels: np.ndarray) -> np.ndarray:
    """(n, 784) 4-bit levels -> (n, 392) bytes, pixel 2i in the high nibble of byte i."""
    return (levels[:, 0::2] << 4) | levels[:, 1::2]


def training_order(n: int) -> np.ndarray:
    """The fixed shuffled order of the training images in the file."""
    return np.random.default_rng(ORDER_SEED).permutation(n)


def gzip_chunk(labels: np.ndarray, pixels: np.ndarray) -> bytes:
    # mtime=0: the same data writes the same bytes. Level 6: 0.7 % more bytes than 9 (Fashion-MNIST), 8x faster
    return gzip.compress(labels.tobytes() + pixels.tobytes(), compresslevel=6, mtime=0)


def file_bytes(ds, chunks: list, source_train_n: int) -> bytes:
    """The whole file from its chunks [(split, n, bits, gzip bytes)]."""
    header = {"format": FORMAT, "dataset": ds.name, "title": ds.title, "class_names": list(ds.class_names),
              "side": 28, "grey_step": GREY_STEP, "train_n": sum(c[1] for c in chunks if c[0] == "train"),
              "test_n": sum(c[1] for c in chunks if c[0] == "test"), "source_train_n": source_train_n,
              "chunks": [{"split": split, "n": n, "bits": bits, "bytes": len(data)} for split, n, bits, data in chunks]}
    text = json.dumps(header).encode()
    return b"".join([MAGIC, struct.pack("<I", len(text)), text, *(c[3] for c in chunks)])


def encode(dataset: str, train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray],
           max_bytes: int = MAX_BYTES) -> tuple[bytes, np.ndarray]:
    """The file's bytes from the splits ((N, 28, 28) uint8 images, (N,) labels), and the indices of the training
    images it holds, in the file's order: every training image exact when they all fit in `max_bytes`, else at 4 bits
    as many chunks as fit."""
    ds = get_dataset(dataset)
    keep = subset_indices(len(test[0]), TEST_SIZE)
    test_images, test_labels = test[0].reshape(len(test[0]), -1)[keep], test[1][keep]
    first = [("test", len(keep), 8, gzip_chunk(test_labels, test_images))]
    images, labels = train[0].reshape(len(train[0]), -1), train[1]
    order = training_order(len(images))
    parts = [order[start:start + CHUNK_IMAGES] for start in range(0, len(order), CHUNK_IMAGES)]
    exact = [*first, *(("train", len(part), 8, gzip_chunk(labels[part], images[part])) for part in parts)]
    data = file_bytes(ds, exact, len(images))
    if len(data) <= max_bytes:
        return data, order
    chunks, held = first, 0
    for part in parts:
        chunk = ("train", len(part), BITS, gzip_chunk(labels[part], pack(quantise(images[part]))))
        if len(file_bytes(ds, [*chunks, chunk], len(images))) > max_bytes:
            break
        chunks = [*chunks, chunk]
        held += len(part)
    return file_bytes(ds, chunks, len(images)), order[:held]


# ---------------------------------------------------------------------------------------------------------
# where the app finds the data set and keeps the file


def data_folder(dataset: str, cache_dir: Path) -> Path | None:
    """The folder holding `dataset`'s IDX files: its environment variable's, else (on a Space) one the library's
    md5-checked download fills beside `cache_dir` (not inside it: the app serves that folder); None when neither."""
    ds = get_dataset(dataset)
    if os.environ.get(ds.env):
        return Path(os.environ[ds.env]).expanduser()
    if os.environ.get(SPACE_ENV):
        try:
            return download(cache_dir.with_name(cache_dir.name + "-data") / ds.name, ds)
        except DataSetError as e:
            log.warning("could not download %s for the Train tab: %s", ds.title, e)
    return None


def digest_of(folder: Path) -> str:
    """12 hex digits over the encoding and the IDX files' names, sizes and modification times: a cheap key for the
    file's name (the contents are read, and checked, only when the file is written)."""
    h = hashlib.sha256(f"{FORMAT} exact-else-{BITS} {TEST_SIZE} {CHUNK_IMAGES} {ORDER_SEED} {MAX_BYTES}".encode())
    for path in sorted(folder.glob("*-idx[13]-ubyte*")):
        stat = path.stat()
        h.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return h.hexdigest()[:12]


def training_data_path(dataset: str, cache_dir: str | os.PathLike | None = None) -> Path | None:
    """The compact training file of `dataset` ("mnist" or "fashion-mnist") for the page to fetch, written on first
    use into `cache_dir` (the app's page bundles' folder, ModelStore.bundle_dir; None: the app's default one),
    or None when the data set is not available (missing_message says how to get it); a corrupt IDX file is logged
    and also gives None."""
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    cache_dir.mkdir(parents=True, exist_ok=True)
    ds = get_dataset(dataset)
    folder = data_folder(ds.name, cache_dir)
    if folder is None or not folder.is_dir():
        return None
    path = cache_dir / f"{NAME_PREFIX}{ds.name}-{digest_of(folder)}.bin"
    with _writing:
        if path.is_file():
            return path
        try:
            data, _ = encode(ds.name, load_split(folder, "train", ds), load_split(folder, "test", ds))
        except DataSetError as e:
            log.warning("no training data for the Train tab: %s", e)
            return None
        atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))
        for old in cache_dir.glob(f"{NAME_PREFIX}{ds.name}-*.bin"):  # an earlier version of the data or format
            if old != path:
                old.unlink(missing_ok=True)
        log.info("training data for the page: %s (%.1f MB)", path.name, len(data) / 1e6)
    return path


def default_cache_dir() -> Path:
    """app.py's default page-bundle folder (Options.bundle_dir None), which the app serves."""
    return Path(tempfile.gettempdir()) / "vae-explorer"


def missing_message(dataset: str) -> str:
    """What the Train tab says when `dataset` is not available on the server: how its owner gets it."""
    ds = get_dataset(dataset)
    return (f"Training in the browser needs the {ds.title} training images, and this server does not have them. "
            f"Whoever runs the app: set {ds.env} to a folder holding the four {ds.title} IDX files "
            "(train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], "
            f"t10k-labels-idx1-ubyte[.gz]) and restart it; `python -m train --dataset {ds.name} --download "
            f"--data-dir {ds.fresh_clone_dir}` fetches them (md5-checked), then `{ds.env}={ds.fresh_clone_dir} "
            "python app.py`.")
