"""Photos as users take them, prepared by vae/preprocess.py and encoded by the bundled models: a Fashion-MNIST test
image photographed as a product photo (enlarged onto a white or grey backdrop at a random place, blurred, with
sensor noise of 0.5 to 4 grey levels, dust, JPEG) lands near that image's own latent mean (median <= 0.2, 90th
percentile <= 0.4), and so does an MNIST digit photographed on paper; the trim's tolerance does not collapse onto the
rounded noise of whole grey levels, and specks do not stretch the object's box.

The photos come from bench/photos.py (the same camera as the benchmark that reports these distances).

Run: python -m pytest tests/test_photos.py   (about a minute on 2 cores; -m "not slow" keeps one condition each)
"""

from __future__ import annotations

import sys
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from conftest import PRETRAINED
from vae import VAE
from vae.latents import load_latents
from vae.preprocess import (NOISY_TRIM, TRIM_TOLERANCE, _border, ink_bounding_box, preprocess_product,
                            trim_tolerance)

sys.path.insert(0, str(PRETRAINED.parent / "bench"))
from photos import CLEAN, CONDITIONS, Camera, distances, photograph  # noqa: E402

SAMPLE = range(0, 10_000, 100)  # 100 test images, every class
NOISY = [c for c in CONDITIONS if c.noise or c.jpeg]
TYPICAL = Camera(noise=2)  # the photo the issue measured: sigma 2 grey levels, slight blur, JPEG 90, light grey


@pytest.fixture(scope="module")
def fashion():
    folder = PRETRAINED / "fashion"
    return VAE.from_pretrained(folder), load_latents(folder / "latents.safetensors")["mu"]


@pytest.fixture(scope="module")
def digits():
    return VAE.from_pretrained(PRETRAINED), load_latents(PRETRAINED / "latents.safetensors")["mu"]


def assert_lands_near(d: np.ndarray, camera: Camera) -> None:
    median, p90 = np.median(d), np.quantile(d, 0.9)
    assert median <= 0.2 and p90 <= 0.4, f"{camera.label()}: median {median:.3f}, 90th percentile {p90:.3f}"


def test_a_typical_noisy_product_photo_lands_near_its_test_image(fashion, fashion_test):
    images, _ = fashion_test
    assert_lands_near(distances(*fashion, "fashion-mnist", images, SAMPLE, TYPICAL), TYPICAL)


@pytest.mark.slow
@pytest.mark.parametrize("camera", NOISY, ids=Camera.label)
def test_every_noisy_product_photo_lands_near_its_test_image(camera, fashion, fashion_test):
    images, _ = fashion_test
    assert_lands_near(distances(*fashion, "fashion-mnist", images, SAMPLE, camera), camera)


@pytest.mark.slow
@pytest.mark.parametrize("camera", [CLEAN, TYPICAL, Camera(noise=4, blur=1.5, jpeg=75), Camera(noise=2, dust=12)],
                         ids=Camera.label)
def test_a_photographed_mnist_digit_lands_near_its_test_image(camera, digits, mnist_test):
    images, _ = mnist_test
    d = distances(*digits, "mnist", images, SAMPLE, camera)
    # the digit recipe's figures on these photos (bench/photos.py pretrained): median 0.05-0.06, 90th pct. <= 0.2
    assert np.median(d) <= 0.1 and np.quantile(d, 0.9) <= 0.25, camera.label()


@pytest.mark.parametrize("sigma", [0.5, 1, 2, 4])
def test_the_trim_tolerance_stays_above_rounded_noise(sigma):
    """Whole grey levels make the MAD jump (0 at sigma 0.5, 1/255 at 2): the tolerance must not follow it down."""
    rng = np.random.default_rng(0)
    border = np.clip(np.rint(245 + rng.normal(0, sigma, 4000)), 0, 255) / 255
    background = float(np.median(border))
    tolerance = trim_tolerance(border, background)
    assert tolerance >= NOISY_TRIM
    assert np.mean(np.abs(border - background) > tolerance) < 1e-3  # hardly a background pixel passes


def test_a_flat_background_keeps_the_fine_tolerance_even_where_the_object_touches_it(fashion_test):
    images, _ = fashion_test
    flat = np.full(4000, 1.0)
    assert trim_tolerance(flat, 1.0) == TRIM_TOLERANCE
    # a rendered photo whose object touches the canvas's edge: the edge's object pixels are not noise
    photo = photograph(images[0], replace(CLEAN, canvas=(28 * 12, 400)), np.random.default_rng(0))
    grey = photo[..., 0] / 255.0
    assert trim_tolerance(_border(grey), 1.0) == TRIM_TOLERANCE


def test_specks_do_not_stretch_the_box(fashion_test):
    images, _ = fashion_test
    rng = np.random.default_rng(3)
    clean = photograph(images[7], replace(CLEAN, method=Image.Resampling.NEAREST), rng)
    speckled = clean.copy()
    for y, x in [(2, 2), (470, 630), (5, 600), (400, 10)]:  # dust in every corner, 2x2 and darker than the object
        speckled[y:y + 2, x:x + 2] = 90
    np.testing.assert_array_equal(preprocess_product(speckled), preprocess_product(clean))
    # a lone pixel of the enlarged image is part of the object, not a speck: 12x12 px at 12x
    ink = np.zeros((400, 400))
    ink[100:300, 100:200] = 1
    ink[310:322, 250:262] = 1  # one source pixel, apart from the rest
    ink[20:22, 380:382] = 1  # dust
    assert ink_bounding_box(ink) == (100, 322, 100, 262)
