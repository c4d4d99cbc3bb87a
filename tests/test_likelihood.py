"""/likelihood on a launched server through gradio_client, with the bundled MNIST model: an upload's exact
-log p(x) against the whole-plane grid (another quadrature than the endpoint's), the bounds' order, the gaps'
identity, the two modes of a test digit whose posterior q(z|x) misses, the heat map's pixels (the posterior's mass
where its mode is, q's mean in orange where q's mean is), and a noisy JPEG photo of a digit.

Run: python -m pytest tests/test_likelihood.py   (about a minute on 2 cores)
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from gradio_client import Client, handle_file
from PIL import Image, ImageFilter

from conftest import png
from vae.exact import PlaneGrid
from vae.posterior_map import HEAT_MAP_SIZE, MODE_COLOUR, Q_COLOUR
from vae.preprocess import load_image, preprocess_digit
from webapp.models import ModelEntry

pytestmark = pytest.mark.filterwarnings(  # raised inside gradio's queue by pandas 3, not by this app
    "ignore:'future.no_silent_downcasting' is deprecated", "ignore:The copy keyword is deprecated")

TWO_MODES = 7  # a test digit whose posterior's mass lies far from q(z|x)'s mean, in two basins (tests/test_exact.py)


@pytest.fixture(scope="module")
def client(bundled_model, tmp_path_factory):
    import app

    demo = app.build_demo(ModelEntry(bundled_model, "test model"),
                          options=app.Options(bundle_dir=tmp_path_factory.mktemp("bundle")))
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True, **app.launch_options())
    yield Client(url, verbose=False)
    demo.close()


@pytest.fixture(scope="module")
def answers(client, mnist_test, tmp_path_factory):
    """{test index: (heat map pixels, figures, the 28x28 input as the server prepared it)} for two test digits."""
    images, _ = mnist_test
    folder = tmp_path_factory.mktemp("digits")
    out = {}
    for i in (3, TWO_MODES):
        path = folder / f"mnist-test-{i}.png"
        Image.fromarray(images[i]).save(path)
        heat, figures = client.predict(handle_file(str(path)), api_name="/likelihood")
        out[i] = png(heat), figures, images[i].astype(np.float32) / 255  # an MNIST digit passes unchanged
    return out


def pixel(window, z1: float, z2: float) -> tuple[int, int]:
    """(row, column) of the heat map's pixel holding latent point (z1, z2); z2 grows upwards."""
    z1_lo, z1_hi, z2_lo, z2_hi = window
    scale = HEAT_MAP_SIZE / (z1_hi - z1_lo)
    return int((z2_hi - z2) * scale), int((z1 - z1_lo) * scale)


@pytest.mark.slow  # the whole-plane grid decodes 361,201 points per image: 10 s and more on 2 cores
def test_the_exact_figure_is_the_whole_plane_grids_and_the_bounds_lie_above_it(answers, bundled_model):
    for i, (_, f, x) in answers.items():
        plane, mean, _ = PlaneGrid().log_px(bundled_model, torch.tensor(x).reshape(1, -1))
        assert f["exact"] == pytest.approx(-float(plane[0]), abs=0.01), i
        np.testing.assert_allclose(f["posterior"]["mean"], mean[0].numpy(), atol=2e-3)
        assert f["quadrature"]["error"] < 0.01
        assert f["elbo"] > f["exact"]  # -ELBO >= -log p(x): the ELBO is a lower bound on log p(x)
        assert f["iwae"] > f["exact"] - 0.3  # IWAE-1000 too, up to its sampling noise (0.07 nats for digit 3)
        assert f["elbo"] - f["exact"] == pytest.approx(f["approximation_gap"] + f["amortization_gap"], abs=1e-9)
        assert f["approximation_gap"] > -0.01 and f["amortization_gap"] >= 0
        assert sum(m["share"] for m in f["posterior"]["modes"]) <= 1 + 1e-9


def test_a_posterior_that_q_misses_is_called_two_modes_and_the_best_gaussian_finds_it(answers):
    _, f, _ = answers[TWO_MODES]
    modes = f["posterior"]["modes"]
    assert len(modes) >= 2 and modes[1]["share"] > 0.05
    q = np.array(f["q"]["mu"])
    main = np.array(modes[0]["z"])
    assert np.linalg.norm(main - q) > 1  # q(z|x) sits far from the mass
    assert np.linalg.norm(np.array(f["best_gaussian"]["mean"]) - main) < 0.5  # q* went to it
    assert f["amortization_gap"] > 5 > f["approximation_gap"]  # a better encoder would close most of the gap


def test_the_heat_map_shows_the_mass_at_the_mode_and_q_in_orange(answers):
    for i, (heat, f, _) in answers.items():
        assert heat.shape == (HEAT_MAP_SIZE, HEAT_MAP_SIZE, 3)
        window = f["window"]
        assert window[1] - window[0] == pytest.approx(window[3] - window[2])  # square: one scale on both axes
        row, col = pixel(window, *f["q"]["mu"])
        assert tuple(heat[row, col]) == Q_COLOUR, i  # q's mean is a filled orange dot
        # the darkest pixel (most mass: magma_r darkens with it) lies at the posterior's main mode, within the
        # posterior's spread
        shade = heat.astype(int).sum(-1)
        shade[np.all(heat == Q_COLOUR, -1) | np.all(heat == MODE_COLOUR, -1)] = 10**6  # not the drawn marks
        r, c = np.unravel_index(shade.argmin(), shade.shape)
        mr, mc = pixel(window, *f["posterior"]["modes"][0]["z"])
        spread = np.sqrt(np.max(np.diag(f["posterior"]["cov"]))) * HEAT_MAP_SIZE / (window[1] - window[0])
        assert np.hypot(r - mr, c - mc) <= max(8, spread), (i, (r, c), (mr, mc), spread)
        corner = heat[2, 2].astype(int)  # far from the mass: the colour map's empty end, light
        assert corner.sum() > 600


@pytest.mark.slow
def test_a_noisy_jpeg_photo_of_a_digit_lands_where_the_clean_digit_does(client, answers, tmp_path):
    _, clean, x = answers[3]
    page = Image.fromarray(255 - (x * 255).astype(np.uint8)).resize((336, 336), Image.NEAREST)  # ink on paper
    rng = np.random.default_rng(0)
    noisy = np.clip(np.asarray(page.filter(ImageFilter.GaussianBlur(1)), float) + rng.normal(0, 2, (336, 336)), 0, 255)
    buffer = io.BytesIO()
    Image.fromarray(noisy.astype(np.uint8)).convert("RGB").save(buffer, format="JPEG", quality=90)
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(buffer.getvalue())
    _, f = client.predict(handle_file(str(photo)), api_name="/likelihood")
    assert np.linalg.norm(np.array(f["posterior"]["mean"]) - np.array(clean["posterior"]["mean"])) < 0.3
    assert np.isfinite([f["exact"], f["elbo"], f["iwae"]]).all() and f["elbo"] > f["exact"]
    prepared = preprocess_digit(load_image(photo))
    assert prepared.shape == (28, 28)  # what the server prepared: the library's preprocessing of the same file
