"""The model's configuration: a dataclass that round-trips through `config.json`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from vae.datasets import DATASETS, DEFAULT_DATASET

ARCHITECTURES = ("mlp", "resmlp")


@dataclass
class VAEConfig:
    arch: str = "resmlp"  # "mlp": the spec's reference network; "resmlp": wider residual MLP (ours)
    latent_dim: int = 2  # the demo's sliders need 2; any positive value works for the library
    beta: float = 1.0  # weight of KL(q(z|x) || N(0, I)) in the objective
    hidden: int = 384  # resmlp only: width of the residual trunk
    blocks: int = 2  # resmlp only: residual blocks in each of encoder and decoder
    image_size: int = 28  # MNIST side; the input has image_size**2 pixels
    # what the model was trained on (vae/datasets.py): the app's class names, captions and upload preparation
    # follow it; a config.json without it is an MNIST model, as every model was before Fashion-MNIST
    dataset: str = DEFAULT_DATASET

    def __post_init__(self) -> None:
        if self.arch not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {self.arch!r}; choose one of {', '.join(ARCHITECTURES)}")
        for name in ("latent_dim", "hidden", "image_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if int(self.blocks) < 0:
            raise ValueError(f"blocks must be >= 0, got {self.blocks!r}")
        if not float(self.beta) >= 0:  # also rejects NaN
            raise ValueError(f"beta must be >= 0, got {self.beta!r}")
        if self.dataset not in DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r}; this version knows {', '.join(DATASETS)}")

    @property
    def n_pixels(self) -> int:
        return self.image_size * self.image_size

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "VAEConfig":
        """Build from a dict; an unknown key is an error (a config for another model must not load quietly)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"config has unknown keys {unknown}; expected a subset of {sorted(known)}")
        return cls(**data)
