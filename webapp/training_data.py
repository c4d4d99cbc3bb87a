"""TEMPORARY stand-in for the training data delivery (the real module replaces this file): the first 10,000
training and 2,000 test images of a data set as one uint8 safetensors file, read by static/js/core/trainingdata.js."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from safetensors.numpy import save_file

from vae.atomic import atomic_write
from vae.datasets import DataSetError, get_dataset, load_split

TRAIN, TEST = 10_000, 2_000


def training_data_path(dataset: str) -> Path | None:
    ds = get_dataset(dataset)
    path = Path(tempfile.gettempdir()) / "vae-explorer-training-data" / f"{ds.name}.safetensors"
    if path.is_file():
        return path
    try:
        train, train_labels = load_split(None, "train", ds)
        test, test_labels = load_split(None, "test", ds)
    except (DataSetError, OSError):
        return None
    tensors = {"images": train[:TRAIN].reshape(TRAIN, -1), "labels": train_labels[:TRAIN],
               "test_images": test[:TEST].reshape(TEST, -1), "test_labels": test_labels[:TEST]}
    metadata = {"dataset": ds.name, "class_names": json.dumps(list(ds.class_names))}
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))
    return path


def missing_message(dataset: str) -> str:
    ds = get_dataset(dataset)
    return f"{ds.title} is not on this server, so the page cannot train on it. {ds.how_to_get}"
