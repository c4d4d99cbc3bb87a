"""What the Train live tab's model becomes on the server, in a real browser (Chromium through Playwright) training on
real MNIST: "Explore this model" sends the weights the page trained and opens Explore on them (an upload-… model:
its digit differs from the default's, the server's /generate draws the same pixels, the compare view puts the
default beside it at the same z, Reconstruct encodes with it), while the run in the Train tab goes on from where
it was; with nothing trained, or with weights the server refuses (damaged on the way), the tab says why and the
page keeps its model. Publishing (sign-in, the fake Hub) is tests/test_publish.py.

Waits for conditions, never for a fixed time. Needs Chromium as tests/browser_helpers.py says, and MNIST.
Run: python -m pytest tests/test_browser_train_publish.py   (one to two minutes on 2 busy cores)
"""

from __future__ import annotations

import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from browser_helpers import browser  # noqa: F401 - the module's Chromium, the same fixture as the other browser tests
from browser_helpers import BROWSER_TEST_MARKS, SHOTS, png
from browser_helpers import open_app
from test_browser_train import live, open_train_tab, served, wait_live  # noqa: F401 - served: the app with MNIST

pytestmark = BROWSER_TEST_MARKS

Z = (0.5, -1.0)
NOTE = "#vae-train-note"


def digit_shown(page, second: bool = False) -> np.ndarray:
    """The digit the Explore tab paints at Z (of the compared model with `second`), uint8 (28, 28)."""
    pixels = page.evaluate("([z1, z2, second]) => window.vaeExplorer.debug.decodeView(z1, z2, 1.5, second)"
                           ".slice(0, 784)", [*Z, second])
    return np.array(pixels, dtype=np.uint8).reshape(28, 28)


def wait_note(page, text: str, timeout: int = 60_000) -> str:
    """The tab's note once it says `text`; a timeout fails with what it says."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function("([sel, text]) => (document.querySelector(sel)?.innerText || '').includes(text)",
                               arg=[NOTE, text], timeout=timeout)
    except PlaywrightTimeout:
        pytest.fail(f"the note does not say {text!r}: {page.inner_text(NOTE)!r}")
    return page.inner_text(NOTE)


def test_explore_this_model_shows_the_trained_model_in_explore_compare_and_reconstruct(browser, served, mnist_test,
                                                                                     tmp_path):
    client = Client(served, verbose=False)
    page = open_app(browser, served)
    default_digit = digit_shown(page)
    open_train_tab(page)
    # nothing trained yet: nothing is sent, and the tab says what to do
    page.get_by_role("button", name="Explore this model").click()
    assert "Train a model first" in wait_note(page, "Train a model first")
    assert page.evaluate("window.vaeExplorer.debug.model") == "default"
    # an app built without sign-in (build_demo's default) says so when Publish is pressed
    page.get_by_role("button", name="Publish to the Hub").click()
    wait_note(page, "Publishing is not set up")

    page.get_by_role("button", name="Train", exact=True).click()
    wait_live(page, "s.step >= 60 && s.points === 2000")
    page.get_by_role("button", name="Pause").click()
    wait_live(page, "s.state === 'paused' && !s.workerRunning")
    paused = live(page)["step"]

    page.get_by_role("button", name="Explore this model").click()
    page.get_by_role("tab", name="Explore", selected=True).wait_for(timeout=60_000)
    page.wait_for_function("(window.vaeExplorer.debug.model || '').startsWith('upload-')", timeout=60_000)
    name = page.evaluate("window.vaeExplorer.debug.model")
    assert name in page.inner_text(NOTE) and name in page.inner_text("#vae-footer")
    # the model box names it, as if the visitor had typed it
    assert page.locator("#vae-hub-id").locator("input, textarea").input_value() == name

    # Explore paints the trained model: not the default's digit, and the server draws the same one
    trained = digit_shown(page)
    assert np.abs(trained.astype(int) - default_digit).max() > 60, "the page still shows the default's digit"
    served_digit = png(client.predict(*Z, model=name, api_name="/generate"))
    assert np.abs(trained.astype(int) - served_digit).max() <= 1

    # the compare view: the default beside it, at the same z
    page.click("#vae-compare input")
    page.get_by_role("option", name="default", exact=True).click()
    page.wait_for_function("window.vaeExplorer.debug.comparing", timeout=30_000)
    np.testing.assert_array_equal(digit_shown(page, second=True), default_digit)
    np.testing.assert_array_equal(digit_shown(page), trained)
    page.screenshot(path=str(SHOTS / "train-explore-compare.png"), full_page=True)

    # Reconstruct encodes with it
    images, _ = mnist_test
    digit = tmp_path / "seven.png"
    Image.fromarray(images[0]).save(digit)
    page.get_by_role("tab", name="Reconstruct").click()
    page.get_by_role("tab", name="Upload").click()
    page.set_input_files("#vae-upload input[type=file]", str(digit))
    page.wait_for_function("document.querySelector('#vae-posterior [data-posterior]')?.dataset.posterior",
                           timeout=60_000)
    figures = page.inner_text("#vae-figures")
    mine = client.predict(handle_file(str(digit)), model=name, api_name="/encode")
    default = client.predict(handle_file(str(digit)), api_name="/encode")
    assert f"{mine['mu'][0]:.3f}" in figures and f"{mine['mu'][1]:.3f}" in figures, (figures, mine)
    assert abs(mine["mu"][0] - default["mu"][0]) + abs(mine["mu"][1] - default["mu"][1]) > 0.01

    # the run in the Train tab is where it was, and goes on
    page.get_by_role("tab", name="Train live").click()
    s = live(page)
    assert s["state"] == "paused" and s["step"] == paused, s
    page.get_by_role("button", name="Train", exact=True).click()
    wait_live(page, "s.state === 'running' && s.step > arg + 5", paused)
    assert page.errors == []
    page.close()


def test_a_damaged_upload_is_refused_with_its_message_in_the_tab(browser, served):
    """The weights reach the server damaged (their safetensors header overwritten on the way): the server refuses
    them as /upload_model does and the tab says why; the page keeps the model it had and the run its state."""
    page = open_app(browser, served)
    open_train_tab(page)
    page.get_by_role("button", name="Step").click()
    wait_live(page, "s.state === 'paused' && s.step >= 1", timeout=120_000)

    def damage(route):
        body = route.request.post_data_buffer
        start = body.index(b"\r\n\r\n") + 4  # the file's bytes, after the multipart part's headers
        route.continue_(post_data=body[:start] + b"\xff" * 8 + body[start + 8:])

    page.route("**/gradio_api/upload*", damage)
    page.get_by_role("button", name="Explore this model").click()
    note = wait_note(page, "refused")
    assert "The server refused the model" in note and "not a readable safetensors file" in note, note
    assert page.get_by_role("tab", name="Train live", selected=True).is_visible()
    assert page.evaluate("window.vaeExplorer.debug.model") == "default"
    assert live(page)["state"] == "paused"
    assert page.errors == []
    page.close()
