"""What the browser tests share (not a test module): one Chromium per test module, the app launched with a model,
and reading what the page painted (canvases sampled in the page, the page's decoder through
window.vaeExplorer.debug) and waiting for it.

Needs Debian's Chromium (apt-get install -y chromium) at /usr/bin/chromium, or CHROMIUM set to a Chromium or Chrome
binary (Playwright's own browser download is not used).
"""

from __future__ import annotations

import base64

import numpy as np
import pytest
from gradio_client import Client

from vae import VAE
from vae.latents import load_latents

from conftest import PRETRAINED, REPO, png  # noqa: F401 - png: the browser tests import it from here

# every browser test module's marks: slow, and quiet about two warnings from Gradio's dependencies
BROWSER_TEST_MARKS = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated",
                               "ignore:The copy keyword is deprecated"),
]
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]
SHOTS = REPO / "artifacts" / "browser"
VIEWPORT = {"width": 1400, "height": 1000}


@pytest.fixture(scope="module")
def browser(chromium_executable):
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def launch(model: VAE, latents, tmp_path_factory):
    import app
    from webapp.models import ModelEntry

    demo = app.build_demo(ModelEntry(model, "test model", latents),
                          options=app.Options(bundle_dir=tmp_path_factory.mktemp("bundle")))
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True, **app.launch_options())
    return demo, url


@pytest.fixture(scope="module")
def served(bundled_model, tmp_path_factory):
    """The bundled model with its latent map: (url, client, model)."""
    demo, url = launch(bundled_model, load_latents(PRETRAINED / "latents.safetensors"), tmp_path_factory)
    yield url, Client(url, verbose=False), bundled_model
    demo.close()


def open_app(browser, url: str, viewport: dict = VIEWPORT, **options):
    """A new page on the app (`options`: Playwright's new_page options, such as is_mobile), once the Explore tab has
    painted; page.errors collects the page's uncaught errors. `browser` may be a browser context instead, for pages
    that share a profile (its Cache Storage); the context sets their viewport."""
    page = browser.new_page(viewport=viewport, **options) if hasattr(browser, "new_context") else browser.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.wait_for_function("window.vaeExplorer && window.vaeExplorer.debug.ready", timeout=60_000)
    page.wait_for_function("window.vaeExplorer.debug.stats.frames.length > 0", timeout=30_000)
    page.errors = errors
    return page


def sample_canvas(page, selector: str, n: int) -> np.ndarray:
    """The red channel of a canvas painted as n x n blocks, read at each block's centre -> uint8 (n, n).
    Sampled in the page and sent as base64: a whole canvas as a JSON list takes seconds to cross."""
    data = page.evaluate("""([sel, n]) => { const c = document.querySelector(sel), block = c.width / n;
        const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data, out = new Uint8Array(n * n);
        for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) {
            const i = Math.floor((y + 0.5) * block) * c.width + Math.floor((x + 0.5) * block);
            out[y * n + x] = px[4 * i]; }
        let s = ''; for (const v of out) s += String.fromCharCode(v); return btoa(s); }""", [selector, n])
    return np.frombuffer(base64.b64decode(data), np.uint8).reshape(n, n)


def painted_digit(page) -> np.ndarray:
    """The digit canvas, one value per pixel of the 28 x 28 digit."""
    return sample_canvas(page, "#vae-explore canvas.vae-digit", 28)


def painted_grid(page) -> np.ndarray:
    return sample_canvas(page, "#vae-explore canvas.vae-grid", 280)


def browser_view(page, z1: float, z2: float, span: float) -> np.ndarray:
    """The page's decoder: uint8 (101, 28, 28), the digit then the grid's cells row-major."""
    data = page.evaluate("""([a, b, s]) => { const px = window.vaeExplorer.debug.decodeView(a, b, s);
        let out = ''; for (const v of px) out += String.fromCharCode(v); return btoa(out); }""", [z1, z2, span])
    return np.frombuffer(base64.b64decode(data), np.uint8).reshape(101, 28, 28)


def compose(cells: np.ndarray) -> np.ndarray:
    return cells.reshape(10, 10, 28, 28).swapaxes(1, 2).reshape(280, 280)


def away_from_centre_cell() -> np.ndarray:
    mask = np.ones((280, 280), bool)
    mask[4 * 28:5 * 28, 4 * 28:5 * 28] = False  # outlined in orange, on the page and in /grid
    return mask


def wait_for_state(page, key: str, expected: float):
    page.wait_for_function("([k, v]) => Math.abs(window.vaeExplorer.debug.state[k] - v) < 1e-9", arg=[key, expected],
                           timeout=15_000)


def press_at_once(page, selector: str, keys: list[str]):
    """Key presses on an element in one task of the page, each before the page has answered the one before (a
    visitor's fast keys on a busy machine, every time)."""
    page.evaluate("""([selector, keys]) => { const target = document.querySelector(selector);
        for (const key of keys) target.dispatchEvent(new KeyboardEvent('keydown', {key, bubbles: true})); }""",
                  [selector, keys])


def settle_in_view(page, locator):
    """Scroll the element to the middle of the viewport and wait until it stops moving (late layout, such as images
    above it loading on a phone, would otherwise shift it between reading its position and touching it)."""
    locator.evaluate("(el) => el.scrollIntoView({block: 'center'})")
    page.wait_for_function("""(el) => new Promise((done) => {
        const at = () => { const r = el.getBoundingClientRect(); return [r.left, r.top, r.width].join(); };
        const first = at();
        requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(() => done(at() === first), 150)));
    })""", arg=locator.element_handle(), timeout=15_000)


def wait_frames(page, frames: int):
    """Until the page has shown `frames` more display frames (evidence that something did not change: it had the
    time to, measured in the frames it would have used rather than in milliseconds)."""
    page.wait_for_function("""(n) => new Promise((done) => {
        const tick = () => (--n > 0 ? requestAnimationFrame(tick) : done(true)); requestAnimationFrame(tick); })""",
                           arg=frames, timeout=30_000)


def wait_painted(page):
    """Until the last painted frame shows the current state."""
    page.wait_for_function("""() => { const debug = window.vaeExplorer.debug, s = debug.state;
        const f = debug.stats.frames.at(-1);
        return f && f.z1 === s.z1 && f.z2 === s.z2 && f.span === s.span; }""", timeout=15_000)


def click_map(page, z1: float, z2: float, tries: int = 3, touch: bool = False) -> None:
    """Click (or with `touch`, tap) the latent map at (z1, z2) and wait until the sliders and the canvases show it.
    The map is settled in view first, and a click the page read as another point is made again (up to `tries`
    clicks): on a loaded CI machine a late layout shift of a pixel or two between reading the map's position and
    clicking moved a click to the next z step (z1 right, z2 one step off). A map that maps points wrongly misses
    every time and fails."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    missed = []
    for _ in range(tries):
        settle_in_view(page, page.locator("#vae-explore .vae-main canvas.vae-map"))
        target = page.evaluate(f"window.vaeExplorer.debug.mapPoint({z1}, {z2})")
        (page.touchscreen.tap if touch else page.mouse.click)(target["x"], target["y"])
        try:
            page.wait_for_function("([a, b]) => { const s = window.vaeExplorer.debug.state;"
                                   " return Math.abs(s.z1 - a) < 1e-9 && Math.abs(s.z2 - b) < 1e-9; }",
                                   arg=[z1, z2], timeout=5_000)
        except PlaywrightTimeout:
            state = page.evaluate("(() => { const s = window.vaeExplorer.debug.state; return [s.z1, s.z2]; })()")
            missed.append({"clicked": target, "read": state})
            continue
        wait_painted(page)
        return
    pytest.fail(f"a click on the map at ({z1}, {z2}) never read as that point: {missed}")
