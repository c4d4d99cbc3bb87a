"""The drawing pad's value (a PNG data URL sent by static/js/widgets/drawing-pad.js) -> the MNIST-style input, and
every value a tampered page could send instead -> a message, never another exception.

Run: python -m pytest tests/test_drawing_input.py   (a second)
"""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from vae.preprocess import BlankImageError, ImageInputError
from webapp.inputs import PNG_DATA_URL, digit_from_drawing


def data_url(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="png")
    return PNG_DATA_URL + base64.b64encode(buffer.getvalue()).decode("ascii")


def pad(draw=None, size: int = 280) -> Image.Image:
    """The pad as the page sends it: opaque white RGBA, black round strokes."""
    image = Image.new("RGBA", (size, size), (255, 255, 255, 255))
    if draw:
        draw(ImageDraw.Draw(image))
    return image


def test_a_drawn_seven_becomes_an_mnist_style_digit():
    seven = pad(lambda d: d.line([(100, 80), (180, 80), (120, 200)], fill=(0, 0, 0, 255), width=18, joint="curve"))
    x = digit_from_drawing(data_url(seven))
    assert x.shape == (28, 28) and x.dtype == np.float32
    assert x.max() > 0.9 and x[0].max() == 0 and x[:, 0].max() == 0  # white ink on black, a border of black
    rows, cols = np.nonzero(x > 0.1)
    assert max(np.ptp(rows), np.ptp(cols)) + 1 in (19, 20, 21)  # fitted to MNIST's 20 px box


def test_an_empty_pad_says_so():
    with pytest.raises(BlankImageError, match="The canvas is empty"):
        digit_from_drawing(None)
    with pytest.raises(BlankImageError):
        digit_from_drawing(data_url(pad()))  # all white: no digit found


@pytest.mark.parametrize("value", [
    42, ["a"], {"path": "/etc/passwd"}, "/etc/passwd", "data:image/jpeg;base64,AAAA",
    PNG_DATA_URL + "!!!not base64!!!", PNG_DATA_URL + base64.b64encode(b"not a png").decode(),
    PNG_DATA_URL + "A" * 5_000_000,
])
def test_what_a_tampered_page_could_send_gets_a_message(value):
    with pytest.raises(ImageInputError) as refused:
        digit_from_drawing(value)
    assert "draw again" in str(refused.value) or "megapixels" in str(refused.value)


def test_a_huge_picture_is_refused_from_its_header():
    huge = Image.new("L", (3000, 3000), 255)
    with pytest.raises(ImageInputError, match="megapixels"):
        digit_from_drawing(data_url(huge))
