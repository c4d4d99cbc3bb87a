"""The Train tab's server side: what a visitor may choose (data sets, models with their parameter counts, presets,
learning rates, batch sizes), and, on request, the training program and initial weights of a chosen model and seed
(webapp/training_program.py) as a file the page fetches. The server trains nothing: the page's Web Worker does.

Programs are written once per (data set, model, seed) into a folder the app serves, and at most PROGRAMS_KEPT are
kept (the oldest go first); seeds are bounded, so a visitor's requests cannot fill the disk.
"""

from __future__ import annotations

import os
import re
import threading
from functools import cache
from pathlib import Path

from vae.config import VAEConfig
from vae.datasets import DATASETS, get_dataset
from vae.presets import TAB_PRESETS, recipe
from webapp.training_program import initial_model, write_training_program

PROGRAMS_KEPT = 24  # program files kept on disk (a resmlp-384 with 2 blocks is about 8 MB)
MAX_SEED = 2**31 - 1
WIDTHS = (128, 256, 384)  # resmlp trunk widths offered
BLOCKS = (0, 1, 2)  # resmlp residual blocks offered
LEARNING_RATES = (1e-4, 3e-4, 1e-3, 1.5e-3, 3e-3, 1e-2, 3e-2, 0.1, 1.0)  # a few that diverge, on purpose
BATCH_SIZES = (32, 64, 128, 256, 512)
RECIPE_KEYS = ("batch_size", "lr", "epochs", "schedule", "warmup", "weight_decay", "beta")  # the page's trainer's


def model_key(arch: str, hidden: int, blocks: int) -> str:
    return "mlp" if arch == "mlp" else f"resmlp-{hidden}-{blocks}"


def model_config(key: str, dataset: str) -> VAEConfig:
    """'mlp' or 'resmlp-WIDTH-BLOCKS' (one of the offered) -> its VAEConfig; anything else is refused."""
    match = re.fullmatch(r"resmlp-(\d+)-(\d+)", key)
    if key == "mlp":
        return VAEConfig(arch="mlp", dataset=dataset)
    if match and int(match[1]) in WIDTHS and int(match[2]) in BLOCKS:
        return VAEConfig(arch="resmlp", hidden=int(match[1]), blocks=int(match[2]), dataset=dataset)
    raise ValueError(f"unknown model {key!r}; choose mlp or resmlp-WIDTH-BLOCKS with a width of {WIDTHS} and "
                     f"{BLOCKS} blocks")


def presets() -> dict[str, dict]:
    """The tab's presets (vae/presets.py, python -m train's): name -> {label, model (a key of model_config), and
    TrainConfig's values that the page's trainer takes}."""
    out = {}
    for name, (preset, label) in TAB_PRESETS.items():
        r = recipe(preset)
        out[name] = dict(label=label, model=model_key(r["arch"], r["hidden"], r["blocks"]),
                         **{key: r[key] for key in RECIPE_KEYS})
    return out


@cache
def models() -> list[dict]:
    """The models offered: [{key, label, parameters}], the spec's mlp first."""
    keys = ["mlp"] + [model_key("resmlp", w, b) for w in WIDTHS for b in BLOCKS]
    out = []
    for key in keys:
        config = model_config(key, "mnist")
        count = sum(p.numel() for p in initial_model(config, 0).parameters())
        name = "mlp (the spec's 784-400-200-2)" if key == "mlp" else \
            f"resmlp, width {config.hidden}, {config.blocks} block{'s' if config.blocks != 1 else ''}"
        out.append({"key": key, "label": f"{name}: {count / 1e6:.2f} M parameters", "parameters": count})
    return out


class LiveTraining:
    """The training programs the page asks for, written into `folder` (which the app serves)."""

    def __init__(self, folder: str | os.PathLike, data_path, missing_message):
        self.folder = Path(folder) / "programs"
        self.data_path, self.missing_message = data_path, missing_message  # webapp.training_data's functions
        self.lock = threading.Lock()

    def options(self) -> dict:
        """What the tab offers, for the page script's options."""
        return {"datasets": [{"name": d.name, "title": d.title} for d in DATASETS.values()], "models": models(),
                "presets": [{"name": name, **p} for name, p in presets().items()],
                "learning_rates": list(LEARNING_RATES), "batch_sizes": list(BATCH_SIZES)}

    def training_program(self, request: dict) -> dict:
        """{dataset, model, seed} -> {program, data: the files' app paths, config} or {error: what is wrong}."""
        try:
            dataset = get_dataset(str(request.get("dataset", "mnist"))).name
            config = model_config(str(request.get("model", "")), dataset)
            seed = int(request.get("seed", 0))
            if not 0 <= seed <= MAX_SEED:
                raise ValueError(f"the seed must be between 0 and {MAX_SEED}, not {seed}")
        except (TypeError, ValueError) as e:
            return {"error": str(e)}
        data = self.data_path(dataset)
        if data is None:
            return {"error": self.missing_message(dataset)}
        with self.lock:
            program = self.program_file(config, seed)
            served = self.served_data(Path(data))
        return {"program": f"gradio_api/file={program}", "data": f"gradio_api/file={served}",
                "config": config.to_dict()}

    def program_file(self, config: VAEConfig, seed: int) -> Path:
        model = model_key(config.arch, config.hidden, config.blocks)
        path = self.folder / f"{config.dataset}-{model}-{seed}.safetensors"
        if not path.is_file():
            write_training_program(config, seed, path)
            kept = sorted(self.folder.glob("*.safetensors"), key=lambda p: p.stat().st_mtime, reverse=True)
            for old in kept[PROGRAMS_KEPT:]:
                old.unlink(missing_ok=True)
        else:
            path.touch()  # recently used: kept longest
        return path

    def served_data(self, data: Path) -> Path:
        """The training data file, which `data_path` writes inside the served folder (the app serves nothing else:
        app.py's gr.set_static_paths)."""
        if self.folder.parent.resolve() not in data.resolve().parents:
            raise ValueError(f"the training data {data} lies outside the served folder {self.folder.parent}")
        return data
