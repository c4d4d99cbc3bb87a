"""Load, small: the app launched as a server (build_demo with the bundled model, the app's queue settings) serves 8
concurrent gradio_client users x 5 mixed calls (/generate, /grid, /encode, /reconstruct) with no error and the
right answers; and with a full queue a caller is told at once to try again instead of waiting (an app built with
a one-place queue and a decoder slowed to 1 s per call). The full-size run with latency and memory figures is
bench/load.py.

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
from PIL import Image

from vae import VAE, VAEConfig

from conftest import PRETRAINED

pytestmark = pytest.mark.filterwarnings(
    "ignore:'future.no_silent_downcasting' is deprecated", "ignore:The copy keyword is deprecated")

EXAMPLE = sorted((PRETRAINED.parent / "static" / "examples").glob("*.png"))[0]


@pytest.fixture(scope="module")
def served(bundled_model, tmp_path_factory):
    import app
    from webapp.models import ModelEntry

    demo = app.build_demo(ModelEntry(bundled_model, "load test"),
                          options=app.Options(bundle_dir=tmp_path_factory.mktemp("bundle")))
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True, **app.LAUNCH_OPTIONS)
    yield url
    demo.close()


def test_concurrent_users_get_every_answer(served, bundled_model):
    users, calls = 8, 5
    expected_mu = Client(served, verbose=False).predict(handle_file(str(EXAMPLE)), api_name="/encode")["mu"]
    errors, checked = [], []
    barrier = threading.Barrier(users)

    def user(index: int) -> None:
        client = Client(served, verbose=False)
        barrier.wait()
        for k in range(calls):
            try:
                kind = (index + k) % 4
                if kind == 0:
                    with Image.open(client.predict(0.1 * k, -0.1 * index, api_name="/generate")) as im:
                        assert im.size == (28, 28)
                elif kind == 1:
                    with Image.open(client.predict(0.0, 0.1 * k, 1.5, api_name="/grid")) as im:
                        assert im.size == (280, 280)
                elif kind == 2:
                    got = client.predict(handle_file(str(EXAMPLE)), api_name="/encode")
                    assert np.allclose(got["mu"], expected_mu, atol=1e-6)
                else:
                    pre, rec, stats = client.predict(handle_file(str(EXAMPLE)), api_name="/reconstruct")
                    assert np.allclose(stats["mu"], expected_mu, atol=1e-6)
                    assert Path(pre).stat().st_size > 0 and Path(rec).stat().st_size > 0
                checked.append(kind)
            except Exception as e:  # noqa: BLE001 - collected, asserted below
                errors.append(f"user {index} call {k}: {type(e).__name__}: {e}")

    threads = [threading.Thread(target=user, args=(i,)) for i in range(users)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert len(checked) == users * calls and set(checked) == {0, 1, 2, 3}


class SlowVAE(VAE):
    """A decoder that takes a second per call, so requests pile up."""

    def decode(self, z):
        time.sleep(1.0)
        return super().decode(z)


def test_a_full_queue_says_try_again_at_once(tmp_path):
    import app
    from webapp.models import ModelEntry

    torch.manual_seed(0)
    model = SlowVAE(VAEConfig(arch="resmlp", hidden=32, blocks=1)).eval()
    demo = app.build_demo(ModelEntry(model, "slow"), options=app.Options(bundle_dir=tmp_path, concurrency=1,
                                                                         queue_size=1))
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True, **app.LAUNCH_OPTIONS)
    try:
        client = Client(url, verbose=False)
        jobs = [client.submit(0.0, 0.1 * i, api_name="/generate") for i in range(6)]
        time.sleep(0.5)  # one runs, one waits: the queue (size 1) is full
        t0 = time.monotonic()
        response = httpx.post(url + "gradio_api/call/generate", json={"data": [0.0, 0.0, "default", None]}, timeout=10)
        assert response.status_code == 503 and "Queue is full" in response.text, response.text
        assert time.monotonic() - t0 < 2.0  # refused at once, not after the queue drains
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
        demo.close()
