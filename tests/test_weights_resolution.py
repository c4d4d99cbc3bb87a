"""Where the app's weights come from (webapp.settings.resolve_from_env, as app.py calls it): a configured Hub repo
that does not answer -> the bundled model within a few seconds; the same with a copy in the Hub cache -> that copy;
HF_HUB_OFFLINE -> no network at all; a local model folder -> that folder; a broken local folder -> a clear
error. And end to end: `python app.py` with an unreachable Hub serves the bundled model and says so.

Each case runs in a fresh Python process, because huggingface_hub reads HF_ENDPOINT and HF_HOME when imported.
The "Hub" is a local socket that accepts connections and never answers (a stalled network), or a closed port.

Run: python -m pytest tests/test_weights_resolution.py   (about a minute on 2 cores)
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from vae import VAE, VAEConfig

from app_server import free_port

REPO = Path(__file__).resolve().parent.parent
HUB_REPO = "vae-explorer/vae-2d-mnist"
TIMEOUT = 3.0  # VAE_HUB_TIMEOUT's default (unset in these tests: the notes say "3 s")
# What a stalled Hub may cost beyond the timeout: loading the bundled weights, and a busy 2-core machine's delays.
# Wide on purpose: the bound is there to catch waiting far longer (the client's own retries, or no bound at all),
# while the note naming the timeout shows which timer fired.
MARGIN = 5.0

RESOLVE = """
import json, sys, time
t0 = time.perf_counter()
from webapp.settings import resolve_from_env
t1 = time.perf_counter()
model, source = resolve_from_env(sys.argv[1])
t2 = time.perf_counter()
print(json.dumps({"kind": source.kind, "location": source.location, "revision": source.revision,
                  "folder": str(source.folder), "note": source.note, "arch": model.config.arch,
                  "hidden": model.config.hidden, "import_s": t1 - t0, "resolve_s": t2 - t1,
                  "latents": [p.name for p in source.folder.glob("latents.safetensors")]}))
"""


@pytest.fixture(scope="module")
def stalled_hub():
    """An endpoint that accepts TCP connections and never sends a byte."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held, stop = [], threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def closed_port() -> str:
    return f"http://127.0.0.1:{free_port()}"


def clean_env(tmp_path: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAE_", "HF_", "HUGGINGFACE"))}
    env.update(HF_HOME=str(tmp_path / "hf-home"), PYTHONPATH=str(REPO), HF_HUB_DISABLE_TELEMETRY="1")
    env.update(extra)
    return env


def resolve(env: dict) -> dict:
    out = subprocess.run([sys.executable, "-c", RESOLVE, str(REPO / "pretrained")], env=env, cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def save_tiny_resmlp(folder: Path, seed: int = 0) -> VAE:
    torch.manual_seed(seed)
    model = VAE(VAEConfig(arch="resmlp", hidden=64, blocks=1))
    model.save_pretrained(folder)
    return model


# ---------------------------------------------------------------------------------------------------------


def test_unreachable_hub_falls_back_to_the_bundled_model_within_seconds(tmp_path, stalled_hub):
    got = resolve(clean_env(tmp_path, VAE_MODEL_REPO=HUB_REPO, HF_ENDPOINT=stalled_hub))
    assert got["kind"] == "bundled"
    assert Path(got["folder"]) == (REPO / "pretrained").resolve()
    weights = hashlib.sha256((REPO / "pretrained" / "model.safetensors").read_bytes()).hexdigest()
    assert got["revision"] == "sha256:" + weights[:12]  # which bundled weights, for the log and the footer
    assert HUB_REPO in got["note"] and "3 s" in got["note"]  # says which repo failed and why
    assert got["resolve_s"] < TIMEOUT + MARGIN, got  # the timeout, then loading the bundled weights
    assert got["latents"] == ["latents.safetensors"]


def test_refused_connection_falls_back_at_once(tmp_path):
    got = resolve(clean_env(tmp_path, VAE_MODEL_REPO=HUB_REPO, HF_ENDPOINT=closed_port()))
    assert got["kind"] == "bundled"
    assert "did not answer" not in got["note"] and "Connect" in got["note"], got  # the refusal decided, not the timer


def test_offline_mode_does_not_touch_the_network(tmp_path):
    listener = socket.socket()  # a Hub that would take any connection: the kernel queues it even unaccepted
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    try:
        got = resolve(clean_env(tmp_path, VAE_MODEL_REPO=HUB_REPO, HF_HUB_OFFLINE="1",
                                HF_ENDPOINT=f"http://127.0.0.1:{listener.getsockname()[1]}"))
        assert got["kind"] == "bundled" and "HF_HUB_OFFLINE" in got["note"]
        listener.setblocking(False)
        with pytest.raises(BlockingIOError):  # no connection was even attempted
            listener.accept()
    finally:
        listener.close()


@pytest.mark.slow
def test_unreachable_hub_uses_the_copy_in_the_hub_cache(tmp_path, stalled_hub):
    # the layout huggingface_hub writes: hub/models--org--name/{refs/main, snapshots/<commit>/...}
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo_dir = tmp_path / "hf-home" / "hub" / ("models--" + HUB_REPO.replace("/", "--"))
    snapshot = repo_dir / "snapshots" / commit
    model = save_tiny_resmlp(snapshot)
    (repo_dir / "refs").mkdir(parents=True)
    (repo_dir / "refs" / "main").write_text(commit)
    got = resolve(clean_env(tmp_path, VAE_MODEL_REPO=HUB_REPO, HF_ENDPOINT=stalled_hub))
    assert got["kind"] == "hub-cache" and got["revision"] == commit
    assert got["arch"] == "resmlp" and got["hidden"] == model.config.hidden
    assert got["resolve_s"] < TIMEOUT + MARGIN, got


def test_a_local_model_folder_is_used_as_given(tmp_path):
    folder = tmp_path / "my-model"
    save_tiny_resmlp(folder, seed=3)
    got = resolve(clean_env(tmp_path, VAE_MODEL_REPO=str(folder)))
    assert got["kind"] == "local" and Path(got["folder"]) == folder.resolve()
    assert got["arch"] == "resmlp" and got["hidden"] == 64
    # in this process too: the same weights, not the bundled ones
    from vae.hub import resolve_model

    loaded, source = resolve_model(str(folder), bundled=REPO / "pretrained")
    assert source.kind == "local" and source.describe().startswith("local folder: ")
    for name, tensor in load_file(str(folder / "model.safetensors")).items():
        assert torch.equal(loaded.state_dict()[name], tensor)


def test_a_broken_local_folder_is_an_error_not_a_silent_fallback(tmp_path):
    from vae import WeightsError
    from vae.hub import resolve_model

    folder = tmp_path / "broken"
    save_tiny_resmlp(folder)
    (folder / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(WeightsError, match="safetensors"):
        resolve_model(str(folder), bundled=REPO / "pretrained")


@pytest.mark.slow
def test_app_with_an_unreachable_hub_serves_the_bundled_model(tmp_path, stalled_hub):
    """python app.py, Hub configured but stalled: it starts, logs the fallback, and serves."""
    from gradio_client import Client

    port = int(closed_port().rsplit(":", 1)[1])
    env = clean_env(tmp_path, VAE_MODEL_REPO=HUB_REPO, VAE_MODEL_REVISION="v1", HF_ENDPOINT=stalled_hub,
                    GRADIO_SERVER_PORT=str(port), GRADIO_ANALYTICS_ENABLED="False")
    log = tmp_path / "app.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "app.py"], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while "Running on local URL" not in log.read_text():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        text = log.read_text()
        assert "weights: bundled model: pretrained/, weights sha256:" in text, text
        assert f"{HUB_REPO} unavailable" in text, text
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        assert Path(client.predict(0.0, 0.0, api_name="/generate")).is_file()
        footer = [c for c in client.config["components"] if c.get("props", {}).get("elem_id") == "vae-footer"]
        assert "bundled model: pretrained/" in footer[0]["props"]["value"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
