"""Training checkpoints as one safetensors file: model and optimizer tensors plus JSON metadata.

No pickle anywhere: optimizer state tensors are stored under flat names, everything else (epoch, step,
param groups, scheduler state, metrics, configs) as JSON in the safetensors header. The file is written to a
temporary name in the same folder, fsynced, then renamed over the old one, so a crash (kill -9 included)
leaves either the previous checkpoint or the new one, never a torn file.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from vae.atomic import atomic_write

CHECKPOINT_NAME = "checkpoint.safetensors"


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be written or read; the message says what to do."""


def save_checkpoint(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, rng_state: torch.Tensor,
                    meta: dict) -> None:
    """Model weights, Adam moments, the RNG state and `meta` (JSON-able) in one atomically written file."""
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    opt = optimizer.state_dict()
    for param_id, state in opt["state"].items():
        for name, value in state.items():
            t = value if torch.is_tensor(value) else torch.tensor(value)
            tensors[f"optim.{param_id}.{name}"] = t.detach().cpu().contiguous()
    tensors["rng_state"] = rng_state.cpu().contiguous()
    header = {"meta": json.dumps(meta), "param_groups": json.dumps(opt["param_groups"])}
    atomic_write(Path(path), lambda tmp: save_file(tensors, tmp, metadata=header))


def load_checkpoint(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> tuple[dict, torch.Tensor]:
    """Restore model and optimizer in place from `path`; returns (meta, rng_state)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"{path} cannot be read ({e}); delete it to train from scratch") from e
    if "meta" not in header or "param_groups" not in header:
        raise CheckpointError(f"{path} is not a checkpoint written by `python -m train`")
    model.load_state_dict({k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}, strict=True)
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, param_id, name = key.split(".", 2)
            state.setdefault(int(param_id), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": json.loads(header["param_groups"])})
    return json.loads(header["meta"]), tensors["rng_state"]
