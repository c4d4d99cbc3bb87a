"""The Explore tab in a real browser (Chromium through Playwright): the page loads and decodes in the browser; the
in-browser decoder (WebAssembly SIMD and plain JavaScript, both architectures, cached and uncached) matches the
server's /generate and /grid within 1/255; dragging a slider repaints the digit and the grid with the right pixels;
clicking the latent map moves the sliders; the random button; the same page behind Gradio's SSR proxy, as Hugging
Face Spaces serve it; the model picker, ?model= and the compare view; the view in the address and the keyboard; a
path from A to B; q(z) against the prior, its holes and ELBO surgery's figures; the dark theme and a phone; the order
of the controls for the Tab key. Screenshots go to
artifacts/browser/ (and, with VAE_UPDATE_SCREENSHOT=1, the README's docs/screenshot*.png).

Needs Chromium (tests/browser_helpers.py says how to get it).
Run: python -m pytest tests/test_browser_explore.py   (about 4 min on 2 busy cores)
"""

from __future__ import annotations

import base64
import json
import math
import os
import re
import shutil

import numpy as np
import pytest
import torch
from gradio_client import Client
from PIL import Image
from safetensors import safe_open
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from vae import VAE, VAEConfig
from vae.exact import PlaneGrid, aggregate_log_density, elbo_surgery, log_prior
from vae.latents import load_latents

from app_server import launch_app
from browser_helpers import browser, served  # noqa: F401 - fixtures: the module's Chromium, the bundled model's app
from browser_helpers import (BROWSER_TEST_MARKS, SHOTS, VIEWPORT, away_from_centre_cell, browser_view, click_map,
                             compose, launch, open_app, painted_digit, painted_grid, png, press_at_once, sample_canvas,
                             settle_in_view, wait_for_state, wait_frames, wait_painted)
from conftest import PRETRAINED, REPO, unavailable

pytestmark = BROWSER_TEST_MARKS


@pytest.fixture(scope="module")
def served_mlp(mnist_path, quick_mlp, tmp_path_factory):
    """The spec's mlp trained for a few seconds, with its own latent map: (url, client, model)."""
    from vae.latents import encode_dataset
    from vae.mnist import as_tensor, load_mnist

    model = quick_mlp
    images, labels = load_mnist(mnist_path, "test")
    mu, _ = encode_dataset(model, as_tensor(images))
    demo, url = launch(model, {"mu": mu, "labels": labels}, tmp_path_factory)
    yield url, Client(url, verbose=False), model
    demo.close()


@pytest.fixture(scope="module")
def served_resmlp(tmp_path_factory):
    """A small random residual-MLP model and no latents file: (url, client, model)."""
    torch.manual_seed(0)
    model = VAE(VAEConfig(arch="resmlp", hidden=64, blocks=2)).eval()
    demo, url = launch(model, None, tmp_path_factory)
    yield url, Client(url, verbose=False), model
    demo.close()


# ---------------------------------------------------------------------------------------------------------


def test_the_page_loads_and_decodes_in_the_browser(browser, served):
    url, _, _ = served
    page = open_app(browser, url)
    assert page.evaluate("window.vaeExplorer.debug.backend") == "WebAssembly SIMD"
    digit = painted_digit(page)
    assert digit.max() > 100  # a digit, not a black square
    np.testing.assert_array_equal(digit, browser_view(page, 0.0, 0.0, 1.5)[0])
    colourful = page.evaluate("""() => { const c = document.querySelector('#vae-explore canvas.vae-map');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
        for (let i = 0; i < d.length; i += 4) {
            const hi = Math.max(d[i], d[i + 1], d[i + 2]), lo = Math.min(d[i], d[i + 1], d[i + 2]);
            if (hi - lo > 60) n++; }
        return n; }""")
    assert colourful > 2000  # the 10,000 coloured points of the latent map
    assert "test model" in page.inner_text("#vae-footer")
    assert "WebAssembly SIMD" in page.inner_text("#vae-explore .vae-backend")
    assert page.errors == []
    page.screenshot(path=SHOTS / "explore-loaded.png", full_page=True)
    page.close()


def test_the_script_knows_no_layer_names():
    """The page executes the bundle's list of operations; the network is defined once, in Python."""
    script = "\n".join(p.read_text() for p in sorted((REPO / "static" / "js").rglob("*.js")))
    names = re.findall(r"[\"'`]decoder\.|\bfc[12]\b|\bnorm\.weight|\bresmlp\b|\bmlp\b", script)
    assert names == []  # no tensor names, no architecture names


@pytest.mark.parametrize("which", ["served", "served_resmlp", "served_mlp"])
def test_browser_decoder_matches_the_server_within_one_grey_level(browser, which, request):
    """For the bundled resmlp (384 wide, 2 blocks), a random resmlp of another width (64, 2 blocks) and the spec's
    mlp: the same script, no change."""
    url, client, model = request.getfixturevalue(which)
    assert model.config.arch == ("mlp" if which == "served_mlp" else "resmlp")
    page = open_app(browser, url)
    views = [(0.0, 0.0, 1.5), (1.25, -0.75, 1.5), (-2.35, 2.9, 0.8), (0.37, -1.13, 1.37), (3.0, -3.0, 3.0)]
    for cache in (True, False):
        page.evaluate("(on) => window.vaeExplorer.debug.setCache(on)", cache)
        for z1, z2, span in views:
            cells = browser_view(page, z1, z2, span)
            server_digit = png(client.predict(z1, z2, api_name="/generate"))
            server_grid = png(client.predict(z1, z2, span, api_name="/grid"))[..., 0]
            assert np.abs(cells[0].astype(int) - server_digit).max() <= 1, (z1, z2)
            difference = np.abs(compose(cells[1:]).astype(int) - server_grid)[away_from_centre_cell()]
            assert difference.max() <= 1, (z1, z2, span, difference.max())
    page.close()
    # the plain-JavaScript fallback, as in a browser without WebAssembly SIMD, computes the same pixels
    page = browser.new_page(viewport=VIEWPORT)
    page.add_init_script("WebAssembly.validate = () => false;")
    page.goto(url)
    page.wait_for_function("window.vaeExplorer && window.vaeExplorer.debug.ready", timeout=60_000)
    assert page.evaluate("window.vaeExplorer.debug.backend") == "JavaScript"
    cells = browser_view(page, 0.37, -1.13, 1.37)
    assert np.abs(cells[0].astype(int) - png(client.predict(0.37, -1.13, api_name="/generate"))).max() <= 1
    server_grid = png(client.predict(0.37, -1.13, 1.37, api_name="/grid"))[..., 0]
    assert (np.abs(compose(cells[1:]).astype(int) - server_grid)[away_from_centre_cell()]).max() <= 1
    page.close()


def test_dragging_a_slider_repaints_the_digit_and_the_grid(browser, served):
    url, _, _ = served
    page = open_app(browser, url)
    before_digit, before_grid = painted_digit(page), painted_grid(page)
    track = page.locator("#vae-z1 input[type=range]").bounding_box()
    y = track["y"] + track["height"] / 2
    centre = track["x"] + track["width"] / 2  # z1 = 0 sits mid-track
    page.mouse.move(centre, y)
    page.mouse.down()
    for step in range(1, 21):  # a drag to the right, about a third of the track
        page.mouse.move(centre + step * track["width"] / 60, y)
    page.mouse.up()
    page.wait_for_function("window.vaeExplorer.debug.state.z1 > 0.5", timeout=15_000)
    wait_painted(page)
    state = page.evaluate("window.vaeExplorer.debug.state")
    slider = float(page.input_value("#vae-z1 input[type=number]"))
    assert state["z1"] == pytest.approx(slider) and state["z2"] == 0.0
    frames = page.evaluate("window.vaeExplorer.debug.stats.frames.length")
    assert frames > 3  # painted while dragging, not only at the end
    after_digit, after_grid = painted_digit(page), painted_grid(page)
    assert not np.array_equal(after_digit, before_digit) and not np.array_equal(after_grid, before_grid)
    cells = browser_view(page, state["z1"], state["z2"], state["span"])
    np.testing.assert_array_equal(after_digit, cells[0])  # the canvas shows exactly the decoded pixels
    np.testing.assert_array_equal(after_grid[away_from_centre_cell()], compose(cells[1:])[away_from_centre_cell()])
    assert page.inner_text("#vae-explore .vae-z") == f"z = ({state['z1']:.2f}, 0.00)"
    # the span slider resizes the grid
    page.fill("#vae-span input[type=number]", "0.5")
    page.press("#vae-span input[type=number]", "Enter")
    wait_for_state(page, "span", 0.5)
    wait_painted(page)
    assert not np.array_equal(painted_grid(page), after_grid)
    assert page.errors == []
    page.close()


def test_clicking_the_map_moves_the_sliders(browser, served):
    url, _, _ = served
    page = open_app(browser, url)
    click_map(page, 1.0, -2.0)
    assert float(page.input_value("#vae-z1 input[type=number]")) == 1.0
    assert float(page.input_value("#vae-z2 input[type=number]")) == -2.0
    np.testing.assert_array_equal(painted_digit(page), browser_view(page, 1.0, -2.0, 1.5)[0])
    # outside the sliders' range the click is clamped to it
    corner = page.evaluate("window.vaeExplorer.debug.mapPoint(-3.4, 3.4)")
    page.mouse.click(corner["x"], corner["y"])
    wait_for_state(page, "z1", -3.0)
    wait_for_state(page, "z2", 3.0)
    # the random button draws a new z inside the range
    page.click("#vae-random")
    page.wait_for_function("(s => s.z1 !== -3 || s.z2 !== 3)(window.vaeExplorer.debug.state)", timeout=15_000)
    state = page.evaluate("window.vaeExplorer.debug.state")
    assert -3 <= state["z1"] <= 3 and -3 <= state["z2"] <= 3
    wait_painted(page)
    page.close()


def test_screenshot_for_the_readme(browser, served):
    """The README's picture: the Explore tab mid-exploration (written to docs/ with VAE_UPDATE_SCREENSHOT=1)."""
    url, _, _ = served
    page = open_app(browser, url)
    click_map(page, -0.6, 0.8)
    page.wait_for_function("document.querySelector('#vae-explore .vae-live').innerText.startsWith('z = (-0.60, 0.80)')")
    shot = SHOTS / "explore.png"
    page.screenshot(path=shot, full_page=True)
    assert Image.open(shot).size[0] == VIEWPORT["width"]
    if os.environ.get("VAE_UPDATE_SCREENSHOT") == "1":
        (REPO / "docs").mkdir(exist_ok=True)
        page.screenshot(path=REPO / "docs" / "screenshot.png", full_page=False)
    page.close()
    # the same view in Gradio's dark theme
    page = open_app(browser, url + "?__theme=dark&z1=-0.60&z2=0.80")
    wait_for_state(page, "z1", -0.6)
    wait_painted(page)
    page.wait_for_function("document.querySelector('#vae-explore .vae-live').innerText.startsWith('z = (-0.60, 0.80)')")
    page.screenshot(path=SHOTS / "explore-dark.png", full_page=True)
    if os.environ.get("VAE_UPDATE_SCREENSHOT") == "1":
        page.screenshot(path=REPO / "docs" / "screenshot-dark.png", full_page=False)
    assert page.errors == []
    page.close()


def test_the_page_works_behind_the_ssr_proxy(browser, tmp_path):
    """Hugging Face Spaces serve Gradio apps through a Node proxy that renders the page on the server
    (GRADIO_SSR_MODE=true): `python app.py` behind it decodes in the page, takes map clicks and draws the same."""
    if shutil.which("node") is None:
        unavailable("no Node.js for Gradio's SSR proxy: install it (Debian/Ubuntu: apt-get install nodejs)")
    app = launch_app(tmp_path / "ssr", GRADIO_SSR_MODE="true")
    try:
        page = open_app(browser, app.url)
        assert "with SSR" in app.log_text()  # Gradio's launch line: "Running on local URL: ... with SSR"
        click_map(page, 1.0, -2.0)
        assert float(page.input_value("#vae-z1 input[type=number]")) == 1.0
        client = Client(app.url, verbose=False)
        server_digit = png(client.predict(1.0, -2.0, api_name="/generate"))
        assert np.abs(painted_digit(page).astype(int) - server_digit).max() <= 1
        page.get_by_role("tab", name="Reconstruct").click()
        canvas = page.locator("#vae-drawing canvas.vae-pad")
        canvas.wait_for(timeout=15_000)
        box = canvas.bounding_box()
        page.mouse.move(box["x"] + 100, box["y"] + 80)
        page.mouse.down()
        page.mouse.move(box["x"] + 180, box["y"] + 80, steps=4)
        page.mouse.move(box["x"] + 120, box["y"] + 200, steps=6)
        page.mouse.up()
        page.wait_for_function("document.querySelector('#vae-posterior [data-posterior]')?.dataset.posterior",
                               timeout=30_000)
        assert "μ" in page.inner_text("#vae-figures")
        assert page.errors == []
        page.close()
    finally:
        app.stop()


# ---------------------------------------------------------------------------------------------------------
# two bundled models: the picker, ?model=, the compare view


@pytest.fixture(scope="module")
def served_two(bundled_model, tmp_path_factory):
    """The app with both bundled models, "default" and "reference" (the spec's mlp): (url, client)."""
    import app
    from webapp.models import ModelEntry

    demo = app.build_demo(ModelEntry(bundled_model, "test model", load_latents(PRETRAINED / "latents.safetensors")),
                          {"reference": ModelEntry.from_folder(PRETRAINED / "reference")},
                          app.Options(bundle_dir=tmp_path_factory.mktemp("bundle")))
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True, **app.launch_options())
    yield url, Client(url, verbose=False)
    demo.close()


def assert_page_shows_model(page, client, model: str, second: bool = False):
    """The page's decoder (the compared one with second=True) against the server's /generate and /grid."""
    for z1, z2, span in [(0.5, -1.0, 1.5), (-2.0, 1.35, 0.8)]:
        cells = page.evaluate("""([a, b, s, second]) => {
            const px = window.vaeExplorer.debug.decodeView(a, b, s, second);
            let out = ''; for (const v of px) out += String.fromCharCode(v); return btoa(out); }""",
                              [z1, z2, span, second])
        cells = np.frombuffer(base64.b64decode(cells), np.uint8).reshape(101, 28, 28)
        digit = png(client.predict(z1, z2, model=model, api_name="/generate"))
        grid = png(client.predict(z1, z2, span, model=model, api_name="/grid"))[..., 0]
        assert np.abs(cells[0].astype(int) - digit).max() <= 1, (model, z1, z2)
        assert (np.abs(compose(cells[1:]).astype(int) - grid)[away_from_centre_cell()]).max() <= 1, (model, span)


def test_the_picker_and_the_address_choose_the_model(browser, served_two):
    url, client = served_two
    page = open_app(browser, url + "?model=reference")
    page.wait_for_function("document.querySelector('#vae-explore [data-bundle]')?.dataset.bundle.length > 0")
    page.wait_for_function("() => document.querySelector('#vae-footer').innerText.includes('reference')",
                           timeout=30_000)
    page.wait_for_function("window.vaeExplorer.debug.model === 'reference'", timeout=30_000)  # its decoder is in use
    wait_painted(page)
    assert "mlp" in page.inner_text("#vae-footer")
    assert_page_shows_model(page, client, "reference")
    # the picker: back to the default model, whose pixels differ
    reference_digit = painted_digit(page)
    page.click("#vae-model input")
    page.get_by_role("option", name="default", exact=True).click()
    page.wait_for_function("() => document.querySelector('#vae-footer').innerText.includes('Model default')",
                           timeout=30_000)
    page.wait_for_function("window.vaeExplorer.debug.model === 'default'", timeout=30_000)
    page.evaluate("window.vaeExplorer.setView(0.01, 0.0)")  # a new view, painted with the new decoder
    page.evaluate("window.vaeExplorer.setView(0.0, 0.0)")
    wait_painted(page)
    assert not np.array_equal(painted_digit(page), reference_digit)
    assert_page_shows_model(page, client, "default")
    # a Hub id that cannot be had: a message, and the page keeps its model
    page.fill("#vae-hub-id textarea, #vae-hub-id input", "someone/not-reachable-here")
    page.click("#vae-open")
    page.wait_for_function("() => document.querySelector('#vae-model-note').innerText.includes('keeps the model')",
                           timeout=30_000)
    assert "Model default" in page.inner_text("#vae-footer")
    assert page.errors == []
    page.close()


def test_the_compare_view_shows_two_models_at_the_same_z(browser, served_two):
    url, client = served_two
    page = open_app(browser, url)
    page.click("#vae-compare input")
    page.get_by_role("option", name="reference", exact=True).click()
    page.wait_for_function("window.vaeExplorer.debug.comparing", timeout=30_000)
    assert "each learned its own map" in page.inner_text("#vae-explore")
    click_map(page, 1.0, -2.0)  # both panels follow the map and the sliders
    assert_page_shows_model(page, client, "default")
    assert_page_shows_model(page, client, "reference", second=True)
    side = sample_canvas(page, "#vae-explore .vae-side canvas.vae-digit", 28)
    ref = png(client.predict(1.0, -2.0, model="reference", api_name="/generate"))
    assert np.abs(side.astype(int) - ref).max() <= 1  # the second panel paints the reference model at z
    assert page.evaluate("window.vaeExplorer.debug.stats.frames.at(-1).panels") == 2
    page.screenshot(path=SHOTS / "compare.png", full_page=True)
    assert page.errors == []
    page.close()


# ---------------------------------------------------------------------------------------------------------
# the view in the address, the keyboard, the live line, a path, the theme, a phone


def test_the_address_holds_the_view_and_the_keyboard_moves_z(browser, served):
    url, client, _ = served
    page = open_app(browser, url + "?z1=1.25&z2=-0.5&span=0.8&__theme=light")
    wait_for_state(page, "z1", 1.25)
    wait_for_state(page, "span", 0.8)
    wait_painted(page)
    assert [float(page.input_value(f"#vae-{k} input[type=number]")) for k in ("z1", "z2", "span")] == [1.25, -0.5, 0.8]
    server_digit = png(client.predict(1.25, -0.5, api_name="/generate"))
    assert np.abs(painted_digit(page).astype(int) - server_digit).max() <= 1
    server_grid = png(client.predict(1.25, -0.5, 0.8, api_name="/grid"))[..., 0]
    assert (np.abs(painted_grid(page).astype(int) - server_grid)[away_from_centre_cell()]).max() <= 1
    # arrow keys on the focused map: one slider step, ten with Shift; the address follows, __theme is kept
    page.focus("#vae-explore .vae-main canvas.vae-map")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Shift+ArrowUp")
    wait_for_state(page, "z1", 1.3)
    wait_for_state(page, "z2", 0.0)
    page.wait_for_function("() => location.search.includes('z1=1.30') && location.search.includes('z2=0.00')",
                           timeout=10_000)
    assert "__theme=light" in page.url and "span=0.80" in page.url
    assert float(page.input_value("#vae-z1 input[type=number]")) == 1.3
    # the live line says what is near z; the canvases' text follows the state
    live = page.inner_text("#vae-explore .vae-live")
    assert live.startswith("z = (1.30, 0.00): ") and "nearby" in live
    assert page.get_attribute("#vae-explore .vae-main canvas.vae-digit", "aria-label").endswith(live)
    assert page.get_attribute("#vae-explore .vae-live", "aria-live") == "polite"
    # Copy link puts this view's address on the clipboard and says so; a fresh page opened on it shows the same view
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.click("#vae-copy-link")
    page.wait_for_function("() => document.querySelector('#vae-link-note a')?.href.includes('z1=1.30')")
    link = page.get_attribute("#vae-link-note a", "href")
    assert "copied" in page.inner_text("#vae-link-note")
    assert page.evaluate("navigator.clipboard.readText()") == link
    again = open_app(browser, link)
    wait_for_state(again, "z1", 1.3)
    wait_for_state(again, "z2", 0.0)
    assert again.errors == []
    again.close()
    # keys pressed faster than the sliders answer all count: three in one task, before the first comes back
    press_at_once(page, "#vae-explore .vae-main canvas.vae-map", ["ArrowLeft", "ArrowLeft", "ArrowDown"])
    wait_for_state(page, "z1", 1.2)
    wait_for_state(page, "z2", -0.05)
    assert page.errors == []
    page.close()


def test_a_path_from_a_to_b_its_strip_animation_and_gif(browser, served, tmp_path):
    """Shift-click sets B (A: the current z): the strip shows /generate's digits at its ends, the animation plays,
    the address holds A and B, and the GIF button gives /interpolate's frames."""
    from PIL import ImageSequence

    url, client, _ = served
    page = open_app(browser, url)
    click_map(page, -1.0, 0.5)  # A
    canvas = page.locator("#vae-explore .vae-main canvas.vae-map")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    target = page.evaluate("window.vaeExplorer.debug.mapPoint(1.5, 1.0)")
    page.click("#vae-explore .vae-main canvas.vae-map", modifiers=["Shift"],
               position={"x": target["x"] - box["x"], "y": target["y"] - box["y"]})
    page.wait_for_function("window.vaeExplorer.debug.strip()", timeout=15_000)
    strip = page.evaluate("window.vaeExplorer.debug.strip()")
    a, b = strip["a"], strip["b"]
    assert a == [-1.0, 0.5] and b != a and page.is_visible("#vae-explore canvas.vae-strip")
    cells = np.array(strip["pixels"], np.uint8).reshape(10, 28, 28)
    for cell, z in ((cells[0], a), (cells[-1], b)):
        assert np.abs(cell.astype(int) - png(client.predict(*z, api_name="/generate"))).max() <= 1
    state = page.evaluate("window.vaeExplorer.debug.state")
    assert (state["z1"], state["z2"]) == (-1.0, 0.5)  # setting B does not move z
    frames = page.evaluate("window.vaeExplorer.debug.stats.pathFrames.length")
    page.wait_for_function("(n) => window.vaeExplorer.debug.stats.pathFrames.length > n + 5", arg=frames,
                           timeout=15_000)  # the animation plays
    page.wait_for_function(f"() => location.search.includes('b1={b[0]:.2f}') && location.search.includes('a1=-1.00')")
    # the GIF button: the server's /interpolate of this path, 30 frames
    page.click("#vae-gif")
    page.wait_for_function("document.querySelector('#vae-gif-file a')?.href", timeout=30_000)
    gif = tmp_path / "page.gif"
    gif.write_bytes(page.request.get(page.evaluate("document.querySelector('#vae-gif-file a').href")).body())
    expected = client.predict(*a, *b, steps=30, api_name="/interpolate")
    with Image.open(gif) as got, Image.open(expected) as want:
        got_frames = [np.asarray(f.convert("L")) for f in ImageSequence.Iterator(got)]
        want_frames = [np.asarray(f.convert("L")) for f in ImageSequence.Iterator(want)]
    assert len(got_frames) == 30 and all(np.array_equal(g, w) for g, w in zip(got_frames, want_frames))
    page.click("#vae-explore .vae-path-clear")
    page.wait_for_function("() => !location.search.includes('b1=')")
    assert page.errors == []
    page.close()


def map_blocks(page, points: list[tuple[float, float]], half: int) -> np.ndarray:
    """The main map's canvas pixels in a (2 half + 1)-pixel square around each latent point -> uint8 (n, side, side,
    4), sent as base64."""
    data = page.evaluate("""([points, half]) => {
        const c = document.querySelector('#vae-explore .vae-main canvas.vae-map'), r = c.getBoundingClientRect();
        const ctx = c.getContext('2d'), side = 2 * half + 1; let s = '';
        for (const [z1, z2] of points) {
            const at = window.vaeExplorer.debug.mapPoint(z1, z2);
            const x = Math.round((at.x - r.left) * c.width / r.width);
            const y = Math.round((at.y - r.top) * c.height / r.height);
            for (const v of ctx.getImageData(x - half, y - half, side, side).data) s += String.fromCharCode(v);
        }
        return btoa(s); }""", [points, half])
    side = 2 * half + 1
    return np.frombuffer(base64.b64decode(data), np.uint8).reshape(len(points), side, side, 4)


def whole_map(page) -> bytes:
    return base64.b64decode(page.evaluate("""() => {
        const c = document.querySelector('#vae-explore .vae-main canvas.vae-map');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let s = ''; for (const v of d) s += String.fromCharCode(v); return btoa(s); }"""))


def test_q_of_z_against_the_prior_hatches_its_holes_and_says_elbo_surgerys_figures(browser, served):
    """Ticking "show q(z) against the prior" changes the map's pixels in its holes (points where vae/exact.py's
    aggregate_log_density says q(z) < 0.1 p(z), well under it there and around), hatched in the ink's colour, and
    shows the legend and the sentences, whose figures are elbo_surgery's on the page's grid from the same means and
    sigmas (the bundled latents), as the page rounds them; unticked, the map is as before and the sentences go."""
    url, _, _ = served
    page = open_app(browser, url)
    address = page.evaluate("document.querySelector('#vae-explore [data-bundle]').dataset.bundle")
    with safe_open(address.split("file=", 1)[1], "numpy") as f:
        limit = json.loads(f.metadata()["map_limit"])
    latents = load_latents(PRETRAINED / "latents.safetensors")
    mu = torch.from_numpy(latents["mu"]).double()
    logvar = 2 * torch.log(torch.from_numpy(latents["sigma"]).double())
    # points in holes by a margin (q < 0.005 p) at the point and a cell of the page's view grid around it
    axis = torch.arange(-limit + 0.25, limit - 0.2, 0.25, dtype=torch.float64)
    z2, z1 = torch.meshgrid(axis, axis, indexing="ij")
    centres = torch.stack([z1.reshape(-1), z2.reshape(-1)], 1)
    offsets = torch.tensor([[0, 0], [0.08, 0.08], [-0.08, 0.08], [0.08, -0.08], [-0.08, -0.08]], dtype=torch.float64)
    z = (centres[:, None] + offsets[None]).reshape(-1, 2)
    ratio = (aggregate_log_density(mu, logvar, z) - log_prior(z)).reshape(len(centres), len(offsets))
    holes = [tuple(c) for c in centres[(ratio < math.log(0.1) - 3).all(1)].tolist()]
    assert len(holes) > 50, len(holes)

    toggle = page.locator("#vae-explore .vae-aggregate-toggle")
    about = page.locator("#vae-explore .vae-aggregate-about")
    assert about.is_hidden()
    before, blocks_before = whole_map(page), map_blocks(page, holes, 3)
    toggle.check()
    page.wait_for_function("document.querySelector('#vae-explore .vae-aggregate-figures').dataset.figures")
    wait_frames(page, 3)
    blocks_on = map_blocks(page, holes, 3)
    changed = (blocks_on != blocks_before).any(axis=(1, 2, 3))
    assert changed.mean() >= 0.95, f"{changed.sum()} of {len(holes)} holes changed"
    darker = blocks_before[..., :3].astype(int).min(-1) - blocks_on[..., :3].astype(int).max(-1)  # grey ink on white
    hatched = (darker > 50).any(axis=(1, 2))
    assert hatched.mean() >= 0.9, f"{hatched.sum()} of {len(holes)} holes show the hatching's ink"
    assert about.is_visible()
    page.screenshot(path=SHOTS / "explore-aggregate.png", full_page=True)

    figures = page.locator("#vae-explore .vae-aggregate-figures")
    grid = json.loads(figures.get_attribute("data-grid"))
    surgery = elbo_surgery(mu, logvar, PlaneGrid(step=grid["step"], extent=grid["extent"]))
    shown = json.loads(figures.get_attribute("data-figures"))
    for key, want in [("meanKL", surgery.mean_kl), ("mutualInformation", surgery.mutual_information),
                      ("marginalKL", surgery.marginal_kl), ("holeShare", surgery.hole_share)]:
        assert abs(shown[key] - want) < 1e-6, (key, shown[key], want)  # tests/test_node_aggregate.py: 1e-14 apart
    text = figures.inner_text()
    expected = (f"KL(q(z)‖p(z)) = {surgery.marginal_kl:.2f} nats, I(x;z) = {surgery.mutual_information:.2f} nats "
                f"of the mean KL {surgery.mean_kl:.2f} nats")
    assert text.startswith(expected), (text, expected)
    assert f"; {100 * surgery.hole_share:.1f}% of the prior's mass lies in holes, where q(z) < 0.1 p(z): decoding " \
           "there gives digits no test image encodes to." in text, text
    print(text, surgery)

    toggle.uncheck()
    about.wait_for(state="hidden")
    wait_frames(page, 3)
    assert whole_map(page) == before  # the map as it was
    assert page.errors == []
    page.close()


def test_dark_theme_and_a_phone(browser, served):
    """?__theme=dark: the map follows Gradio's dark theme (its background and ink), legible. A phone (390 x 844,
    touch): the layout stacks with no horizontal overflow; a tap and a finger's drag on the map move z, and so does a
    drag along a slider. Screenshots for the README."""
    url, _, _ = served
    page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                            device_scale_factor=2)
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url + "?__theme=dark")
    page.wait_for_function("window.vaeExplorer && window.vaeExplorer.debug.ready", timeout=60_000)
    page.wait_for_function("window.vaeExplorer.debug.stats.frames.length > 0")
    assert page.evaluate("document.body.classList.contains('dark')")
    corner = page.evaluate("""() => { const c = document.querySelector('#vae-explore .vae-main canvas.vae-map');
        return Array.from(c.getContext('2d').getImageData(2, 2, 1, 1).data); }""")
    assert max(corner[:3]) < 60  # the map's background is the page's dark one, not white
    ink = page.evaluate("""() => { const c = document.querySelector('#vae-explore .vae-main canvas.vae-map');
        const d = c.getContext('2d').getImageData(0, 0, Math.round(c.width * 0.08), c.height).data; let light = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i] > 180 && d[i + 1] > 180) light++; return light; }""")
    assert ink > 10  # the z2 axis's labels, in the map's left margin, are drawn light on dark
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing overflows sideways
    canvas = page.locator("#vae-explore .vae-main canvas.vae-map")
    click_map(page, -1.5, 1.5, touch=True)
    # a finger dragged across the map, then along the z1 slider (touch events through the DevTools protocol)
    cdp = page.context.new_cdp_session(page)

    def finger(points):
        """Touch the first point, move through the others, lift."""
        for kind, (x, y) in zip(["touchStart"] + ["touchMove"] * (len(points) - 1), points):
            cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [{"x": x, "y": y}]})
            page.wait_for_timeout(40)
        page.wait_for_timeout(200)
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})

    for attempt in range(3):  # late layout on the phone can move the map under a finger mid-drag: drag again
        settle_in_view(page, canvas)
        start, end = (page.evaluate(f"window.vaeExplorer.debug.mapPoint({a}, {b})")
                      for a, b in ((-1.0, -1.0), (1.0, -2.0)))
        finger([(start["x"] + (end["x"] - start["x"]) * k / 8, start["y"] + (end["y"] - start["y"]) * k / 8)
                for k in range(9)])
        try:
            wait_for_state(page, "z1", 1.0)
            wait_for_state(page, "z2", -2.0)
            break
        except PlaywrightTimeout:
            if attempt == 2:
                raise
    slider = page.locator("#vae-z1 input[type=range]")
    slider.evaluate("(input) => input.scrollIntoView({block: 'center'})")
    track = slider.bounding_box()
    y = track["y"] + track["height"] / 2
    finger([(track["x"] + track["width"] * (0.5 + 0.05 * k), y) for k in range(8)])
    page.wait_for_function("window.vaeExplorer.debug.state.z1 > 1.2", timeout=15_000)  # the slider moved z1 right
    canvas.scroll_into_view_if_needed()
    if os.environ.get("VAE_UPDATE_SCREENSHOT") == "1":
        page.screenshot(path=REPO / "docs" / "screenshot-phone-dark.png", full_page=False)
    page.screenshot(path=SHOTS / "phone-dark.png", full_page=True)
    assert errors == []
    page.close()


def test_every_explore_control_is_reached_by_tab_in_reading_order(browser, served):
    url, _, _ = served
    page = open_app(browser, url)
    page.locator("body").click(position={"x": 5, "y": 5})
    order = []
    for _ in range(60):
        page.keyboard.press("Tab")
        where = page.evaluate("""() => { const e = document.activeElement;
            if (e && e.matches('#vae-explore .vae-main canvas.vae-map')) return 'map';
            const owner = e && e.closest('[id^="vae-"]'); return owner ? owner.id : null; }""")
        if where and (not order or order[-1] != where):
            order.append(where)
        if where == "map":
            break
    expected = ["vae-model", "vae-hub-id", "vae-open", "vae-z1", "vae-z2", "vae-span", "vae-random", "vae-compare",
                "vae-copy-link", "vae-gif", "map"]
    assert [w for w in order if w in expected] == expected, order
    page.keyboard.press("ArrowLeft")  # and the map, once reached, takes the keyboard
    wait_for_state(page, "z1", -0.05)
    page.close()
