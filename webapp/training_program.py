"""The training program: the whole VAE and its objective as operations, plus initial weights, for the page's training
engine (static/js/core/engine.js). One definition of the model: the page executes this description forward and
backward and knows no layer names, so what it trains loads into `VAE` by name.

    python -c "from vae import VAEConfig; from webapp.training_program import write_training_program as w; \
               w(VAEConfig(hidden=256, blocks=1), seed=0, path='init.safetensors')"

A safetensors file holding every tensor of `VAE(config).state_dict()`, initialised as `python -m train --seed SEED`
initialises them (torch.manual_seed(seed), then VAE(config)), and in its metadata:

    format   "vae-explorer-training/1"
    program  JSON object; each list is executed in order on a (rows, width) activation, with the operations of
             webapp/bundle.py plus {"op": "clamp", "min": a, "max": b}:
               encoder   x (B, n_pixels) in [0, 1] -> h (B, trunk)
               mu        h -> mu (B, latent)
               logvar    h -> logvar (B, latent), clamped as VAE.encode clamps it
               decoder   z = mu + exp(logvar / 2) * eps, eps ~ N(0, I) -> Bernoulli logits (B, n_pixels)
               loss      {"likelihood": "bernoulli_logits", "kl": "standard_normal", "reduction": "mean"}:
                         mean over the batch of BCE summed over pixels + beta * KL (vae/objective.py)
    config   the model's config.json (beta is the objective's weight of KL)
    seed     the torch seed the weights were drawn with
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

from vae.atomic import atomic_write
from vae.config import VAEConfig
from vae.model import LOGVAR_MAX, LOGVAR_MIN, VAE
from webapp.bundle import describe, program_tensors

FORMAT = "vae-explorer-training/1"


def training_program(model: VAE) -> dict:
    """The operations of `model.forward` and of the objective train/loop.py minimises, by part."""
    names = {module: name for name, module in model.named_modules()}
    program = {
        "input": model.config.n_pixels,
        "latent": model.config.latent_dim,
        "encoder": describe(model.encoder, names),
        "mu": describe(model.fc_mu, names),
        "logvar": describe(model.fc_logvar, names) + [{"op": "clamp", "min": LOGVAR_MIN, "max": LOGVAR_MAX}],
        "decoder": describe(model.decoder, names),
        "loss": {"likelihood": "bernoulli_logits", "kl": "standard_normal", "reduction": "mean"},
    }
    used = sorted(program_tensors([op for part in ("encoder", "mu", "logvar", "decoder") for op in program[part]]))
    held = sorted(model.state_dict())
    if used != held:  # the page exports what it trains; a tensor outside the program would not load strictly
        raise ValueError(f"the training program uses {used} but the model holds {held}")
    return program


def initial_model(config: VAEConfig, seed: int) -> VAE:
    """VAE(config) with the weights `python -m train --seed SEED` starts from (train/loop.py seeds, then builds)."""
    torch.manual_seed(seed)
    return VAE(config)


def write_training_program(config: VAEConfig, seed: int, path: str | Path, model: VAE | None = None) -> Path:
    """Write the program and the initial weights of `config` and `seed` (or of `model`, when given) to `path`."""
    model = model if model is not None else initial_model(config, seed)
    tensors = {name: t.detach().to(torch.float32).contiguous() for name, t in model.state_dict().items()}
    metadata = {"format": FORMAT, "program": json.dumps(training_program(model)),
                "config": json.dumps(model.config.to_dict()), "seed": json.dumps(seed)}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))
    return path
