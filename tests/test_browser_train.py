"""The Train live tab in a real browser (Chromium through Playwright), training on real MNIST in the page's Web
Worker: pressing Train puts the 2,000 test images' posterior means on the map and the running loss falls over a few
hundred steps, with test figures on the curve, and the exact -log p(x) of 200 test images under their -ELBO, drawn
beside it with the gap in the readout; raising beta while it trains makes KL fall; Pause holds the step,
Download model gives model.safetensors and config.json that VAE.from_pretrained loads strictly and PyTorch finds
trained; Step adds one, Train resumes; a learning rate of 1 stops training with the divergence message and nothing
non-finite drawn, and Reset offers a new seed; a model the server does not offer is refused in the tab; training
starts on the first chunks of a training data file that arrives slowly, takes the rest as it comes, a run in the
next page reads the copy the browser kept, and a damaged kept copy stops a run with a message and is fetched again;
and the other tabs keep working throughout.

Waits for conditions, never for a fixed time: a loaded 2-core machine trains slowly, not differently. Needs Chromium
as tests/browser_helpers.py says, and MNIST. Screenshots go to artifacts/browser/.
Run: python -m pytest tests/test_browser_train.py   (one to three minutes on 2 busy cores)
"""

from __future__ import annotations

import json
import math
import os
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlparse

import httpx

import pytest
import torch

from vae import VAE, negative_elbo
from vae.latents import load_latents

from browser_helpers import browser  # noqa: F401 - the module's Chromium, the same fixture as the other browser tests
from browser_helpers import BROWSER_TEST_MARKS, SHOTS, VIEWPORT, launch, open_app, wait_frames
from conftest import PRETRAINED

pytestmark = BROWSER_TEST_MARKS

LIVE = "window.vaeExplorer.debug.live"
TRAINING = 240_000  # ms a condition of training may take on a loaded machine


@pytest.fixture(scope="module")
def served(bundled_model, mnist_path, tmp_path_factory):
    """The app, with the training images read from the test's MNIST folder -> url."""
    before = os.environ.get("MNIST_DIR")
    os.environ["MNIST_DIR"] = str(mnist_path)
    demo, url = launch(bundled_model, load_latents(PRETRAINED / "latents.safetensors"), tmp_path_factory)
    yield url
    demo.close()
    if before is None:
        os.environ.pop("MNIST_DIR", None)
    else:
        os.environ["MNIST_DIR"] = before


def live(page) -> dict:
    return page.evaluate(LIVE)


def wait_live(page, condition: str, arg=None, timeout: int = TRAINING):
    """Until `condition`, a JavaScript expression of `s` (the tab's summary) and `arg`, holds; a timeout fails with
    the summary as it was."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(f"(arg) => {{ const s = {LIVE}; return !!s && ({condition}); }}", arg=arg,
                               timeout=timeout)
    except PlaywrightTimeout:
        s = live(page) or {}
        shown = {k: v for k, v in s.items() if k not in ("tests", "losses", "pixels", "means")}
        pytest.fail(f"not {condition} (arg {arg}) within {timeout} ms: {shown}; tests {s.get('tests', [])[-3:]}")


def open_train_tab(page, model: str = "resmlp-128-1", batch: str = "64", lr: str | None = None):
    page.get_by_role("tab", name="Train live").click()
    wait_live(page, "s.state === 'idle'", timeout=30_000)
    tab = page.locator("#vae-train")
    tab.locator(".vae-lab-model").select_option(model)
    tab.locator(".vae-lab-batch").select_option(batch)
    if lr is not None:
        tab.locator(".vae-lab-lr").select_option(lr)
    return tab


def coloured_pixels(page, selector: str) -> int:
    """How many pixels of a canvas are strongly coloured (the map's class colours; its axes and circles are grey or
    pale blue)."""
    return page.evaluate("""(sel) => { const c = document.querySelector(sel);
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
        for (let i = 0; i < d.length; i += 4) {
            const r = d[i], g = d[i + 1], b = d[i + 2];
            if (Math.max(r, g, b) - Math.min(r, g, b) > 80 && !(b > r + 60 && b > g + 60 && r > 40)) n++; }
        return n; }""", selector)


def test_train_watch_the_loss_fall_raise_beta_pause_download_step_and_resume(browser, served, tmp_path, test_tensor):
    page = open_app(browser, served)
    tab = open_train_tab(page)
    empty_map = coloured_pixels(page, "#vae-train canvas.vae-map")
    page.get_by_role("button", name="Train", exact=True).click()
    # the map's points and the loss, live
    wait_live(page, "s.state === 'running' && s.points === 2000 && s.pixels")
    wait_live(page, "s.step >= 300 && s.tests.length >= 2")
    s = live(page)
    start = s["tests"][0]
    assert start["step"] == 0 and start["elbo"] > 500, start  # an untrained decoder pays about 543 nats
    assert s["running"]["bce"] + s["running"]["kl"] < 0.7 * start["elbo"], s
    assert s["tests"][-1]["elbo"] < 0.8 * start["elbo"], s["tests"]
    assert s["meansFinite"] and s["imagesPerSecond"] > 0 and s["epoch"] > 0
    assert coloured_pixels(page, "#vae-train canvas.vae-map") > empty_map + 500
    readout = tab.locator(".vae-lab-readout").inner_text()
    assert "images/s" in readout and "epoch" in readout, readout
    assert "KL (now" in tab.locator(".vae-lab-explain").inner_text()
    tab.screenshot(path=str(SHOTS / "train-live.png"))

    # beta up while it trains: KL, which was still growing at beta = 1, falls by nats within a few hundred steps.
    # Raised only once the latent code carries a few nats (early on KL is small and grows under any beta).
    wait_live(page, "s.running.kl > 4.5")
    kl_before, step_before = live(page)["running"]["kl"], live(page)["step"]
    tab.locator(".vae-lab-beta").fill("1")  # the slider is log10(beta)
    wait_live(page, "Math.abs(s.beta - 10) < 1e-9")
    assert tab.locator(".vae-lab-beta-value").inner_text() == "10.00"
    wait_live(page, "s.step > arg.step && s.running.kl < arg.kl - 1.5", {"step": step_before, "kl": kl_before})
    assert "β 10.00" in tab.locator(".vae-lab-readout").inner_text()
    assert "β = 10.00" in tab.locator(".vae-lab-explain").inner_text()

    # Pause holds the step; Step adds one; Train resumes
    page.get_by_role("button", name="Pause").click()
    wait_live(page, "s.state === 'paused' && !s.workerRunning")  # the worker's last slice has reported
    paused = live(page)["step"]
    wait_frames(page, 60)
    assert live(page)["step"] == paused

    # Download model: the weights the page trained load into VAE strictly, with beta as it ended, and PyTorch finds
    # them trained
    downloads = []
    page.on("download", lambda download: downloads.append(download))
    page.get_by_role("button", name="Download model").click()
    while len(downloads) < 2:  # the handler above collects each; this waits while one is missing
        page.wait_for_event("download", timeout=60_000)
    assert sorted(d.suggested_filename for d in downloads) == ["config.json", "model.safetensors"]
    for d in downloads:
        d.save_as(tmp_path / d.suggested_filename)
    model = VAE.from_pretrained(tmp_path).eval()
    assert model.config.beta == pytest.approx(10.0, abs=1e-3) and model.config.hidden == 128
    with torch.inference_mode():
        x = test_tensor[:1000]
        mu, logvar = model.encode(x)
        elbo = negative_elbo(model.decode_logits(mu), x, mu, logvar, beta=1.0).loss.mean().item()
    assert elbo < 0.8 * start["elbo"], (elbo, start)

    page.get_by_role("button", name="Step").click()
    wait_live(page, "s.step === arg + 1", paused, timeout=30_000)
    page.get_by_role("button", name="Train", exact=True).click()
    wait_live(page, "s.state === 'running' && s.step > arg + 5", paused)

    # the other tabs still work while it trains
    page.get_by_role("tab", name="Explore").click()
    frames = page.evaluate("window.vaeExplorer.debug.stats.frames.length")
    page.locator("#vae-random").click()
    page.wait_for_function("(n) => window.vaeExplorer.debug.stats.frames.length > n", arg=frames, timeout=30_000)
    assert page.errors == []


def test_the_exact_log_likelihood_is_drawn_beside_the_elbo_with_its_gap(browser, served):
    """The quick preset trains; at its first exact figure (core/exact.js, the worker's 200 test images) the figure is
    finite and under the -ELBO of its own images and under the 1,000-image test -ELBO of the same step, the curve
    holds it and draws its diamonds, and the readout names the gap."""
    page = open_app(browser, served)
    page.get_by_role("tab", name="Train live").click()
    wait_live(page, "s.state === 'idle'", timeout=30_000)
    tab = page.locator("#vae-train")
    assert tab.locator(".vae-lab-preset").input_value() == "quick"
    page.get_by_role("button", name="Train", exact=True).click()
    wait_live(page, "s.exact && s.exact.step > 0")
    s = live(page)
    e = s["exact"]
    assert e["images"] == 200 and math.isfinite(e["exact"]) and math.isfinite(e["elbo"]), e
    assert 0 < e["exact"] < e["elbo"], e  # -log p(x) < -ELBO: the ELBO is a lower bound
    shown = [t for t in s["tests"] if t["step"] == e["step"]]
    assert shown and e["exact"] < shown[0]["elbo"], (e, shown)
    assert s["exacts"] and s["exacts"][-1] == e, s["exacts"]  # the curve's series
    print(f"exact figure at step {e['step']}: {e['exact']:.2f} nats, -ELBO {e['elbo']:.2f}, {e['ms']:.0f} ms; "
          f"{s['imagesPerSecond']:.0f} images/s")
    page.wait_for_function("(e) => document.querySelector('#vae-train .vae-lab-readout').textContent"
                           ".includes(`${(e.elbo - e.exact).toFixed(2)} under their −ELBO`)", arg=e, timeout=30_000)
    assert "exact −log p(x)" in tab.locator(".vae-lab-readout").inner_text()
    assert "exact" in tab.locator("figcaption:has(.vae-lab-exact)").inner_text()
    exact_pixels = page.evaluate("""() => { const c = document.querySelector('#vae-train canvas.vae-lab-curve');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
        for (let i = 0; i < d.length; i += 4) {  // LOSS_COLOURS.exact, #9467bd
            if (Math.abs(d[i] - 148) + Math.abs(d[i + 1] - 103) + Math.abs(d[i + 2] - 189) < 30) n++; }
        return n; }""")
    assert exact_pixels > 20, exact_pixels
    tab.screenshot(path=str(SHOTS / "train-live-exact.png"))
    page.get_by_role("button", name="Pause").click()
    assert page.errors == []


def test_a_huge_learning_rate_stops_with_the_divergence_message(browser, served):
    page = open_app(browser, served)
    tab = open_train_tab(page, lr="1")
    page.get_by_role("button", name="Train", exact=True).click()
    wait_live(page, "s.state === 'stopped'")
    s = live(page)
    assert "diverged" in s["message"] and "too high" in s["message"] and "reset" in s["message"], s["message"]
    assert s["meansFinite"] in (True, None)  # nothing non-finite reached the map
    assert page.get_by_role("button", name="Train", exact=True).is_disabled()
    assert "vae-error" in tab.locator(".vae-status").get_attribute("class")
    # Reset offers a new run from new initial weights
    page.get_by_role("button", name="Reset").click()
    wait_live(page, "s.state === 'idle' && s.seed > 0 && s.step === 0")
    assert page.get_by_role("button", name="Train", exact=True).is_enabled()
    assert page.errors == []


def test_a_model_the_server_does_not_offer_is_refused_in_the_tab(browser, served):
    """The server refuses a model it does not offer, and the tab says why, in place."""
    page = open_app(browser, served)
    tab = open_train_tab(page)
    tab.locator(".vae-lab-model").evaluate("(s) => { s.add(new Option('no such model', 'resmlp-999-9')); "
                                           "s.value = 'resmlp-999-9'; }")
    page.get_by_role("button", name="Train", exact=True).click()
    wait_live(page, "s.state === 'idle' && s.message.includes('unknown model')", timeout=30_000)
    assert "The other tabs still work" in live(page)["message"]
    page.get_by_role("tab", name="Explore").click()
    assert page.evaluate("window.vaeExplorer.debug.ready")
    assert page.errors == []
    # ?tab=train in the address opens this tab (a link to the lab)
    page.goto(served + "?tab=train")
    page.get_by_role("tab", name="Train live", selected=True).wait_for(timeout=60_000)
    wait_live(page, "s.state === 'idle'", timeout=60_000)


def test_a_failing_worker_says_why_in_the_tab_and_the_other_tabs_go_on(browser, served):
    """The worker is handed a damaged program file: it stops with the reader's message, shown in the Train tab."""
    page = open_app(browser, served)
    page.route("**/programs/*.safetensors", lambda route: route.fulfill(status=200, body=b"\x08" + b"\0" * 7 + b"{}"))
    open_train_tab(page)
    page.get_by_role("button", name="Train", exact=True).click()
    wait_live(page, "s.state === 'failed'", timeout=60_000)
    message = live(page)["message"]
    assert "Training stopped" in message and "The other tabs still work" in message, message
    page.get_by_role("button", name="Reset").click()
    wait_live(page, "s.state === 'idle'", timeout=30_000)
    page.get_by_role("tab", name="Explore").click()
    frames = page.evaluate("window.vaeExplorer.debug.stats.frames.length")
    page.locator("#vae-random").click()
    page.wait_for_function("(n) => window.vaeExplorer.debug.stats.frames.length > n", arg=frames, timeout=30_000)
    assert page.errors == []


@pytest.fixture
def held_data():
    """A local server that relays the app's training data file to the page slowly: the header, the test chunk and
    the first training chunk at once, the rest only once `release` is set -> (address, release, requests)."""
    release, requests = threading.Event(), []

    class Relay(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            source = parse_qs(urlparse(self.path).query)["from"][0]
            requests.append(source)
            data = httpx.get(source, timeout=60).content
            (length,) = struct.unpack("<I", data[8:12])
            chunks = json.loads(data[12:12 + length])["chunks"]
            early = 12 + length + chunks[0]["bytes"] + chunks[1]["bytes"]
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[:early])
            self.wfile.flush()
            release.wait(timeout=TRAINING / 1000)
            self.wfile.write(data[early:])

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Relay)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", release, requests
    release.set()
    server.shutdown()


def wait_kept(page, count: int):
    """Until the page's Cache Storage keeps `count` training data files."""
    page.wait_for_function("async (n) => (await (await caches.open('vae-explorer-training-data')).keys()).length === n",
                           arg=count, timeout=60_000)


def train_again(page):
    """Reset, then Train: a new run (a new worker) in the same page."""
    page.get_by_role("button", name="Reset").click()
    wait_live(page, "s.state === 'idle'", timeout=30_000)
    page.get_by_role("button", name="Train", exact=True).click()


def test_training_starts_before_the_data_file_has_arrived_and_later_runs_read_the_kept_copy(browser, served, held_data):
    relay, release, requests = held_data
    context = browser.new_context(viewport=VIEWPORT)  # its routes apply to the workers' requests in all its pages
    page = open_app(context, served)
    context.route("**/training-data-*.bin",
                  lambda route: route.continue_(url=f"{relay}?from={quote(route.request.url)}"))
    tab = open_train_tab(page, model="resmlp-256-1", batch="256")  # the quick preset's: long steps
    page.get_by_role("button", name="Train", exact=True).click()
    # the rest of the file is held back: training runs on the test images and the first 2,500 training images
    wait_live(page, "s.step >= 20 && s.points === 2000")
    s = live(page)
    assert (s["arrived"], s["n"]) == (2500, 60_000), s
    assert "2,500 of 60,000 training images arrived" in tab.locator(".vae-lab-readout").inner_text()
    wait_live(page, "s.step > arg + 40", s["step"])
    partial = live(page)
    assert partial["arrived"] == 2500, partial  # still held back, and the loss falls on what has arrived
    assert partial["running"]["bce"] + partial["running"]["kl"] < 0.8 * s["tests"][0]["elbo"], partial
    release.set()
    wait_live(page, "s.arrived === s.n && s.step > arg", partial["step"])
    assert "arrived" not in tab.locator(".vae-lab-readout").inner_text()
    # the file arrived whole: the browser kept it, and a run in the next page reads the kept copy without fetching it
    # again (the copy outlives the page that kept it, closed at once while its worker trained). Kept means the worker
    # said so: Cache Storage lists a key while its body is still being stored, and a page closed then loses it
    assert live(page)["dataFrom"] == "network"
    wait_live(page, "s.dataKept", timeout=60_000)
    wait_kept(page, 1)
    assert page.errors == []
    page.close()
    before = len(requests)  # counted from here: what the next page itself asked the network for
    page = open_app(context, served)
    open_train_tab(page)
    page.get_by_role("button", name="Train", exact=True).click()
    wait_live(page, "s.step >= 5 && s.arrived === s.n")
    assert live(page)["dataFrom"] == "kept copy"
    assert len(requests) == before, requests
    # a kept copy damaged in its last chunk: the run stops with the reader's message and the copy is dropped, so the
    # next run fetches the file again
    page.evaluate("""async () => {
        const cache = await caches.open('vae-explorer-training-data'), [key] = await cache.keys();
        const bytes = new Uint8Array(await (await cache.match(key)).arrayBuffer());
        bytes[bytes.length - 5000] ^= 0x5a;
        await cache.put(key, new Response(bytes)); }""")
    train_again(page)
    wait_live(page, "s.state === 'failed'")
    assert "damaged" in live(page)["message"], live(page)["message"]
    wait_kept(page, 0)
    train_again(page)
    wait_live(page, "s.step >= 5")
    assert live(page)["dataFrom"] == "network"
    assert len(requests) == before + 1, requests
    assert page.errors == []
    context.close()
