"""A model a visitor trained in their own browser and sent to the server (the /upload_model endpoint), checked as a
Hub model is checked before the app serves it (webapp/hub_fetch.py, webapp/models.py): safetensors only (never a
pickle), at most MAX_UPLOAD_BYTES, a config.json of this project's VAE that the explorer can show (latent_dim 2,
28x28, a decoder the browser decodes at drag speed), exactly the tensors and shapes that config implies, floating
point and finite. A latent map (latents.safetensors, as the trainer writes it) may come with it.

The model is then named "upload-" + 16 hex digits of the sha256 of its config and weights: the same model sent twice
is one model, and the name is one that /generate, /grid, /encode, /reconstruct, the page's picker and ?model= accept
(webapp/models.py's ModelStore keeps the last MAX_UPLOADED of them, as it keeps Hub models).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open

from vae.config import VAEConfig
from vae.hub import first_line
from vae.latents import load_latents
from vae.model import VAE, WeightsError
from webapp.hub_fetch import ModelRequestError

MAX_UPLOAD_BYTES = 10 * 2**20  # the app's max_file_size too: a resmlp 384x2 (the default recipe) is 7 MB
MAX_CONFIG_CHARS = 2000
UPLOAD_NAME = re.compile(r"upload-[0-9a-f]{16}")
FLOAT_DTYPES = ("F32", "F16", "BF16", "F64")


def upload_name(model: VAE) -> str:
    """"upload-" + 16 hex digits of the sha256 of the config and the float32 weights: the same model has the same
    name however its file was written (metadata, tensor order)."""
    digest = hashlib.sha256(json.dumps(model.config.to_dict(), sort_keys=True).encode())
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode() + b"\0" + tensor.detach().to(torch.float32).contiguous().numpy().tobytes())
    return "upload-" + digest.hexdigest()[:16]


def read_safetensors_header(weights_file: Path) -> tuple[dict[str, str], dict[str, str]]:
    """-> (metadata, {tensor: dtype}) of a safetensors file, without reading its tensors; ModelRequestError for
    anything else (a pickle gets a word on why it is refused)."""
    try:
        with safe_open(str(weights_file), "numpy") as f:
            return f.metadata() or {}, {name: f.get_slice(name).get_dtype() for name in f.keys()}
    except (SafetensorError, OSError) as e:
        with open(weights_file, "rb") as f:
            start = f.read(2)
        pickle = (" It looks like a pickled PyTorch file (torch.save), which the app never loads."
                  if start[:1] == b"\x80" or start == b"PK" else "")
        raise ModelRequestError(f"The weights are not a readable safetensors file ({first_line(e)}).{pickle} Send "
                                "the model.safetensors that the page's Download model or VAE.save_pretrained "
                                "writes.") from None


def read_config(config_text: str | None, metadata: dict[str, str]) -> VAEConfig:
    """The config as sent (config.json's text), else the weights' metadata "config"; ModelRequestError says why
    neither is one of this project's."""
    config_text = config_text or metadata.get("config")
    if not config_text:
        raise ModelRequestError("No config: send config.json's text with the weights, or put it in the safetensors "
                                "metadata under \"config\".")
    if not isinstance(config_text, str) or len(config_text) > MAX_CONFIG_CHARS:
        raise ModelRequestError(f"config must be config.json's text, at most {MAX_CONFIG_CHARS} characters.")
    try:
        return VAEConfig.from_dict(json.loads(config_text))
    except (ValueError, TypeError) as e:
        raise ModelRequestError(f"The config is not a config.json of this project's VAE ({first_line(e)}).") from None


def check_upload(weights_file: str | os.PathLike, config_text: str | None, check_config) -> tuple[str, VAE]:
    """An uploaded model.safetensors (and config.json's text) -> (its name, the model in eval mode), or
    ModelRequestError with what is wrong and what would work. `check_config(config)` raises ModelRequestError for a
    config the explorer cannot show (webapp.models.check_browser_fit)."""
    weights_file = Path(weights_file)
    size = weights_file.stat().st_size
    if size > MAX_UPLOAD_BYTES:
        raise ModelRequestError(f"The weights are {size / 2**20:.1f} MB; the app takes models up to "
                                f"{MAX_UPLOAD_BYTES / 2**20:.3g} MB.")
    metadata, dtypes = read_safetensors_header(weights_file)
    config = read_config(config_text, metadata)
    check_config(config)
    not_float = sorted(name for name, dtype in dtypes.items() if dtype not in FLOAT_DTYPES)
    if not_float:
        raise ModelRequestError(f"The weights hold non-floating-point tensors {not_float[:5]}: a VAE's are float32.")
    model = VAE(config)
    try:
        model.load_weights(weights_file)  # exactly the tensors and shapes the config implies, finite values
    except WeightsError as e:
        raise ModelRequestError("The weights do not fit: " + first_line(e).replace(str(weights_file), "the file")) \
            from None
    return upload_name(model), model.eval()


def read_upload_latents(latents_file: str | os.PathLike | None, model: VAE) -> dict | None:
    """An optional latents.safetensors for the latent map: {'mu', 'labels'} or None; ModelRequestError when it is
    sent but is not one (2-D means, finite, labels of the model's classes)."""
    if latents_file is None:
        return None
    if Path(latents_file).stat().st_size > MAX_UPLOAD_BYTES:
        raise ModelRequestError(f"The latent map is over {MAX_UPLOAD_BYTES / 2**20:.3g} MB.")
    try:
        latents = load_latents(latents_file)
    except (SafetensorError, OSError, ValueError) as e:
        raise ModelRequestError(f"The latent map is not a latents.safetensors ({first_line(e)}).") from None
    mu, labels = latents["mu"], latents["labels"]
    if mu.ndim != 2 or mu.shape[1] != model.config.latent_dim or not np.isfinite(mu).all() or labels.dtype != np.uint8:
        raise ModelRequestError("The latent map must hold finite 2-D means (mu, float32 (N, 2)) and uint8 labels.")
    if len(labels) and labels.max() >= 10:
        raise ModelRequestError("The latent map's labels must be classes 0 to 9.")
    return latents
