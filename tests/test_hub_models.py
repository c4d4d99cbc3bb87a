"""Models brought from the Hub, through a launched app called with gradio_client: a local server answers the Hub's
protocol (tests/fake_hub.py, HF_ENDPOINT pointed at it) so huggingface_hub's real download code runs. A good repo
by branch, tag and commit; what is refused before the weights are downloaded (unknown repo, pickle only, weights over
the limit, latent_dim 3, a decoder too big for the browser) and after (corrupt weights); a stalled Hub; no token
sent; only the files a model needs; two sessions on two models at once; one download for many callers; bad model
ids; memory over 20 models loaded in turn. The server keeps serving after each.

Run: python -m pytest tests/test_hub_models.py   (about a minute on 2 cores)
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from fake_hub import FakeHub
from hub_repos import decoded, model_files, png, snapshots_file, tiny
from vae import VAEConfig

pytestmark = pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated",
                                        "ignore:The copy keyword is deprecated")

TIMEOUT = 2.0  # the app's VAE_HUB_TIMEOUT here


@pytest.fixture(scope="module")
def hub():
    with FakeHub() as hub:
        good, good_v2 = tiny(0), tiny(1)
        hub.models = {"good": good, "good_v2": good_v2}
        results = json.dumps({"elbo": 150.25, "bce": 140.0, "kl": 10.25}).encode()
        hub.shas = {"good": hub.add_repo("someone/vae-good", model_files(good, **{"results.json": results,
                                                                                  "README.md": b"# card"}))}
        hub.shas["good_v2"] = hub.add_commit("someone/vae-good", model_files(good_v2), branch="v2")
        hub.add_repo("someone/pickle-only", {"config.json": json.dumps(good.config.to_dict()).encode(),
                                             "pytorch_model.bin": b"\x80\x04pickle"})
        hub.add_repo("someone/too-big", {"config.json": json.dumps(good.config.to_dict()).encode(),
                                         "model.safetensors": b"\0" * (51 * 2**20)})
        hub.add_repo("someone/three-d", model_files(tiny(0, latent_dim=3)))
        hub.add_repo("someone/too-wide", {"config.json": json.dumps(VAEConfig(hidden=1024).to_dict()).encode(),
                                          "model.safetensors": b"\0" * 1000})
        hub.add_repo("someone/corrupt", {"config.json": json.dumps(good.config.to_dict()).encode(),
                                         "model.safetensors": b"not a safetensors file" * 10})
        hub.add_repo("someone/extra-files", model_files(tiny(2), **{"other.bin": b"\0" * 4096,
                                                                     "notes.txt": b"hello"}))
        hub.add_repo("someone/stalled", model_files(tiny(3)))
        hub.add_repo("someone/popular", model_files(tiny(4)))
        for i in range(20):
            hub.add_repo(f"someone/many-{i}", model_files(tiny(100 + i)))
        hub.models["replay"] = [tiny(5), tiny(6), tiny(7)]  # its training snapshots: the last is the model
        hub.add_repo("someone/vae-replay", model_files(tiny(7), **{
            "snapshots.safetensors": snapshots_file(hub.models["replay"])}))
        hub.models["fashion"] = tiny(8, dataset="fashion-mnist")
        hub.add_repo("someone/vae-fashion", model_files(hub.models["fashion"]))
        yield hub


@pytest.fixture(scope="module")
def served(hub, bundled_model, tmp_path_factory):
    """(client, url): the app for the bundled model, with the fake Hub as its Hub and a token in its environment."""
    import app
    from webapp.models import ModelEntry

    with pytest.MonkeyPatch.context() as mp:
        hub.use(mp, tmp_path_factory.mktemp("hf-home"))
        mp.setenv("HF_TOKEN", "hf_the_spaces_own_token")  # a visitor's model must be fetched without it
        demo = app.build_demo(ModelEntry(bundled_model, "test model"),
                              options=app.Options(bundle_dir=tmp_path_factory.mktemp("bundles"), hub_timeout=TIMEOUT))
        _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True, **app.launch_options())
        yield Client(url, verbose=False), url, demo
        demo.close()


def still_serving(client, bundled_model):
    assert np.abs(png(client.predict(0.3, -0.2, api_name="/generate")).astype(int)
                  - decoded(bundled_model, 0.3, -0.2)).max() <= 1


# ---------------------------------------------------------------------------------------------------------


def test_a_hub_model_by_branch_tag_and_commit_serves_its_own_pixels(served, hub, bundled_model):
    client, _, _ = served
    good, good_v2 = hub.models["good"], hub.models["good_v2"]
    hub.add_tag("someone/vae-good", "v1.0", revision=hub.shas["good"])
    for spec, model in [("someone/vae-good", good), (f"someone/vae-good@{hub.shas['good']}", good),
                        ("someone/vae-good@v1.0", good), ("someone/vae-good@v2", good_v2)]:
        got = png(client.predict(0.5, -1.0, model=spec, api_name="/generate"))
        assert np.abs(got.astype(int) - decoded(model, 0.5, -1.0)).max() <= 1, spec
        grid = png(client.predict(0.5, -1.0, 1.0, model=spec, api_name="/grid"))
        assert grid.shape == (280, 280, 3)
    listed = {m["name"]: m for m in client.predict(api_name="/models")}
    assert listed["default"]["test_elbo"] is None and listed["default"]["source"] == "test model"
    entry = listed[f"someone/vae-good@{hub.shas['good']}"]
    assert entry == {"name": f"someone/vae-good@{hub.shas['good']}", "arch": "resmlp", "dataset": "mnist",
                     "test_elbo": 150.25, "source": f"Hugging Face Hub: someone/vae-good @ {hub.shas['good']}",
                     "snapshots": 0}
    assert f"someone/vae-good@{hub.shas['good_v2']}" in listed
    still_serving(client, bundled_model)


def test_a_hub_model_trained_on_fashion_mnist_opens_like_any_other(served, hub, bundled_model, tmp_path):
    """config.json names fashion-mnist: served, listed with its data set, and an upload prepared as a product photo."""
    from vae.explorer import Explorer
    from vae.preprocess import load_image, preprocess_digit, preprocess_product

    client, _, _ = served
    model = hub.models["fashion"]
    got = png(client.predict(0.5, -1.0, model="someone/vae-fashion", api_name="/generate"))
    assert np.abs(got.astype(int) - decoded(model, 0.5, -1.0)).max() <= 1
    assert png(client.predict(0.5, -1.0, 1.0, model="someone/vae-fashion", api_name="/grid")).shape == (280, 280, 3)
    listed = {m["name"].split("@")[0]: m for m in client.predict(api_name="/models")}
    assert listed["someone/vae-fashion"]["dataset"] == "fashion-mnist"
    photo = np.full((300, 400, 3), 250, np.uint8)
    photo[40:260, 100:220] = (90, 60, 30)  # a brown coat-shaped block on an off-white backdrop
    Image.fromarray(photo).save(tmp_path / "coat.jpg", quality=95)
    mu = client.predict(handle_file(str(tmp_path / "coat.jpg")), model="someone/vae-fashion", api_name="/encode")["mu"]
    prepared = load_image(tmp_path / "coat.jpg")
    assert mu == pytest.approx(Explorer(model).posterior(preprocess_product(prepared))[0], abs=1e-5)
    assert mu != pytest.approx(Explorer(model).posterior(preprocess_digit(prepared))[0], abs=1e-3)
    still_serving(client, bundled_model)


def test_a_hub_models_training_replay_comes_with_it(served, hub):
    """snapshots.safetensors in the repo: fetched with the model, counted by /models, each snapshot's decoder served."""
    client, _, _ = served
    for k, model in enumerate(hub.models["replay"]):
        got = png(client.predict(0.5, -1.0, "someone/vae-replay", k, api_name="/generate"))
        assert np.abs(got.astype(int) - decoded(model, 0.5, -1.0)).max() <= 3, k  # within the 2/255 fidelity
    listed = {m["name"].split("@")[0]: m for m in client.predict(api_name="/models")}
    assert listed["someone/vae-replay"]["snapshots"] == 3
    with Image.open(client.predict("someone/vae-replay", api_name="/replay")) as gif:
        assert gif.n_frames == 3
    with pytest.raises(AppError, match="--snapshots"):  # a repo without one: the message says how to make one
        client.predict(0.0, 0.0, 1.5, "someone/vae-good", 0, api_name="/grid")


@pytest.mark.parametrize("repo, message, fetched", [
    ("someone/nothing-here", "No public model repo someone/nothing-here", []),
    ("someone/vae-good@no-such-branch", "has no revision 'no-such-branch'", []),
    ("someone/pickle-only", "pickled weights are never loaded", []),
    ("someone/too-big", "model.safetensors is 51 MB; the app opens models up to 50 MB", []),
    ("someone/three-d", "3-D latent space", ["config.json"]),
    ("someone/too-wide", "multiply-adds per point", ["config.json"]),
    ("someone/corrupt", "model.safetensors cannot be loaded", ["config.json", "model.safetensors"]),
])
def test_what_cannot_be_served_is_refused_with_a_message(served, hub, bundled_model, repo, message, fetched):
    client, _, _ = served
    earlier = len(hub.downloads(repo.split("@")[0]))
    with pytest.raises(AppError, match=message):
        client.predict(0.0, 0.0, model=repo, api_name="/generate")
    assert hub.downloads(repo.split("@")[0])[earlier:] == fetched  # refused before the weights were downloaded
    still_serving(client, bundled_model)


def test_a_stalled_hub_costs_at_most_the_timeout(served, hub, bundled_model):
    client, _, _ = served
    hub.stall(repo_id="someone/stalled")
    try:
        t0 = time.monotonic()
        with pytest.raises(AppError, match=f"did not answer within {TIMEOUT:g} s"):
            client.predict(0.0, 0.0, model="someone/stalled", api_name="/generate")
        # the bound is the feature: refused after the timeout, plus a wide margin for the call on a busy machine
        assert time.monotonic() - t0 < TIMEOUT + 5.0
    finally:
        hub.clear_faults()
    still_serving(client, bundled_model)


def test_no_token_is_sent_and_only_the_files_a_model_needs_are_fetched(served, hub):
    client, _, _ = served
    client.predict(0.0, 0.0, model="someone/extra-files", api_name="/generate")
    assert sorted(hub.downloads("someone/extra-files")) == ["config.json", "model.safetensors"]
    assert set(hub.downloads("someone/vae-good")) == {"config.json", "model.safetensors", "results.json"}  # no README
    assert not any("authorization" in r.headers for r in hub.requests)


def test_bad_model_ids_are_refused_and_never_read_from_disk(served, bundled_model):
    client, _, _ = served
    for spec in ["../../etc/passwd", "/etc/passwd", str(Path(__file__).resolve().parent.parent / "pretrained"),
                 "a" * 500, "<img src=x onerror=alert(1)>/x", "someone/../../etc", "C:\\models\\x"]:
        with pytest.raises(AppError) as refused:
            client.predict(0.0, 0.0, model=spec, api_name="/generate")
        message = str(refused.value)
        assert "<img" not in message and "Traceback" not in message
        assert "never loaded" in message or "at most 200 characters" in message, (spec, message)
    still_serving(client, bundled_model)


def test_two_sessions_on_two_models_at_once_get_their_own_pixels(served, hub):
    _, url, _ = served
    good, good_v2 = hub.models["good"], hub.models["good_v2"]
    a, b = Client(url, verbose=False), Client(url, verbose=False)

    def session(client, spec, model):
        for i in range(5):
            z = (0.2 * i - 0.4, 0.1 * i)
            got = png(client.predict(*z, model=spec, api_name="/generate"))
            assert np.abs(got.astype(int) - decoded(model, *z)).max() <= 1
        return spec

    with ThreadPoolExecutor(2) as pool:
        done = [pool.submit(session, a, "someone/vae-good", good), pool.submit(session, b, "someone/vae-good@v2", good_v2)]
        assert [f.result(timeout=120) for f in done] == ["someone/vae-good", "someone/vae-good@v2"]


def test_many_callers_asking_for_one_new_model_cause_one_download(served, hub):
    client, url, _ = served
    hub.throttle(2e6, repo_id="someone/popular")  # a slow download, so the calls overlap
    try:
        clients = [Client(url, verbose=False) for _ in range(4)]
        start = threading.Barrier(4)

        def call(c):
            start.wait()
            return png(c.predict(0.0, 0.0, model="someone/popular", api_name="/generate"))

        with ThreadPoolExecutor(4) as pool:
            pictures = list(pool.map(call, clients))
    finally:
        hub.clear_faults()
    assert all(np.array_equal(p, pictures[0]) for p in pictures)
    assert hub.downloads("someone/popular").count("model.safetensors") == 1


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


@pytest.mark.slow
def test_twenty_models_in_turn_keep_memory_and_disk_bounded(served, hub, capsys):
    client, _, demo = served
    from webapp.models import MAX_LOADED

    client.predict(0.0, 0.0, model="someone/many-0", api_name="/generate")
    before = rss_mib()
    for i in range(20):
        client.predict(0.1, 0.1, model=f"someone/many-{i}", api_name="/generate")
    after = rss_mib()
    listed = [m["name"] for m in client.predict(api_name="/models")]
    hub_models = [n for n in listed if "/" in n]
    assert len(hub_models) <= MAX_LOADED and any(n.startswith("someone/many-19@") for n in hub_models)
    with capsys.disabled():
        print(f"\n  RSS over 20 Hub models loaded in turn: {before:.0f} -> {after:.0f} MiB")
    assert after - before < 150  # 20 models of 30 kB each: the LRU keeps 4, nothing piles up


def test_the_page_opens_a_hub_model_from_its_address(served, hub, chromium_executable):
    """?model=someone/vae-good: the page decodes that model in the browser, and says which commit it shows."""
    from playwright.sync_api import sync_playwright

    _, url, _ = served
    good = hub.models["good"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_executable, args=["--headless", "--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url + "?model=someone/vae-good")
        page.wait_for_function("window.vaeExplorer && window.vaeExplorer.debug.ready", timeout=60_000)
        page.wait_for_function("() => document.querySelector('#vae-footer').innerText.includes('someone/vae-good')",
                               timeout=30_000)
        footer = page.inner_text("#vae-footer")
        assert hub.shas["good"] in footer and "test −ELBO 150.25" in footer
        expected, deadline = decoded(good, 0.5, -1.0), time.monotonic() + 30
        while True:  # the page fetches the model's bundle after the footer changes
            pixels = page.evaluate("window.vaeExplorer.debug.decodeView(0.5, -1.0, 1.5)")
            difference = np.abs(np.array(pixels[:784], np.uint8).reshape(28, 28).astype(int) - expected).max()
            if difference <= 1 or time.monotonic() > deadline:
                break
            page.wait_for_timeout(200)
        assert difference <= 1
        browser.close()
