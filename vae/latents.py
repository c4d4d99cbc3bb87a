"""The test set's latent means, sigmas and labels, saved beside the weights so the app can draw its latent map
without MNIST. File: `latents.safetensors` with mu (N, D) float32, sigma (N, D) float32, labels (N,) uint8."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file, save_file

from vae.model import VAE

LATENTS_NAME = "latents.safetensors"


@torch.inference_mode()
def encode_dataset(model: VAE, x: torch.Tensor, batch_size: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """x (N, 784) in [0, 1] -> (mu, sigma), each float32 (N, latent_dim)."""
    model.eval()
    device = next(model.parameters()).device
    mus, sigmas = [], []
    for xb in x.split(batch_size):
        mu, logvar = model.encode(xb.to(device))
        mus.append(mu.cpu())
        sigmas.append(torch.exp(0.5 * logvar).cpu())
    return torch.cat(mus).numpy(), torch.cat(sigmas).numpy()


def save_latents(path: str | os.PathLike, mu: np.ndarray, sigma: np.ndarray, labels: np.ndarray) -> None:
    tensors = {
        "mu": np.ascontiguousarray(mu, dtype=np.float32),
        "sigma": np.ascontiguousarray(sigma, dtype=np.float32),
        "labels": np.ascontiguousarray(labels, dtype=np.uint8),
    }
    save_file(tensors, str(path))


def load_latents(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """-> {'mu': (N, D), 'sigma': (N, D), 'labels': (N,)}; raises ValueError if the file does not hold them."""
    tensors = load_file(str(Path(path)))
    if set(tensors) != {"mu", "sigma", "labels"}:
        raise ValueError(f"{path} should hold mu, sigma and labels, found {sorted(tensors)}")
    n = len(tensors["labels"])
    if tensors["mu"].shape[0] != n or tensors["sigma"].shape != tensors["mu"].shape:
        raise ValueError(f"{path}: mu {tensors['mu'].shape}, sigma {tensors['sigma'].shape}, labels ({n},) disagree")
    return tensors
