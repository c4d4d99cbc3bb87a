"""The Space's production set-up: VAE_MODEL_REPO names a model repo on the Hub (VAE_MODEL_REVISION pins a commit,
HF_TOKEN opens a private repo) and `python app.py` serves that model, not the bundled one: its pixels, its latent
map and its training replay, with the repo and commit in the log and the footer.

Black box, as a Space runs: the app is launched as a process (tests/app_server.py) with HF_ENDPOINT pointed at a
local Hub (tests/fake_hub.py), and called with gradio_client; the expected pixels are the Hub model's own decode,
computed here. (When the Hub fails, the fallbacks: tests/test_weights_resolution.py and tests/test_faults.py.)

Run: python -m pytest tests/test_space_model.py   (about a minute on 2 cores: two app launches)
"""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest
from gradio_client import Client
from safetensors.numpy import load

from app_server import launch_app
from fake_hub import FakeHub
from hub_repos import decoded, differs, latents_file, model_files, png, snapshots_file, tiny

pytestmark = pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated",
                                        "ignore:The copy keyword is deprecated")

PRIVATE = "space-owner/vae-private"  # the Space's own model, private: read with the Space's HF_TOKEN
PUBLIC = "space-owner/vae-public"  # a public repo whose main has moved on past the commit the Space pins
POINTS = [(0.5, -1.0), (-1.2, 0.7), (0.0, 0.0)]
STATED_ELBO = 321.09  # the private repo's results.json: its trainer's test -ELBO, shown in the footer


@pytest.fixture(scope="module")
def hub():
    with FakeHub() as hub:
        rng = np.random.default_rng(0)
        hub.mu, hub.labels = rng.normal(size=(50, 2)).astype(np.float32), (np.arange(50) % 10).astype(np.uint8)
        hub.snapshots = [tiny(11), tiny(12), tiny(13)]  # the private model's training: the last one is the model
        hub.private_model = hub.snapshots[-1]
        hub.private_sha = hub.add_repo(PRIVATE, model_files(hub.private_model, **{
            "latents.safetensors": latents_file(hub.mu, hub.labels),
            "snapshots.safetensors": snapshots_file(hub.snapshots),
            "results.json": json.dumps({"elbo": STATED_ELBO}).encode()}), private=True)
        hub.pinned_model, hub.newer_model = tiny(20), tiny(21)
        hub.pinned_sha = hub.add_repo(PUBLIC, model_files(hub.pinned_model))
        hub.newer_sha = hub.add_commit(PUBLIC, model_files(hub.newer_model))
        yield hub


def footer_and_bundle(app) -> tuple[str, str]:
    """The footer's text and the page's weight bundle path, as the launched app's /config gives them."""
    components = {c["props"].get("elem_id"): c["props"] for c in httpx.get(app.url + "config", timeout=30).json()[
        "components"] if c.get("props", {}).get("elem_id")}
    return components["vae-footer"]["value"], components["vae-explore"]["props"]["bundle_path"]


def assert_serves(client, model, bundled_model, snapshot=None, tolerance=1):
    """/generate (of `snapshot`, or of the final model) gives `model`'s pixels, which the bundled model's are not."""
    for z in POINTS:
        got = png(client.predict(*z, "default", snapshot, api_name="/generate"))
        assert differs(got, decoded(model, *z)) <= tolerance, (z, snapshot)
        assert differs(decoded(bundled_model, *z), decoded(model, *z)) > 10  # the check can tell them apart


@pytest.mark.slow
def test_a_private_repo_with_the_spaces_token_is_served_with_its_map_and_replay(hub, tmp_path,
                                                                                        bundled_model):
    app = launch_app(tmp_path / "space", VAE_MODEL_REPO=PRIVATE, HF_ENDPOINT=hub.url, HF_TOKEN=hub.token)
    try:
        client = Client(app.url, verbose=False, httpx_kwargs={"timeout": 60})  # a busy CI box
        assert_serves(client, hub.private_model, bundled_model)
        source = f"Hugging Face Hub: {PRIVATE} @ {hub.private_sha}"
        assert f"weights: {source}" in app.log_text()
        footer, bundle = footer_and_bundle(app)
        assert PRIVATE in footer and hub.private_sha in footer and f"test −ELBO {STATED_ELBO:.2f}" in footer, footer
        default = next(m for m in client.predict(api_name="/models") if m["name"] == "default")
        assert default["source"] == source and default["snapshots"] == 3 and default["test_elbo"] == STATED_ELBO
        # its latent map: the page's bundle carries the repo's latents, not the bundled model's
        tensors = load(httpx.get(app.url + bundle, timeout=30).content)
        np.testing.assert_array_equal(tensors["latents.mu"], hub.mu)
        np.testing.assert_array_equal(tensors["latents.labels"], hub.labels)
        # its training replay: each snapshot's decoder, within the snapshots' 2/255 fidelity
        for k, snapshot in enumerate(hub.snapshots):
            assert_serves(client, snapshot, bundled_model, snapshot=k, tolerance=3)
        asked = [r for r in hub.requests if PRIVATE in r.path]
        assert asked and all(r.headers.get("authorization") == f"Bearer {hub.token}" for r in asked)
    finally:
        app.stop()


@pytest.mark.slow
def test_a_pinned_revision_is_served_though_main_has_moved_on(hub, tmp_path, bundled_model):
    app = launch_app(tmp_path / "space", VAE_MODEL_REPO=PUBLIC, VAE_MODEL_REVISION=hub.pinned_sha,
                     HF_ENDPOINT=hub.url)
    try:
        client = Client(app.url, verbose=False, httpx_kwargs={"timeout": 60})  # a busy CI box
        assert_serves(client, hub.pinned_model, bundled_model)
        assert all(differs(decoded(hub.pinned_model, *z), decoded(hub.newer_model, *z)) > 10 for z in POINTS)
        assert f"weights: Hugging Face Hub: {PUBLIC} @ {hub.pinned_sha}" in app.log_text()
        footer, _ = footer_and_bundle(app)
        assert hub.pinned_sha in footer and hub.newer_sha not in footer, footer
        assert f"no latents.safetensors in {PUBLIC}@{hub.pinned_sha}" in app.log_text()  # says what it lacks
    finally:
        app.stop()
