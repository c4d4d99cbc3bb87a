"""`python -m train` end to end, in a subprocess on the real MNIST files: a short run on a training subset lowers the
test -ELBO and writes a Hub-ready folder that loads; the card's metadata states the run's figures and a command that
trains the same model on a fresh clone; the same seed twice gives the same run; --iwae-k 0 skips the IWAE bound;
--help documents every option with its real default and each preset's value; options given override the preset; the
quick preset resolves to the values docs/model.md measured (no timing here: bench/train_speed.py --preset quick).

    python -m pytest tests/test_train_cli.py      # about 50 s (two 3-epoch runs and a 1-epoch one)
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shlex
import stat
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch
from huggingface_hub import ModelCard
from PIL import Image
from safetensors.torch import load_file

from conftest import REPO, cli_env
from vae import VAE, VAEConfig, evaluate_elbo, iwae_bound
from vae.exact import CoarseScan, exact_posterior
from vae.latents import load_latents

EPOCHS, SUBSET, SEED = 3, 2000, 7
FIGURES = {"loss_curve.png", "samples.png", "latent_scatter.png"}
HUB_FILES = {"model.safetensors", "config.json", "latents.safetensors", "README.md", "results.json", "metrics.json",
             "train_config.json", "snapshots.safetensors"} | FIGURES


def _train(run_train, tiny_run_args, out):
    result = run_train(*tiny_run_args, "--out-dir", out, "--epochs", EPOCHS, "--train-subset", SUBSET,
                       "--batch-size", 100, "--seed", SEED)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def run(tmp_path_factory, run_train, tiny_run_args):
    out = tmp_path_factory.mktemp("run") / "model"
    result = _train(run_train, tiny_run_args, out)
    return out, result


def _json(path):
    return json.loads(path.read_text())


def _without_timing(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in h.items() if k != "seconds"} for h in history]  # wall-clock seconds always differ


# ---------------------------------------------------------------------------------------------------------
# the run and its folder


@pytest.mark.slow
def test_training_lowers_the_test_loss(run):
    out, result = run
    history = _json(out / "metrics.json")
    assert [h["epoch"] for h in history] == list(range(1, EPOCHS + 1))
    elbos = [h["test_elbo"] for h in history]
    assert all(b < a for a, b in zip(elbos, elbos[1:])), elbos
    assert elbos[-1] < elbos[0] - 20  # from ~420 to ~340 nats on this subset: real learning, not noise
    for h in history:
        assert h["test_elbo"] == pytest.approx(h["test_bce"] + h["test_kl"], abs=1e-3)
        assert h["seconds"] > 0
    assert "test -ELBO" in result.stdout


@pytest.mark.slow
def test_the_run_says_its_settings_and_how_long_the_iwae_bound_takes(run):
    out, result = run
    log = result.stdout
    assert f"preset default, out dir {out}" in log
    settings = " ".join(log[log.index("preset default"):log.index("snapshots at steps")].split()[5:])  # unwrapped
    assert settings.split() == [f"{k}={v}" for k, v in json.loads((out / "train_config.json").read_text()).items()]
    assert "hidden=32" in settings and f"seed={SEED}" in settings and f"train_subset={SUBSET}" in settings
    estimate = log.index("IWAE bound, K=50 on 100 test images: about ")
    assert log.index("epoch   3/3") < estimate < log.index("IWAE-50 bound")


@pytest.mark.slow
def test_the_folder_holds_everything_the_hub_needs(run):
    out, _ = run
    names = {p.name for p in out.iterdir()}
    assert names == HUB_FILES | {"checkpoint.safetensors"}  # and no leftover temporary or probe files
    config = VAEConfig.from_dict(json.loads((out / "config.json").read_text()))
    assert config == VAEConfig(arch="resmlp", hidden=32, blocks=1, latent_dim=2)
    train_config = _json(out / "train_config.json")
    assert {k: train_config[k] for k in ("arch", "hidden", "blocks", "epochs", "train_subset", "seed", "batch_size")} \
        == dict(arch="resmlp", hidden=32, blocks=1, epochs=EPOCHS, train_subset=SUBSET, seed=SEED, batch_size=100)
    for name in FIGURES:
        with Image.open(out / name) as im:
            assert im.format == "PNG" and min(im.size) >= 200
            assert np.asarray(im.convert("L")).std() > 5  # a picture, not a blank canvas
    with Image.open(out / "samples.png") as im:
        assert im.size == (15 * 28, 15 * 28)  # the 15 x 15 lattice of decoded digits


@pytest.mark.slow
def test_files_are_readable_like_any_other_file(run):
    # the folder is meant to be uploaded, copied into a Space or served: every file gets the mode open() gives
    out, _ = run
    mask = os.umask(0)
    os.umask(mask)
    modes = {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in out.iterdir()}
    assert modes == {name: oct(0o666 & ~mask) for name in modes}


@pytest.mark.slow
def test_results_are_the_models_figures(run, test_tensor):
    # recompute the final figures from the saved folder, independently of the run's own process
    out, _ = run
    results, history = _json(out / "results.json"), _json(out / "metrics.json")
    model = VAE.from_pretrained(out)
    got = evaluate_elbo(model, test_tensor)  # one posterior sample, seed 0, as the trainer reports
    for key in ("elbo", "bce", "kl", "elbo_at_mu"):
        assert results[key] == pytest.approx(got[key], abs=1e-3), key
    assert results["elbo"] == pytest.approx(history[-1]["test_elbo"], abs=1e-9)
    assert (results["iwae_k"], results["iwae_images"], results["epochs"]) == (50, 100, EPOCHS)
    assert results["iwae"] == pytest.approx(iwae_bound(model, test_tensor[:100], k=50), abs=1e-3)
    # the exact -log p(x) against each image's own adaptive grid (another quadrature than the trainer's plane grids)
    scan = CoarseScan(model)
    exact = -np.mean([exact_posterior(model, x, scan=scan).log_px for x in test_tensor[:100]])
    assert results["exact_images"] == 100 and results["exact"] == pytest.approx(exact, abs=0.01)
    assert results["elbo"] > results["exact"] and history[-1]["test_exact"] == results["exact"]
    card = ModelCard.load(out / "README.md")
    assert {r.metric_type: r.metric_value for r in card.data.eval_results}["neg_log_likelihood"] == pytest.approx(
        exact, abs=0.015)


@pytest.mark.slow
def test_latents_are_the_test_split_encoded(run, test_tensor, mnist_test):
    out, _ = run
    latents = load_latents(out / "latents.safetensors")
    assert latents["mu"].shape == latents["sigma"].shape == (10_000, 2)
    assert np.array_equal(latents["labels"], mnist_test[1])
    model = VAE.from_pretrained(out)
    with torch.no_grad():
        mu, logvar = model.encode(test_tensor)
    np.testing.assert_allclose(latents["mu"], mu.numpy(), atol=1e-5)
    np.testing.assert_allclose(latents["sigma"], torch.exp(0.5 * logvar).numpy(), rtol=1e-5)


@pytest.mark.slow
def test_model_card_metadata(run):
    out, _ = run
    results = _json(out / "results.json")
    card = ModelCard.load(out / "README.md")
    data = card.data
    assert data.license == "mit"
    assert data.library_name
    assert {"vae", "mnist"} <= set(data.tags)
    assert "mnist" in data.datasets
    assert data.pipeline_tag == "unconditional-image-generation"
    figures = {r.metric_type: r for r in data.eval_results}
    assert figures["neg_elbo"].metric_value == round(results["elbo"], 2)
    assert figures["iwae_bound"].metric_value == round(results["iwae"], 2)
    for r in figures.values():
        assert (r.dataset_type, r.dataset_split) == ("mnist", "test")
    # the body shows the same figure and how the model was trained
    assert f"**{results['elbo']:.2f}**" in card.text
    assert f"--train-subset {SUBSET}" in card.text and f"--seed {SEED}" in card.text
    for name in FIGURES:
        assert f"({name})" in card.text


@pytest.mark.slow
def test_from_pretrained_gives_the_trained_weights_in_eval_mode(run, test_tensor):
    out, _ = run
    model = VAE.from_pretrained(out)
    assert not model.training
    # the last checkpoint holds the final epoch's weights, written by another code path (train/checkpoint.py)
    trained = VAE(VAEConfig.from_dict(json.loads((out / "config.json").read_text())))
    ckpt = load_file(str(out / "checkpoint.safetensors"))
    trained.load_state_dict({k.removeprefix("model."): v for k, v in ckpt.items() if k.startswith("model.")})
    trained.eval()
    x = test_tensor[:64]
    with torch.no_grad():
        mu, logvar = model.encode(x)
        mu_t, logvar_t = trained.encode(x)
        assert torch.equal(mu, mu_t) and torch.equal(logvar, logvar_t)
        assert torch.equal(model.decode(mu), trained.decode(mu_t))


@pytest.mark.slow
def test_same_seed_same_run(run, run_train, tiny_run_args, tmp_path):
    out, _ = run
    again = tmp_path / "again"
    _train(run_train, tiny_run_args, again)
    assert _without_timing(_json(again / "metrics.json")) == _without_timing(_json(out / "metrics.json"))
    assert (again / "model.safetensors").read_bytes() == (out / "model.safetensors").read_bytes()
    assert (again / "latents.safetensors").read_bytes() == (out / "latents.safetensors").read_bytes()
    drop = lambda r: {k: v for k, v in r.items() if k not in ("train_seconds", "exact_seconds")}  # noqa: E731
    assert drop(_json(again / "results.json")) == drop(_json(out / "results.json"))


# ---------------------------------------------------------------------------------------------------------
# the command line itself

OPTIONS = ["--preset", "--dataset", "--data-dir", "--download", "--train-subset", "--arch", "--hidden", "--blocks",
           "--latent-dim",
           "--beta", "--epochs", "--batch-size", "--lr", "--schedule", "--warmup", "--weight-decay", "--grad-clip",
           "--seed", "--device", "--threads", "--out-dir", "--snapshots", "--no-snapshots", "--resume", "--iwae-k",
           "--iwae-images", "--exact", "--no-exact", "--exact-images", "--compare",
           "--no-progress", "--push-to-hub", "--private", "--revision", "--commit-message"]


def test_help_mentions_every_option():
    from train.__main__ import build_parser

    result = subprocess.run([sys.executable, "-m", "train", "--help"], capture_output=True, text=True, cwd=REPO,
                            env=cli_env(), timeout=120)
    assert result.returncode == 0 and result.stderr == ""
    for option in OPTIONS:
        assert option in result.stdout, option
    # and every option the parser knows is one the list above expects (none undocumented here)
    parser_options = {s for a in build_parser()._actions for s in a.option_strings if s.startswith("--")}
    assert parser_options == set(OPTIONS) | {"--help"}


@pytest.mark.parametrize("argv,says", [
    (["--arch", "cnn"], "invalid choice"),
    (["--epochs", "three"], "invalid int value"),
    (["--no-such-option"], "unrecognized arguments"),
])
def test_bad_options_are_refused_by_name(argv, says, capsys):
    from train.__main__ import main

    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    assert says in capsys.readouterr().err


def test_invalid_model_settings_exit_2_without_training(tmp_path, mnist_path, capsys):
    from train.__main__ import main

    code = main(["--data-dir", str(mnist_path), "--out-dir", str(tmp_path / "out"), "--latent-dim", "0"])
    assert code == 2
    assert "latent_dim must be a positive integer" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_help_shows_the_real_defaults_and_the_reference_preset():
    result = subprocess.run([sys.executable, "-m", "train", "--help"], capture_output=True, text=True, cwd=REPO,
                            env=cli_env(), timeout=120)
    assert result.returncode == 0
    text = " ".join(result.stdout.split())  # argparse wraps lines anywhere
    assert "None" not in text
    for says in ("--hidden HIDDEN resmlp: trunk width; more = lower loss, slower "
                 "(default: 384; quick preset: 256; browser preset: 128)",
                 "(default: 0.0015; reference preset: 0.0001; quick preset: 0.003; browser preset: 0.003)",
                 "(default: 128; reference preset: 32; quick preset: 256; browser preset: 64)",
                 "(default: 30; reference preset: 100; quick preset: 10; browser preset: 3)",
                 "(default: resmlp; reference preset: mlp)",
                 "(default: onecycle; reference preset: constant)", "(default: 1000)", "(default: runs/default)",
                 "'reference' sets --arch mlp --batch-size 32 --lr 0.0001 --epochs 100 --schedule constant",
                 "$MNIST_DIR", "python -m train.publish"):
        assert says in text, says


def test_help_says_what_the_quick_preset_sets():
    result = subprocess.run([sys.executable, "-m", "train", "--help"], capture_output=True, text=True, cwd=REPO,
                            env=cli_env(), timeout=120)
    assert result.returncode == 0
    text = " ".join(result.stdout.split()).replace("- ", "-")  # argparse wraps lines anywhere, hyphens included
    assert "None" not in text
    for says in ("--preset {browser,default,quick,reference}",
                 "'quick' sets --hidden 256 --blocks 1 --batch-size 256 --lr 0.003 --epochs 10 --threads 1 "
                 "--no-snapshots: beats the earlier version's test -ELBO (145.73) within 60 s of training on 2 CPU "
                 "cores; add --iwae-k 0",
                 "'browser' sets --hidden 128 --blocks 1 --batch-size 64 --lr 0.003 --epochs 3 --threads 1 "
                 "--no-snapshots: the Train live tab's quick preset",
                 "(default: True; quick preset: False; browser preset: False)",
                 "(default: 2; quick preset: 1; browser preset: 1)",  # --blocks
                 "(default: 0; quick preset: 1; browser preset: 1)"):  # --threads
        assert says in text, says


def test_the_quick_preset_resolves_to_the_measured_values():
    from train.__main__ import resolve_config
    from train.loop import TrainConfig
    from vae.presets import PRESETS

    args, cfg = resolve_config(["--preset", "quick"])
    assert args.preset == "quick" and cfg == TrainConfig(**PRESETS["quick"])
    # the candidate docs/model.md chose; every other field is the default recipe's
    assert cfg == TrainConfig(hidden=256, blocks=1, batch_size=256, lr=3e-3, epochs=10, threads=1, snapshots=False)
    assert (cfg.arch, cfg.latent_dim, cfg.beta, cfg.schedule) == ("resmlp", 2, 1.0, "onecycle")  # the app's 2-D latent
    # options given still override it, and --iwae-k 0 goes with it for a quick run
    args, cfg = resolve_config(["--preset", "quick", "--epochs", "12", "--iwae-k", "0"])
    assert (cfg.hidden, cfg.batch_size, cfg.epochs, args.iwae_k) == (256, 256, 12, 0)


def test_options_given_override_the_preset():
    from train.__main__ import resolve_config
    from train.loop import TrainConfig
    from vae.presets import PRESETS

    assert resolve_config([])[1] == TrainConfig()
    assert resolve_config(["--preset", "reference"])[1] == TrainConfig(**PRESETS["reference"])
    # given explicitly, even with the default's own value: the option wins over the preset
    _, cfg = resolve_config(["--preset", "reference", "--lr", "0.0015", "--epochs", "3", "--data-dir", "d"])
    assert (cfg.arch, cfg.batch_size, cfg.lr, cfg.epochs, cfg.data_dir) == ("mlp", 32, 0.0015, 3, "d")


@pytest.mark.parametrize("argv", [
    [],
    ["--threads", "1"],
    ["--preset", "reference", "--lr", "0.0015", "--seed", "3", "--device", "cpu"],
    ["--preset", "reference", "--arch", "resmlp", "--hidden", "64", "--beta", "2.5", "--iwae-k", "0"],
    ["--preset", "quick", "--iwae-k", "0"],
    ["--preset", "quick", "--hidden", "384", "--threads", "2"],
    ["--train-subset", "500", "--warmup", "0.1", "--grad-clip", "1.0", "--iwae-k", "50", "--iwae-images", "100"],
])
def test_the_model_cards_command_trains_the_same_model_on_a_fresh_clone(argv):
    """The card's command is derived from the resolved settings, not copied from the command line: the preset and the
    options that differ from it, MNIST downloaded into the clone; bookkeeping and publishing options are not in it."""
    from train.__main__ import resolve_config, training_command

    given = ["--data-dir", "/somewhere/on/this/machine", "--out-dir", "runs/x", "--resume", "--no-progress",
             "--compare", "ref=r.json", "--push-to-hub", "me/repo", "--private", "--revision=dev", *argv]
    args, cfg = resolve_config(given)
    command = training_command(cfg, args.preset, args.iwae_k, args.iwae_images)
    words = shlex.split(command)
    assert words[:5] == ["python", "-m", "train", "--download", "--data-dir"] and words[5] == "data/mnist"
    assert "/somewhere" not in command and "runs/x" not in command
    for option in ("--resume", "--no-progress", "--compare", "--push-to-hub", "--private", "--revision"):
        assert option not in command
    again, cfg_again = resolve_config(words[3:])
    assert cfg_again == replace(cfg, data_dir="data/mnist")
    assert (again.preset, again.iwae_k, again.iwae_images) == (args.preset, args.iwae_k, args.iwae_images)
    _, preset = resolve_config(["--preset", args.preset])
    for flag in words[6::2]:  # the options after --download --data-dir data/mnist: only those that differ
        name = flag.removeprefix("--").replace("-", "_")
        assert flag in ("--preset", "--iwae-k", "--iwae-images", "--exact-images") or getattr(cfg, name) != getattr(preset, name), flag
    if argv == []:
        assert command == "python -m train --download --data-dir data/mnist"


@pytest.mark.slow
def test_iwae_k_0_skips_the_iwae_bound(run_train, tiny_run_args, tmp_path):
    out = tmp_path / "model"
    args = list(tiny_run_args)
    args[args.index("--iwae-k") + 1] = "0"
    result = run_train(*args, "--out-dir", out, "--epochs", "1", "--train-subset", "500")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "IWAE bound, K=" not in result.stdout and "IWAE bound skipped" in result.stdout
    results = _json(out / "results.json")
    assert "iwae" not in results and "iwae_k" not in results
    card = ModelCard.load(out / "README.md")
    assert {r.metric_type for r in card.data.eval_results} == {"neg_elbo", "neg_log_likelihood"}
    row = f"| **{results['elbo']:.2f}** | {results['bce']:.2f} | {results['kl']:.2f} | {results['elbo_at_mu']:.2f} | — |"
    assert row in card.text
    assert "--iwae-k 0" in card.text


def test_the_iwae_bound_with_a_time_estimate_is_iwae_bound_to_the_bit(test_tensor):
    from train.__main__ import iwae_with_estimate

    torch.manual_seed(0)
    model = VAE(VAEConfig(hidden=32, blocks=1)).eval()
    x = test_tensor[:120]  # K = 1000: 50 images per chunk, so three chunks, the first one timed
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        got = iwae_with_estimate(model, x, k=1000)
    assert got == iwae_bound(model, x, k=1000)
    assert stdout.getvalue().startswith("IWAE bound, K=1000 on 120 test images: about ")


@pytest.mark.slow
def test_resume_of_a_published_folder_reports_it_again_without_training(run, run_train, tiny_run_args, tmp_path):
    # a bundled or published folder leaves the checkpoint out: --resume adds the figures it lacks and redoes the card
    import shutil

    out, _ = run
    copy = tmp_path / "published"
    shutil.copytree(out, copy)
    (copy / "checkpoint.safetensors").unlink()
    results = _json(copy / "results.json")
    for key in ("exact", "exact_seconds", "exact_refined"):
        del results[key]
    (copy / "results.json").write_text(json.dumps(results))
    weights = (copy / "model.safetensors").read_bytes()
    result = _train(run_train, [*tiny_run_args, "--resume"], copy)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "reporting it again" in result.stdout and "epoch " not in result.stdout.split("reporting it again")[1]
    assert (copy / "model.safetensors").read_bytes() == weights  # not trained again
    again = _json(copy / "results.json")
    assert again["exact"] == pytest.approx(_json(out / "results.json")["exact"], abs=1e-9)
    assert again["iwae"] == results["iwae"] and "reusing its IWAE bound" in result.stdout
    assert all(again[k] == results[k] for k in ("elbo", "bce", "kl", "elbo_at_mu"))  # the published figures stand
