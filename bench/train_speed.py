"""Training speed: time for the default recipe to reach the reference model's test -ELBO, and the spec recipe's
per-epoch time measured in the same run.

    python bench/train_speed.py --data-dir "$MNIST_DIR" --anchor path/to/seed_vae_mnist.safetensors

--data-dir is the MNIST folder (default $MNIST_DIR; `python -m train --download --data-dir data/mnist` makes one);
the anchor is the earlier version's weights, which are not in the repo.

1. The target is measured, not typed in: the reference (anchor) weights are evaluated on the test split with
   the same code that evaluates our runs (it gives 145.73 nats).
2. The default recipe (`python -m train` with no options) trains until its test -ELBO, measured after each epoch,
   is at or below the target; the wall time includes those evaluations. Training images per second are the
   images seen divided by the time spent in training steps alone.
3. The spec recipe (`--preset reference`) runs for --spec-epochs epochs; its time per epoch x 100 epochs is what the
   spec needs to reach the same figure, and the ratio of the two times is printed.
Results go to stdout and, with --json, to a file.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from train.loop import PRESETS, TrainConfig, train  # noqa: E402
from vae import VAE, VAEConfig, evaluate_elbo  # noqa: E402
from vae.mnist import as_tensor, load_mnist  # noqa: E402


def measure_target(anchor: Path, data_dir: str | None) -> float:
    model = VAE(VAEConfig(arch="mlp"))
    model.load_weights(anchor)
    x_test = as_tensor(load_mnist(data_dir, "test")[0])
    return evaluate_elbo(model, x_test)["elbo"]


def time_to_target(cfg: TrainConfig, target: float) -> dict:
    reached: dict = {}

    def stop_when_reached(record: dict, model) -> bool:
        if record["test_elbo"] <= target and not reached:
            reached.update(record)
            return True
        return False

    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        run = train(cfg, Path(out), progress=False, on_epoch=stop_when_reached, log=lambda s: print("  " + s))
        wall = time.perf_counter() - t0
    return {"reached": bool(reached), "epochs": len(run.history), "seconds": wall,
            "test_elbo": run.history[-1]["test_elbo"], "history": run.history}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default=None, help="MNIST folder (default $MNIST_DIR)")
    p.add_argument("--anchor", type=Path, required=True, help="the reference model's safetensors weights")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    p.add_argument("--spec-epochs", type=int, default=2, help="epochs of the spec recipe to time")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = default)")
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    target = measure_target(args.anchor, args.data_dir)
    print(f"target: the reference model's test -ELBO, measured now: {target:.2f} nats")

    default = TrainConfig(data_dir=args.data_dir, device=args.device, **PRESETS["default"])
    print(f"default recipe ({default.arch}, hidden {default.hidden}, batch {default.batch_size}, lr {default.lr}, "
          f"{default.schedule} over {default.epochs} epochs) until test -ELBO <= {target:.2f}:")
    ours = time_to_target(default, target)
    epoch_times = [b["seconds"] - a["seconds"] for a, b in zip([{"seconds": 0.0}] + ours["history"], ours["history"])]
    images_per_s = 60_000 / statistics.median(epoch_times)

    spec = replace(TrainConfig(data_dir=args.data_dir, device=args.device, **PRESETS["reference"]),
                   epochs=args.spec_epochs)
    print(f"spec recipe (mlp, batch 32, lr 1e-4) for {args.spec_epochs} epochs:")
    spec_run = time_to_target(spec, float("-inf"))
    spec_epoch_s = statistics.median(
        b["seconds"] - a["seconds"] for a, b in zip([{"seconds": 0.0}] + spec_run["history"], spec_run["history"]))
    spec_total = spec_epoch_s * PRESETS["reference"]["epochs"]

    result = {
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads",
        "device": args.device,
        "target_elbo": target,
        "default_reached": ours["reached"], "default_epochs": ours["epochs"], "default_seconds": ours["seconds"],
        "default_epoch_seconds_median": statistics.median(epoch_times),
        "default_images_per_second": images_per_s,
        "spec_epoch_seconds_median": spec_epoch_s, "spec_seconds_for_100_epochs": spec_total,
        "speedup_vs_spec": spec_total / ours["seconds"],
    }
    print(json.dumps(result, indent=2))
    print(f"\ndefault recipe reached {target:.2f} in {ours['seconds']:.1f} s ({ours['epochs']} epochs; "
          f"{images_per_s:,.0f} training images/s); the spec recipe needs {spec_epoch_s:.1f} s/epoch x 100 = "
          f"{spec_total:.0f} s: {result['speedup_vs_spec']:.1f}x faster")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
