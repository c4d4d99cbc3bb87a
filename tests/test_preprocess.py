"""vae.preprocess: any picture of a digit -> MNIST-style 28x28, on hand-made cases built from real MNIST test
digits (so the right answer is the MNIST digit itself): pass-through, inverted, off-centre on a large canvas,
huge uploads, thin strokes, a transparent canvas with black strokes, a colour photo-like scan; blank inputs and
unreadable files.

Run: python -m pytest tests/test_preprocess.py   (about 10 s)
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from vae.preprocess import (
    MAX_PIXELS, WORKING_SIDE, BlankImageError, ImageInputError, load_image, max_filter, preprocess_digit, stroke_width,
    to_grey,
)

SAMPLE = [0, 1, 2, 3, 4, 7, 8, 11, 18, 61, 100, 250, 500, 1000, 2500, 4000, 6000, 8000, 9000, 9999]


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    rows, cols = np.indices(image.shape)
    return float((image * rows).sum() / image.sum()), float((image * cols).sum() / image.sum())


def enlarge(digit: np.ndarray, scale: int) -> np.ndarray:
    """A real MNIST digit (uint8 28x28) cropped to its ink and enlarged smoothly: a stand-in for a big drawing."""
    image = Image.fromarray(digit)
    crop = image.crop(image.getbbox())
    return np.asarray(crop.resize((crop.width * scale, crop.height * scale), Image.Resampling.BILINEAR))


def on_canvas(ink: np.ndarray, size: tuple[int, int], at: tuple[int, int], paper=255, colour=0) -> np.ndarray:
    """Put ink (uint8, 255 = full ink) on a canvas (h, w) at (top, left): dark strokes on light paper by default."""
    h, w = size
    alpha = np.zeros((h, w), np.float32)
    alpha[at[0]:at[0] + ink.shape[0], at[1]:at[1] + ink.shape[1]] = ink / 255.0
    paper, colour = np.asarray(paper, np.float32), np.asarray(colour, np.float32)
    if paper.ndim == 0 and colour.ndim == 0:
        return np.rint(paper + (colour - paper) * alpha).astype(np.uint8)
    return np.rint(paper + (colour - paper) * alpha[..., None]).astype(np.uint8)


def close_to(result: np.ndarray, digit: np.ndarray, mean_error: float) -> None:
    target = digit.astype(np.float32) / 255.0
    error = np.abs(result - target).mean()
    assert error < mean_error, f"mean |difference| {error:.3f} from the MNIST digit"


def check_format(result: np.ndarray) -> None:
    assert result.shape == (28, 28) and result.dtype == np.float32
    assert result.min() >= 0.0 and result.max() == pytest.approx(1.0, abs=1e-6)


# ---------------------------------------------------------------------------------------------------------
# MNIST itself


def test_an_mnist_digit_passes_through_unchanged(mnist_test):
    images, _ = mnist_test
    for i in SAMPLE:
        expected = images[i].astype(np.float32) / 255.0
        np.testing.assert_array_equal(preprocess_digit(images[i]), expected)
        rgb = np.repeat(images[i][..., None], 3, axis=2)
        np.testing.assert_allclose(preprocess_digit(rgb), expected, atol=1e-6)
        rgba = np.dstack([rgb, np.full((28, 28), 255, np.uint8)])  # an opaque PNG with an alpha channel
        np.testing.assert_allclose(preprocess_digit(rgba), expected, atol=1e-6)


def test_an_inverted_mnist_digit_is_inverted_back(mnist_test):
    images, _ = mnist_test
    for i in SAMPLE:
        np.testing.assert_allclose(preprocess_digit(255 - images[i]), images[i] / 255.0, atol=1e-6)


# ---------------------------------------------------------------------------------------------------------
# drawings and photos


def test_off_centre_dark_on_light_digit_on_a_large_canvas(mnist_test):
    images, _ = mnist_test
    errors = []
    for k, i in enumerate(SAMPLE):
        ink = enlarge(images[i], 12)
        canvas = on_canvas(ink, (600, 700), at=(20 + 13 * k, 400 - 15 * k))  # near corners, never centred
        result = preprocess_digit(canvas)
        check_format(result)
        cy, cx = centre_of_mass(result)
        assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5
        errors.append(np.abs(result - images[i] / 255.0).mean())
    assert np.median(errors) < 0.03 and max(errors) < 0.08, errors


def test_a_huge_upload_is_downscaled_safely(tmp_path, mnist_test):
    images, _ = mnist_test
    ink = enlarge(images[0], 100)  # a 7 about 1600 x 2000 px
    canvas = on_canvas(ink, (3000, 4000), at=(500, 1200))
    path = tmp_path / "big.png"
    Image.fromarray(canvas).save(path)
    loaded = load_image(path)
    assert max(loaded.shape[:2]) == WORKING_SIDE and loaded.shape[1] / loaded.shape[0] == pytest.approx(4 / 3, abs=0.01)
    close_to(preprocess_digit(loaded), images[0], 0.05)


def test_an_image_over_the_pixel_limit_is_refused_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    Image.new("1", (9000, 9000)).save(path)  # 81 MP, a few kB on disk
    assert 9000 * 9000 > MAX_PIXELS
    with pytest.raises(ImageInputError, match="megapixels"):
        load_image(path)


def draw_seven(width: int, size: int = 500) -> np.ndarray:
    image = Image.new("L", (size, size), 255)
    ImageDraw.Draw(image).line([(150, 120), (360, 120), (230, 400)], fill=0, width=width, joint="curve")
    return np.asarray(image)


def best_correlation(a: np.ndarray, b: np.ndarray, shift: int = 2) -> float:
    """Pixel correlation of two images, maximised over translations of up to `shift` px (a thick pen moves the
    centre of mass a little, which is not what this compares)."""
    return max(np.corrcoef(np.roll(a, (dy, dx), axis=(0, 1)).ravel(), b.ravel())[0, 1]
               for dy in range(-shift, shift + 1) for dx in range(-shift, shift + 1))


def test_thin_strokes_are_thickened_to_mnist_width():
    marker = preprocess_digit(draw_seven(25))  # the same 7 drawn with a marker, about MNIST's stroke
    assert stroke_width(marker) >= 1.2
    for width in (1, 2, 4):  # a hairline on a 500 px canvas would vanish when shrunk to 20 px
        thin = preprocess_digit(draw_seven(width))
        check_format(thin)
        assert stroke_width(thin) >= 1.2  # MNIST: 1.3 to 3.1 px (5th to 95th percentile), median 2.0
        assert 0.7 < thin.sum() / marker.sum() < 1.5  # about as much ink as the marker's
        assert best_correlation(thin, marker) > 0.8


def test_transparent_canvas_with_black_strokes(mnist_test):
    images, _ = mnist_test
    for i in SAMPLE[:8]:
        ink = enlarge(images[i], 10)
        alpha = on_canvas(ink, (280, 280), at=(30, 40), paper=0, colour=255)
        rgba = np.zeros((280, 280, 4), np.uint8)  # a canvas reports transparent pixels as black (0, 0, 0, 0)
        rgba[..., 3] = alpha
        result = preprocess_digit(rgba)
        check_format(result)
        close_to(result, images[i], 0.05)
        # the same strokes on an opaque white canvas give the same input
        np.testing.assert_allclose(result, preprocess_digit(255 - alpha), atol=0.02)
        # white strokes on a transparent canvas work too
        white = rgba.copy()
        white[..., :3] = 255
        np.testing.assert_allclose(preprocess_digit(white), result, atol=0.02)


def test_colour_photo_like_scan(mnist_test):
    images, _ = mnist_test
    rng = np.random.default_rng(0)
    h, w = 480, 640
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    light = (0.92 - 0.08 * xx - 0.05 * yy)[..., None]  # uneven lighting across the page
    paper = np.array([245, 235, 210], np.float32) * light  # cream paper
    for i in SAMPLE[:8]:
        ink = enlarge(images[i], 9)
        photo = on_canvas(ink, (h, w), at=(200, 60), paper=0, colour=255).astype(np.float32)[..., None] / 255
        blue = np.array([30, 40, 120], np.float32)
        rgb = paper * (1 - photo) + blue * photo + rng.normal(0, 6, (h, w, 3))  # sensor noise
        result = preprocess_digit(np.clip(rgb, 0, 255).astype(np.uint8))
        check_format(result)
        close_to(result, images[i], 0.06)
        # no specks of paper noise: nothing 2 px or more away from the MNIST digit's ink
        near_ink = max_filter((images[i] > 0).astype(np.float32), 2) > 0
        assert result[~near_ink].max(initial=0) < 0.1


# ---------------------------------------------------------------------------------------------------------
# nothing to see, or nothing readable


@pytest.mark.parametrize("image", [
    np.full((280, 280), 255, np.uint8),  # white canvas
    np.zeros((280, 280), np.uint8),  # black canvas
    np.zeros((280, 280, 4), np.uint8),  # transparent canvas
    np.full((300, 200, 3), 128, np.uint8),  # grey card
    np.zeros((28, 28), np.uint8),  # empty MNIST-size image
], ids=["white", "black", "transparent", "grey", "empty-28"])
def test_blank_images_are_refused(image):
    with pytest.raises(BlankImageError, match="(?i)no digit"):
        preprocess_digit(image)


def test_faint_noise_alone_is_blank():
    noise = np.random.default_rng(1).normal(240, 4, (300, 300)).clip(0, 255).astype(np.uint8)
    with pytest.raises(BlankImageError):
        preprocess_digit(noise)


def test_unusable_arrays_are_refused():
    for bad in (np.zeros((10, 10, 5)), np.zeros((0, 5)), np.zeros(7)):
        with pytest.raises(ImageInputError):
            preprocess_digit(bad)
    with pytest.raises(ImageInputError, match="non-finite"):
        to_grey(np.full((30, 30), np.nan, np.float32))


def test_load_image_refuses_files_that_are_not_images(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    with pytest.raises(ImageInputError, match="not an image"):
        load_image(text)
    good = tmp_path / "digit.png"
    Image.fromarray(draw_seven(20)).save(good)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(ImageInputError):
        load_image(truncated)


def test_load_image_reads_modes_and_orientation(tmp_path):
    seven = draw_seven(20, size=200)
    # 16-bit grey is rescaled, not clipped at 255
    deep = tmp_path / "deep.png"
    Image.fromarray(seven.astype(np.uint16) * 257).save(deep)
    np.testing.assert_array_equal(load_image(deep)[..., 0], seven)
    # a palette image with a transparent background keeps its alpha
    palette = Image.fromarray(255 - seven).convert("P")
    palette.info["transparency"] = 0
    path = tmp_path / "palette.png"
    palette.save(path, transparency=0)
    assert load_image(path).shape == (200, 200, 4)
    # EXIF orientation 6 (camera turned): the image is rotated upright
    wide = Image.fromarray(np.zeros((100, 300), np.uint8)).convert("RGB")
    exif = Image.Exif()
    exif[274] = 6
    path = tmp_path / "rotated.jpg"
    wide.save(path, exif=exif)
    assert load_image(path).shape[:2] == (300, 100)
