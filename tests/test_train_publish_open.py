"""Train -> publish -> open, end to end, nothing mocked but the Hub's address: `python -m train --preset quick` on a
subset of the real training split, `python -m train.publish` of that run folder to a local Hub that speaks the upload
protocol (tests/fake_hub.py), then a launched app opens the repo as a visitor does (`model="user/repo"`, what the
page's ?model= asks for) and serves the trained model's own pixels and test figure.

The fake takes every file as a "regular" upload, inside the commit; the real Hub stores weights through Xet, which
the fake does not speak (docs/reliability.md, Known limits).

Run: python -m pytest tests/test_train_publish_open.py   (about a minute on 2 cores)
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from gradio_client import Client

from app_server import launch_app
from conftest import REPO
from fake_hub import FakeHub
from hub_repos import decoded, differs, png
from vae import VAE

pytestmark = pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated",
                                        "ignore:The copy keyword is deprecated")

REPO_ID = "someone/vae-quick"
POINTS = [(0.5, -1.0), (-1.2, 0.7), (0.0, 0.0)]


@pytest.fixture(scope="module")
def loop(tmp_path_factory, run_train, mnist_path):
    root = tmp_path_factory.mktemp("loop")
    run = root / "run"
    trained = run_train("--preset", "quick", "--data-dir", mnist_path, "--train-subset", "1024", "--iwae-k", "0", "--no-exact",
                        "--no-progress", "--out-dir", run)
    assert trained.returncode == 0, trained.stderr[-3000:]
    with FakeHub() as hub:
        env = hub.env(root / "publisher-hf-home") | {"HF_TOKEN": hub.token, "PYTHONPATH": str(REPO)}
        published = subprocess.run([sys.executable, "-m", "train.publish", str(run), REPO_ID], cwd=REPO, env=env,
                                   capture_output=True, text=True, timeout=300)
        assert published.returncode == 0, published.stdout + published.stderr
        app = launch_app(root / "app", HF_ENDPOINT=hub.url)
        try:
            yield hub, run, published, app
        finally:
            app.stop()


@pytest.mark.slow
def test_publish_puts_the_run_folder_on_the_hub(loop):
    hub, run, published, _ = loop
    commit = hub.repos[REPO_ID].refs["main"]
    assert f"pin it with VAE_MODEL_REVISION={commit}" in published.stdout
    assert not hub.repos[REPO_ID].private  # public by default: a visitor can open it
    local = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file() and p.name != "checkpoint.safetensors"}
    assert {"model.safetensors", "config.json", "README.md", "latents.safetensors", "results.json"} <= set(local)
    assert hub.files(REPO_ID, commit) == local | {".gitattributes": hub.files(REPO_ID, commit)[".gitattributes"]}
    assert all(hub.token not in text for text in (published.stdout, published.stderr))


@pytest.mark.slow
def test_the_app_opens_the_published_repo_with_the_trained_models_pixels(loop, bundled_model):
    hub, run, _, app = loop
    trained = VAE.from_pretrained(run)
    commit = hub.repos[REPO_ID].refs["main"]
    client = Client(app.url, verbose=False)
    for z in POINTS:
        got = png(client.predict(*z, model=REPO_ID, api_name="/generate"))
        assert differs(got, decoded(trained, *z)) <= 1, z
        assert differs(decoded(bundled_model, *z), decoded(trained, *z)) > 10  # the check can tell them apart
    listed = {m["name"]: m for m in client.predict(api_name="/models")}
    entry = listed[f"{REPO_ID}@{commit}"]
    assert entry["test_elbo"] == json.loads((run / "results.json").read_text())["elbo"]
    assert entry["source"] == f"Hugging Face Hub: {REPO_ID} @ {commit}" and entry["arch"] == "resmlp"
