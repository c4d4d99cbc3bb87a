"""The page bundle: the one file the browser decoder (static/explorer.js) needs, written from the model.

A safetensors file holding the decoder's tensors, the test set's latent means for the map, and in its metadata an
explicit program: the ordered operations of `model.decode`, each naming the tensors it uses. explorer.js executes
that list and knows no layer names, so any decoder built from the modules below runs in the browser unchanged.

    format   "vae-explorer-page/2"
    program  JSON list of operations, executed in order on a (rows, width) activation:
               {"op": "linear", "weight": name (N, K), "bias": name (N,)}      y = x W^T + b
               {"op": "leaky_relu", "slope": s}                                 y = x if x >= 0 else s x
               {"op": "silu"}                                                   y = x sigmoid(x)
               {"op": "layernorm", "weight": name, "bias": name, "eps": e}      over the last axis, biased variance
               {"op": "residual", "body": [operations]}                         y = x + body(x)
               {"op": "sigmoid"}                                                pixel probabilities
    input    latent dimensions (a JSON number); output: [height, width] of the decoded image
    config   the model's config.json, for the page's footer and tests
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import save_file
from torch import nn

from vae.atomic import atomic_write
from vae.model import VAE, ResidualBlock

FORMAT = "vae-explorer-page/2"


class UnsupportedDecoder(ValueError):
    """A decoder with a module the browser cannot execute."""


def describe(module: nn.Module, names: dict[nn.Module, str]) -> list[dict]:
    """One module of the decoder -> its operations; `names` maps each module to its state-dict prefix."""
    if isinstance(module, nn.Sequential):
        return [op for child in module for op in describe(child, names)]
    if isinstance(module, ResidualBlock):
        return [{"op": "residual", "body": [op for child in module.body() for op in describe(child, names)]}]
    if isinstance(module, nn.Linear):
        name = names[module]
        return [{"op": "linear", "weight": f"{name}.weight", "bias": f"{name}.bias"}]
    if isinstance(module, nn.LayerNorm):
        name = names[module]
        if module.normalized_shape != (module.weight.shape[0],) or not module.elementwise_affine:
            raise UnsupportedDecoder(f"{name}: only an affine LayerNorm over the last axis runs in the browser")
        return [{"op": "layernorm", "weight": f"{name}.weight", "bias": f"{name}.bias", "eps": module.eps}]
    if isinstance(module, nn.LeakyReLU):
        return [{"op": "leaky_relu", "slope": module.negative_slope}]
    if isinstance(module, nn.SiLU):
        return [{"op": "silu"}]
    raise UnsupportedDecoder(f"the browser decoder cannot run {type(module).__name__} ({names.get(module, '?')})")


def decoder_program(model: VAE) -> list[dict]:
    """The operations of `model.decode` (decoder, then the sigmoid it applies) in the order they run."""
    names = {module: name for name, module in model.named_modules()}
    return describe(model.decoder, names) + [{"op": "sigmoid"}]


def program_tensors(program: list[dict]) -> list[str]:
    """The tensor names a program uses, in order of first use."""
    used: list[str] = []
    for op in program:
        for name in (*(op[k] for k in ("weight", "bias") if k in op), *program_tensors(op.get("body", []))):
            if name not in used:
                used.append(name)
    return used


def write_page_bundle(model: VAE, latents: dict | None, folder: str | Path) -> Path:
    """Write the bundle for `model` (and `latents` {'mu', 'labels'}, or None: a map without points) into `folder`,
    named by its content so a browser cache never serves stale weights; returns its path."""
    program = decoder_program(model)
    state = model.state_dict()
    tensors = {name: state[name].detach().to(torch.float32).contiguous().numpy() for name in program_tensors(program)}
    if latents is not None:
        tensors["latents.mu"] = np.ascontiguousarray(latents["mu"][:, :2], np.float32)  # (N, 2)
        tensors["latents.labels"] = np.ascontiguousarray(latents["labels"], np.uint8)  # (N,)
    cfg = model.config
    metadata = {"format": FORMAT, "program": json.dumps(program), "input": json.dumps(cfg.latent_dim),
                "output": json.dumps([cfg.image_size, cfg.image_size]), "config": json.dumps(cfg.to_dict())}
    digest = hashlib.sha256(json.dumps(metadata, sort_keys=True).encode())
    for name in sorted(tensors):
        digest.update(name.encode())
        digest.update(tensors[name].tobytes())
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"page-{digest.hexdigest()[:20]}.safetensors"
    if not path.is_file():  # several app processes may write the same file: atomic
        atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))
    return path
