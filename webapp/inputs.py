"""Checking what users send: each check returns the value the model needs or raises gr.Error with a message that
says what to send instead. An expected user error logs one line, not a traceback."""

from __future__ import annotations

import base64
import binascii
import io
import logging
import math
import os
from pathlib import Path

import gradio as gr
import numpy as np
from PIL import Image

from vae.imaging import DEFAULT_SPAN
from vae.datasets import DEFAULT_DATASET
from vae.preprocess import BlankImageError, ImageInputError, load_image, preprocessor

Z_LIMIT = 3.0  # the sliders' range, and the API's: [-3, 3] holds 99.7% of the prior N(0, 1) per axis
SPAN_MAX = 5.0  # a wider grid only shows blur far outside the prior's mass
STEPS_RANGE = (2, 120)  # an interpolation's frames: both ends at least; 120 frames play in 7.2 s at 60 ms a frame
PNG_DATA_URL = "data:image/png;base64,"
DRAWING_MAX_CHARS = 4_000_000  # the pad's PNG at a high-DPI screen's 3x is well under 1 MB of base64
DRAWING_MAX_PIXELS = 4_000_000

log = logging.getLogger("vae_explorer")


def bad_input(message: str) -> gr.Error:
    """The error a caller sees (title "Bad input"); the server log gets this one line instead of a traceback."""
    log.info("bad input: %s", message)
    return gr.Error(message, title="Bad input", print_exception=False)


def latent_coordinate(value, name: str) -> float:
    """A number in [-Z_LIMIT, Z_LIMIT]."""
    try:
        z = float(value)
    except (TypeError, ValueError):
        raise bad_input(f"{name} must be a number between -{Z_LIMIT:g} and {Z_LIMIT:g}; got {value!r}.") from None
    if not math.isfinite(z):
        raise bad_input(f"{name} must be a finite number between -{Z_LIMIT:g} and {Z_LIMIT:g}; got {value!r}.")
    if abs(z) > Z_LIMIT:
        raise bad_input(f"{name} = {z:g} is outside the latent range [-{Z_LIMIT:g}, {Z_LIMIT:g}] the app explores; "
                        f"pick a value between -{Z_LIMIT:g} and {Z_LIMIT:g}.")
    return z


def grid_span(value) -> float:
    """The grid's half-width, in (0, SPAN_MAX]; None (a raw HTTP call's "not given") is the default."""
    if value is None:
        return DEFAULT_SPAN
    try:
        span = float(value)
    except (TypeError, ValueError):
        raise bad_input(f"span must be a number in (0, {SPAN_MAX:g}]; got {value!r}.") from None
    if not (math.isfinite(span) and 0 < span <= SPAN_MAX):
        raise bad_input(f"span must be greater than 0 and at most {SPAN_MAX:g} (the grid's half-width in latent "
                        f"units; the default is {DEFAULT_SPAN:g}); got {value!r}.")
    return span


def whole_number(value, refusal: str) -> int:
    """An int, or a number or numeric string with a whole value (16.0, "16"); not a bool, a fraction, NaN or None:
    those get `refusal`."""
    if isinstance(value, bool):
        raise bad_input(refusal)
    if isinstance(value, int):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise bad_input(refusal) from None
    if not (math.isfinite(number) and number.is_integer()):
        raise bad_input(refusal)
    return int(number)


def snapshot_index(value) -> int | None:
    """A training snapshot's index (None or "": the final model); negative counts from the last. Its range is checked
    against the model's snapshots (webapp/replay.py)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return whole_number(value, f"snapshot must be a whole number: 0 for the first training snapshot, -1 for the "
                               f"last, or leave it out for the final model; got {value!r}.")


def interpolation_steps(value) -> int:
    """A whole number of frames in STEPS_RANGE (z accepts "0.5" too; steps only whole values)."""
    low, high = STEPS_RANGE
    refusal = (f"steps must be a whole number from {low} to {high} (the GIF's frame count, both ends included); "
               f"got {value!r}.")
    steps = whole_number(value, refusal)
    if not low <= steps <= high:
        raise bad_input(refusal)
    return steps


def uploaded_path(value, uploads: str | os.PathLike, what: str = "image", example: str = "digit.png",
                  missing: str = "upload a PNG or JPEG of a digit") -> str:
    """An API file argument -> the path of the upload it names. Only a file Gradio received is accepted: a file
    object whose path lies inside Gradio's upload folder `uploads` (Gradio itself refuses a file object naming any
    other path; a bare string, a number or a dict without Gradio's file marker would reach the app unchecked).
    `what`, `example` and `missing` word the messages for the argument (an image, model weights)."""
    if value is None or value == "" or (isinstance(value, dict) and not value.get("path")):
        raise bad_input(f"No {what} given: {missing} (with gradio_client: handle_file('{example}')).")
    path = value.get("path") if isinstance(value, dict) else None
    inside = isinstance(path, str) and Path(path).resolve().is_relative_to(Path(uploads).resolve())
    meta = value.get("meta") if isinstance(value, dict) else None
    if not inside or not isinstance(meta, dict) or meta.get("_type") != "gradio.FileData":
        raise bad_input(f"The {what} must be an uploaded file: with gradio_client, handle_file('{example}'); over "
                        "HTTP, upload it first (POST /gradio_api/upload) and send the path it returns as "
                        '{"path": ..., "meta": {"_type": "gradio.FileData"}}.')
    return path


def digit_from_file(value, uploads: str | os.PathLike, dataset: str = DEFAULT_DATASET) -> np.ndarray:
    """An uploaded file -> float (28, 28) prepared as `dataset`'s images were (an MNIST digit, a Fashion-MNIST
    product photo), or a message saying what is wrong with it."""
    path = uploaded_path(value, uploads)
    try:
        return preprocessor(dataset)(load_image(path))
    except ImageInputError as e:
        raise bad_input(str(e)) from e


def digit_from_drawing(data_url, dataset: str = DEFAULT_DATASET) -> np.ndarray:
    """The drawing pad's picture, a PNG data URL (static/js/widgets/drawing-pad.js) -> float (28, 28), prepared as
    `dataset`'s images were; BlankImageError when nothing is drawn, ImageInputError when the value is not such a
    picture."""
    if not data_url:
        raise BlankImageError("The canvas is empty: draw a digit with the mouse, a pen or a finger.")
    if not isinstance(data_url, str) or not data_url.startswith(PNG_DATA_URL) or len(data_url) > DRAWING_MAX_CHARS:
        raise ImageInputError("The drawing did not arrive as a PNG picture; clear the pad and draw again.")
    try:
        with Image.open(io.BytesIO(base64.b64decode(data_url[len(PNG_DATA_URL):], validate=True))) as im:
            if im.width * im.height > DRAWING_MAX_PIXELS:
                raise ImageInputError(f"The drawing is {im.width}x{im.height} pixels; the pad sends at most "
                                      f"{DRAWING_MAX_PIXELS // 10**6} megapixels.")
            rgba = np.asarray(im.convert("RGBA"))
    except (binascii.Error, OSError, Image.DecompressionBombError) as e:
        raise ImageInputError("The drawing could not be decoded; clear the pad and draw again.") from e
    return preprocessor(dataset)(rgba)
