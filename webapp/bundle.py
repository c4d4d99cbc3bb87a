"""The page bundle: the one file the browser decoder (static/js/core/bundles.js) needs, written from the model.

A safetensors file holding the decoder's tensors, the test set's latent means for the map (latents.mu, latents.labels)
and, when the latents file has them, the encoder's standard deviations (latents.sigma: the Explore tab's aggregate
posterior q(z) against the prior, static/js/core/aggregate.js), and in its metadata an explicit program: the ordered
operations of `model.decode`, each naming the tensors it uses. The page executes that list and knows no layer
names, so any decoder built from the modules below runs in the browser unchanged.

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
    encodings  {tensor: "int8" | "float16" | "float32"} when the weights are compact (compact_weights below), as
             vae/snapshots.py stores a snapshot: an int8 matrix has "<name>.scale"; max_error: its check's result
    map_limit  the latent map's half-width (map_limit below), so the page and tests place points the same way
    classes  what the page says of the model's data set (vae.datasets.class_words): {names, plurals, noun}
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
from vae.datasets import class_words
from vae.model import VAE, ResidualBlock
from vae.snapshots import compact_decoder
from webapp.inputs import Z_LIMIT

FORMAT = "vae-explorer-page/2"
# The page's weights are compact when that keeps every pixel within half a grey level of the float32 decoder, so the
# page rounds to within 1/255 of the server's /generate and /grid. The check covers all the page can show: z up to
# the sliders' +-3 plus the grid's largest half-width 3. (The replay's snapshots allow 2/255: vae/snapshots.py.)
PAGE_MAX_ERROR = 0.5 / 255
PAGE_EXTENT = 2 * Z_LIMIT
PAGE_ENCODING = "compact-1"  # part of a bundle's name: a change of the encoding writes new bundles


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


def decoder_metadata(model: VAE) -> dict[str, str]:
    """What the page and replay bundles both tell the page of `model`'s decoder (static/js/core/bundles.js): its
    program, latent dimensions in, image shape out, and the words for its data set's classes."""
    cfg = model.config
    return {"program": json.dumps(decoder_program(model)), "input": json.dumps(cfg.latent_dim),
            "output": json.dumps([cfg.image_size, cfg.image_size]), "classes": json.dumps(class_words(cfg.dataset))}


def program_tensors(program: list[dict]) -> list[str]:
    """The tensor names a program uses, in order of first use."""
    used: list[str] = []
    for op in program:
        for name in (*(op[k] for k in ("weight", "bias") if k in op), *program_tensors(op.get("body", []))):
            if name not in used:
                used.append(name)
    return used


def map_limit(mu: np.ndarray) -> float:
    """A latent map's half-width for latent means `mu` (N, 2): their 99.9th percentile |z|, at least half a unit
    beyond the sliders' range, rounded up to a half, at most 6 (a few far outliers do not shrink the cloud)."""
    extent = max(Z_LIMIT + 0.5, float(np.quantile(np.abs(mu), 0.999))) if len(mu) else Z_LIMIT + 0.5
    return float(min(6.0, np.ceil(extent * 2) / 2))


def compact_weights(model: VAE, program: list[dict]) -> tuple[dict[str, np.ndarray], dict[str, str] | None, float]:
    """The program's tensors as the page downloads them -> (tensors, {name: encoding} or None for float32, largest
    pixel difference from the float32 decoder in 255ths). vae/snapshots.py's compact encodings (int8 with scales,
    float16, float32, chosen per matrix by a fidelity check) under PAGE_MAX_ERROR over the page's whole reach; a
    decoder that even float16 cannot keep within it is written in float32."""
    state = model.state_dict()
    full = {name: state[name].detach().to(torch.float32).contiguous().numpy() for name in program_tensors(program)}
    stored, encodings, error = compact_decoder(model, PAGE_MAX_ERROR, PAGE_EXTENT)
    if error > PAGE_MAX_ERROR * 255 or set(encodings) != set(full):
        return full, None, 0.0
    return stored, encodings, error


def write_page_bundle(model: VAE, latents: dict | None, folder: str | Path) -> Path:
    """Write the bundle for `model` (and `latents` {'mu', 'labels'} and optionally 'sigma', or None: a map without
    points) into `folder`, named by the float32 model and latents it stands for, so a browser cache never serves
    stale weights and a bundle written before is not encoded again; returns its path."""
    program = decoder_program(model)
    state = model.state_dict()
    tensors = {}
    if latents is not None:
        tensors["latents.mu"] = np.ascontiguousarray(latents["mu"][:, :2], np.float32)  # (N, 2)
        tensors["latents.labels"] = np.ascontiguousarray(latents["labels"], np.uint8)  # (N,)
        if latents.get("sigma") is not None:  # vae/latents.py's files have it; a bundle without it has no q(z)
            tensors["latents.sigma"] = np.ascontiguousarray(latents["sigma"][:, :2], np.float32)  # (N, 2)
    metadata = {"format": FORMAT, **decoder_metadata(model), "config": json.dumps(model.config.to_dict()),
                "map_limit": json.dumps(map_limit(tensors["latents.mu"] if latents is not None else np.zeros((0, 2))))}
    digest = hashlib.sha256(json.dumps({**metadata, "encoding": PAGE_ENCODING}, sort_keys=True).encode())
    for name in sorted(program_tensors(program)):
        digest.update(name.encode())
        digest.update(state[name].detach().to(torch.float32).contiguous().numpy().tobytes())
    for name in sorted(tensors):
        digest.update(name.encode())
        digest.update(tensors[name].tobytes())
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"page-{digest.hexdigest()[:20]}.safetensors"
    if not path.is_file():  # several app processes may write the same file: atomic
        weights, encodings, error = compact_weights(model, program)
        if encodings is not None:
            metadata.update(encodings=json.dumps(encodings), max_error=json.dumps(error))
        atomic_write(path, lambda tmp: save_file({**weights, **tensors}, tmp, metadata=metadata))
    return path
