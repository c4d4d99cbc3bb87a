"""vae.preprocess.preprocess_product: a photo of a piece of clothing on a light background -> Fashion-MNIST's 28x28,
as the data set's authors made it (trimmed, the longer side 28, centred, grey, inverted), on cases built from real
Fashion-MNIST test images (so the right answer is the test image itself); and the choice of preparation per data
set (MNIST models keep preprocess_digit).

Run: python -m pytest tests/test_preprocess_product.py   (a few seconds)
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from vae.preprocess import BlankImageError, preprocess_digit, preprocess_product, preprocessor

SAMPLE = range(0, 10_000, 50)  # 200 test images, every class


def product_photo(item: np.ndarray, scale: int = 10, canvas=(480, 400), at=(50, 120), paper=255,
                  method=Image.Resampling.NEAREST) -> np.ndarray:
    """A Fashion-MNIST image (uint8 28x28, light on black) as a product photo: dark on a light background, enlarged
    `scale` times, placed at `at` (top, left) on a (height, width) canvas, RGB."""
    big = Image.fromarray(255 - item).resize((28 * scale, 28 * scale), method)
    photo = Image.new("L", canvas[::-1], paper)
    photo.paste(big, at[::-1], Image.fromarray(np.asarray(big) < 255).convert("L") if paper != 255 else None)
    return np.asarray(photo.convert("RGB"))


def test_a_fashion_image_passes_through_unchanged(fashion_test):
    images, _ = fashion_test
    for i in SAMPLE[:20]:
        np.testing.assert_array_equal(preprocess_product(images[i]), images[i].astype(np.float32) / 255.0)
        np.testing.assert_allclose(preprocess_product(255 - images[i]), images[i] / 255.0, atol=1e-6)  # inverted


def test_a_product_photo_gives_back_the_test_image(fashion_test):
    images, _ = fashion_test
    errors = []
    for i in SAMPLE:
        result = preprocess_product(product_photo(images[i]))
        assert result.shape == (28, 28) and result.dtype == np.float32 and 0 <= result.min() <= result.max() <= 1
        errors.append(np.abs(result - images[i] / 255.0).mean())
    # most come back to the grey level; the rest differ where the trimming cut faint edge pixels (a pixel or two of
    # scale or shift)
    assert np.median(errors) < 1e-6 and np.mean(errors) < 0.015, (np.median(errors), np.mean(errors))


def test_a_smoothly_enlarged_photo_off_centre_comes_close(fashion_test):
    images, _ = fashion_test
    errors = [np.abs(preprocess_product(product_photo(images[i], scale=13, canvas=(700, 900), at=(300, 20),
                                                      method=Image.Resampling.BILINEAR)) - images[i] / 255.0).mean()
              for i in SAMPLE]
    assert np.mean(errors) < 0.07, np.mean(errors)


def test_the_longer_side_is_28_and_the_object_is_centred():
    photo = np.full((300, 500), 255, np.uint8)
    photo[100:160, 50:450] = 0  # a black bar 400 x 60: scaled to 28 x 4.2 -> 28 x 4, centred
    result = preprocess_product(photo)
    rows, cols = np.flatnonzero(result.max(1) > 0), np.flatnonzero(result.max(0) > 0)
    assert (cols[0], cols[-1]) == (0, 27) and len(rows) == 4 and (rows[0], rows[-1]) == (12, 15)
    assert result.max() == pytest.approx(1.0)
    photo = np.full((300, 500), 255, np.uint8)
    photo[100:161, 50:450] = 0  # 400 x 61 -> 28 x 4.27 -> 28 x 4 again
    tall = np.full((500, 300), 255, np.uint8)
    tall[50:450, 100:135] = 0  # 35 x 400 -> 2.45 -> 2 wide: an odd margin of 26 columns, 13 either side
    result = preprocess_product(tall)
    assert np.flatnonzero(result.max(0) > 0).tolist() == [13, 14]
    odd = np.full((500, 300), 255, np.uint8)
    odd[50:450, 100:143] = 0  # 43 x 400 -> 3 wide: the extra column of the margin goes left, as in the data set
    assert np.flatnonzero(preprocess_product(odd).max(0) > 0).tolist() == [13, 14, 15]


def test_a_grey_background_becomes_black_and_a_dark_one_is_not_inverted(fashion_test):
    images, _ = fashion_test
    item = images[SAMPLE[3]]
    on_white = preprocess_product(product_photo(item))
    on_grey = preprocess_product(product_photo(item, paper=230))  # a light grey studio backdrop
    assert np.abs(on_grey - on_white).max() < 0.15
    assert on_grey[on_white == 0].max() == 0  # the backdrop is black, as white paper is
    big = np.asarray(Image.fromarray(item).resize((280, 280), Image.Resampling.NEAREST))
    on_black = np.zeros((400, 480), np.uint8)
    on_black[60:340, 100:380] = big  # light object on a dark background: already the data set's polarity
    np.testing.assert_allclose(preprocess_product(on_black), preprocess_product(product_photo(item)), atol=1e-6)


@pytest.mark.parametrize("image", [np.full((300, 300), 255, np.uint8), np.full((40, 60, 3), 128, np.uint8),
                                   np.zeros((28, 28), np.uint8)])
def test_a_blank_picture_says_no_object_was_found(image):
    with pytest.raises(BlankImageError, match="No object found"):
        preprocess_product(image)


def test_each_data_set_has_its_preparation():
    assert preprocessor("mnist") is preprocess_digit  # MNIST models: the digit recipe, unchanged
    assert preprocessor("fashion-mnist") is preprocess_product
