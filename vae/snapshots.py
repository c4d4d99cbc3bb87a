"""Training snapshots: how the latent space formed, kept compact beside the model for the app's Training tab.

`python -m train --snapshots` records, at log-spaced moments of the run (`schedule`), the decoder's weights, the
posterior means of a fixed subset of the test set, and the train and test -ELBO at that moment, into one file,
`snapshots.safetensors`, rewritten atomically after each snapshot:

    moments   before the first step; after 25, 50, 100, 200, 400 and 800 Adam steps; at the end of epochs 1, 2, 3,
              5 and 10; and the final model (moments beyond the run's last step are left out, ties counted once)
    subset    SUBSET_SIZE test digits, drawn once with numpy's default_rng(0); their indices and labels are stored

    tensors   "indices" int32 (N,), "labels" uint8 (N,)
              "s{k}.mu" float16 (N, 2): snapshot k's posterior means of the subset
              "s{k}.{name}": each decoder tensor of snapshot k, encoded as the metadata's "encodings" says:
                  "int8": int8 (rows, cols) with "s{k}.{name}.scale" float32 (rows, groups):
                          w[r, c] = q[r, c] * scale[r, c // g], g = ceil(cols / groups) (at most GROUP = 128)
                  "float16" or "float32": the values themselves
    metadata  "format" FORMAT; "config" the model's config.json; "steps_per_epoch"; "snapshots": a JSON list, one
              record per snapshot: step, epoch (fractional), train_elbo, test_elbo, test_bce, test_kl,
              max_error (255ths of a pixel, see below) and encodings {tensor name: encoding}

Compactness with a fidelity check: each weight matrix is stored as int8 with a scale per row, rounded by GPTQ
(Frantar et al. 2022, "GPTQ: Accurate Post-Training Quantization for Generative Pre-trained Transformers") on
the decoder's own inputs over the latent square the app can show (a scale per row and group of 128 columns); vectors and the 2-wide first matrix stay float32.
The compact decoder's pixels are compared with the full-precision decoder's over that square (at other points
than GPTQ's); while the largest
difference exceeds MAX_ERROR (2/255), matrices are moved to float16, the last layer first. The largest difference
is stored per snapshot. The default model's 13 snapshots take about 12 MB (SIZE_BUDGET; docs/model.md).
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file
from torch import nn

from vae.atomic import atomic_write
from vae.config import VAEConfig
from vae.model import VAE

SNAPSHOTS_NAME = "snapshots.safetensors"
FORMAT = "vae-snapshots/1"
STEP_MOMENTS = (0, 25, 50, 100, 200, 400, 800)
EPOCH_MOMENTS = (1, 2, 3, 5, 10)
SUBSET_SIZE = 2000
MAX_ERROR = 2 / 255  # largest pixel difference allowed between the compact and the full-precision decoder
SIZE_BUDGET = 12 * 2**20  # bytes, for the default model's file (tests/test_snapshots.py checks the bundled one)
CHECK_EXTENT = 4.5  # the fidelity check covers z in [-4.5, 4.5]^2: sliders to +-3 plus the grid's half-width 1.5
CALIBRATION_POINTS = 61  # per axis: the latent points whose decoder inputs GPTQ fits
CHECK_POINTS = 97  # per axis: the fidelity check's points, other than the calibration's
GROUP = 128  # at most this many columns of a weight matrix share one int8 scale


class SnapshotsError(ValueError):
    """A snapshots file that cannot be read or does not fit its model; the message says what to do."""


def schedule(steps_per_epoch: int, epochs: int) -> list[int]:
    """The global steps (Adam steps taken so far) at which a run of `epochs` x `steps_per_epoch` takes snapshots."""
    total = steps_per_epoch * epochs
    moments = {s for s in STEP_MOMENTS if s <= total}
    moments |= {e * steps_per_epoch for e in EPOCH_MOMENTS if e <= epochs}
    moments.add(total)
    return sorted(moments)


def subset_indices(n_test: int, size: int = SUBSET_SIZE) -> np.ndarray:
    """The fixed test digits whose posterior means a snapshot keeps: int32, sorted."""
    if n_test <= size:
        return np.arange(n_test, dtype=np.int32)
    return np.sort(np.random.default_rng(0).choice(n_test, size, replace=False)).astype(np.int32)


def square(points: int, extent: float = CHECK_EXTENT) -> torch.Tensor:
    """(points^2, 2): a grid over the latent square [-extent, extent]^2 that the app can show."""
    axis = torch.linspace(-extent, extent, points)
    return torch.cartesian_prod(axis, axis)


# ---------------------------------------------------------------------------------------------------------
# compact decoder weights


def group_size(columns: int) -> int:
    """Columns per int8 scale: rows are cut into ceil(columns / GROUP) groups of equal size (the last may be shorter)."""
    return -(-columns // -(-columns // GROUP))


def _gptq_int8(weight: torch.Tensor, inputs: torch.Tensor, damp: float = 0.001) -> tuple[torch.Tensor, torch.Tensor]:
    """weight (N, K), inputs (M, K) -> (q int8 (N, K), scale float32 (N, G)): weight[r, c] ~ q[r, c] scale[r, c // g],
    g = group_size(K).

    GPTQ: columns are rounded one at a time, in order of decreasing input energy, and each rounding error is
    spread over the columns not yet rounded so that inputs @ weight.T changes least (inverse Hessian, Cholesky form).
    """
    w = weight.detach().double().clone()
    n, k = w.shape
    g = group_size(k)
    groups = -(-k // g)
    padded = torch.zeros(n, groups * g, dtype=torch.double)
    padded[:, :k] = w.abs()
    scale = (padded.reshape(n, groups, g).amax(2) / 127).float().clamp_min(1e-12)  # (N, G)
    column_scale = scale.double()[:, torch.arange(k) // g]  # (N, K)
    x = inputs.detach().double()
    hessian = x.T @ x / max(1, len(x))
    hessian += damp * hessian.diagonal().mean().clamp_min(1e-12) * torch.eye(k, dtype=torch.double)
    order = torch.argsort(hessian.diagonal(), descending=True)
    w, hessian, column_scale = w[:, order], hessian[order][:, order], column_scale[:, order]
    upper = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(hessian)), upper=True)
    q = torch.zeros_like(w)
    for j in range(k):
        s = column_scale[:, j:j + 1]
        q[:, j:j + 1] = torch.round(w[:, j:j + 1] / s).clamp(-127, 127)
        error = (w[:, j:j + 1] - q[:, j:j + 1] * s) / upper[j, j]
        w[:, j + 1:] -= error @ upper[j:j + 1, j + 1:]
    return q[:, torch.argsort(order)].to(torch.int8), scale


def _linears(decoder: nn.Module) -> list[tuple[str, nn.Linear]]:
    """The decoder's Linear layers in the order they run (module registration order, as webapp/bundle.py uses)."""
    return [(name, m) for name, m in decoder.named_modules() if isinstance(m, nn.Linear)]


@torch.inference_mode()
def compact_decoder(model: VAE, max_error: float = MAX_ERROR, extent: float = CHECK_EXTENT
                    ) -> tuple[dict[str, np.ndarray], dict[str, str], float]:
    """The decoder of `model` -> (tensors to store, {state-dict name: encoding}, largest pixel difference in 255ths
    over [-extent, extent]^2). If even float16 matrices differ by more than `max_error`, that last trial is returned:
    the caller compares the difference with its bound."""
    model = copy.deepcopy(model).cpu().float().eval()
    state = {f"decoder.{k}": v.detach().clone() for k, v in model.decoder.state_dict().items()}
    z, calibration = square(CHECK_POINTS, extent), square(CALIBRATION_POINTS, extent)
    reference = model.decode(z)
    matrices = [name for name, layer in _linears(model.decoder) if layer.in_features >= 8]
    quantized: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    work = copy.deepcopy(model)
    for name, layer in _linears(work.decoder):
        if name not in matrices:
            continue
        seen = {}
        hook = layer.register_forward_hook(lambda m, i, o: seen.__setitem__("x", i[0]))
        work.decode(calibration)  # the layer's inputs with every earlier matrix already rounded (sequential GPTQ)
        hook.remove()
        q, scale = _gptq_int8(layer.weight, seen["x"])
        quantized[f"decoder.{name}.weight"] = (q, scale)
        layer.weight.copy_(decode_tensor("int8", q.numpy(), scale.numpy()))
    encodings = {name: ("int8" if name in quantized else "float32") for name in state}
    for promoted in [None] + [f"decoder.{name}.weight" for name in reversed(matrices)]:
        if promoted is not None:
            encodings[promoted] = "float16"
        stored = {name: encode_tensor(encodings[name], value, quantized.get(name)) for name, value in state.items()}
        trial = copy.deepcopy(model)
        trial.load_state_dict({**model.state_dict(),
                               **{name: decode_tensor(encodings[name], *stored[name]) for name in state}})
        error = float((trial.decode(z) - reference).abs().max()) * 255
        if error <= max_error * 255:
            break
    tensors: dict[str, np.ndarray] = {}
    for name, (data, scale) in stored.items():  # the encoding that passed the check, as it was checked
        tensors[name] = data
        if scale is not None:
            tensors[f"{name}.scale"] = scale
    return tensors, encodings, error


def encode_tensor(encoding: str, value: torch.Tensor, int8: tuple[torch.Tensor, torch.Tensor] | None = None
                  ) -> tuple[np.ndarray, np.ndarray | None]:
    """-> (stored array, row scales or None) for one tensor in one encoding."""
    if encoding == "int8":
        q, scale = int8
        return q.numpy(), scale.numpy().astype(np.float32)
    dtype = {"float16": np.float16, "float32": np.float32}[encoding]
    return value.numpy().astype(dtype), None


def decode_tensor(encoding: str, data: np.ndarray, scale: np.ndarray | None) -> torch.Tensor:
    """The float32 weights the stored array stands for (the browser computes the same products in float32)."""
    if encoding == "int8":
        columns = np.arange(data.shape[1]) // group_size(data.shape[1])
        return torch.from_numpy(data.astype(np.float32) * scale.astype(np.float32)[:, columns])
    return torch.from_numpy(data.astype(np.float32))


# ---------------------------------------------------------------------------------------------------------
# the file


@dataclass
class Snapshots:
    """A snapshots file in memory: records (one dict per snapshot), the subset's labels and indices, the tensors."""

    config: VAEConfig
    steps_per_epoch: int
    records: list[dict]
    indices: np.ndarray
    labels: np.ndarray
    tensors: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.records)

    def mu(self, k: int) -> np.ndarray:
        """float32 (N, 2): snapshot k's posterior means of the subset."""
        return self.tensors[f"s{k}.mu"].astype(np.float32)

    def decoder_state(self, k: int) -> dict[str, torch.Tensor]:
        """Snapshot k's decoder as a float32 state dict (names as in VAE.state_dict())."""
        encodings = self.records[k]["encodings"]
        return {name: decode_tensor(enc, self.tensors[f"s{k}.{name}"], self.tensors.get(f"s{k}.{name}.scale"))
                for name, enc in encodings.items()}

    def model(self, final: VAE, k: int) -> VAE:
        """`final` with its decoder replaced by snapshot k's (the encoder is not kept: only decoding uses it)."""
        model = copy.deepcopy(final).cpu()
        model.load_state_dict({**model.state_dict(), **self.decoder_state(k)}, strict=True)
        return model.eval()

    def metadata(self) -> dict[str, str]:
        return {"format": FORMAT, "config": json.dumps(self.config.to_dict()),
                "steps_per_epoch": json.dumps(self.steps_per_epoch), "snapshots": json.dumps(self.records)}

    def save(self, path: str | os.PathLike) -> None:
        """Write atomically: a kill at any moment leaves the previous file or this one."""
        tensors = {"indices": self.indices.astype(np.int32), "labels": self.labels.astype(np.uint8), **self.tensors}
        atomic_write(Path(path), lambda tmp: save_file(tensors, tmp, metadata=self.metadata()))

    def truncated(self, last_step: int) -> "Snapshots":
        """The snapshots taken at or before `last_step` (what a resumed run keeps)."""
        keep = [k for k, r in enumerate(self.records) if r["step"] <= last_step]
        tensors = {}
        for new, old in enumerate(keep):
            prefix = f"s{old}."
            tensors.update({f"s{new}.{n[len(prefix):]}": v for n, v in self.tensors.items() if n.startswith(prefix)})
        return Snapshots(self.config, self.steps_per_epoch, [self.records[k] for k in keep], self.indices, self.labels,
                         tensors)


def load_snapshots(path: str | os.PathLike, config: VAEConfig | None = None) -> Snapshots:
    """Read and check a snapshots file (against the model's `config` when given); SnapshotsError says what is wrong."""
    path = Path(path)
    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
            tensors = {name: f.get_tensor(name) for name in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise SnapshotsError(f"{path.name} cannot be read ({e}); train again with --snapshots to rewrite it") from e
    if meta.get("format") != FORMAT:
        raise SnapshotsError(f"{path.name} is not a snapshots file written by `python -m train --snapshots` "
                             f"(format {meta.get('format')!r}, expected {FORMAT!r})")
    try:
        own = VAEConfig.from_dict(json.loads(meta["config"]))
        records = json.loads(meta["snapshots"])
        steps_per_epoch = int(json.loads(meta["steps_per_epoch"]))
        indices, labels = tensors.pop("indices"), tensors.pop("labels")
    except (KeyError, ValueError, TypeError) as e:
        raise SnapshotsError(f"{path.name} has a damaged header ({e}); train again with --snapshots") from e
    if config is not None and own.to_dict() != config.to_dict():
        raise SnapshotsError(f"{path.name} was recorded for another model ({own.to_dict()}), not this one "
                             f"({config.to_dict()})")
    snaps = Snapshots(own, steps_per_epoch, records, indices, labels, tensors)
    with torch.random.fork_rng(devices=[]):  # a resumed run reads this file: building a model must not draw from
        template = VAE(own).decoder.state_dict()  # the training's random numbers (its noise would change)
    try:
        for k, record in enumerate(records):
            if snaps.mu(k).shape != (len(labels), own.latent_dim):
                raise SnapshotsError(f"{path.name}: snapshot {k}'s means do not match its {len(labels)} labels")
            state = snaps.decoder_state(k)
            for name, value in template.items():
                got = state.get(f"decoder.{name}")
                if got is None or tuple(got.shape) != tuple(value.shape) or not torch.isfinite(got).all():
                    raise SnapshotsError(f"{path.name}: snapshot {k}'s decoder.{name} is missing, mis-shaped or not "
                                         "finite")
    except (KeyError, TypeError, ValueError, IndexError) as e:
        if isinstance(e, SnapshotsError):
            raise
        raise SnapshotsError(f"{path.name}: snapshot tensors are missing or damaged ({e}); train again with "
                             "--snapshots") from e
    return snaps


# ---------------------------------------------------------------------------------------------------------
# recording, during training


class SnapshotRecorder:
    """Takes the snapshots of one run: `due(step)` says whether to, `record(model, step)` does it and saves the file.

    x_train_eval and x_test are (M, 784) tensors on the model's device: the -ELBO of each snapshot is evaluated on
    them with a fixed seed, so recording never touches the training's random numbers.
    """

    def __init__(self, path: Path, config: VAEConfig, steps_per_epoch: int, epochs: int, x_train_eval: torch.Tensor,
                 x_test: torch.Tensor, test_labels: np.ndarray):
        self.path = Path(path)
        self.moments = schedule(steps_per_epoch, epochs)
        self.x_train_eval, self.x_test = x_train_eval, x_test
        indices = subset_indices(len(x_test))
        self.x_subset = x_test[torch.as_tensor(indices, dtype=torch.long, device=x_test.device)]
        self.snaps = Snapshots(config, steps_per_epoch, [], indices, np.asarray(test_labels)[indices].astype(np.uint8),
                               {})

    def resume(self, last_step: int) -> None:
        """Continue after a checkpoint at `last_step`: keep the file's snapshots up to it, drop any taken later."""
        if not self.path.is_file():
            return
        try:
            earlier = load_snapshots(self.path, self.snaps.config)
        except SnapshotsError:
            return  # unreadable: record again from here (earlier moments stay missing, the log says so)
        if earlier.steps_per_epoch == self.snaps.steps_per_epoch and np.array_equal(earlier.indices, self.snaps.indices):
            self.snaps = earlier.truncated(last_step)

    def missing_before(self, step: int) -> list[int]:
        """Scheduled moments before `step` that the file lacks (a resumed run whose file was lost)."""
        have = {r["step"] for r in self.snaps.records}
        return [m for m in self.moments if m < step and m not in have]

    def due(self, step: int) -> bool:
        return step in self.moments and all(r["step"] != step for r in self.snaps.records)

    def record(self, model: VAE, step: int, test: dict | None = None) -> dict:
        """Take the snapshot of `step` and save the file; `test`: evaluate_elbo(model, x_test) when the caller has it
        (the loop's end-of-epoch figures), so it is not computed twice."""
        from vae.evaluate import evaluate_elbo

        was_training = model.training
        train = evaluate_elbo(model, self.x_train_eval)
        test = test if test is not None else evaluate_elbo(model, self.x_test)
        with torch.inference_mode():
            mu, _ = model.eval().encode(self.x_subset)
        tensors, encodings, error = compact_decoder(model)
        model.train(was_training)
        k = len(self.snaps.records)
        record = {"step": step, "epoch": step / self.snaps.steps_per_epoch, "train_elbo": train["elbo"],
                  "test_elbo": test["elbo"], "test_bce": test["bce"], "test_kl": test["kl"],
                  "max_error": error, "encodings": encodings}
        self.snaps.records.append(record)
        # float16 holds |mu| up to 65504: a run about to diverge may go beyond; such a point is off any map anyway
        self.snaps.tensors[f"s{k}.mu"] = np.clip(np.nan_to_num(mu.cpu().numpy()), -6e4, 6e4).astype(np.float16)
        self.snaps.tensors.update({f"s{k}.{name}": value for name, value in tensors.items()})
        self.snaps.save(self.path)
        return record
