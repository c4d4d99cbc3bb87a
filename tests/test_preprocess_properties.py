"""Property tests (hypothesis) of the pure image functions: preprocess_digit on any uint8 image up to 256x256 -
grey (H, W), RGB (H, W, 3), RGBA (H, W, 4), random or with a drawn stroke - returns a float32 (28, 28) array in
[0, 1], or raises ImageInputError (BlankImageError for no ink) with a message, never another exception; the same
for to_grey's shape and range; and to_uint8 / upscale_nearest keep shape and range.

Run: python -m pytest tests/test_preprocess_properties.py   (about 20 s)
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from vae.imaging import to_uint8, upscale_nearest
from vae.preprocess import ImageInputError, preprocess_digit, to_grey

SIDES = st.integers(1, 256)
CHANNELS = st.sampled_from([None, 3, 4])


@st.composite
def images(draw) -> np.ndarray:
    h, w, c = draw(SIDES), draw(SIDES), draw(CHANNELS)
    shape = (h, w) if c is None else (h, w, c)
    kind = draw(st.sampled_from(["random", "constant", "stroke"]))
    if kind == "random":  # a small random array, tiled: arbitrary content without drawing 256x256x4 values
        tile = draw(arrays(np.uint8, (min(h, 8), min(w, 8)) + shape[2:]))
        reps = (-(-h // tile.shape[0]), -(-w // tile.shape[1])) + (1,) * (len(shape) - 2)
        return np.tile(tile, reps)[:h, :w]
    background = draw(st.integers(0, 255))
    image = np.full(shape, background, np.uint8)
    if kind == "stroke":
        ink = draw(st.integers(0, 255))
        r0, r1 = sorted(draw(st.tuples(st.integers(0, h - 1), st.integers(0, h - 1))))
        c0, c1 = sorted(draw(st.tuples(st.integers(0, w - 1), st.integers(0, w - 1))))
        width = draw(st.integers(1, 6))
        image[r0:r1 + 1, c0:c0 + width] = ink
        image[r1:r1 + width, c0:c1 + 1] = ink
    if c == 4:
        image[..., 3] = draw(st.sampled_from([0, 128, 255]))
    return image


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(images())
def test_preprocess_returns_an_mnist_input_or_a_clear_error(image):
    try:
        x = preprocess_digit(image)
    except ImageInputError as e:
        assert str(e) and "Traceback" not in str(e)
        return
    assert x.shape == (28, 28) and x.dtype == np.float32
    assert np.isfinite(x).all() and x.min() >= 0.0 and x.max() <= 1.0


@settings(max_examples=200, deadline=None)
@given(images())
def test_to_grey_keeps_the_shape_and_range(image):
    grey = to_grey(image)
    assert grey.shape == image.shape[:2] and grey.dtype == np.float32
    assert grey.min() >= 0.0 and grey.max() <= 1.0


@settings(max_examples=100, deadline=None)
@given(arrays(np.float32, st.tuples(st.integers(1, 40), st.integers(1, 40)),
              elements=st.floats(-2, 3, width=32)), st.integers(1, 4))
def test_to_uint8_and_upscale(values, factor):
    pixels = to_uint8(values)
    assert pixels.dtype == np.uint8 and pixels.shape == values.shape
    big = upscale_nearest(pixels, factor)
    assert big.shape == (values.shape[0] * factor, values.shape[1] * factor)
    assert np.array_equal(big[::factor, ::factor], pixels)


def test_the_error_type_is_what_the_app_catches():
    """A blank image is refused with the module's error, with a message saying what to do."""
    try:
        preprocess_digit(np.full((50, 50), 255, np.uint8))
    except ImageInputError as e:
        assert "No digit found" in str(e)
    else:
        raise AssertionError("a blank image was accepted")
