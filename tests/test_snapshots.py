"""The training replay's data (vae/snapshots.py): the schedule, what a run records, the compact weights' fidelity,
atomic writes, the size budget of the bundled files, and the app's side (webapp/replay.py): a missing or corrupt
file leaves the rest working with a message. Resuming after kill -9: tests/test_resume.py.

    python -m pytest tests/test_snapshots.py
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from conftest import PRETRAINED
from vae import VAE
from vae.latents import load_latents
from vae.mnist import load_mnist
from vae.snapshots import (MAX_ERROR, SIZE_BUDGET, SNAPSHOTS_NAME, SUBSET_SIZE, SnapshotsError, compact_decoder,
                           load_snapshots, schedule, subset_indices)

EPOCHS, SUBSET, BATCH = 3, 4000, 32  # 125 steps per epoch
BUNDLED = {"default": PRETRAINED, "reference": PRETRAINED / "reference", "fashion": PRETRAINED / "fashion"}


def test_the_schedule_is_log_spaced_steps_then_epoch_ends_then_the_final_model():
    # the default recipe: 469 steps per epoch, 30 epochs
    assert schedule(469, 30) == [0, 25, 50, 100, 200, 400, 469, 800, 938, 1407, 2345, 4690, 14070]
    # the spec's: 1,875 steps per epoch, 100 epochs
    assert schedule(1875, 100) == [0, 25, 50, 100, 200, 400, 800, 1875, 3750, 5625, 9375, 18750, 187500]
    # a short run: nothing past its last step, a moment shared by a step count and an epoch's end counted once
    assert schedule(125, 3) == [0, 25, 50, 100, 125, 200, 250, 375]
    assert schedule(25, 2) == [0, 25, 50]


def test_the_subset_is_fixed_and_spans_the_test_set():
    a, b = subset_indices(10_000), subset_indices(10_000)
    assert np.array_equal(a, b) and len(a) == SUBSET_SIZE == len(set(a.tolist()))
    assert a.min() < 100 and a.max() > 9_900  # drawn over the whole split, not its first 2,000
    assert np.array_equal(subset_indices(500), np.arange(500))


@pytest.fixture(scope="module")
def run(tmp_path_factory, run_train, tiny_run_args):
    out = tmp_path_factory.mktemp("snapshots") / "model"
    result = run_train(*tiny_run_args, "--epochs", EPOCHS, "--train-subset", SUBSET, "--batch-size", BATCH,
                       "--iwae-k", "0", "--no-exact", "--out-dir", out)
    assert result.returncode == 0, result.stderr[-3000:]
    return out, result.stdout


def test_a_run_records_every_moment_of_its_schedule(run):
    out, log = run
    snaps = load_snapshots(out / SNAPSHOTS_NAME)
    steps = schedule(SUBSET // BATCH + (SUBSET % BATCH > 0), EPOCHS)
    assert f"snapshots at steps {steps}" in log
    assert [r["step"] for r in snaps.records] == steps
    assert [r["epoch"] for r in snaps.records] == pytest.approx([s / 125 for s in steps])
    assert len(snaps.labels) == SUBSET_SIZE and all(r["max_error"] <= MAX_ERROR * 255 for r in snaps.records)
    # training lowers the loss from the untrained decoder to the end
    assert snaps.records[0]["test_elbo"] > 400 > snaps.records[-1]["test_elbo"]


def test_each_epoch_ends_snapshot_has_that_epochs_figures(run):
    """The -ELBO a snapshot records is the run's own per-epoch test -ELBO (the same seeded evaluation)."""
    out, _ = run
    snaps = load_snapshots(out / SNAPSHOTS_NAME)
    history = json.loads((out / "metrics.json").read_text())
    at_epoch_end = {r["step"] // 125: r for r in snaps.records if r["step"] % 125 == 0 and r["step"]}
    assert sorted(at_epoch_end) == [1, 2, 3]
    for h in history:
        assert at_epoch_end[h["epoch"]]["test_elbo"] == pytest.approx(h["test_elbo"], abs=1e-9)


def test_the_last_snapshot_is_the_final_model(run, mnist_path):
    out, _ = run
    snaps = load_snapshots(out / SNAPSHOTS_NAME)
    final = VAE.from_pretrained(out)
    labels = load_mnist(mnist_path, "test")[1]
    assert np.array_equal(snaps.labels, labels[snaps.indices])
    # the subset's latent means: the final model's (latents.safetensors), to float16's precision
    latents = load_latents(out / "latents.safetensors")
    np.testing.assert_allclose(snaps.mu(len(snaps) - 1), latents["mu"][snaps.indices], rtol=2e-3, atol=2e-3)
    # its decoder decodes what the final model decodes, within the fidelity bound
    z = torch.rand(3000, 2) * 9 - 4.5
    with torch.inference_mode():
        diff = (snaps.model(final, len(snaps) - 1).decode(z) - final.decode(z)).abs().max().item()
    assert diff <= MAX_ERROR


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_compact_weights_decode_within_2_of_255_of_full_precision(name):
    """On the bundled models' real decoders, at random points of the square the app shows (not the check's grid)."""
    model = VAE.from_pretrained(BUNDLED[name])
    tensors, encodings, error = compact_decoder(model)
    assert error <= MAX_ERROR * 255
    assert "int8" in encodings.values()  # compact, not a float copy
    from vae.snapshots import Snapshots

    snaps = Snapshots(model.config, 1, [{"encodings": encodings}], np.zeros(0, np.int32), np.zeros(0, np.uint8),
                      {f"s0.{k}": v for k, v in tensors.items()})
    z = torch.rand(5000, 2, generator=torch.Generator().manual_seed(1)) * 9 - 4.5
    with torch.inference_mode():
        diff = (snaps.model(model, 0).decode(z) - model.decode(z)).abs().max().item()
    assert diff <= MAX_ERROR
    stored = sum(v.nbytes for v in tensors.values())
    full = sum(v.numel() * 4 for k, v in model.state_dict().items() if k.startswith("decoder."))
    assert stored < 0.3 * full


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_the_bundled_models_ship_their_snapshots_within_the_budget(name, mnist_path):
    folder = BUNDLED[name]
    path = folder / SNAPSHOTS_NAME
    snaps = load_snapshots(path, VAE.from_pretrained(folder).config)
    train_config = json.loads((folder / "train_config.json").read_text())
    steps_per_epoch = -(-60_000 // train_config["batch_size"])
    assert [r["step"] for r in snaps.records] == schedule(steps_per_epoch, train_config["epochs"])
    assert path.stat().st_size <= SIZE_BUDGET
    # the last snapshot's test -ELBO is the published figure (results.json), same seeded evaluation
    results = json.loads((folder / "results.json").read_text())
    assert snaps.records[-1]["test_elbo"] == pytest.approx(results["elbo"], abs=1e-6)
    # and the first is an untrained decoder's: far worse
    assert snaps.records[0]["test_elbo"] > results["elbo"] + 200


def test_a_failed_write_leaves_the_previous_file(run, tmp_path, monkeypatch):
    out, _ = run
    snaps = load_snapshots(out / SNAPSHOTS_NAME)
    target = tmp_path / SNAPSHOTS_NAME
    snaps.truncated(100).save(target)
    before = target.read_bytes()

    import vae.snapshots as module

    def disk_full(tensors, path, metadata=None):
        with open(path, "wb") as f:
            f.write(b"half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(module, "save_file", disk_full)
    with pytest.raises(OSError):
        snaps.save(target)
    assert target.read_bytes() == before and os.listdir(tmp_path) == [SNAPSHOTS_NAME]
    assert [r["step"] for r in load_snapshots(target).records] == [0, 25, 50, 100]


def test_unreadable_or_foreign_files_are_refused_with_what_to_do(run, tmp_path):
    out, _ = run
    broken = tmp_path / SNAPSHOTS_NAME
    broken.write_bytes((out / SNAPSHOTS_NAME).read_bytes()[:5000])
    with pytest.raises(SnapshotsError, match="cannot be read .*--snapshots"):
        load_snapshots(broken)
    with pytest.raises(SnapshotsError, match="not a snapshots file"):
        load_snapshots(out / "model.safetensors")
    other = VAE.from_pretrained(PRETRAINED).config
    with pytest.raises(SnapshotsError, match="recorded for another model"):
        load_snapshots(out / SNAPSHOTS_NAME, other)


# ---------------------------------------------------------------------------------------------------------
# the app's side: webapp/replay.py


def test_the_api_decodes_any_snapshot_and_says_which_exist(run, tmp_path):
    import gradio as gr

    from webapp.api import ExplorerAPI
    from webapp.models import ModelEntry, ModelStore

    out, _ = run
    model = VAE.from_pretrained(out)
    store = ModelStore({"default": ModelEntry(model, "test", folder=out)}, tmp_path / "bundles")
    api = ExplorerAPI(store, tmp_path / "cache")
    assert api.models()[0]["snapshots"] == 8
    from PIL import Image

    def grid(**kwargs):
        return np.asarray(Image.open(api.grid(0.5, -0.5, 1.5, "default", **kwargs).path).convert("L"), np.int16)

    first, last, final = grid(snapshot=0), grid(snapshot=-1), grid()
    assert np.abs(first - final).max() > 50  # an untrained decoder draws something else
    assert np.abs(last - final).max() <= 2  # the last snapshot is the final model, within the fidelity bound
    assert np.array_equal(grid(snapshot=7), last)
    with pytest.raises(gr.Error, match="from 0 to 7"):
        api.grid(0, 0, 1.5, "default", 8)
    with pytest.raises(gr.Error, match="whole number"):
        api.generate(0, 0, "default", 2.5)
    gif = api.replay("default", 0.5, -0.5, 1.5)
    from PIL import ImageSequence

    with Image.open(gif.path) as im:
        frames = [f.convert("RGB") for f in ImageSequence.Iterator(im)]
    assert len(frames) == 8 and frames[0].size == (2 * 280 + 10, 280 + 24)
    # right half: /grid's picture for that snapshot, to one grey level (the GIF's palette has 245 greys)
    for k in (0, 7):
        right = np.asarray(frames[k].convert("L"), np.int16)[:280, 290:]
        assert np.abs(right - grid(snapshot=k)).max() <= 1


@pytest.mark.parametrize("damage", ["missing", "truncated", "garbage"])
def test_a_model_without_a_usable_replay_is_served_with_a_message(run, tmp_path, damage):
    import shutil

    import gradio as gr

    from webapp.api import ExplorerAPI
    from webapp.choice import replay_props
    from webapp.models import ModelEntry, ModelStore

    out, _ = run
    folder = tmp_path / "model"
    shutil.copytree(out, folder)
    path = folder / SNAPSHOTS_NAME
    if damage == "missing":
        path.unlink()
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:
        path.write_bytes(os.urandom(4096))
    store = ModelStore({"default": ModelEntry(VAE.from_pretrained(folder), "test", folder=folder)},
                       tmp_path / "bundles")
    api = ExplorerAPI(store, tmp_path / "cache")
    props = replay_props(store.get("default"))
    assert props["replay_path"] == ""
    assert props["replay_error"] is (damage != "missing")  # the page shows an error only for a file it cannot read
    if damage == "missing":
        assert "--snapshots" in props["replay_message"]
    else:
        assert "cannot be shown" in props["replay_message"] and "--snapshots" in props["replay_message"]
    assert api.models()[0]["snapshots"] == 0
    with pytest.raises(gr.Error, match="--snapshots"):
        api.grid(0, 0, 1.5, "default", 0)
    assert os.path.getsize(api.grid(0, 0, 1.5, "default").path) > 1000  # the final model is served as before
