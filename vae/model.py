"""The VAE: encoder q(z|x) = N(mu, diag(sigma^2)), decoder p(x|z) = Bernoulli(sigmoid(logits)), prior N(0, I).

Kingma & Welling, "Auto-Encoding Variational Bayes" (2013), appendix C.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from huggingface_hub import PyTorchModelHubMixin, hf_hub_download
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from vae.atomic import atomic_write, atomic_write_text
from vae.config import VAEConfig

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
RESULTS_NAME = "results.json"  # the trainer's final test figures, beside the weights (optional)

# exp(logvar) overflows float32 near logvar = 88; a posterior sigma beyond e^7 ~ 1100 or below e^-15 is
# meaningless for an N(0, I) prior, so the encoder's log-variance is clamped to this range.
LOGVAR_MIN, LOGVAR_MAX = -30.0, 14.0


class WeightsError(ValueError):
    """A weights folder or file that cannot be loaded into the model it claims to be."""


# ---------------------------------------------------------------------------------------------------------
# building blocks


class ResidualBlock(nn.Module):
    """x + W2 silu(W1 LayerNorm(x)): a pre-norm residual MLP block (He et al. 2016, identity mappings)."""

    def __init__(self, width: int):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, width)
        self.act = nn.SiLU()  # no parameters: the state-dict names stay norm, fc1, fc2
        self.fc2 = nn.Linear(width, width)

    def body(self) -> list[nn.Module]:
        """The residual branch, in order; forward and the browser's copy (webapp/bundle.py) both follow it."""
        return [self.norm, self.fc1, self.act, self.fc2]

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        r = h
        for layer in self.body():
            r = layer(r)
        return h + r


def _reference_encoder(n_pixels: int) -> nn.Sequential:
    # the spec: 784 -> 400 (LeakyReLU 0.5) -> 200 (LeakyReLU 0.2); names match the earlier version's weights
    return nn.Sequential(nn.Linear(n_pixels, 400), nn.LeakyReLU(0.5), nn.Linear(400, 200), nn.LeakyReLU(0.2))


def _reference_decoder(latent_dim: int, n_pixels: int) -> nn.Sequential:
    # the spec: latent -> 200 (LeakyReLU 0.2) -> 400 (LeakyReLU 0.5) -> 784 logits (sigmoid applied in decode)
    return nn.Sequential(
        nn.Linear(latent_dim, 200), nn.LeakyReLU(0.2), nn.Linear(200, 400), nn.LeakyReLU(0.5), nn.Linear(400, n_pixels)
    )


def _residual_mlp(n_in: int, width: int, blocks: int, n_out: int | None) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Linear(n_in, width), nn.SiLU()]
    layers += [ResidualBlock(width) for _ in range(blocks)]
    layers += [nn.LayerNorm(width), nn.SiLU()]
    if n_out is not None:
        layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)


# ---------------------------------------------------------------------------------------------------------
# the model


class VAE(
    nn.Module,
    PyTorchModelHubMixin,
    library_name="vae-2d-latent-explorer",
    license="mit",
    pipeline_tag="unconditional-image-generation",
    tags=["vae", "mnist", "variational-autoencoder", "latent-space"],
):
    """A VAE with a Gaussian posterior and a Bernoulli decoder; `decode` returns probabilities in [0, 1]."""

    def __init__(self, config: VAEConfig | None = None):
        super().__init__()
        self.config = config = config if config is not None else VAEConfig()
        n, d = config.n_pixels, config.latent_dim
        if config.arch == "mlp":
            self.encoder = _reference_encoder(n)
            trunk_width = 200
            self.decoder = _reference_decoder(d, n)
        else:  # resmlp
            self.encoder = _residual_mlp(n, config.hidden, config.blocks, None)
            trunk_width = config.hidden
            self.decoder = _residual_mlp(d, config.hidden, config.blocks, n)
        self.fc_mu = nn.Linear(trunk_width, d)
        self.fc_logvar = nn.Linear(trunk_width, d)

    # --- the four operations of a VAE -------------------------------------------------------------------

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x in [0, 1], (B, 1, 28, 28) or (B, 784) -> (mu, logvar), each (B, latent_dim)."""
        h = self.encoder(x.reshape(x.shape[0], -1))  # (B, trunk)
        logvar = self.fc_logvar(h).clamp(LOGVAR_MIN, LOGVAR_MAX)
        return self.fc_mu(h), logvar

    def reparameterize(self, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """z = mu + sigma * eps, eps ~ N(0, I): a sample of q(z|x) that gradients flow through."""
        return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, latent_dim) -> Bernoulli logits (B, 784); the loss uses these for a stable BCE."""
        return self.decoder(z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, latent_dim) -> pixel probabilities (B, 1, 28, 28) in [0, 1]."""
        side = self.config.image_size
        return torch.sigmoid(self.decode_logits(z)).reshape(-1, 1, side, side)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x -> (logits (B, 784), mu, logvar); one posterior sample per image."""
        mu, logvar = self.encode(x)
        return self.decode_logits(self.reparameterize(mu, logvar)), mu, logvar

    # --- persistence --------------------------------------------------------------------------------------

    def _save_pretrained(self, save_directory: Path) -> None:
        """Weights as safetensors plus our own config.json (the mixin would write its own copy otherwise)."""
        from safetensors.torch import save_model

        atomic_write(Path(save_directory) / WEIGHTS_NAME, lambda tmp: save_model(self, tmp))
        atomic_write_text(Path(save_directory) / CONFIG_NAME, json.dumps(self.config.to_dict(), indent=2) + "\n")

    @classmethod
    def from_pretrained(  # type: ignore[override]
        cls,
        path_or_repo_id: str | os.PathLike,
        revision: str | None = None,
        *,
        cache_dir: str | os.PathLike | None = None,
        token: str | bool | None = None,
        local_files_only: bool = False,
        force_download: bool = False,
        map_location: str | torch.device = "cpu",
        etag_timeout: float = 10,
    ) -> "VAE":
        """Load a model from a local folder or a Hub repo (`revision`: branch, tag or commit); returns it in eval mode.

        Only safetensors is read (never a pickle), and loading is strict: a missing, extra or mis-shaped tensor
        raises WeightsError naming it. Hub errors (offline, unknown repo or revision) propagate as
        huggingface_hub's own exceptions so a caller can fall back.
        """
        source = Path(path_or_repo_id)
        if source.is_dir():
            config_file, weights_file = source / CONFIG_NAME, source / WEIGHTS_NAME
            for f in (config_file, weights_file):
                if not f.is_file():
                    raise WeightsError(f"{source} has no {f.name}; a model folder holds {CONFIG_NAME} and {WEIGHTS_NAME}")
        else:
            get = dict(repo_id=str(path_or_repo_id), revision=revision, cache_dir=cache_dir, token=token,
                       local_files_only=local_files_only, force_download=force_download, etag_timeout=etag_timeout)
            config_file = Path(hf_hub_download(filename=CONFIG_NAME, **get))
            weights_file = Path(hf_hub_download(filename=WEIGHTS_NAME, **get))
        try:
            config = VAEConfig.from_dict(json.loads(config_file.read_text()))
        except (ValueError, TypeError) as e:  # JSONDecodeError is a ValueError
            raise WeightsError(f"{config_file} is not a valid VAE config: {e}") from e
        model = cls(config)
        model.load_weights(weights_file)
        return model.to(map_location).eval()

    def load_weights(self, weights_file: str | os.PathLike) -> None:
        """Strictly load a safetensors file into this model, with a message that names what does not fit."""
        try:
            tensors = load_file(str(weights_file))
        except (SafetensorError, OSError, ValueError) as e:
            raise WeightsError(f"{weights_file} is not a readable safetensors file ({e}); re-download or re-train it") from e
        expected = self.state_dict()
        missing = sorted(set(expected) - set(tensors))
        extra = sorted(set(tensors) - set(expected))
        wrong = sorted(k for k in set(expected) & set(tensors) if tensors[k].shape != expected[k].shape)
        if missing or extra or wrong:
            parts = [f"missing tensors {missing}"] if missing else []
            parts += [f"unexpected tensors {extra}"] if extra else []
            parts += [f"{k}: file has {tuple(tensors[k].shape)}, model needs {tuple(expected[k].shape)}" for k in wrong]
            raise WeightsError(
                f"{weights_file} does not fit a VAE with config {self.config.to_dict()}: " + "; ".join(parts)
            )
        bad = [k for k, t in tensors.items() if t.is_floating_point() and not torch.isfinite(t).all()]
        if bad:
            raise WeightsError(f"{weights_file} has non-finite values in {bad}")
        self.load_state_dict(tensors, strict=True)
