"""Crash safety of `python -m train`: a run killed with SIGKILL in the middle of an epoch and continued with --resume
ends exactly where an uninterrupted run ends; --resume refuses different options and unreadable checkpoints; a
diverging run (NaN/inf loss) stops with a clear message and leaves the last finished epoch's checkpoint untouched.

    python -m pytest tests/test_resume.py      # about 60 s
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from conftest import REPO, cli_env

EPOCHS = 3
# 125 Adam steps per epoch: an epoch lasts about a second on one thread, long enough to be killed inside one
RUN = ["--epochs", str(EPOCHS), "--train-subset", "4000", "--batch-size", "32", "--seed", "3"]


def _main(argv: list[str]) -> int:
    """`python -m train ARGV` in this process (cheaper than a subprocess), restoring torch's thread count."""
    from train.__main__ import main

    threads = torch.get_num_threads()
    try:
        return main([str(a) for a in argv])
    finally:
        torch.set_num_threads(threads)


def _history(folder: Path) -> list[dict]:
    return json.loads((folder / "metrics.json").read_text())


def _without_timing(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in h.items() if k != "seconds"} for h in history]


def _checkpoint_epoch(folder: Path) -> int:
    with safe_open(str(folder / "checkpoint.safetensors"), framework="pt") as f:
        return json.loads(f.metadata()["meta"])["epoch"]


def _snapshot_steps(folder: Path) -> list[int]:
    with safe_open(str(folder / "snapshots.safetensors"), framework="pt") as f:
        return [r["step"] for r in json.loads(f.metadata()["snapshots"])]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, run_train, tiny_run_args) -> dict:
    """Two runs with the same options, side by side (one thread each): one uninterrupted, one killed with SIGKILL
    inside its second epoch and then continued with --resume."""
    root = tmp_path_factory.mktemp("resume")
    straight, out = root / "straight", root / "killed"
    popen = lambda folder: subprocess.Popen(  # noqa: E731
        [sys.executable, "-m", "train", *tiny_run_args, *RUN, "--out-dir", str(folder)], cwd=REPO, env=cli_env(),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    reference, proc = popen(straight), popen(out)
    try:
        deadline = time.monotonic() + 300
        while not (out / "metrics.json").exists():  # written right after the epoch's checkpoint
            assert proc.poll() is None, f"the run ended before its first checkpoint: {proc.stdout.read()}"
            assert time.monotonic() < deadline, "no checkpoint after 300 s"
            time.sleep(0.02)
        time.sleep(0.4 * _history(out)[0]["seconds"])  # well inside the next epoch
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        killed = dict(returncode=proc.returncode, epochs=len(_history(out)), checkpoint_epoch=_checkpoint_epoch(out),
                      files=sorted(os.listdir(out)), snapshot_steps=_snapshot_steps(out))
        resumed = run_train(*tiny_run_args, *RUN, "--out-dir", out, "--resume")
        log, _ = reference.communicate(timeout=600)
        assert reference.returncode == 0, log[-3000:]
    finally:
        for p in (proc, reference):
            if p.poll() is None:
                p.kill()
                p.wait()
    return dict(straight=straight, out=out, killed=killed, resumed=resumed)


@pytest.mark.slow
def test_kill_9_mid_epoch_then_resume_equals_an_uninterrupted_run(runs):
    out, straight, killed, result = runs["out"], runs["straight"], runs["killed"], runs["resumed"]
    assert killed["returncode"] == -signal.SIGKILL
    assert 1 <= killed["epochs"] < EPOCHS, "the kill came too late to interrupt training"
    # the checkpoint is written just before metrics.json: a kill between the two leaves the checkpoint one ahead
    assert killed["checkpoint_epoch"] - killed["epochs"] in (0, 1)
    assert "results.json" not in killed["files"] and "model.safetensors" not in killed["files"]

    assert result.returncode == 0, result.stderr[-3000:]
    assert f"resuming from {out / 'checkpoint.safetensors'} after epoch {killed['checkpoint_epoch']}" in result.stdout

    resumed, reference = _history(out), _history(straight)
    assert [h["epoch"] for h in resumed] == list(range(1, EPOCHS + 1))  # no finished epoch lost or repeated
    for a, b in zip(_without_timing(resumed), _without_timing(reference)):
        assert a.keys() == b.keys()
        for key in a:
            assert a[key] == pytest.approx(b[key], rel=1e-6, abs=1e-6), (a["epoch"], key)
    final, expected = load_file(str(out / "model.safetensors")), load_file(str(straight / "model.safetensors"))
    assert final.keys() == expected.keys()
    for name in final:
        torch.testing.assert_close(final[name], expected[name], rtol=1e-6, atol=1e-6)


@pytest.mark.slow
def test_kill_9_between_snapshots_then_resume_records_the_uninterrupted_runs_snapshots(runs):
    """The training replay survives a crash: no snapshot lost or taken twice, each the same to the bit."""
    from vae.snapshots import load_snapshots, schedule

    steps_per_epoch = 4000 // 32 + (4000 % 32 > 0)
    expected = schedule(steps_per_epoch, EPOCHS)
    at_kill = runs["killed"]["snapshot_steps"]
    assert at_kill == expected[:len(at_kill)] and 1 <= len(at_kill) < len(expected), at_kill  # killed between two
    resumed, straight = (load_snapshots(runs[k] / "snapshots.safetensors") for k in ("out", "straight"))
    assert [r["step"] for r in resumed.records] == [r["step"] for r in straight.records] == expected
    for a, b in zip(resumed.records, straight.records):
        assert a.keys() == b.keys()
        for key in a:
            assert a[key] == (pytest.approx(b[key], rel=1e-6, abs=1e-6) if isinstance(a[key], float) else b[key]), key
    assert resumed.tensors.keys() == straight.tensors.keys()
    for name, value in resumed.tensors.items():
        assert (value == straight.tensors[name]).all(), name


@pytest.mark.slow
def test_resume_with_different_options_is_refused(runs, tmp_path, tiny_run_args, capsys):
    out = tmp_path / "model"
    out.mkdir()
    for name in ("checkpoint.safetensors", "metrics.json", "train_config.json"):
        (out / name).write_bytes((runs["straight"] / name).read_bytes())
    before = (out / "checkpoint.safetensors").read_bytes()
    assert _main([*tiny_run_args, *RUN, "--out-dir", out, "--resume", "--lr", "0.01", "--beta", "2"]) == 1
    err = capsys.readouterr().err
    assert "different settings (beta, lr)" in err and "--out-dir" in err, err
    assert (out / "checkpoint.safetensors").read_bytes() == before


def test_resume_from_an_unreadable_checkpoint_says_what_to_do(tmp_path, tiny_run_args, capsys):
    out = tmp_path / "model"
    out.mkdir()
    (out / "checkpoint.safetensors").write_bytes(b"\x00" * 100)
    assert _main([*tiny_run_args, *RUN, "--out-dir", out, "--resume"]) == 1
    err = capsys.readouterr().err
    assert "checkpoint.safetensors cannot be read" in err and "delete it" in err, err


# ---------------------------------------------------------------------------------------------------------
# a diverging run

# Adam at lr 3e5 with a linear warm-up over the whole run: the first epoch survives (finite loss), the weights then
# overflow float32 during the second epoch and the loss becomes NaN. Found by scanning learning rates; the run is
# deterministic (one thread, fixed seed).
DIVERGING = dict(arch="resmlp", hidden=32, blocks=1, train_subset=500, batch_size=50, epochs=3, lr=3e5,
                 schedule="onecycle", warmup=1.0, seed=0, device="cpu", threads=1)


def _diverging_argv() -> list[str]:
    argv = []
    for key, value in DIVERGING.items():
        argv += [f"--{key.replace('_', '-')}", str(value)]
    return argv


@pytest.mark.slow
def test_a_diverging_run_stops_with_a_clear_message(tmp_path, run_train, mnist_path):
    out = tmp_path / "model"
    result = run_train("--data-dir", mnist_path, *_diverging_argv(), "--no-progress", "--out-dir", out)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    err = result.stderr
    assert "error: the training loss became" in err and ("nan" in err or "inf" in err), err
    assert "at epoch 2" in err and "the checkpoint of epoch 1" in err and "Lower --lr" in err, err
    # the finished epoch is kept; the diverged one left no trace and the run wrote no model
    assert [h["epoch"] for h in _history(out)] == [1]
    assert _checkpoint_epoch(out) == 1
    assert not (out / "model.safetensors").exists()
    ckpt = load_file(str(out / "checkpoint.safetensors"))
    assert all(torch.isfinite(t).all() for t in ckpt.values() if t.is_floating_point())


def test_a_diverging_epoch_leaves_the_last_checkpoint_byte_identical(tmp_path, mnist_path):
    from train.loop import TrainConfig, TrainingDiverged, train

    out = tmp_path / "model"
    snapshots: list[bytes] = []

    def snapshot(record, model):  # called right after each finished epoch's checkpoint is written
        snapshots.append((out / "checkpoint.safetensors").read_bytes())

    threads = torch.get_num_threads()
    try:
        with pytest.raises(TrainingDiverged):
            train(TrainConfig(data_dir=str(mnist_path), **DIVERGING), out, progress=False, on_epoch=snapshot,
                  log=lambda line: None)
    finally:
        torch.set_num_threads(threads)
    assert len(snapshots) >= 1, "the run diverged before finishing an epoch; the test needs a later divergence"
    assert (out / "checkpoint.safetensors").read_bytes() == snapshots[-1]
    # no temporary files; the snapshots of the steps before the divergence stay (written atomically, each complete)
    assert sorted(os.listdir(out)) == ["checkpoint.safetensors", "metrics.json", "snapshots.safetensors",
                                       "train_config.json"]


@pytest.mark.slow
def test_resuming_a_finished_run_reuses_its_iwae_bound_and_rewrites_the_card(tmp_path, run_train, tiny_run_args):
    """`--resume` of a finished run (to redo its card with a comparison) trains nothing and keeps every figure."""
    import json

    out = tmp_path / "model"
    first = run_train(*tiny_run_args, "--epochs", "1", "--train-subset", "500", "--out-dir", out)
    assert first.returncode == 0, first.stderr
    before = json.loads((out / "results.json").read_text())
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**before, "elbo": before["elbo"] + 1}))
    again = run_train(*tiny_run_args, "--epochs", "1", "--train-subset", "500", "--out-dir", out, "--resume",
                      "--compare", f"Other run={other}")
    assert again.returncode == 0, again.stderr
    assert "reusing its IWAE bound" in again.stdout and "IWAE bound, K=" not in again.stdout
    assert json.loads((out / "results.json").read_text()) == before
    card = (out / "README.md").read_text()
    assert "| Other run | %.2f |" % (before["elbo"] + 1) in card
    assert "--resume" not in card and "--compare" not in card
