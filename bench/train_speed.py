"""Training speed: time for a recipe (the default, or --preset quick) to reach the reference model's test -ELBO, and
the spec recipe's per-epoch time measured in the same run.

    python bench/train_speed.py --data-dir "$MNIST_DIR" --anchor path/to/seed_vae_mnist.safetensors
    python bench/train_speed.py --data-dir "$MNIST_DIR" --anchor path/to/seed_vae_mnist.safetensors \
        --preset quick --full --repeats 3

--data-dir is the MNIST folder (default $MNIST_DIR; `python -m train --download --data-dir data/mnist` makes one);
the anchor is the earlier version's weights, which are not in the repo.

1. The target is measured, not typed in: the reference (anchor) weights are evaluated on the test split with
   the same code that evaluates our runs (it gives 145.73 nats).
2. The recipe (`python -m train --preset PRESET`, default: no options) trains until its test -ELBO, measured after
   each epoch, is at or below the target; the time runs from the call of the training loop (MNIST loading
   included) to the end of that epoch (its evaluation and checkpoint). With --full the recipe trains to its last
   epoch, and its final test -ELBO and training seconds (the trainer's own figure, results.json's train_seconds)
   are reported too. Training images per second are 60,000 divided by the median epoch time. With --repeats N the
   recipe runs N times (same seed: the same losses; only the times differ) and the times reported are medians.
3. The spec recipe (`--preset reference`) runs for --spec-epochs epochs; its time per epoch x 100 epochs is what the
   spec needs to reach the same figure, and the ratio of the two times is printed.
The load average is printed at the start and the end: on a shared machine the ratio, measured in one run, is the
figure to compare. Results go to stdout and, with --json, to a file.
"""

from __future__ import annotations

import argparse
import json
import os
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


def time_to_target(cfg: TrainConfig, target: float, full: bool = False) -> dict:
    """Train per cfg until the test -ELBO is <= target (or, with full, to the last epoch) -> the seconds from the call
    of train() to the end of the first epoch at or below the target, the final figures and the per-epoch history."""
    reached: dict = {}
    t0 = time.perf_counter()

    def note_crossing(record: dict, model) -> bool:
        if record["test_elbo"] <= target and not reached:
            reached.update(record, wall=time.perf_counter() - t0)
        return bool(reached) and not full

    with tempfile.TemporaryDirectory() as out:
        run = train(cfg, Path(out), progress=False, on_epoch=note_crossing, log=lambda s: print("  " + s, flush=True))
        wall = time.perf_counter() - t0
    return {"reached": bool(reached), "reached_epoch": reached.get("epoch"), "reached_seconds": reached.get("wall"),
            "epochs": len(run.history), "seconds": wall, "train_seconds": run.history[-1]["seconds"],
            "test_elbo": run.history[-1]["test_elbo"], "history": run.history}


def epoch_seconds(history: list[dict]) -> list[float]:
    return [b["seconds"] - a["seconds"] for a, b in zip([{"seconds": 0.0}] + history, history)]


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default=None, help="MNIST folder (default $MNIST_DIR)")
    p.add_argument("--anchor", type=Path, required=True, help="the reference model's safetensors weights")
    p.add_argument("--preset", choices=sorted(set(PRESETS) - {"reference"}), default="default",
                   help="the recipe to time against the spec's (default: %(default)s)")
    p.add_argument("--full", action="store_true",
                   help="train the recipe to its last epoch rather than stop at the target; adds its final test "
                        "-ELBO and training seconds")
    p.add_argument("--repeats", type=int, default=1, help="runs of the recipe; times are their medians (default: 1)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    p.add_argument("--spec-epochs", type=int, default=2, help="epochs of the spec recipe to time (default: 2)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads for both recipes (default: the preset's --threads, else torch's default)")
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = p.parse_args()
    recipe = TrainConfig(data_dir=args.data_dir, device=args.device, **PRESETS[args.preset])
    threads = recipe.threads if args.threads is None else args.threads
    if threads:
        torch.set_num_threads(threads)
    recipe = replace(recipe, threads=0)  # set above, once, for the recipe and the spec alike
    load_start = load_average()
    print(f"load average at the start: {load_start}")

    target = measure_target(args.anchor, args.data_dir)
    print(f"target: the reference model's test -ELBO, measured now: {target:.2f} nats")

    runs = []
    for i in range(args.repeats):
        print(f"{args.preset} recipe, run {i + 1}/{args.repeats} ({recipe.arch}, hidden {recipe.hidden}, blocks "
              f"{recipe.blocks}, batch {recipe.batch_size}, lr {recipe.lr}, {recipe.schedule} over {recipe.epochs} "
              f"epochs) " + ("to its last epoch:" if args.full else f"until test -ELBO <= {target:.2f}:"))
        runs.append(time_to_target(recipe, target, full=args.full))
    reached = all(r["reached"] for r in runs)
    ours_s = statistics.median(r["reached_seconds"] for r in runs) if reached else None
    epoch_s = statistics.median(s for r in runs for s in epoch_seconds(r["history"]))

    spec = replace(TrainConfig(data_dir=args.data_dir, device=args.device, **PRESETS["reference"]),
                   epochs=args.spec_epochs)
    print(f"spec recipe (mlp, batch 32, lr 1e-4) for {args.spec_epochs} epochs:")
    spec_run = time_to_target(spec, float("-inf"))
    spec_epoch_s = statistics.median(epoch_seconds(spec_run["history"]))
    spec_total = spec_epoch_s * PRESETS["reference"]["epochs"]
    load_end = load_average()

    result = {
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads",
        "device": args.device,
        "load_average_start": load_start, "load_average_end": load_end,
        "target_elbo": target,
        "preset": args.preset, "repeats": args.repeats, "full": args.full,
        "reached": reached, "reached_epoch": runs[0]["reached_epoch"],
        "reached_seconds_each": [r["reached_seconds"] for r in runs], "reached_seconds_median": ours_s,
        "epoch_seconds_median": epoch_s, "images_per_second": 60_000 / epoch_s,
        "spec_epoch_seconds_median": spec_epoch_s, "spec_seconds_for_100_epochs": spec_total,
        "speedup_vs_spec": spec_total / ours_s if ours_s else None,
    }
    if args.full:
        result.update(final_epochs=runs[0]["epochs"], final_test_elbo=runs[0]["test_elbo"],
                      train_seconds_each=[r["train_seconds"] for r in runs],
                      train_seconds_median=statistics.median(r["train_seconds"] for r in runs))
    print(json.dumps(result, indent=2))
    print(f"\nload average {load_start} at the start, {load_end} at the end")
    if ours_s is None:
        print(f"{args.preset} recipe did not reach {target:.2f} in {recipe.epochs} epochs "
              f"(final {runs[0]['test_elbo']:.2f})")
    else:
        print(f"{args.preset} recipe reached {target:.2f} in {ours_s:.1f} s (epoch {result['reached_epoch']}; "
              f"{result['images_per_second']:,.0f} training images/s"
              + (f"; median of {args.repeats}" if args.repeats > 1 else "") + f"); the spec recipe needs "
              f"{spec_epoch_s:.1f} s/epoch x 100 = {spec_total:.0f} s: {result['speedup_vs_spec']:.1f}x faster")
    if args.full:
        print(f"{args.preset} recipe, all {result['final_epochs']} epochs: final test -ELBO "
              f"{result['final_test_elbo']:.2f} after {result['train_seconds_median']:.1f} s of training")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
