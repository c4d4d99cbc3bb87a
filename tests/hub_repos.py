"""Model repos as this project's trainer writes them, to put on the fake Hub (tests/fake_hub.py), and the pixels a
model should give, computed here to compare with what a launched app serves. Shared by the Hub tests (not a test
module)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_model

from vae import VAE, VAEConfig
from vae.imaging import to_uint8


def tiny(seed: int, **config) -> VAE:
    torch.manual_seed(seed)
    return VAE(VAEConfig(**{"arch": "resmlp", "hidden": 32, "blocks": 1, **config})).eval()


def model_files(model: VAE, **extra: bytes) -> dict[str, bytes]:
    """A repo as the trainer writes it: config.json and model.safetensors (plus `extra` files)."""
    with tempfile.TemporaryDirectory() as tmp:
        save_model(model, f"{tmp}/m.safetensors")
        weights = Path(f"{tmp}/m.safetensors").read_bytes()
    return {"config.json": json.dumps(model.config.to_dict()).encode(), "model.safetensors": weights, **extra}


def latents_file(mu: np.ndarray, labels: np.ndarray) -> bytes:
    """A latents.safetensors (vae/latents.py) holding these means (sigma 1)."""
    from vae.latents import save_latents

    with tempfile.TemporaryDirectory() as tmp:
        save_latents(f"{tmp}/l.safetensors", mu, np.ones_like(mu), labels)
        return Path(f"{tmp}/l.safetensors").read_bytes()


def snapshots_file(models: list[VAE]) -> bytes:
    """A snapshots.safetensors as `python -m train --snapshots` writes it, snapshot k holding models[k]'s decoder."""
    from vae.snapshots import Snapshots, compact_decoder

    tensors, records = {}, []
    for k, model in enumerate(models):
        compact, encodings, error = compact_decoder(model)
        tensors.update({f"s{k}.{name}": value for name, value in compact.items()})
        tensors[f"s{k}.mu"] = np.full((20, 2), k, np.float16)
        records.append(dict(step=10 * k, epoch=float(k), train_elbo=500.0 - k, test_elbo=500.0 - k, test_bce=490.0,
                            test_kl=10.0 - k, max_error=error, encodings=encodings))
    snaps = Snapshots(models[0].config, 10, records, np.arange(20, dtype=np.int32), np.arange(20, dtype=np.uint8) % 10,
                      tensors)
    with tempfile.TemporaryDirectory() as tmp:
        snaps.save(f"{tmp}/s.safetensors")
        return Path(f"{tmp}/s.safetensors").read_bytes()


def decoded(model: VAE, z1: float, z2: float) -> np.ndarray:
    """The digit `model` decodes at (z1, z2), as /generate's grey levels: uint8 (28, 28)."""
    with torch.inference_mode():
        return to_uint8(model.decode(torch.tensor([[z1, z2]], dtype=torch.float32)).numpy()[0, 0])


def png(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im)


def differs(a: np.ndarray, b: np.ndarray) -> int:
    """The largest difference of two uint8 images, in grey levels."""
    return int(np.abs(a.astype(int) - b.astype(int)).max())
