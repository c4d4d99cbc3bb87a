"""The Reconstruct tab in a real browser (Chromium through Playwright): an upload, an MNIST example and a drawing on
the pad show their reconstruction (Clear empties the pad), a broken upload a clear message; "explore from here"; the
posterior's samples decoded in the page equal /generate, the prior's circles and the explanations; "the truth beside
the approximation": after the reconstruction, the heat map of p(z|x) and the exact figures of vae.explorer's
Explorer.likelihood for a test digit whose posterior has two modes far from q(z|x), and for a noisy JPEG photo on a
360 px phone; nothing but a prompt before any input and after a broken one. Screenshots go to artifacts/browser/.

Needs Chromium (tests/browser_helpers.py says how to get it).
Run: python -m pytest tests/test_browser_reconstruct.py   (about 2 min on 2 busy cores)
"""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass

import numpy as np
import torch
from gradio_client import handle_file
from PIL import Image, ImageFilter

from vae.explorer import Explorer
from vae.posterior_map import HEAT_MAP_SIZE, posterior_heat_map
from vae.preprocess import load_image, preprocessor
from webapp.likelihood import second_mode
from webapp.reconstruct import TRUTH_ASK

from browser_helpers import browser, served  # noqa: F401 - fixtures: the module's Chromium, the bundled model's app
from browser_helpers import BROWSER_TEST_MARKS, SHOTS, open_app, png, sample_canvas, wait_for_state, wait_painted
from conftest import REPO

pytestmark = BROWSER_TEST_MARKS

TWO_MODES = 7  # a test digit whose posterior's mass lies far from q(z|x)'s mean, in two basins (tests/test_exact.py)


def test_an_upload_shows_its_reconstruction_and_explore_from_here(browser, served, mnist_test, tmp_path):
    url, client, model = served
    images, _ = mnist_test
    digit = tmp_path / "three.png"
    Image.fromarray(images[18]).save(digit)  # a 3 from the test split
    page = open_app(browser, url)
    page.get_by_role("tab", name="Reconstruct").click()
    page.get_by_role("tab", name="Upload").click()
    page.set_input_files("#vae-upload input[type=file]", str(digit))
    page.wait_for_function("document.querySelector('#vae-posterior [data-posterior]')?.dataset.posterior",
                           timeout=30_000)
    posterior = client.predict(handle_file(str(digit)), api_name="/encode")
    figures = page.inner_text("#vae-figures")
    assert f"{posterior['mu'][0]:.3f}" in figures and f"{posterior['mu'][1]:.3f}" in figures
    assert "−ELBO" in figures and "KL" in figures
    shown = {}
    for name in ("preprocessed", "reconstruction"):
        src = page.get_attribute(f"#vae-{name} img", "src")
        response = page.request.get(src)
        assert response.ok
        path = tmp_path / f"{name}.png"
        path.write_bytes(response.body())
        shown[name] = png(path)
    assert shown["preprocessed"].shape[:2] == (224, 224)  # 28 x 28, upscaled 8x, nearest neighbour
    np.testing.assert_array_equal(shown["preprocessed"][4::8, 4::8][..., 0] if shown["preprocessed"].ndim == 3
                                  else shown["preprocessed"][4::8, 4::8], images[18])
    with torch.inference_mode():
        expected = model.decode(torch.tensor([posterior["mu"]])).numpy()[0, 0]
    recon = shown["reconstruction"][4::8, 4::8]
    recon = recon[..., 0] if recon.ndim == 3 else recon
    assert np.abs(recon.astype(int) - np.rint(expected * 255).astype(int)).max() <= 1
    page.screenshot(path=SHOTS / "reconstruct-upload.png", full_page=True)
    page.click("#vae-explore-here")
    page.wait_for_function("document.querySelector('[role=tab][aria-selected=true]').innerText.includes('Explore')",
                           timeout=15_000)
    wait_for_state(page, "z1", round(posterior["mu"][0], 3))
    wait_for_state(page, "z2", round(posterior["mu"][1], 3))
    wait_painted(page)
    assert page.errors == []
    page.close()


def test_drawing_on_the_canvas_shows_a_reconstruction(browser, served, tmp_path):
    """A drawn 7 is prepared as MNIST was and reconstructed: the page shows what /reconstruct gives for the very
    picture the pad sent (its preprocessed input, its reconstruction and μ); Clear empties the pad."""
    url, client, _ = served
    page = open_app(browser, url)
    page.get_by_role("tab", name="Reconstruct").click()
    canvas = page.locator("#vae-drawing canvas.vae-pad")
    canvas.wait_for(timeout=15_000)
    box = canvas.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx - 40, cy - 60)
    page.mouse.down()
    for t in range(1, 5):  # a 7: the bar, then the stem, in one stroke
        page.mouse.move(cx - 40 + 20 * t, cy - 60)
    for t in range(1, 7):
        page.mouse.move(cx + 40 - 10 * t, cy - 60 + 20 * t)
    page.mouse.up()
    page.wait_for_function("document.querySelector('#vae-posterior [data-posterior]')?.dataset.posterior",
                           timeout=30_000)
    assert "μ" in page.inner_text("#vae-figures")
    src = page.get_attribute("#vae-preprocessed img", "src")
    pre = Image.open(io.BytesIO(page.request.get(src).body())).convert("L")
    ink = np.asarray(pre)[4::8, 4::8]
    assert ink.shape == (28, 28) and ink.max() > 200 and (ink > 128).sum() > 20  # a white 7 on black
    rows, cols = np.nonzero(ink > 25)  # as MNIST: fitted to a 20 px box, centre of mass at the field's centre
    assert max(np.ptp(rows), np.ptp(cols)) + 1 in (19, 20, 21)
    weights = ink.astype(float) / ink.sum()
    assert abs((weights.sum(1) * np.arange(28)).sum() - 14) < 1 and abs((weights.sum(0) * np.arange(28)).sum() - 14) < 1
    # the server's /reconstruct of the picture the pad sent gives the same input, reconstruction and posterior
    drawn = tmp_path / "drawn.png"
    drawn.write_bytes(base64.b64decode(page.evaluate(
        "document.querySelector('#vae-drawing canvas.vae-pad').toDataURL('image/png')").split(",", 1)[1]))
    api_input, api_reconstruction, api_stats = client.predict(handle_file(str(drawn)), api_name="/reconstruct")
    np.testing.assert_array_equal(ink, png(api_input))
    shown = np.asarray(Image.open(io.BytesIO(page.request.get(page.get_attribute("#vae-reconstruction img", "src"))
                                             .body())).convert("L"))[4::8, 4::8]
    np.testing.assert_array_equal(shown, png(api_reconstruction))
    figures = page.inner_text("#vae-figures")
    assert f"{api_stats['mu'][0]:.3f}" in figures and f"{api_stats['mu'][1]:.3f}" in figures
    page.screenshot(path=SHOTS / "reconstruct-drawing.png", full_page=True)
    # Clear: the pad is white again and the tab says there is nothing to reconstruct
    page.click("#vae-drawing .vae-pad-clear")
    page.wait_for_function("document.querySelector('#vae-status').innerText.includes('canvas is empty')",
                           timeout=15_000)
    assert page.evaluate("""() => { const c = document.querySelector('#vae-drawing canvas.vae-pad');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        return d.every((v) => v === 255); }""")
    assert page.errors == []
    page.close()


def test_an_mnist_example_and_a_broken_upload(browser, served, tmp_path):
    url, client, _ = served
    page = open_app(browser, url)
    page.get_by_role("tab", name="Reconstruct").click()
    page.get_by_role("tab", name="Upload").click()
    # one of the ten MNIST test digits under the upload box
    page.locator("button.gallery-item").filter(has=page.locator("img[src*='digit-5-']")).click()
    page.wait_for_function("document.querySelector('#vae-posterior [data-posterior]')?.dataset.posterior",
                           timeout=30_000)
    example = REPO / "static" / "examples" / "digit-5-mnist-test-00008.png"
    expected = client.predict(handle_file(str(example)), api_name="/encode")
    shown = page.inner_text("#vae-figures")
    assert f"{expected['mu'][0]:.3f}" in shown and f"{expected['mu'][1]:.3f}" in shown
    # a file that only claims to be an image: a clear message where the figures were, no bare "Error"
    fake = tmp_path / "holiday.png"
    fake.write_text("not really a picture")
    page.wait_for_selector("#vae-heat-map img", timeout=60_000)  # the example's truth, before the broken upload
    page.set_input_files("#vae-upload input[type=file]", str(fake))
    page.wait_for_function("document.querySelector('#vae-status').innerText.includes('not an image')", timeout=30_000)
    assert "'holiday.png' is not an image this app can read" in page.inner_text("#vae-status")
    assert page.inner_text("#vae-figures").strip() == ""
    # and the truth panel has nothing to show but its prompt: no heat map, no figures, no error
    page.wait_for_function("""(ask) => document.querySelector('#vae-likelihood').innerText.includes(ask)
        && !document.querySelector('#vae-truth [data-testid=status-tracker]:not(.hide)')""", arg=TRUTH_ASK,
                           timeout=30_000)
    assert not page.is_visible("#vae-heat-map") and page.locator("#vae-likelihood table").count() == 0
    assert page.inner_text("#vae-heat-map-caption [data-testid=markdown]").strip() == ""
    assert "Error" not in page.inner_text("#vae-truth")
    page.close()


def test_posterior_samples_the_prior_circles_and_how_it_works(browser, served, mnist_test, tmp_path):
    """The reparameterization trick shown: z = mu + sigma * eps decoded in the page, on the map inside 3 sigma, each
    sample's pixels those of /generate at that z; "resample" draws new eps. The prior's circles can be shown; the
    explanations open on request and carry the live numbers."""
    url, client, _ = served
    images, _ = mnist_test
    digit = tmp_path / "three.png"
    Image.fromarray(images[18]).save(digit)
    page = open_app(browser, url)
    before = sample_canvas(page, "#vae-explore .vae-main canvas.vae-map", 95)
    frames = page.evaluate("window.vaeExplorer.debug.stats.frames.length")
    page.check("#vae-explore .vae-prior-toggle")
    page.wait_for_function("(n) => window.vaeExplorer.debug.stats.frames.length > n", arg=frames, timeout=15_000)
    assert not np.array_equal(sample_canvas(page, "#vae-explore .vae-main canvas.vae-map", 95), before)
    assert not page.is_visible("#vae-explore .vae-how p")  # out of the way until asked for
    page.click("#vae-explore .vae-how summary")
    assert "You are at z = (0.00, 0.00)" in page.inner_text("#vae-explore .vae-how")
    page.get_by_role("tab", name="Reconstruct").click()
    page.get_by_role("tab", name="Upload").click()
    page.set_input_files("#vae-upload input[type=file]", str(digit))
    page.wait_for_function("window.vaeExplorer.debug.samples()", timeout=30_000)
    read = "window.vaeExplorer.debug.samples()"
    first = page.evaluate(read)
    posterior = client.predict(handle_file(str(digit)), api_name="/encode")
    mu, sigma = np.array(posterior["mu"]), np.array(posterior["sigma"])
    z, eps = np.array(first["z"]), np.array(first["eps"])
    assert len(z) == 12
    np.testing.assert_allclose(z, mu + sigma * eps, rtol=1e-4, atol=1e-5)  # z = mu + sigma * eps
    assert (np.linalg.norm(eps, axis=1) <= 3).all()  # inside the 3-sigma ellipse
    pixels = np.array(first["pixels"], np.uint8).reshape(12, 28, 28)
    for k in (0, 5, 11):
        server = png(client.predict(float(z[k, 0]), float(z[k, 1]), api_name="/generate"))
        assert np.abs(pixels[k].astype(int) - server).max() <= 1
    page.click("#vae-posterior .vae-resample")
    page.wait_for_function(f"JSON.stringify({read}.eps) !== {json.dumps(json.dumps(first['eps']))}")
    page.click("#vae-posterior .vae-how summary")
    how = page.inner_text("#vae-posterior .vae-how")
    assert f"({mu[0]:.2f}, {mu[1]:.2f})" in how
    figures = client.predict(handle_file(str(digit)), api_name="/reconstruct")[2]
    assert f"= {figures['elbo']:.1f} nats" in how and f"BCE ({figures['bce']:.1f})" in how  # the digit's own figures
    assert all(len(p.split()) <= 80 for p in how.split("\n") if p.strip())  # each part at most 80 words
    assert page.errors == []
    page.close()


# ---------------------------------------------------------------------------------------------------------------------
# the truth beside the approximation

# in the page, from the upload's change event (ms): when the reconstruction's figures show, whether the truth panel
# showed its own progress after that, and when its heat map and table arrive
TRUTH_TIMING = """() => {
  const t = window.vaeTruthTiming = {reconstruction: null, progress: false, truth: null};
  let start = null;
  document.addEventListener('change', (e) => {
    if (e.target.matches('#vae-upload input[type=file]')) start = performance.now(); }, true);
  const tick = () => {
    if (start !== null) {
      const at = performance.now() - start;
      if (t.reconstruction === null && document.querySelector('#vae-figures').innerText.includes('μ')) {
        t.reconstruction = at; }
      if (t.reconstruction !== null
          && document.querySelector('#vae-likelihood [data-testid=status-tracker]:not(.hide)')) t.progress = true;
      if (document.querySelector('#vae-heat-map img[src]') && document.querySelector('#vae-likelihood table')) {
        t.truth = at; return; }
    }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}"""


@dataclass
class Truth:
    timing: dict  # TRUTH_TIMING's
    heat_map: np.ndarray  # the picture shown, uint8 (280, 280, 3)
    rows: list  # the figures' table: [name, nats, sentence] per row
    text: str  # the panel's figures and sentences
    bold: list  # its bold parts
    caption: str


def upload_for_the_truth(page, picture) -> Truth:
    """Upload `picture` on the Reconstruct tab and wait for the truth panel to fill."""
    page.get_by_role("tab", name="Reconstruct").click()
    page.get_by_role("tab", name="Upload").click()
    assert not page.is_visible("#vae-heat-map") and TRUTH_ASK in page.inner_text("#vae-likelihood")  # before any input
    page.evaluate(TRUTH_TIMING)
    page.set_input_files("#vae-upload input[type=file]", str(picture))
    page.wait_for_function("window.vaeTruthTiming.truth !== null", timeout=60_000)
    page.locator("#vae-heat-map img").scroll_into_view_if_needed()  # Gradio's <img loading=lazy> loads in view
    page.wait_for_function("document.querySelector('#vae-heat-map img').naturalWidth > 0", timeout=15_000)
    src = page.get_attribute("#vae-heat-map img", "src")
    heat_map = np.asarray(Image.open(io.BytesIO(page.request.get(src).body())).convert("RGB"))
    rows = page.evaluate("[...document.querySelectorAll('#vae-likelihood tbody tr')]"
                         ".map((r) => [...r.cells].map((c) => c.innerText.trim()))")
    bold = page.evaluate("[...document.querySelectorAll('#vae-likelihood strong')].map((b) => b.innerText)")
    return Truth(page.evaluate("window.vaeTruthTiming"), heat_map, rows,
                 page.inner_text("#vae-likelihood [data-testid=markdown]"), bold,
                 page.inner_text("#vae-heat-map-caption [data-testid=markdown]"))


def check_the_truth(shown: Truth, model, x: np.ndarray) -> None:
    """The panel shows what Explorer(model).likelihood(x) computes here: the heat map, the five figures, the caption's
    window, and the two-modes callout exactly when the posterior has a second mode."""
    account = Explorer(model).likelihood(x)
    picture, window = posterior_heat_map(account.posterior, account.q_mean, account.q_sigma)
    assert shown.heat_map.shape == (HEAT_MAP_SIZE, HEAT_MAP_SIZE, 3)
    assert np.abs(shown.heat_map.astype(int) - picture).max() <= 1  # PNG: the picture itself
    gaps = account.gaps
    expected = [("−ELBO", account.elbo), (f"IWAE-{account.iwae_k}", account.iwae),
                ("exact −log p(x)", account.exact), ("approximation gap", gaps.approximation),
                ("amortization gap", gaps.amortization)]
    assert [row[:2] for row in shown.rows] == [[name, f"{value:.2f}"] for name, value in expected]
    assert all(len(row) == 3 and row[2].endswith(".") for row in shown.rows)  # a whole sentence each
    assert "encoder's guess q(z|x)" in shown.rows[0][2]  # the "|" of q(z|x) does not end the cell
    assert f"z1 from {window[0]:.2f} to {window[1]:.2f} and z2 from {window[2]:.2f} to {window[3]:.2f}" in shown.caption
    assert all(part in shown.caption for part in ("Colour:", "Orange:", "Blue crosses:", "q(z|x)", "p(z|x)"))
    other = second_mode(account)
    assert ("The posterior has two modes:" in shown.bold) == (other is not None)
    if other:
        assert f"the second, at ({other[0]:.2f}, {other[1]:.2f}), holds {100 * other[2]:.0f} % of the mass" in shown.text
    timing = shown.timing  # the reconstruction first, then the panel, under its own progress meanwhile
    assert timing["reconstruction"] is not None and timing["reconstruction"] < timing["truth"] and timing["progress"]
    print(f"reconstruction after {timing['reconstruction']:.0f} ms, the truth panel after {timing['truth']:.0f} ms")


def test_the_truth_beside_the_approximation_for_a_digit_with_two_modes(browser, served, mnist_test, tmp_path):
    """Test digit 7: q(z|x) sits far from a posterior with two modes, and the panel says so."""
    url, _, model = served
    images, _ = mnist_test
    digit = tmp_path / "two-modes.png"
    Image.fromarray(images[TWO_MODES]).save(digit)
    page = open_app(browser, url)
    shown = upload_for_the_truth(page, digit)
    page.screenshot(path=SHOTS / "reconstruct-truth.png", full_page=True)
    check_the_truth(shown, model, images[TWO_MODES].astype(np.float32) / 255)  # an MNIST digit passes unchanged
    assert "The posterior has two modes:" in shown.bold
    assert page.errors == []
    page.close()


def test_the_truth_for_a_noisy_jpeg_photo_on_a_phone(browser, served, mnist_test, tmp_path):
    """A test digit printed, photographed (blur, sensor noise, JPEG 90) and uploaded on a 360 px phone: the panel
    shows the figures of the input as the server prepared it, and nothing in it overflows the screen."""
    url, _, model = served
    images, _ = mnist_test
    paper = Image.fromarray(255 - images[3]).resize((336, 336), Image.NEAREST)  # ink on paper
    rng = np.random.default_rng(0)
    noisy = np.clip(np.asarray(paper.filter(ImageFilter.GaussianBlur(1)), float) + rng.normal(0, 2, (336, 336)), 0, 255)
    photo = tmp_path / "photo.jpg"
    Image.fromarray(noisy.astype(np.uint8)).convert("RGB").save(photo, format="JPEG", quality=90)
    page = open_app(browser, url, viewport={"width": 360, "height": 800}, is_mobile=True, has_touch=True)
    shown = upload_for_the_truth(page, photo)
    page.locator("#vae-likelihood").scroll_into_view_if_needed()
    page.screenshot(path=SHOTS / "reconstruct-truth-phone.png", full_page=True)
    check_the_truth(shown, model, preprocessor("mnist")(load_image(photo)))
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    for part in ("#vae-heat-map", "#vae-heat-map-caption", "#vae-likelihood", "#vae-likelihood table"):
        assert page.evaluate("(sel) => document.querySelector(sel).getBoundingClientRect().right", part) <= 360, part
    assert page.errors == []
    page.close()
