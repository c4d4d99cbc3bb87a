"""Load, small: the app launched as a server (build_demo with the bundled model, the app's queue settings) serves 8
concurrent gradio_client users x 5 mixed calls (/generate, /grid, /encode, /reconstruct) with no error, each caller
getting the answer to its own z or picture (none swapped between callers); and with a full queue a caller is told at
once to try again instead of waiting (an app built with a one-place queue and a decoder held until the test lets it go). The
full-size run with latency and memory figures is bench/load.py.

Run: python -m pytest tests/test_load.py   (about 30 s on 2 cores)
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from vae import VAE, VAEConfig
from vae.explorer import Explorer
from vae.preprocess import load_image, preprocess_digit

from conftest import PRETRAINED
from hub_repos import differs, png

pytestmark = pytest.mark.filterwarnings(
    "ignore:'future.no_silent_downcasting' is deprecated", "ignore:The copy keyword is deprecated")

EXAMPLES = sorted((PRETRAINED.parent / "static" / "examples").glob("*.png"))


@pytest.fixture(scope="module")
def served(bundled_model, tmp_path_factory):
    import app
    from webapp.models import ModelEntry

    demo = app.build_demo(ModelEntry(bundled_model, "load test"),
                          options=app.Options(bundle_dir=tmp_path_factory.mktemp("bundle")))
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True, **app.launch_options())
    yield url
    demo.close()


@pytest.mark.slow
def test_concurrent_users_get_every_answer(served, bundled_model):
    """Each caller gets the answer to its own question: its own z's digit and grid, its own picture's posterior."""
    users, calls = 8, 5
    explorer = Explorer(bundled_model)
    z_of = {(i, k): (0.1 * k - 0.2, 0.15 * i - 0.5) for i in range(users) for k in range(calls)}  # no two alike
    picture_of = {i: EXAMPLES[i % len(EXAMPLES)] for i in range(users)}
    mu_of = {path: explorer.posterior(preprocess_digit(load_image(path)))[0] for path in set(picture_of.values())}
    errors, got = [], {}
    barrier = threading.Barrier(users)

    def user(index: int) -> None:
        client = Client(served, verbose=False)
        picture = handle_file(str(picture_of[index]))
        barrier.wait()
        for k in range(calls):
            try:
                kind, z = (index + k) % 4, z_of[index, k]
                if kind == 0:
                    got[index, k] = "digit", png(client.predict(*z, api_name="/generate"))
                elif kind == 1:
                    got[index, k] = "grid", png(client.predict(*z, 1.5, api_name="/grid"))
                elif kind == 2:
                    got[index, k] = "mu", client.predict(picture, api_name="/encode")["mu"]
                else:
                    pre, rec, stats = client.predict(picture, api_name="/reconstruct")
                    assert Path(pre).stat().st_size > 0 and Path(rec).stat().st_size > 0
                    got[index, k] = "mu", stats["mu"]
            except Exception as e:  # noqa: BLE001 - collected, asserted below
                errors.append(f"user {index} call {k}: {type(e).__name__}: {e}")

    threads = [threading.Thread(target=user, args=(i,)) for i in range(users)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert len(got) == users * calls and {kind for kind, _ in got.values()} == {"digit", "grid", "mu"}

    def answer_to(key, kind):
        if kind == "digit":
            return explorer.digit(*z_of[key])
        return explorer.grid(*z_of[key], 1.5) if kind == "grid" else mu_of[picture_of[key[0]]]

    expected = {key: answer_to(key, kind) for key, (kind, _) in got.items()}
    for key, (kind, answer) in got.items():
        if kind == "mu":
            assert np.allclose(answer, expected[key], atol=1e-5), key
            continue
        assert differs(answer, expected[key]) <= 1, key  # its own z's picture ...
        others = [k for k, (other_kind, _) in got.items() if other_kind == kind and k != key]
        assert all(differs(answer, expected[k]) > 1 for k in others), key  # ... and no other caller's
    assert len({tuple(mu) for mu in mu_of.values()}) == len(mu_of) > 1  # the pictures' answers differ too


class HeldVAE(VAE):
    """A decoder that waits for `release` once it is held, so requests pile up whatever the machine's speed."""

    release = threading.Event()

    def decode(self, z):
        assert HeldVAE.release.wait(timeout=120), "the test never let the decoder go"
        return super().decode(z)


def test_a_full_queue_says_try_again_at_once(tmp_path):
    import app
    from webapp.models import ModelEntry

    torch.manual_seed(0)
    model = HeldVAE(VAEConfig(arch="resmlp", hidden=32, blocks=1)).eval()
    HeldVAE.release.set()  # building the app may decode
    demo = app.build_demo(ModelEntry(model, "slow"), options=app.Options(bundle_dir=tmp_path, concurrency=1,
                                                                         queue_size=1))
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True, **app.launch_options())
    HeldVAE.release.clear()
    try:
        client = Client(url, verbose=False)
        jobs = [client.submit(0.0, 0.1 * i, api_name="/generate") for i in range(6)]
        deadline = time.monotonic() + 60
        while httpx.get(url + "gradio_api/queue/status", timeout=10).json()["queue_size"] < 1:
            assert time.monotonic() < deadline, "the queue never filled"  # one runs, one waits: full (size 1)
            time.sleep(0.05)
        # a call that would wait is refused: 503 on submission (a queued call gets its event id instead)
        response = httpx.post(url + "gradio_api/call/generate", json={"data": [0.0, 0.0, "default", None]}, timeout=10)
        assert response.status_code == 503 and "Queue is full" in response.text, response.text
        HeldVAE.release.set()
        outcomes = []
        for job in jobs:
            try:
                outcomes.append(Path(job.result(timeout=30)).is_file())
            except AppError as e:  # not expected: the refusal is a queue error, not an app error
                outcomes.append(f"AppError {e}")
            except Exception as e:  # noqa: BLE001
                outcomes.append(f"{type(e).__name__}: {e}")
        busy = [o for o in outcomes if isinstance(o, str)]
        assert outcomes.count(True) >= 2 and busy, outcomes
        assert all("Queue is full! Please try again." in o for o in busy), busy
        # once it drains, calls go through again
        assert Path(client.predict(0.5, 0.5, api_name="/generate")).is_file()
    finally:
        HeldVAE.release.set()
        demo.close()
