"""The bundled Fashion-MNIST model in the app, through gradio_client on a launched server: the picker and /models
offer `fashion` with its data set; /generate and /grid draw with it; /encode and /reconstruct prepare a product photo
as Fashion-MNIST was made, so a photo made from a test image (enlarged onto a white background) lands within 0.2 of
that image's own latent mean, while an MNIST model keeps the digit recipe; the Reconstruct examples follow the
model's data set, and so does the page's title line, in a real browser too.

Run: python -m pytest tests/test_fashion_app.py   (about a minute on 2 cores; Chromium for the last test)
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from gradio_client import Client, handle_file
from PIL import Image

from conftest import PRETRAINED
from browser_helpers import VIEWPORT, browser, open_app  # noqa: F401 - the browser tests' Chromium fixture
from vae import VAE
from vae.datasets import get_dataset
from vae.explorer import Explorer
from vae.imaging import to_uint8
from vae.latents import load_latents
from vae.preprocess import load_image, preprocess_digit
from webapp.models import ModelEntry

pytestmark = pytest.mark.filterwarnings(  # raised inside gradio's queue by pandas 3, not by this app
    "ignore:'future.no_silent_downcasting' is deprecated", "ignore:The copy keyword is deprecated")

FASHION = PRETRAINED / "fashion"
EXAMPLES = PRETRAINED.parent / "static" / "examples" / "fashion-mnist"


@pytest.fixture(scope="module")
def fashion_model() -> VAE:
    return VAE.from_pretrained(FASHION)


@pytest.fixture(scope="module")
def served(bundled_model, tmp_path_factory):
    """A gradio_client Client of the app with the bundled MNIST model as "default" and pretrained/fashion/."""
    import app

    default = ModelEntry(bundled_model, "test model", load_latents(PRETRAINED / "latents.safetensors"))
    demo = app.build_demo(default, {"fashion": ModelEntry.from_folder(FASHION)},
                          app.Options(bundle_dir=tmp_path_factory.mktemp("bundle")))
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True, **app.launch_options())
    client = Client(url, verbose=False)
    client.url = url
    yield client
    demo.close()


def png(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im)


def product_photo(item: np.ndarray, path) -> str:
    """A Fashion-MNIST image as a product photo: dark on white, 12 times larger, off-centre on a 640 x 480 canvas."""
    big = Image.fromarray(255 - item).resize((28 * 12, 28 * 12), Image.Resampling.NEAREST)
    photo = Image.new("RGB", (640, 480), "white")
    photo.paste(big, (40, 100))
    photo.save(path)
    return str(path)


def test_the_picker_and_models_offer_the_fashion_model(served):
    import app

    picker = next(c for c in app.demo.config["components"] if c.get("props", {}).get("elem_id") == "vae-model")
    assert "fashion" in [choice[0] for choice in picker["props"]["choices"]]
    listed = {m["name"]: m for m in served.predict(api_name="/models")}
    assert listed["fashion"]["dataset"] == "fashion-mnist" and listed["default"]["dataset"] == "mnist"
    assert listed["fashion"]["arch"] == "resmlp" and listed["fashion"]["snapshots"] == 13
    assert listed["fashion"]["test_elbo"] == pytest.approx(
        float(__import__("json").loads((FASHION / "results.json").read_text())["elbo"]))


def test_generate_and_grid_draw_with_the_fashion_model(served, fashion_model, bundled_model):
    with torch.inference_mode():
        expected = to_uint8(fashion_model.decode(torch.tensor([[0.5, -1.0]])).numpy()[0, 0])
        mnist = to_uint8(bundled_model.decode(torch.tensor([[0.5, -1.0]])).numpy()[0, 0])
    got = png(served.predict(0.5, -1.0, model="fashion", api_name="/generate"))
    assert np.abs(got.astype(int) - expected).max() <= 1
    assert np.abs(got.astype(int) - mnist).mean() > 10  # not the default model's digit
    grid = png(served.predict(0.5, -1.0, 1.5, model="fashion", api_name="/grid"))
    assert grid.shape == (280, 280, 3)
    np.testing.assert_array_equal(grid, Explorer(fashion_model).grid(0.5, -1.0, 1.5))


def test_a_product_photo_encodes_near_its_test_images_latent_mean(served, fashion_test, tmp_path):
    images, labels = fashion_test
    latents = load_latents(FASHION / "latents.safetensors")
    for path in sorted(EXAMPLES.glob("*.png")):  # one test image of each class
        i = int(re.search(r"test-(\d{5})", path.name)[1])
        photo = product_photo(images[i], tmp_path / f"photo-{i}.png")
        mu = np.array(served.predict(handle_file(photo), model="fashion", api_name="/encode")["mu"])
        distance = float(np.linalg.norm(mu - latents["mu"][i]))
        assert distance < 0.2, (path.name, distance)


def test_reconstruct_prepares_the_upload_for_the_models_data_set(served, fashion_test, tmp_path):
    images, _ = fashion_test
    photo = product_photo(images[0], tmp_path / "boot.png")
    prepared, _, stats = served.predict(handle_file(photo), model="fashion", api_name="/reconstruct")
    np.testing.assert_array_equal(png(prepared), images[0])  # trimmed, scaled, centred, inverted: the test image
    assert stats["elbo"] == pytest.approx(stats["bce"] + stats["kl"], abs=1e-3)
    # the same photo for an MNIST model: today's digit recipe, exactly
    prepared, _, _ = served.predict(handle_file(photo), api_name="/reconstruct")
    np.testing.assert_array_equal(png(prepared), to_uint8(preprocess_digit(load_image(photo))))


def test_the_fashion_examples_are_test_images_one_per_class(fashion_test):
    """static/examples/fashion-mnist/image-L-fashion-mnist-test-IIIII.png: test image IIIII, whose label is L."""
    images, labels = fashion_test
    files = sorted(EXAMPLES.glob("*.png"))
    seen = set()
    for path in files:
        match = re.fullmatch(r"image-(\d)-fashion-mnist-test-(\d{5})\.png", path.name)
        assert match, path.name
        label, index = int(match[1]), int(match[2])
        assert labels[index] == label
        np.testing.assert_array_equal(png(path), images[index])
        seen.add(label)
    assert len(files) == 10 and seen == set(range(10))


def test_the_reconstruct_tab_follows_the_models_data_set(bundled_model, tmp_path):
    from webapp.models import ModelStore
    from webapp.reconstruct import ReconstructTab, example_images

    store = ModelStore({"default": ModelEntry(bundled_model, "test"), "fashion": ModelEntry.from_folder(FASHION)}, tmp_path)
    tab = ReconstructTab(store)
    assert list(example_images()) == ["mnist", "fashion-mnist"]
    assert [u.visible for u in tab.examples_shown("fashion")] == [False, True]
    assert [u.visible for u in tab.examples_shown("default")] == [True, False]
    assert "piece of clothing" in tab.from_upload(None, "fashion")[-1]
    assert "digit" in tab.from_upload(None, "default")[-1]
    example = str(sorted(EXAMPLES.glob("*.png"))[0])
    shown = tab.from_upload({"path": example}, "fashion")
    assert shown[-1] == "" and shown[3]["mu"] == pytest.approx(
        Explorer(store.get("fashion").model).posterior(png(example) / 255.0)[0], abs=1e-6)


@pytest.mark.slow
def test_the_model_in_the_address_wins_however_late_the_first_decoder_arrives(served, browser):
    """?model=fashion with the page's first decoder bundle held back for 3 s, so the Fashion model is chosen while
    the first one loads (or is that one): the page ends on the Fashion model with its live line spoken."""
    page = browser.new_page(viewport=VIEWPORT)
    held = []
    page.route(re.compile(r"page-[0-9a-f]+\.safetensors"),
               lambda route: held.append(route) if not held else route.continue_())
    page.goto(served.url + "?model=fashion")
    page.wait_for_function("window.vaeExplorer !== undefined", timeout=60_000)
    while not held:
        page.wait_for_timeout(100)
    page.wait_for_timeout(3_000)  # the model choice arrives meanwhile (the server's answer to the address)
    held[0].continue_()
    page.wait_for_function("window.vaeExplorer.debug.ready", timeout=60_000)
    page.locator("#vae-explore .vae-main .vae-legend").filter(has_text="Ankle boot").wait_for(timeout=30_000)
    page.wait_for_function("/ nearby/.test(document.querySelector('#vae-explore .vae-live').textContent)",
                           timeout=30_000)
    assert re.search(r" (sneakers|sandals|ankle boots|bags|trousers|dresses|coats|shirts|pullovers|"
                     r"T-shirts/tops) nearby", page.text_content("#vae-explore .vae-live"))
    page.close()


@pytest.mark.slow
def test_the_page_speaks_of_clothing_and_offers_the_fashion_examples(served, browser):
    page = open_app(browser, served.url + "?model=fashion")
    page.wait_for_function("document.querySelector('#vae-intro').innerText.includes('trained on Fashion-MNIST')",
                           timeout=30_000)
    assert "every image of clothing" in page.inner_text("#vae-intro")
    # the map's legend, the live line and the captions speak of the model's classes (its page bundle's words)
    legend = page.locator("#vae-explore .vae-main .vae-legend")
    legend.filter(has_text="Ankle boot").wait_for(timeout=30_000)
    assert [legend.locator(".vae-key").nth(i).inner_text().strip() for i in range(10)] == list(
        get_dataset("fashion-mnist").class_names)
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    live = page.locator("#vae-explore .vae-live")
    try:
        page.wait_for_function("/ (sneakers|sandals|ankle boots|bags|trousers|dresses|coats|shirts|pullovers|T-shirts"
                               "\\/tops) nearby|no test images nearby/.test(document.querySelector("
                               "'#vae-explore .vae-live').textContent)", timeout=30_000)
    except PlaywrightTimeout:
        pytest.fail(f"the live line says {live.text_content()!r}")
    assert page.inner_text("#vae-explore .vae-main .vae-noun") == "image"
    page.get_by_role("tab", name="Reconstruct").click()
    page.get_by_role("tab", name="Upload").click()
    boot = page.locator("button.gallery-item").filter(has=page.locator("img[src*='image-9-fashion-mnist-test-']"))
    boot.wait_for(state="visible", timeout=30_000)
    assert not page.locator("button.gallery-item img[src*='digit-5-']").first.is_visible()  # MNIST's are hidden
    boot.click()
    page.wait_for_function("document.querySelector('#vae-posterior [data-posterior]')?.dataset.posterior",
                           timeout=30_000)
    example = next(EXAMPLES.glob("image-9-*.png"))
    expected = served.predict(handle_file(str(example)), model="fashion", api_name="/encode")
    shown = page.inner_text("#vae-figures")
    assert f"{expected['mu'][0]:.3f}" in shown and f"{expected['mu'][1]:.3f}" in shown
    # the Training tab replays the Fashion model's training, in its words
    page.get_by_role("tab", name="Training").click()
    page.locator("#vae-training .vae-legend").filter(has_text="Ankle boot").wait_for(timeout=60_000)
    assert "2,000 test images" in page.inner_text("#vae-training-intro")
    assert page.inner_text("#vae-training .vae-noun >> nth=0") == "image"
    assert page.errors == []
    page.close()
