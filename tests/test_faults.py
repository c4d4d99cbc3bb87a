"""Faults the app and the trainer survive.

Weights (webapp.settings.resolve_from_env, as `python app.py` calls it): a local model folder given in VAE_MODEL_REPO with
truncated or corrupt weights, a config.json that does not match them, or a missing file; a Hub that answers
"repository not found" or "revision not found" (a local HTTP server standing in for the Hub) -> the bundled
model, the reason in the log; and a launched app with corrupt weights says so in its footer and
serves. (Unreachable and stalled Hubs: tests/test_weights_resolution.py; the strict loader itself:
tests/test_loading.py.)

Training: an output folder that cannot be created (its parent is a regular file: fails for root too); a
read-only file system (a tmpfs remounted read-only); a disk that fills up in the middle of a run (a 1 MiB tmpfs:
the first epoch's checkpoint fits, the second's does not) -> a clear message, exit status 1, no traceback, the
files written before byte-identical, and `--resume` after freeing space loses no finished epoch. The tmpfs cases
need permission to mount (root in the project's containers); without it they are skipped, saying so (under CI=true
they fail: tests/conftest.py's unavailable(); .github/workflows/tests.yml deselects them on GitHub's runners).

Run: python -m pytest tests/test_faults.py   (about a minute on 2 cores)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import torch
from gradio_client import Client

from vae import VAE, VAEConfig

from app_server import REPO, launch_app
from conftest import unavailable

pytestmark = pytest.mark.filterwarnings(
    "ignore:'future.no_silent_downcasting' is deprecated", "ignore:The copy keyword is deprecated")

RESOLVE_ALL = """
import json, os, sys
from webapp.settings import resolve_from_env
cases = json.loads(sys.argv[2])
out = {}
for name, env in cases.items():
    os.environ.update(env)
    model, source = resolve_from_env(sys.argv[1])
    out[name] = {"kind": source.kind, "note": source.note, "describe": source.describe(),
                 "config": model.config.to_dict()}
print(json.dumps(out))
"""


def resolve_cases(tmp_path: Path, cases: dict[str, dict], **env: str) -> tuple[dict, str]:
    """Run resolve_from_env once per case in one fresh process -> ({case: result}, its stderr (the log))."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("VAE_", "HF_", "HUGGINGFACE"))}
    full.update(HF_HOME=str(tmp_path / "hf-home"), PYTHONPATH=str(REPO), HF_HUB_DISABLE_TELEMETRY="1", **env)
    out = subprocess.run([sys.executable, "-c", RESOLVE_ALL, str(REPO / "pretrained"), json.dumps(cases)],
                         env=full, cwd=REPO, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1]), out.stderr


def tiny_folder(folder: Path, hidden: int = 32) -> Path:
    torch.manual_seed(0)
    VAE(VAEConfig(arch="resmlp", hidden=hidden, blocks=1)).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def broken_folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    folders = {}
    truncated = tiny_folder(root / "truncated")
    data = (truncated / "model.safetensors").read_bytes()
    (truncated / "model.safetensors").write_bytes(data[: len(data) // 2])
    folders["truncated"] = truncated
    corrupt = tiny_folder(root / "corrupt")
    (corrupt / "model.safetensors").write_bytes(b"\xff" * 8 + data[8:])  # header length garbage
    folders["corrupt"] = corrupt
    mismatched = tiny_folder(root / "mismatched")
    config = json.loads((mismatched / "config.json").read_text())
    (mismatched / "config.json").write_text(json.dumps({**config, "hidden": 48}))
    folders["mismatched"] = mismatched
    no_weights = tiny_folder(root / "no-weights")
    (no_weights / "model.safetensors").unlink()
    folders["no-weights"] = no_weights
    no_config = tiny_folder(root / "no-config")
    (no_config / "config.json").unlink()
    folders["no-config"] = no_config
    folders["good"] = tiny_folder(root / "good")
    return folders


def test_a_broken_local_model_falls_back_to_the_bundled_one(tmp_path, broken_folders):
    cases = {name: {"VAE_MODEL_REPO": str(folder)} for name, folder in broken_folders.items()}
    got, log = resolve_cases(tmp_path, cases)
    # the bundled config as it loads: with "dataset": "mnist"
    bundled = VAEConfig.from_dict(json.loads((REPO / "pretrained" / "config.json").read_text())).to_dict()
    assert got["good"]["kind"] == "local" and got["good"]["config"] != bundled  # the check can tell them apart
    for name in ("truncated", "corrupt", "mismatched", "no-weights", "no-config"):
        result = got[name]
        assert result["kind"] == "bundled" and result["config"] == bundled, (name, result)
        assert str(broken_folders[name]) + " unusable" in result["note"], (name, result)
        assert result["describe"].startswith("bundled model: "), (name, result)
        assert str(broken_folders[name]) in log  # and the log says which folder failed
    assert "not a readable safetensors file" in got["truncated"]["note"]
    assert "hidden" in got["mismatched"]["note"] or "shape" in got["mismatched"]["note"]
    assert "Traceback" not in log


class FakeHub(BaseHTTPRequestHandler):
    """Answers the Hub's model-info request as huggingface.co does for an unknown repo or revision."""
    seen: list[str] = []

    def do_GET(self):  # noqa: N802
        FakeHub.seen.append(self.path)
        code = "RevisionNotFound" if "/revision/no-such-branch" in self.path else "RepoNotFound"
        body = json.dumps({"error": "Invalid rev id: no-such-branch" if code == "RevisionNotFound"
                           else "Repository not found"}).encode()
        self.send_response(404)
        self.send_header("X-Error-Code", code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET

    def log_message(self, *args):
        pass


@contextmanager
def fake_hub():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_an_unknown_repo_or_revision_falls_back_to_the_bundled_model(tmp_path):
    cases = {"unknown-repo": {"VAE_MODEL_REPO": "nobody/no-such-model"},
             "wrong-revision": {"VAE_MODEL_REPO": "vae-explorer/vae-2d-mnist", "VAE_MODEL_REVISION": "no-such-branch"}}
    FakeHub.seen.clear()
    with fake_hub() as endpoint:
        got, log = resolve_cases(tmp_path, cases, HF_ENDPOINT=endpoint)
    assert any("nobody/no-such-model" in p for p in FakeHub.seen)  # the Hub was really asked
    assert any("no-such-branch" in p for p in FakeHub.seen)
    for name, result in got.items():  # the Hub's answer, not the timeout, decided: the note names its error
        assert result["kind"] == "bundled" and "did not answer" not in result["note"], (name, result)
    assert "nobody/no-such-model unavailable" in got["unknown-repo"]["note"]
    assert "RepositoryNotFound" in got["unknown-repo"]["note"] or "404" in got["unknown-repo"]["note"]
    assert "RevisionNotFound" in got["wrong-revision"]["note"] or "no-such-branch" in got["wrong-revision"]["note"]
    assert "nobody/no-such-model" in log and "Traceback" not in log


@pytest.mark.slow
def test_the_app_with_corrupt_weights_serves_the_bundled_model_and_says_so(tmp_path, broken_folders):
    app = launch_app(tmp_path / "app", VAE_MODEL_REPO=str(broken_folders["corrupt"]))
    try:
        log = app.log_text()
        assert "using the bundled model" in log and str(broken_folders["corrupt"]) in log
        assert "weights: bundled model: pretrained/" in log
        config = httpx.get(app.url + "config", timeout=30).json()
        footer = [c for c in config["components"] if c.get("props", {}).get("elem_id") == "vae-footer"]
        assert "bundled model: pretrained/" in footer[0]["props"]["value"]
        assert "unusable" in footer[0]["props"]["value"]
        assert Path(Client(app.url, verbose=False).predict(0.0, 0.0, api_name="/generate")).is_file()
    finally:
        app.stop()


# ---------------------------------------------------------------------------------------------------------
# training


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_an_output_folder_that_cannot_be_created(tmp_path, run_train, tiny_run_args):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    out = run_train(*tiny_run_args, "--epochs", "1", "--train-subset", "500", "--out-dir", blocker / "run")
    assert out.returncode == 1, out.stderr
    assert "cannot write to the output folder" in out.stderr and "--out-dir" in out.stderr
    assert "Traceback" not in out.stderr
    assert blocker.read_text() == "not a folder"


@contextmanager
def tmpfs(folder: Path, size: str):
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        unavailable(f"cannot mount a tmpfs here ({mounted.stderr.strip()}): run the tests as root (or with "
                    "CAP_SYS_ADMIN) to test a full and a read-only disk")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.mark.slow
def test_a_disk_that_fills_up_mid_run_loses_no_finished_epoch(tmp_path, run_train, tiny_run_args):
    args = [*tiny_run_args, "--epochs", "3", "--train-subset", "2000"]
    with tmpfs(tmp_path / "disk", "1m") as disk:  # checkpoint ~690 kB: one fits, a second (atomic copy) does not
        out = run_train(*args, "--out-dir", disk / "run")
        assert out.returncode == 1, out.stdout + out.stderr
        assert "No space left on device" in out.stderr and "--resume" in out.stderr, out.stderr
        assert "Traceback" not in out.stderr
        files = snapshot(disk / "run")
        # no .tmp; the training replay's snapshots so far (written atomically too) stay for --resume
        assert set(files) == {"checkpoint.safetensors", "metrics.json", "train_config.json",
                              "snapshots.safetensors"}, set(files)
        first_epoch = json.loads(files["metrics.json"])
        assert len(first_epoch) == 1
        shutil.copytree(disk / "run", tmp_path / "run")  # "free space": carry on on a bigger disk
    resumed = run_train(*args, "--resume", "--out-dir", tmp_path / "run")
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from" in resumed.stdout + resumed.stderr and "after epoch 1" in resumed.stdout + resumed.stderr
    history = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert len(history) == 3 and history[0] == first_epoch[0]
    from vae.snapshots import load_snapshots, schedule

    steps = [r["step"] for r in load_snapshots(tmp_path / "run" / "snapshots.safetensors").records]
    assert steps == schedule(-(-2000 // 128), 3)  # the replay complete: no moment lost to the full disk


def test_a_read_only_file_system_keeps_the_earlier_files(tmp_path, run_train, tiny_run_args):
    with tmpfs(tmp_path / "disk", "64m") as disk:  # room for a copy of pretrained/ (about 49 MB with its subfolders)
        run = disk / "run"
        shutil.copytree(REPO / "pretrained", run)  # an earlier model folder
        before = snapshot(run)
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        out = run_train(*tiny_run_args, "--epochs", "1", "--train-subset", "500", "--out-dir", run)
        assert out.returncode == 1, out.stderr
        assert "cannot write to the output folder" in out.stderr and "Read-only file system" in out.stderr
        assert "Traceback" not in out.stderr
        assert snapshot(run) == before
