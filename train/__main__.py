"""Train a VAE on MNIST or Fashion-MNIST, evaluate it on the test split and write a Hub-ready folder (model card
included).

    python -m train --download --data-dir data/mnist                      # the default recipe, into runs/default
    python -m train --preset reference --data-dir data/mnist --out-dir runs/reference
    python -m train --dataset fashion-mnist --download --data-dir data/fashion-mnist --out-dir runs/fashion
    python -m train --preset quick --iwae-k 0 --data-dir data/mnist --out-dir runs/quick   # about a minute
    python -m train.publish runs/default you/vae-2d-mnist                 # upload a finished run (train/publish.py)

The data set comes from --data-dir, else $MNIST_DIR (--dataset fashion-mnist: $FASHION_MNIST_DIR); --download
fetches it there first from the data set's published location, md5-checked. The output folder
holds model.safetensors, config.json, latents.safetensors, README.md (model card), the figures, metrics.json (per
epoch), results.json (final test figures), train_config.json, snapshots.safetensors (the training replay, unless
--no-snapshots) and checkpoint.safetensors (for --resume; never uploaded). `--push-to-hub REPO_ID` publishes the folder at the end of the run, as train.publish does.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import textwrap
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch

from train.loop import METRICS_NAME, TrainConfig, TrainingDiverged, pick_device, train
from train.checkpoint import CheckpointError
from vae.datasets import DATASETS, DEFAULT_DATASET, get_dataset
from vae.presets import PRESET_PURPOSES, PRESETS



def option(name: str) -> str:
    """TrainConfig field -> its command-line option: batch_size -> --batch-size."""
    return "--" + name.replace("_", "-")


def preset_option(name: str, value) -> str:
    """A preset's value as the options that set it: --epochs 10, --no-snapshots."""
    if isinstance(value, bool):
        return option(name) if value else "--no-" + name.replace("_", "-")
    return f"{option(name)} {value}"


def default_note(name: str) -> str:
    """'default: 128; reference preset: 32': a TrainConfig field's default and the value each preset sets."""
    notes = [f"default: {getattr(TrainConfig(), name)}"]
    notes += [f"{preset} preset: {values[name]}" for preset, values in PRESETS.items() if name in values]
    return "(" + "; ".join(notes) + ")"


def config_option(group, name: str, help: str, **kwargs) -> None:
    """An option of TrainConfig's field `name`, its help ending in its default and the presets' values."""
    group.add_argument(option(name), help=f"{help} {default_note(name)}", **kwargs)


def build_parser(argument_default=None) -> argparse.ArgumentParser:
    """The options. Those of TrainConfig's fields default to TrainConfig's values; with
    argument_default=argparse.SUPPRESS they are absent from the result unless given (see resolve_config)."""
    p = argparse.ArgumentParser(prog="python -m train", description=__doc__.split("\n\n")[0],
                                argument_default=argument_default)
    presets = "; ".join(f"'{name}' sets " + " ".join(preset_option(k, v) for k, v in values.items())
                        + f": {PRESET_PURPOSES[name]}" for name, values in PRESETS.items() if values)
    p.add_argument("--preset", choices=sorted(PRESETS), default="default",
                   help=f"starting values for the options below: 'default' is {PRESET_PURPOSES['default']}; "
                        f"{presets}. Options given explicitly override the preset. (default: default)")
    for add_group in (data_options, model_options, optimisation_options, machine_options, output_options,
                      publishing_options):
        add_group(p)
    if argument_default is None:
        p.set_defaults(**asdict(TrainConfig()))
    return p


# --- the option groups, in the order --help lists them

def data_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data")
    config_option(g, "dataset", "what to train on: handwritten digits, or Fashion-MNIST's 28x28 images of clothing "
                                "(the same format, 10 classes, harder)", choices=list(DATASETS))
    g.add_argument("--data-dir", help="folder with the data set's four IDX files, gzip or raw (default: the folder "
                                      "$MNIST_DIR names; for fashion-mnist $FASHION_MNIST_DIR)")
    g.add_argument("--download", action="store_true",
                   help="first fetch the data set's missing files into --data-dir from its published location, "
                        "checking their md5")
    config_option(g, "train_subset", "train on only the first N training images (0 = all 60,000); for quick checks",
                  type=int)


def model_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model")
    config_option(g, "arch", "'mlp': the spec's reference network; 'resmlp': residual MLP, more capacity per parameter",
                  choices=["mlp", "resmlp"])
    config_option(g, "hidden", "resmlp: trunk width; more = lower loss, slower", type=int)
    config_option(g, "blocks", "resmlp: residual blocks per encoder and decoder", type=int)
    config_option(g, "latent_dim", "latent dimensions; the app's sliders need 2", type=int)
    config_option(g, "beta", "KL weight: 1 gives the true ELBO; >1 trades reconstruction for a smoother latent space",
                  type=float)


def optimisation_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("optimisation")
    config_option(g, "epochs", "passes over the training set", type=int)
    config_option(g, "batch_size", "images per Adam step", type=int)
    config_option(g, "lr", "Adam's peak learning rate", type=float)
    config_option(g, "schedule", "learning-rate schedule over all steps; onecycle = linear warm-up then cosine to 0",
                  choices=["constant", "cosine", "onecycle"])
    config_option(g, "warmup", "onecycle: fraction of steps spent warming up", type=float)
    config_option(g, "weight_decay", "Adam's L2 penalty", type=float)
    config_option(g, "grad_clip", "clip the global gradient norm; 0 = off", type=float)
    config_option(g, "seed", "same seed, same machine -> same result", type=int)


def machine_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("machine")
    config_option(g, "device", "auto picks CUDA, then MPS, then the CPU", choices=["auto", "cpu", "cuda", "mps"])
    config_option(g, "threads", "CPU threads for torch; 0 = torch's default", type=int)


def output_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("output")
    g.add_argument("--out-dir", type=Path, default=Path("runs/default"),
                   help="folder for the model and its card (default: %(default)s)")
    config_option(g, "snapshots", "record snapshots.safetensors: the decoder and the test digits' latent means at "
                                  "log-spaced moments of training, for the app's Training tab (vae/snapshots.py)",
                  action=argparse.BooleanOptionalAction)
    g.add_argument("--resume", action="store_true",
                   help="continue the run in --out-dir from its last finished epoch (after a crash or kill -9)")
    g.add_argument("--iwae-k", type=int, default=1000,
                   help="importance samples for the final IWAE bound; 1000 for reported figures, 0 = skip it "
                        "(default: %(default)s)")
    g.add_argument("--iwae-images", type=int, default=0,
                   help="test images used for the IWAE bound: 0 = all 10,000, fewer for quick checks "
                        "(default: %(default)s)")
    g.add_argument("--exact", action=argparse.BooleanOptionalAction, default=True,
                   help="the exact test -log p(x), by quadrature on the 2-D plane (vae/exact.py; about 5 minutes on "
                        "one core): --no-exact skips it (default: on)")
    g.add_argument("--exact-images", type=int, default=0,
                   help="test images used for the exact -log p(x): 0 = all 10,000, fewer for quick checks "
                        "(default: %(default)s)")
    g.add_argument("--compare", action="append", default=[], metavar="LABEL=RESULTS_JSON",
                   help="add another run's results.json as a row of the model card's table (repeatable)")
    g.add_argument("--no-progress", action="store_true", help="no progress bars (logs, CI)")


def publishing_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("publishing (or later, on the finished folder: python -m train.publish)")
    g.add_argument("--push-to-hub", metavar="REPO_ID",
                   help="after the run, upload the folder to this Hub model repo (created if needed) and print the "
                        "commit id")
    g.add_argument("--private", action="store_true", help="create the Hub repo as private")
    g.add_argument("--revision", help="branch to push to, created if needed (default: main)")
    g.add_argument("--commit-message", help="commit message for the upload (default: 'Upload VAE from <out dir's "
                                            "name>')")


def resolve_config(argv: list[str] | None = None) -> tuple[argparse.Namespace, TrainConfig]:
    """-> (the parsed options, the run's TrainConfig): TrainConfig's defaults, then the preset's values, then the
    options given explicitly (found by a second parse that leaves out every option not given)."""
    args = build_parser().parse_args(argv)
    given = vars(build_parser(argparse.SUPPRESS).parse_args(argv))
    values = {**asdict(TrainConfig()), **PRESETS[args.preset]}
    values.update({name: given[name] for name in values if name in given})
    return args, TrainConfig(**values)


def training_command(cfg: TrainConfig, preset: str = "default", iwae_k: int = 1000, iwae_images: int = 0,
                     exact: bool = True, exact_images: int = 0) -> str:
    """The command that trains this model again on a fresh clone, for the model card: the data set (named when not
    MNIST) downloaded into data/<its name>, the preset, and each option whose value differs from the preset's."""
    dataset = get_dataset(cfg.dataset)
    argv = [] if dataset.name == DEFAULT_DATASET else ["--dataset", dataset.name]
    argv += ["--download", "--data-dir", dataset.fresh_clone_dir]
    argv += ["--preset", preset] if preset != "default" else []
    base = {**asdict(TrainConfig()), **PRESETS[preset]}
    for name, value in asdict(cfg).items():
        if name not in ("data_dir", "dataset") and value != base[name]:
            argv += [option(name), str(value)]
    defaults = build_parser()
    for name, value in (("iwae_k", iwae_k), ("iwae_images", iwae_images), ("exact_images", exact_images)):
        if value != defaults.get_default(name):
            argv += [option(name), str(value)]
    argv += [] if exact else ["--no-exact"]
    return "python -m train " + shlex.join(argv)


def describe_run(cfg: TrainConfig, preset: str, out_dir: Path) -> str:
    """The resolved configuration as one block: the preset, the out dir and every TrainConfig field."""
    settings = " ".join(f"{k}={v}" for k, v in asdict(cfg).items())
    return f"preset {preset}, out dir {out_dir}\n" + textwrap.fill(
        settings, width=110, initial_indent="  ", subsequent_indent="  ", break_long_words=False,
        break_on_hyphens=False)


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
    args, cfg = resolve_config(argv)
    from vae.datasets import DataSetError, download, resolve_data_dir

    try:
        if args.iwae_k < 0 or args.iwae_images < 0 or args.exact_images < 0:
            raise ValueError("--iwae-k, --iwae-images and --exact-images must be >= 0 (--iwae-k 0 skips the IWAE "
                             "bound, --no-exact the exact -log p(x))")
        cfg.model_config()  # validates arch, sizes, beta before any work
        device = pick_device(cfg.device)
        data_dir = (download(cfg.data_dir, cfg.dataset) if args.download
                    else resolve_data_dir(cfg.data_dir, cfg.dataset))
        cfg = replace(cfg, data_dir=str(data_dir))
    except (DataSetError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    check_writable(args.out_dir)
    print(describe_run(cfg, args.preset, args.out_dir), flush=True)

    try:
        run = train(cfg, args.out_dir, resume=args.resume, progress=not args.no_progress)
    except (DataSetError, CheckpointError, TrainingDiverged) as e:
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
    if args.push_to_hub:
        from train.publish import publish

        try:
            publish(args.out_dir, args.push_to_hub, private=args.private, revision=args.revision,
                    commit_message=args.commit_message)
        except Exception as e:  # noqa: BLE001 network, login and Hub refusals: see train.publish.main
            print(f"error: uploading to {args.push_to_hub} failed ({type(e).__name__}: {e}). The run folder "
                  f"{args.out_dir} is complete: publish it with `python -m train.publish {args.out_dir} "
                  f"{args.push_to_hub}` once the connection and login (HF_TOKEN or `hf auth login`) work.",
                  file=sys.stderr)
            return 1
    return 0


def iwae_with_estimate(model, x, k: int) -> float:
    """iwae_bound(model, x, k) to the bit, saying after its first chunk of images how long the whole will take."""
    from vae.evaluate import iwae_chunks

    print(f"IWAE bound, K={k} on {len(x)} test images: ", end="", flush=True)
    chunks = iwae_chunks(model, x, k=k)
    t0 = time.perf_counter()
    parts = [next(chunks)]  # (B,) log p(x) estimates of the first B images
    print(f"about {(time.perf_counter() - t0) * len(x) / len(parts[0]):.0f} s", flush=True)
    parts.extend(chunks)
    return float(-torch.cat(parts).mean())  # as iwae_bound: -mean of iwae_log_likelihood


def finish(args: argparse.Namespace, cfg: TrainConfig, run, device) -> None:
    """Final test figures and the Hub folder: weights, config, latents, figures, results and the model card."""
    from train.report import (LATENT_SCATTER, LOSS_CURVE, SAMPLES, plot_latent_scatter, plot_loss_curve,
                              plot_samples, replay_summary, write_model_card)
    from vae.snapshots import SNAPSHOTS_NAME
    from vae.atomic import atomic_write, atomic_write_text
    from vae.datasets import as_tensor, load_split
    from vae.latents import LATENTS_NAME, encode_dataset, save_latents
    from vae.model import RESULTS_NAME

    out, model, dataset = args.out_dir, run.model.cpu(), get_dataset(cfg.dataset)
    images, labels = load_split(cfg.data_dir, "test", dataset)
    x_test = as_tensor(images)
    results = final_figures(args, run, model, x_test)
    if not run.published:  # a published folder's weights and config are its own, as published
        model.save_pretrained(out)  # model.safetensors + config.json (atomic)
    mu, sigma = encode_dataset(model, x_test)
    atomic_write(out / LATENTS_NAME, lambda tmp: save_latents(tmp, mu, sigma, labels))
    for name, draw in ((LOSS_CURVE, lambda p: plot_loss_curve(run.history, p, dataset)),
                       (SAMPLES, lambda p: plot_samples(model, p)),
                       (LATENT_SCATTER, lambda p: plot_latent_scatter(mu, labels, p, dataset))):
        atomic_write(out / name, draw)
    atomic_write_text(out / RESULTS_NAME, json.dumps(results, indent=2) + "\n")
    if "exact" in results and run.history:  # the history's last epoch carries it too, as its test figures
        run.history[-1]["test_exact"] = results["exact"]
        atomic_write_text(out / METRICS_NAME, json.dumps(run.history, indent=2) + "\n")
    write_model_card(out, model=model, results=results, history=run.history, train_config=asdict(cfg),
                     command=training_command(cfg, args.preset, args.iwae_k, args.iwae_images, args.exact,
                                              args.exact_images),
                     device=str(device), comparisons=comparison_rows(args.compare),
                     repo_hint=args.push_to_hub or str(out),
                     replay=replay_summary(out / SNAPSHOTS_NAME) if cfg.snapshots else None)
    print(f"wrote {out}/: model.safetensors, config.json, {LATENTS_NAME}, README.md, figures, {RESULTS_NAME}")


def final_figures(args: argparse.Namespace, run, model, x_test: torch.Tensor) -> dict:
    """The test split's -ELBO (BCE, KL, at z = mu), pixel entropy, IWAE bound and exact -log p(x), the last two
    reused from the folder's results.json when it holds the same model (see below)."""
    from vae import evaluate_elbo
    from vae.evaluate import pixel_entropy
    from vae.model import RESULTS_NAME

    t0 = time.perf_counter()
    # the test split's pixel entropy: the BCE of a perfect reconstruction, the floor under each data set's figures
    results = {"dataset": get_dataset(model.config.dataset).name, **evaluate_elbo(model, x_test),
               "pixel_entropy": pixel_entropy(x_test)}
    results.update(epochs=len(run.history), train_seconds=run.history[-1]["seconds"] if run.history else 0.0)
    earlier = json.loads((args.out_dir / RESULTS_NAME).read_text()) if (args.out_dir / RESULTS_NAME).is_file() else {}
    if run.published:  # the published figures stand (another machine's last bits; the snapshots' final record)
        results.update({k: earlier[k] for k in ("elbo", "bce", "kl", "elbo_at_mu") if k in earlier})
    # the same model keeps the bounds computed before; minutes saved. A published folder reported again holds its own
    # weights; otherwise the figures decide (results.json from before data sets were named lacks the other two): the
    # same weights give the same seeded -ELBO to the last bit on the same machine, so a `--resume` of a finished run
    # (to redo its card, or add a --compare row), or a rerun that reproduced it, is recognised.
    same = run.published or all(earlier.get(k) == results[k] for k in results
                                if k not in ("train_seconds", "dataset", "pixel_entropy"))
    if args.iwae_k:
        iwae_x = x_test[: args.iwae_images] if args.iwae_images else x_test
        results.update(iwae_k=args.iwae_k, iwae_images=len(iwae_x))
        if same and "iwae" in earlier and earlier.get("iwae_k") == args.iwae_k:
            results["iwae"] = earlier["iwae"]
            print(f"same model as {args.out_dir / RESULTS_NAME}: reusing its IWAE bound")
        else:
            results["iwae"] = iwae_with_estimate(model, iwae_x, args.iwae_k)
    if args.exact:
        exact_x = x_test[: args.exact_images] if args.exact_images else x_test
        results["exact_images"] = len(exact_x)
        keys = ("exact", "exact_seconds", "exact_refined")
        if same and all(k in earlier for k in keys) and earlier.get("exact_images") == len(exact_x):
            results.update({k: earlier[k] for k in keys})
            print(f"same model as {args.out_dir / RESULTS_NAME}: reusing its exact -log p(x)")
        else:
            from vae.exact import dataset_log_px

            print(f"exact -log p(x) on {len(exact_x)} test images, by quadrature on the plane: ", end="", flush=True)
            split = dataset_log_px(model, exact_x.reshape(len(exact_x), -1))
            results.update(exact=float(-split.log_px.mean()), exact_seconds=split.seconds,
                           exact_refined=len(split.refined))
            print(f"{results['exact']:.2f} nats ({split.seconds:.0f} s)", flush=True)
    iwae = f", IWAE-{args.iwae_k} bound {results['iwae']:.2f}" if "iwae" in results else " (IWAE bound skipped)"
    exact = f", exact -log p(x) {results['exact']:.2f}" if "exact" in results else ""
    print(f"test -ELBO {results['elbo']:.2f} (BCE {results['bce']:.2f} + KL {results['kl']:.2f}){iwae}{exact} "
          f"nats/image  [{time.perf_counter() - t0:.0f} s]")
    return results


def comparison_rows(compare: list[str]) -> list[dict]:
    """--compare LABEL=results.json items -> the card's extra table rows."""
    rows = []
    for item in compare:
        label, _, path = item.partition("=")
        other = json.loads(Path(path).read_text())
        rows.append(dict(name=label, elbo=other["elbo"], bce=f"{other['bce']:.2f}", kl=f"{other['kl']:.2f}",
                         elbo_at_mu=f"{other['elbo_at_mu']:.2f}",
                         iwae=f"{other['iwae']:.2f}" if "iwae" in other else "—",
                         exact=f"{other['exact']:.2f}" if "exact" in other else "—"))
    return rows


if __name__ == "__main__":
    sys.exit(main())
