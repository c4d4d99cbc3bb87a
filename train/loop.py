"""The training loop: whole split as one tensor on the device, shuffled index batches, Adam, an epoch-wise
checkpoint and a line of train/test -ELBO per epoch. Called by `python -m train` (train/__main__.py)."""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from tqdm import tqdm

from train.checkpoint import CHECKPOINT_NAME, CheckpointError, load_checkpoint, save_checkpoint
from vae.atomic import atomic_write_text
from vae import VAE, VAEConfig, evaluate_elbo, negative_elbo
from vae.datasets import DEFAULT_DATASET, as_tensor, load_split
from vae.presets import RECIPE
from vae.snapshots import SNAPSHOTS_NAME, SnapshotRecorder

METRICS_NAME = "metrics.json"
TRAIN_CONFIG_NAME = "train_config.json"


@dataclass
class TrainConfig:
    """Everything that decides a run's result; saved beside the checkpoint as train_config.json."""

    # --- model (the defaults: the default recipe, vae/presets.py's RECIPE)
    arch: str = RECIPE["arch"]
    hidden: int = RECIPE["hidden"]
    blocks: int = RECIPE["blocks"]
    latent_dim: int = RECIPE["latent_dim"]
    beta: float = RECIPE["beta"]
    # --- optimisation
    epochs: int = RECIPE["epochs"]
    batch_size: int = RECIPE["batch_size"]
    lr: float = RECIPE["lr"]
    schedule: str = RECIPE["schedule"]  # constant | cosine | onecycle (linear warm-up, then cosine decay to ~0)
    warmup: float = RECIPE["warmup"]  # onecycle: fraction of all steps spent warming up
    weight_decay: float = RECIPE["weight_decay"]
    grad_clip: float = RECIPE["grad_clip"]  # max global grad norm; 0 = off
    seed: int = 0
    # --- data and output
    dataset: str = DEFAULT_DATASET  # mnist | fashion-mnist (vae/datasets.py)
    data_dir: str | None = None
    train_subset: int = 0  # use only the first N training images (0 = all); for smoke tests
    device: str = "auto"
    threads: int = 0  # torch CPU threads (0 = torch's default)
    snapshots: bool = True  # record the training's snapshots (vae/snapshots.py) for the app's Training tab

    def result_settings(self) -> dict:
        """The settings that decide the trained weights (a resumed run must keep them); recording snapshots does not."""
        return {k: v for k, v in asdict(self).items() if k != "snapshots"}

    def model_config(self) -> VAEConfig:
        return VAEConfig(arch=self.arch, latent_dim=self.latent_dim, beta=self.beta, hidden=self.hidden,
                         blocks=self.blocks, dataset=self.dataset)


class TrainingDiverged(RuntimeError):
    """A NaN or inf loss: the last good checkpoint is left as it was."""


def diverged(what: str, finished_epochs: int, out_dir: Path, cfg: TrainConfig) -> TrainingDiverged:
    kept = (f"the checkpoint of epoch {finished_epochs} in {out_dir} is intact" if finished_epochs
            else "no epoch had finished, so no checkpoint was written")
    return TrainingDiverged(f"{what}; {kept}. Lower --lr (now {cfg.lr}) or set --grad-clip, then run again"
                            + (" with --resume." if finished_epochs else "."))


def pick_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda asked for, but torch sees no CUDA GPU; use --device auto or cpu")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError("--device mps asked for, but this machine has no MPS backend; use --device auto or cpu")
    return torch.device(name)


def lr_factor(schedule: str, step: int, total: int, warmup: float) -> float:
    """Multiplier of the base learning rate at `step` of `total`."""
    if schedule == "constant":
        return 1.0
    progress = step / max(1, total)
    if schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * progress))
    if schedule == "onecycle":
        w = max(1, int(warmup * total))
        if step < w:
            return (step + 1) / w
        return 0.5 * (1 + math.cos(math.pi * (step - w) / max(1, total - w)))
    raise ValueError(f"unknown schedule {schedule!r}; choose constant, cosine or onecycle")


@dataclass
class RunResult:
    model: VAE
    history: list[dict] = field(default_factory=list)  # one dict per finished epoch (with its "seconds")
    published: bool = False  # a finished folder's own weights, reported again (finished_run): nothing was trained


def train(cfg: TrainConfig, out_dir: Path, resume: bool = False, progress: bool = True,
          on_epoch: Callable[[dict, VAE], bool | None] | None = None, log: Callable[[str], None] = print) -> RunResult:
    """Train per `cfg`, checkpointing to out_dir after every epoch. `on_epoch(record, model)` may return True
    to stop early (the benchmark uses it). With resume=True an existing checkpoint in out_dir is continued."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = pick_device(cfg.device)
    x_train, x_test, test_labels = load_data(cfg, device)
    steps_per_epoch = math.ceil(len(x_train) / cfg.batch_size)

    # --- model and optimiser
    torch.manual_seed(cfg.seed)
    model = VAE(cfg.model_config()).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    shuffle = torch.Generator().manual_seed(cfg.seed + 1)  # batch order, separate from init and noise
    history: list[dict] = []
    start_epoch = 0
    ckpt = out_dir / CHECKPOINT_NAME
    if resume and ckpt.exists():
        history, start_epoch = resume_from(ckpt, cfg, model, optimizer, shuffle)
        log(f"resuming from {ckpt} after epoch {start_epoch}")
    elif resume and (history := finished_run(out_dir, cfg, model)):
        log(f"{out_dir} holds this run, finished, without its checkpoint (a published folder): reporting it again")
        return RunResult(model=model.eval(), history=history, published=True)
    elif resume:
        log(f"--resume: no checkpoint in {out_dir}, starting from scratch")
    atomic_write_text(out_dir / TRAIN_CONFIG_NAME, json.dumps(asdict(cfg), indent=2) + "\n")
    recorder = None
    if cfg.snapshots:  # x_train[:10000]: the train -ELBO of a snapshot, on a fixed part of the training set
        recorder = SnapshotRecorder(out_dir / SNAPSHOTS_NAME, cfg.model_config(), steps_per_epoch, cfg.epochs,
                                    x_train[:10000], x_test, test_labels)
        start_recording(recorder, model, start_epoch, steps_per_epoch, log)

    # --- the epochs
    t0 = time.perf_counter() - (history[-1]["seconds"] if history else 0.0)
    for epoch in range(start_epoch, cfg.epochs):
        train_loss = train_epoch(cfg, model, optimizer, x_train, shuffle, epoch, recorder, out_dir, progress)
        test = evaluate_epoch(cfg, model, x_test, recorder, epoch, steps_per_epoch, out_dir)
        record = {"epoch": epoch + 1, "train_loss": train_loss, "test_elbo": test["elbo"], "test_bce": test["bce"],
                  "test_kl": test["kl"], "test_elbo_at_mu": test["elbo_at_mu"],
                  "lr": optimizer.param_groups[0]["lr"], "seconds": time.perf_counter() - t0}
        history.append(record)
        log(f"epoch {epoch + 1:3d}/{cfg.epochs}  train -ELBO {record['train_loss']:8.3f}  test -ELBO {test['elbo']:8.3f} "
            f"(BCE {test['bce']:.2f} + KL {test['kl']:.2f})  {record['seconds']:7.1f} s")
        rng = torch.stack([torch.get_rng_state(), shuffle.get_state()])
        save_checkpoint(ckpt, model, optimizer, rng, {"epoch": epoch + 1, "history": history, "train_config": asdict(cfg)})
        atomic_write_text(out_dir / METRICS_NAME, json.dumps(history, indent=2) + "\n")
        if on_epoch is not None and on_epoch(record, model):
            break
    model.eval()
    return RunResult(model=model, history=history)


def load_data(cfg: TrainConfig, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """The training images (cfg.train_subset of them when set), the test images and labels; the images as one float
    tensor on the device per split."""
    train_images, _ = load_split(cfg.data_dir, "train", cfg.dataset)
    test_images, test_labels = load_split(cfg.data_dir, "test", cfg.dataset)
    if cfg.train_subset:
        train_images = train_images[: cfg.train_subset]
    return as_tensor(train_images).to(device), as_tensor(test_images).to(device), test_labels  # (N, 784), (10000, 784)


def resume_from(ckpt: Path, cfg: TrainConfig, model: VAE, optimizer: torch.optim.Optimizer,
                shuffle: torch.Generator) -> tuple[list[dict], int]:
    """Load the checkpoint into model, optimizer and both random generators -> (its history, its epoch). Raises
    CheckpointError when it was written with other result settings than `cfg`."""
    meta, rng = load_checkpoint(ckpt, model, optimizer)
    # a checkpoint from before data sets were named trained on MNIST
    before = {"dataset": DEFAULT_DATASET, **{k: v for k, v in meta["train_config"].items() if k != "snapshots"}}
    if before != cfg.result_settings():
        changed = sorted(k for k in cfg.result_settings() if before.get(k) != cfg.result_settings()[k])
        raise CheckpointError(
            f"{ckpt} was written with different settings ({', '.join(changed)}); resume with the same options "
            "or choose another --out-dir")
    # clone: a row of the stacked (2, N) tensor is a view at a storage offset, which Generator.set_state reads
    # from the storage's start (torch 2.13: "Invalid mt19937 state", or a segfault)
    torch.set_rng_state(rng[0].clone())
    shuffle.set_state(rng[1].clone())
    return meta["history"], meta["epoch"]


def finished_run(out_dir: Path, cfg: TrainConfig, model: VAE) -> list[dict] | None:
    """A run folder without its checkpoint (a published or bundled model, which leave it out) whose train_config.json
    has `cfg`'s result settings and whose metrics.json has all cfg.epochs: its weights loaded into `model` -> its
    history; else None. So `--resume` redoes a published run's final figures and card (a new figure, a --compare
    row) without training it again."""
    weights, metrics, settings = (out_dir / name for name in ("model.safetensors", METRICS_NAME, TRAIN_CONFIG_NAME))
    if not (weights.is_file() and metrics.is_file() and settings.is_file()):
        return None
    saved = {"dataset": DEFAULT_DATASET, **json.loads(settings.read_text())}
    history = json.loads(metrics.read_text())
    if TrainConfig(**{k: v for k, v in saved.items() if k in TrainConfig.__dataclass_fields__}).result_settings() \
            != cfg.result_settings() or len(history) != cfg.epochs:
        return None
    model.load_weights(weights)
    return history


def start_recording(recorder: SnapshotRecorder, model: VAE, start_epoch: int, steps_per_epoch: int,
                    log: Callable[[str], None]) -> None:
    """The recorder picks up after `start_epoch` (0, or the resumed checkpoint's), saying which snapshots a resumed
    file lacks; the untrained model is the first snapshot."""
    step = start_epoch * steps_per_epoch
    if step:
        recorder.resume(step)
        lost = recorder.missing_before(step)
        if lost:
            log(f"{SNAPSHOTS_NAME} lacks the snapshots of steps {lost} (file missing or unreadable); the replay "
                "will start later. Train from scratch for a complete one.")
    log(f"snapshots at steps {recorder.moments} ({steps_per_epoch} steps per epoch) into {SNAPSHOTS_NAME}")
    if recorder.due(0):
        recorder.record(model, 0)


def train_epoch(cfg: TrainConfig, model: VAE, optimizer: torch.optim.Optimizer, x_train: torch.Tensor,
                shuffle: torch.Generator, epoch: int, recorder: SnapshotRecorder | None, out_dir: Path,
                progress: bool) -> float:
    """One pass over x_train in shuffled batches, an Adam step each, the learning rate set per step; the snapshots
    due within the epoch recorded -> the epoch's mean training loss."""
    model.train()
    n = len(x_train)
    steps_per_epoch = math.ceil(n / cfg.batch_size)
    total_steps = steps_per_epoch * cfg.epochs
    order = torch.randperm(n, generator=shuffle).to(x_train.device)
    running, seen = 0.0, 0
    bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not progress,
               leave=False, dynamic_ncols=True, mininterval=0.5)
    for i in bar:
        step = epoch * steps_per_epoch + i
        for group in optimizer.param_groups:
            group["lr"] = cfg.lr * lr_factor(cfg.schedule, step, total_steps, cfg.warmup)
        xb = x_train[order[i * cfg.batch_size : (i + 1) * cfg.batch_size]]  # (B, 784)
        logits, mu, logvar = model(xb)
        loss = negative_elbo(logits, xb, mu, logvar, cfg.beta).loss.mean()
        # The CLI's divergence rule: a non-finite loss here, or non-finite test figures after the epoch. The page's
        # trainer (static/js/core/trainer.js) also stops on a loss over 5 coin-flip decoders (5 * 784 ln 2 = 2717
        # nats) or a non-finite gradient, before the update, as its weights in memory are all a visitor has. Here the
        # last epoch's checkpoint stays on disk untouched for --resume, weights a bad step turned NaN fail the next
        # check, and a finite loss however high is left to the user watching the log (and to --grad-clip).
        if not torch.isfinite(loss):
            raise diverged(f"the training loss became {loss.item()} at epoch {epoch + 1}, step {i + 1}", epoch,
                           out_dir, cfg)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        if recorder is not None and i + 1 < steps_per_epoch and recorder.due(step + 1):  # an epoch's end: below
            recorder.record(model, step + 1)
        running += loss.item() * len(xb)
        seen += len(xb)
        if i % 50 == 0:
            bar.set_postfix(loss=f"{running / seen:.2f}")
    return running / seen


def evaluate_epoch(cfg: TrainConfig, model: VAE, x_test: torch.Tensor, recorder: SnapshotRecorder | None, epoch: int,
                   steps_per_epoch: int, out_dir: Path) -> dict[str, float]:
    """The test figures after epoch `epoch` (0-based, evaluate_elbo's), with the epoch's snapshot when one is due;
    TrainingDiverged when they are not finite."""
    test = evaluate_elbo(model, x_test)
    if recorder is not None and recorder.due((epoch + 1) * steps_per_epoch):  # with the figures just computed
        recorder.record(model, (epoch + 1) * steps_per_epoch, test=test)
    if not all(math.isfinite(v) for v in test.values()):
        raise diverged(f"the test -ELBO became {test['elbo']} after epoch {epoch + 1}", epoch, out_dir, cfg)
    return test
