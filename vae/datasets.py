"""The data sets a model can be trained on, MNIST and Fashion-MNIST, from their four IDX files (gzip or raw, the
original names): what each is, reading, checking, and downloading.

Fashion-MNIST (Xiao, Rasul & Vollgraf 2017, https://github.com/zalandoresearch/fashion-mnist) was made as a drop-in
replacement for MNIST: the same file names, IDX format, 28x28 grey levels, 10 classes and 60,000/10,000 split, so
one reader serves both.

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
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FILES = {  # split -> (images, labels), the original names (the same for both data sets)
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
COUNTS = {"train": 60_000, "test": 10_000}


@dataclass(eq=False)
class DataSet:
    """One data set: its names, where it comes from and what its classes are. Not frozen: `mirrors` is read at
    download time, so a test or a fork can point it elsewhere."""

    name: str  # the trainer's --dataset and config.json's "dataset"
    title: str  # as people write it
    env: str  # environment variable naming the folder with the IDX files
    md5: dict[str, str]  # of the canonical .gz files, as the data set's authors publish them
    mirrors: tuple[str, ...]  # where the .gz files are fetched from, in order
    class_names: tuple[str, ...]  # by label
    class_plurals: tuple[str, ...]  # by label, as a sentence says them: "7s", "sneakers" ("mostly sneakers nearby")
    noun: str  # what one image shows, for the page's captions: "digit", "image"
    hub_id: str  # the Hugging Face dataset id, for a model card's `datasets:` metadata

    @property
    def how_to_get(self) -> str:
        return (f"Pass --data-dir (or set {self.env}) to a folder holding the four {self.title} IDX files "
                "(train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], "
                "t10k-labels-idx1-ubyte[.gz]), or add --download to fetch them from the public mirrors.")

    @property
    def fetch_again(self) -> str:
        """For a file that is there but broken (--download skips files that exist, so it must go first)."""
        return f"Delete or replace the broken file. {self.how_to_get}"

    @property
    def fresh_clone_dir(self) -> str:
        """Where a model card's command downloads it to, relative to a fresh clone: data/mnist, data/fashion-mnist."""
        return f"data/{self.name}"


MNIST = DataSet(
    name="mnist", title="MNIST", env="MNIST_DIR",
    # as torchvision and the original site publish them
    md5={
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/"),
    class_names=tuple(str(d) for d in range(10)), class_plurals=tuple(f"{d}s" for d in range(10)), noun="digit",
    hub_id="mnist",
)
FASHION_MNIST = DataSet(
    name="fashion-mnist", title="Fashion-MNIST", env="FASHION_MNIST_DIR",
    # as the data set's README (and torchvision) publish them
    md5={
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
    # the authors' download links, then the copy in their repository
    mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
             "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"),
    class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                 "Ankle boot"),
    class_plurals=("T-shirts/tops", "trousers", "pullovers", "dresses", "coats", "sandals", "shirts", "sneakers",
                   "bags", "ankle boots"),
    noun="image", hub_id="zalando-datasets/fashion_mnist",
)
DATASETS = {d.name: d for d in (MNIST, FASHION_MNIST)}
DEFAULT_DATASET = MNIST.name  # what a config.json without "dataset" was trained on: every model before Fashion-MNIST


class DataSetError(RuntimeError):
    """A data set cannot be read: the message says what is wrong and how to get it."""


def get_dataset(name: str | DataSet | None) -> DataSet:
    """A data set by its name (None: MNIST); an unknown name raises ValueError listing the known ones."""
    if isinstance(name, DataSet):
        return name
    if name is None:
        return MNIST
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}")
    return DATASETS[name]


def class_words(name: str) -> dict:
    """What the page says of data set `name`'s images (JSON, in its page and replay bundles): {names, plurals,
    noun}."""
    ds = get_dataset(name)
    return {"names": list(ds.class_names), "plurals": list(ds.class_plurals), "noun": ds.noun}


# ---------------------------------------------------------------------------------------------------------
# reading


def resolve_data_dir(data_dir: str | os.PathLike | None, dataset: str | DataSet | None = None) -> Path:
    """The folder given, else the one the data set's environment variable names; never a guessed default."""
    ds = get_dataset(dataset)
    chosen = data_dir if data_dir is not None else os.environ.get(ds.env)
    if not chosen:
        raise DataSetError(f"No {ds.title} folder given. {ds.how_to_get}")
    return Path(chosen).expanduser()


def _find(data_dir: Path, name: str, ds: DataSet) -> Path:
    for candidate in (data_dir / f"{name}.gz", data_dir / name):
        if candidate.is_file():
            return candidate
    raise DataSetError(f"{data_dir} has no {name}.gz or {name}. {ds.how_to_get}")


def read_idx(path: str | os.PathLike, dataset: str | DataSet | None = None) -> np.ndarray:
    """One IDX file (gzip or raw) -> uint8 array of its shape; a corrupt file raises DataSetError (whose message says
    how to get `dataset` again)."""
    path, ds = Path(path), get_dataset(dataset)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise DataSetError(f"{path} cannot be read ({e}); it is corrupt or incomplete. {ds.fetch_again}") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataSetError(f"{path} is not an IDX file of unsigned bytes (bad magic number). {ds.fetch_again}")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataSetError(f"{path} is truncated inside its header. {ds.fetch_again}")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape, dtype=np.int64))
    if len(raw) != expected:
        raise DataSetError(f"{path} has {len(raw)} bytes but its header {shape} needs {expected}; it is corrupt. "
                           f"{ds.fetch_again}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def load_split(data_dir: str | os.PathLike | None, split: str,
               dataset: str | DataSet | None = None) -> tuple[np.ndarray, np.ndarray]:
    """-> (images uint8 (N, 28, 28), labels uint8 (N,)) of the split 'train' or 'test' of `dataset` (None: MNIST)."""
    ds = get_dataset(dataset)
    if split not in FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    folder = resolve_data_dir(data_dir, ds)
    if not folder.is_dir():
        raise DataSetError(f"{ds.title} folder {folder} does not exist. {ds.how_to_get}")
    images_name, labels_name = FILES[split]
    images = read_idx(_find(folder, images_name, ds), ds)
    labels = read_idx(_find(folder, labels_name, ds), ds)
    n = COUNTS[split]
    if images.shape != (n, 28, 28) or labels.shape != (n,):
        raise DataSetError(
            f"{ds.title} {split} files in {folder} have shapes {images.shape} and {labels.shape}, "
            f"expected ({n}, 28, 28) and ({n},). {ds.fetch_again}"
        )
    if labels.max() >= len(ds.class_names):
        raise DataSetError(f"{folder / labels_name} holds labels above {len(ds.class_names) - 1}; it is corrupt. "
                           f"{ds.fetch_again}")
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


def download(data_dir: str | os.PathLike | None, dataset: str | DataSet | None = None,
             mirrors: tuple[str, ...] | None = None, timeout: float = 30.0) -> Path:
    """Fetch the four .gz files of `dataset` (None: MNIST) that are absent into data_dir (None: the data set's
    environment variable), trying each mirror in turn (default: the data set's), and check their canonical md5.

    A folder that already holds the files is taken as it is (a repackaged copy's .gz differs from the canonical one
    and still reads; the reader checks every file's structure). Each file is written to a temporary name in the
    folder and renamed only once its checksum matches, so an interrupted or corrupt download never leaves a file
    that looks complete. If the download fails, the folders it created are removed again as long as they are empty;
    a folder that existed before is never removed.
    """
    ds = get_dataset(dataset)
    mirrors = ds.mirrors if mirrors is None else mirrors  # read at call time, so the list can be changed
    chosen = data_dir if data_dir is not None else os.environ.get(ds.env)
    if not chosen:
        raise DataSetError(f"--download needs a folder to put {ds.title} in: pass --data-dir (e.g. "
                           f"{ds.fresh_clone_dir}) or set {ds.env}.")
    folder = Path(chosen).expanduser()
    created = [p for p in (folder, *folder.parents) if not p.exists()]  # deepest first
    folder.mkdir(parents=True, exist_ok=True)
    try:
        for name, md5 in ds.md5.items():
            if not ((folder / name).is_file() or (folder / name.removesuffix(".gz")).is_file()):
                _fetch(folder / name, md5, mirrors, timeout, ds)
    except BaseException:  # also Ctrl-C: no empty folder left behind
        for p in created:
            try:
                p.rmdir()  # only ever removes an empty folder
            except OSError:
                break  # it holds files (some downloads succeeded): keep it and its parents
        raise
    return folder


def _fetch(target: Path, md5: str, mirrors: tuple[str, ...], timeout: float, ds: DataSet) -> None:
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
    raise DataSetError(
        f"could not download {target.name}: " + "; ".join(errors) + ". The download failed: check the internet "
        f"connection (and any proxy) and run the same command again, or put the four {ds.title} IDX files "
        f"({', '.join(ds.md5)}) into {target.parent} yourself, or pass --data-dir (or set {ds.env}) to a folder "
        "that holds them."
    )
