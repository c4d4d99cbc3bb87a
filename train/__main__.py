"""Train a VAE on MNIST, evaluate it on the test split, write a Hub-ready folder, optionally publish it.

    python -m train --data-dir ../shared/data/mnist --out-dir runs/default
    python -m train --preset reference --data-dir ../shared/data/mnist --out-dir runs/reference
    python -m train ... --push-to-hub you/vae-2d-mnist        # token from HF_TOKEN or `hf auth login`

The output folder holds model.safetensors, config.json, latents.safetensors, README.md (model card), the figures,
metrics.json (per epoch), results.json (final test figures), train_config.json and checkpoint.safetensors
(for --resume; never uploaded).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, fields
from pathlib import Path

from train.loop import PRESETS, TrainConfig, TrainingDiverged, pick_device, train
from train.checkpoint import CheckpointError

RESULTS_NAME = "results.json"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m train", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--preset", choices=sorted(PRESETS), default="default",
                   help="starting values for every option below: 'default' is this project's recipe; 'reference' "
                        "is the spec's exactly (mlp, batch 32, Adam lr 1e-4 constant, 100 epochs, beta 1). "
                        "Options given explicitly override the preset.")

    g = p.add_argument_group("data")
    g.add_argument("--data-dir", default=None,
                   help="folder with the four MNIST IDX files (gzip or raw); default: $MNIST_DIR")
    g.add_argument("--download", action="store_true",
                   help="fetch missing MNIST files into --data-dir from the public mirrors, checking their md5")
    g.add_argument("--train-subset", type=int, default=None,
                   help="train on only the first N training images (0 = all 60,000); for quick checks")

    g = p.add_argument_group("model")
    g.add_argument("--arch", choices=["mlp", "resmlp"], default=None,
                   help="'mlp': the spec's reference network; 'resmlp': residual MLP, more capacity per parameter")
    g.add_argument("--hidden", type=int, default=None, help="resmlp: trunk width; more = lower loss, slower")
    g.add_argument("--blocks", type=int, default=None, help="resmlp: residual blocks per encoder and decoder")
    g.add_argument("--latent-dim", type=int, default=None, help="latent dimensions; the app's sliders need 2")
    g.add_argument("--beta", type=float, default=None,
                   help="KL weight: 1 gives the true ELBO; >1 trades reconstruction for a smoother latent space")

    g = p.add_argument_group("optimisation")
    g.add_argument("--epochs", type=int, default=None, help="passes over the training set")
    g.add_argument("--batch-size", type=int, default=None, help="images per Adam step")
    g.add_argument("--lr", type=float, default=None, help="Adam's peak learning rate")
    g.add_argument("--schedule", choices=["constant", "cosine", "onecycle"], default=None,
                   help="learning-rate schedule over all steps; onecycle = linear warm-up then cosine to 0")
    g.add_argument("--warmup", type=float, default=None, help="onecycle: fraction of steps spent warming up")
    g.add_argument("--weight-decay", type=float, default=None, help="Adam's L2 penalty")
    g.add_argument("--grad-clip", type=float, default=None, help="clip the global gradient norm (0 = off)")
    g.add_argument("--seed", type=int, default=None, help="same seed, same machine -> same result")

    g = p.add_argument_group("machine")
    g.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], default=None,
                   help="auto picks CUDA, then MPS, then the CPU")
    g.add_argument("--threads", type=int, default=None, help="CPU threads for torch (0 = torch's default)")

    g = p.add_argument_group("output")
    g.add_argument("--out-dir", type=Path, default=Path("runs/default"), help="folder for the model and its card")
    g.add_argument("--resume", action="store_true",
                   help="continue the run in --out-dir from its last finished epoch (after a crash or kill -9)")
    g.add_argument("--iwae-k", type=int, default=1000,
                   help="importance samples for the final IWAE bound (1000 for reported figures)")
    g.add_argument("--iwae-images", type=int, default=0,
                   help="test images used for the IWAE bound (0 = all 10,000; fewer for quick checks)")
    g.add_argument("--compare", action="append", default=[], metavar="LABEL=RESULTS_JSON",
                   help="add another run's results.json as a row of the model card's table (repeatable)")
    g.add_argument("--no-progress", action="store_true", help="no progress bars (logs, CI)")

    g = p.add_argument_group("publishing")
    g.add_argument("--push-to-hub", metavar="REPO_ID", default=None,
                   help="upload the folder to this Hub model repo (created if needed) and print the commit id")
    g.add_argument("--private", action="store_true", help="create the Hub repo as private")
    g.add_argument("--revision", default=None, help="branch to push to (created if needed); default main")
    g.add_argument("--commit-message", default=None, help="commit message for the upload")
    return p


def resolve_config(args: argparse.Namespace) -> TrainConfig:
    values = asdict(TrainConfig())
    values.update(PRESETS[args.preset])
    for f in fields(TrainConfig):
        given = getattr(args, f.name, None)
        if given is not None:
            values[f.name] = given
    return TrainConfig(**values)


def check_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as e:
        raise SystemExit(f"error: cannot write to the output folder {folder}: {e.strerror or e}. "
                         "Choose another --out-dir or fix its permissions.")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # for the model card's command line
    from vae.mnist import MNISTError, download_mnist, resolve_data_dir

    try:
        if args.download:
            args.data_dir = str(download_mnist(resolve_data_dir(args.data_dir)))
        cfg = resolve_config(args)
        cfg.model_config()  # validates arch, sizes, beta before any work
        device = pick_device(cfg.device)
    except (MNISTError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    check_writable(args.out_dir)

    try:
        run = train(cfg, args.out_dir, resume=args.resume, progress=not args.no_progress)
    except (MNISTError, CheckpointError, TrainingDiverged) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # disk full, folder made read-only mid-run: earlier files are intact (atomic writes)
        print(f"error: writing to {args.out_dir} failed: {e.strerror or e}. The last finished epoch's checkpoint "
              f"is intact; free space or fix permissions, then run again with --resume.", file=sys.stderr)
        return 1
    try:
        finish(args, cfg, run, device)
    except OSError as e:
        print(f"error: writing the model folder {args.out_dir} failed: {e.strerror or e}; files written before are "
              "intact. Free space or fix permissions, then run again with --resume.", file=sys.stderr)
        return 1
    return 0


def finish(args: argparse.Namespace, cfg: TrainConfig, run, device) -> None:
    """Final test figures, the Hub folder (weights, config, latents, figures, card) and the optional upload."""
    from train.report import (LATENT_SCATTER, LOSS_CURVE, SAMPLES, command_line, plot_latent_scatter,
                              plot_loss_curve, plot_samples, write_model_card)
    from vae import evaluate_elbo, iwae_bound
    from vae.atomic import atomic_write, atomic_write_text
    from vae.latents import LATENTS_NAME, encode_dataset, save_latents
    from vae.mnist import as_tensor, load_mnist

    out, model = args.out_dir, run.model
    images, labels = load_mnist(cfg.data_dir, "test")
    x_test = as_tensor(images)
    model = model.cpu()
    t0 = time.perf_counter()
    results = evaluate_elbo(model, x_test)
    iwae_x = x_test[: args.iwae_images] if args.iwae_images else x_test
    results.update(iwae_k=args.iwae_k, iwae_images=len(iwae_x), epochs=len(run.history),
                   train_seconds=run.history[-1]["seconds"] if run.history else 0.0)
    earlier = json.loads((out / RESULTS_NAME).read_text()) if (out / RESULTS_NAME).is_file() else {}
    if {k: earlier.get(k) for k in results} == results and "iwae" in earlier:
        # `--resume` of a finished run (to publish, or to redo the card): the same weights give the same seeded
        # -ELBO to the last bit, so the IWAE bound computed then still holds; minutes saved.
        results["iwae"] = earlier["iwae"]
        print(f"same model as {out / RESULTS_NAME}: reusing its IWAE bound")
    else:
        print(f"computing the IWAE bound with K={args.iwae_k} on {len(iwae_x)} test images ...", flush=True)
        results["iwae"] = iwae_bound(model, iwae_x, k=args.iwae_k)
    print(f"test -ELBO {results['elbo']:.2f} (BCE {results['bce']:.2f} + KL {results['kl']:.2f}), "
          f"IWAE-{args.iwae_k} bound {results['iwae']:.2f} nats/image  [{time.perf_counter() - t0:.0f} s]")

    model.save_pretrained(out)  # model.safetensors + config.json (atomic)
    mu, sigma = encode_dataset(model, x_test)
    atomic_write(out / LATENTS_NAME, lambda tmp: save_latents(tmp, mu, sigma, labels))
    for name, draw in ((LOSS_CURVE, lambda p: plot_loss_curve(run.history, p)),
                       (SAMPLES, lambda p: plot_samples(model, p)),
                       (LATENT_SCATTER, lambda p: plot_latent_scatter(mu, labels, p))):
        atomic_write(out / name, draw)
    atomic_write_text(out / RESULTS_NAME, json.dumps(results, indent=2) + "\n")
    comparisons = []
    for item in args.compare:
        label, _, path = item.partition("=")
        other = json.loads(Path(path).read_text())
        comparisons.append(dict(name=label, elbo=other["elbo"], bce=f"{other['bce']:.2f}", kl=f"{other['kl']:.2f}",
                                elbo_at_mu=f"{other['elbo_at_mu']:.2f}",
                                iwae=f"{other['iwae']:.2f}" if "iwae" in other else "—"))
    write_model_card(out, model=model, results=results, history=run.history, train_config=asdict(cfg),
                     command=command_line(argv_for_card(args)), device=str(device), comparisons=comparisons,
                     repo_hint=args.push_to_hub or str(out))
    print(f"wrote {out}/: model.safetensors, config.json, {LATENTS_NAME}, README.md, figures, {RESULTS_NAME}")

    if args.push_to_hub:
        from train.publish import push_folder

        commit = push_folder(out, args.push_to_hub, private=args.private, revision=args.revision,
                             commit_message=args.commit_message)
        print(f"pushed to https://huggingface.co/{args.push_to_hub} (revision {args.revision or 'main'}), "
              f"commit {commit}: pin it with VAE_MODEL_REVISION={commit}")


# options that do not change the trained model: left out of the command the model card shows
_WITH_VALUE = ("--push-to-hub", "--revision", "--commit-message", "--compare")
_FLAGS = ("--private", "--resume", "--no-progress")


def argv_for_card(args: argparse.Namespace) -> list[str]:
    """The command line as given, minus publishing and bookkeeping options (the card shows how to *train* the
    model; a resumed run ends exactly as an uninterrupted one)."""
    argv, skip = [], False
    given = getattr(args, "argv", None)  # set by main(argv); sys.argv belongs to the caller when main() is imported
    for a in sys.argv[1:] if given is None else given:
        if skip:
            skip = False
        elif a in _WITH_VALUE:
            skip = True
        elif not (a in _FLAGS or a.startswith(tuple(f"{o}=" for o in _WITH_VALUE))):
            argv.append(a)
    return argv


if __name__ == "__main__":
    sys.exit(main())
