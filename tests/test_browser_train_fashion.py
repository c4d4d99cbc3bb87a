"""The Train live tab on Fashion-MNIST in a real browser (Chromium through Playwright): choosing the data set trains
on the real Fashion-MNIST images in the page's Web Worker, the 2,000 test images' posterior means fill the map with
the clothing classes' names in its legend, and the loss falls over a few hundred steps.

Waits for conditions, never for a fixed time. Needs Chromium as tests/browser_helpers.py says, and Fashion-MNIST
(tests/conftest.py: FASHION_MNIST_DIR). Screenshots go to artifacts/browser/.
Run: python -m pytest tests/test_browser_train_fashion.py   (one to two minutes on 2 busy cores)
"""

from __future__ import annotations

import pytest

from vae.datasets import get_dataset
from vae.latents import load_latents

from browser_helpers import browser  # noqa: F401 - the module's Chromium, the same fixture as the other browser tests
from browser_helpers import BROWSER_TEST_MARKS, SHOTS, launch, open_app
from conftest import PRETRAINED
from test_browser_train import coloured_pixels, live, open_train_tab, wait_live

pytestmark = BROWSER_TEST_MARKS


@pytest.fixture(scope="module")
def served(bundled_model, fashion_path, tmp_path_factory):
    """The app, with the training images read from the test's Fashion-MNIST folder -> url."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(get_dataset("fashion-mnist").env, str(fashion_path))
        demo, url = launch(bundled_model, load_latents(PRETRAINED / "latents.safetensors"), tmp_path_factory)
        yield url
        demo.close()


def test_fashion_mnist_trains_with_clothing_classes_on_the_map_and_the_loss_falling(browser, served):
    page = open_app(browser, served)
    tab = open_train_tab(page)
    tab.locator(".vae-lab-dataset").select_option("fashion-mnist")
    empty_map = coloured_pixels(page, "#vae-train canvas.vae-map")
    page.get_by_role("button", name="Train", exact=True).click()
    wait_live(page, "s.state === 'running' && s.points === 2000 && s.pixels")
    # the legend names the clothing classes, in label order
    keys = tab.locator(".vae-legend .vae-key").all_inner_texts()
    assert [k.strip() for k in keys] == list(get_dataset("fashion-mnist").class_names), keys
    wait_live(page, "s.step >= 300 && s.tests.length >= 2 && s.arrived === s.n")
    s = live(page)
    assert s["n"] == 55_000, s  # the file's 4-bit prefix of the shuffled training set (webapp/training_data.py)
    start = s["tests"][0]
    assert start["step"] == 0 and start["elbo"] > 500, start  # an untrained decoder pays about 543 nats
    assert s["running"]["bce"] + s["running"]["kl"] < 0.8 * start["elbo"], s
    assert s["tests"][-1]["elbo"] < 0.8 * start["elbo"], s["tests"]
    assert s["meansFinite"] and s["epoch"] > 0
    assert coloured_pixels(page, "#vae-train canvas.vae-map") > empty_map + 500
    tab.screenshot(path=str(SHOTS / "train-live-fashion.png"))
    assert page.errors == []
