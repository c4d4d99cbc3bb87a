"""Small models trained for a few seconds on the real MNIST training split, for tests that need a model of a given
architecture whose outputs look like digits (not a random initialisation, whose KL is ~0). Not a test module."""

from __future__ import annotations

from pathlib import Path

from vae import VAE


def quick_mlp(data_dir: Path, out_dir: Path) -> VAE:
    """The spec's `mlp`, one epoch over 6,000 training images (about 3 s on 2 cores)."""
    from train.loop import TrainConfig, train

    cfg = TrainConfig(arch="mlp", epochs=1, train_subset=6000, batch_size=64, lr=1e-3, schedule="constant",
                      data_dir=str(data_dir), device="cpu", threads=1)
    return train(cfg, out_dir, progress=False, log=lambda _: None).model.eval()
