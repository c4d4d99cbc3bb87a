"""Turn any picture of a digit into an MNIST-style 28x28 input, the way MNIST itself was made.

LeCun, Cortes & Burges, http://yann.lecun.com/exdb/mnist/: "The original black and white images from NIST were
size normalized to fit in a 20x20 pixel box while preserving their aspect ratio. The resulting images contain grey
levels as a result of the anti-aliasing technique used by the normalization algorithm. The images were centered in
a 28x28 image by computing the center of mass of the pixels, and translating the image so as to position this point
at the center of the 28x28 field."

`preprocess_digit` does the same to a photo, a scan or a drawing: grey (alpha-aware), light ink on a dark
background, crop to the ink, strokes thickened if they are much thinner than MNIST's, fit to 20x20, centre of mass
to the centre. `preprocess_product` prepares a photo of a piece of clothing the way Fashion-MNIST was made (Xiao,
Rasul & Vollgraf 2017, section 2): the object trimmed from its background, the longer side scaled to 28, centred,
greyscale, inverted. `preprocessor(dataset)` picks the one for a model's data set. `load_image` reads an uploaded
file safely (bounded memory, large images downscaled first). Pure numpy, Pillow and scipy.ndimage, no model.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from scipy import ndimage

SIDE = 28  # MNIST's field
BOX = 20  # MNIST's size-normalisation box
CENTRE = 14.0  # where MNIST puts the centre of mass (test-split mean: 13.99 rows, 14.01 columns, index units)
MNIST_STROKE = 2.0  # median stroke width of MNIST test digits in the 20-px box (2 * area / edge count of ink > 0.5)
MAX_PIXELS = 64_000_000  # refuse larger uploads before decoding them (a 64 MP RGBA image is 256 MB in memory)
WORKING_SIDE = 1024  # larger uploads are downscaled to this longest side before any processing
MIN_CONTRAST = 0.1  # ink must stand out from the background by this much (of the full grey range)
INK_THRESHOLD = 0.1  # normalised ink level that counts as a stroke when looking for the digit's bounding box
# a separate piece of ink whose longer side is under this share of the largest piece's is a speck, not part of the
# object: half a pixel of the 28-px result, so it would hardly show there, yet it could stretch the box
SPECK_SIDE = 1 / 56
POOL_SIDE = 160  # longest side of the crop when estimating and fixing stroke width (8x the 20-px box)
# trimming: a pixel a grey level or more from a clean background's is the object's. Fashion-MNIST's authors cut at 5 %
# of full intensity on their large originals, where it costs the object nothing; on a picture already small it cuts
# the faint edge rows that make an object span 28 pixels (bench/photos.py: test images enlarged 12x land up
# to 0.81 from their latent means at 5 %, 0.18 at most with this tolerance)
TRIM_TOLERANCE = 0.5 / 255
FLAT_SHARE = 0.01  # a background with fewer of its border pixels off its grey than this is flat (no sensor noise)
NOISY_TRIM = 0.05  # the authors' cut, for a noisy background (tests/test_photos.py, bench/photos.py)
NOISE_DEVIATIONS = 5.0  # ... or this many deviations of the noise, when that is more


class ImageInputError(ValueError):
    """An image the app cannot use; the message tells the user what to do instead."""


class BlankImageError(ImageInputError):
    """An image with no ink on it (an empty canvas, a uniform picture)."""


# ---------------------------------------------------------------------------------------------------------
# reading an upload


def load_image(path: str | os.PathLike) -> np.ndarray:
    """An image file -> uint8 array (H, W, 3) RGB or (H, W, 4) RGBA, longest side at most WORKING_SIDE.

    The size is checked from the header before any pixel is decoded; JPEGs are decoded at reduced scale (draft
    mode) and everything else is shrunk with an area filter, so a large photo costs little memory. EXIF rotation
    is applied; an animation contributes its first frame.
    """
    name = Path(path).name
    try:
        im = Image.open(path)
    except Image.DecompressionBombError as e:  # Pillow refuses > 2 x MAX_IMAGE_PIXELS from the header, before we can
        found = re.search(r"\((\d+) pixels\)", str(e))
        size = f"{int(found.group(1)) / 1e6:.0f} megapixels" if found else "too many pixels"
        raise ImageInputError(f"'{name}' has {size}; the limit is {MAX_PIXELS / 1e6:.0f}. Crop or shrink it first.") from e
    except (UnidentifiedImageError, OSError) as e:
        raise ImageInputError(
            f"'{name}' is not an image this app can read; upload a PNG, JPEG, WebP, BMP or GIF of a digit."
        ) from e
    with im:
        w, h = im.size
        if w < 1 or h < 1:
            raise ImageInputError(f"'{name}' has no pixels ({w}x{h}); upload a picture of a digit.")
        if w * h > MAX_PIXELS:
            raise ImageInputError(
                f"'{name}' is {w}x{h} = {w * h / 1e6:.0f} megapixels; the limit is {MAX_PIXELS / 1e6:.0f}. "
                "Crop or shrink it first."
            )
        try:
            im.draft("RGB", (WORKING_SIDE, WORKING_SIDE))  # JPEG only: decode at 1/2, 1/4 or 1/8 scale
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                im.load()
            im = ImageOps.exif_transpose(im)
            im = _to_rgb_or_rgba(im)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
            raise ImageInputError(f"'{name}' could not be decoded ({e}); it may be truncated or corrupt.") from e
        if max(im.size) > WORKING_SIDE:
            im.thumbnail((WORKING_SIDE, WORKING_SIDE), Image.Resampling.BOX)  # RGBA is resized premultiplied
        return np.asarray(im)


def _to_rgb_or_rgba(im: Image.Image) -> Image.Image:
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):  # 16/32-bit grey: rescale, do not clip at 255
        values = np.asarray(im, dtype=np.float64)
        top = values.max()
        grey = np.zeros(values.shape, np.uint8) if top <= 0 else np.rint(values / top * 255).astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB")
    has_alpha = im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info
    return im.convert("RGBA" if has_alpha else "RGB")


# ---------------------------------------------------------------------------------------------------------
# grey levels


def to_grey(image: np.ndarray) -> np.ndarray:
    """(H, W), (H, W, 1|2|3|4) uint8 or float -> float32 (H, W) in [0, 1].

    Alpha-aware: transparent pixels take the colour opposite to the strokes (white behind dark strokes, black
    behind light ones), so a drawing on a transparent canvas keeps its ink whatever colour the canvas reports for
    its transparent pixels.
    """
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (2, 3, 4)) or a.size == 0:
        raise ImageInputError(f"expected a grey, RGB or RGBA image, got an array of shape {a.shape}")
    if a.dtype == np.uint8:
        x = a.astype(np.float32) / 255.0
    elif a.dtype == np.uint16:
        x = a.astype(np.float32) / 65535.0
    else:
        x = a.astype(np.float32)
        if not np.isfinite(x).all():
            raise ImageInputError("the image holds non-finite values")
        if x.max() > 1.0:
            x = x / 255.0
    if x.ndim == 2:
        return np.clip(x, 0.0, 1.0)
    channels = x.shape[2]
    alpha = x[..., -1] if channels in (2, 4) else None
    colour = x[..., :-1] if channels in (2, 4) else x
    # ITU-R BT.601 luma, as Pillow's convert("L")
    lum = colour[..., 0] if colour.shape[2] == 1 else colour @ np.array([0.299, 0.587, 0.114], np.float32)
    if alpha is None or alpha.min() >= 0.99:
        return np.clip(lum, 0.0, 1.0)
    weight = float(alpha.sum())
    if weight < 1e-6:  # fully transparent
        return np.zeros(lum.shape, np.float32)
    stroke = float((alpha * lum).sum()) / weight
    behind = 1.0 if stroke < 0.5 else 0.0
    return np.clip(alpha * lum + (1.0 - alpha) * behind, 0.0, 1.0).astype(np.float32)


def _border(g: np.ndarray) -> np.ndarray:
    return np.concatenate([g[0], g[-1], g[1:-1, 0], g[1:-1, -1]])


def light_on_dark(grey: np.ndarray) -> np.ndarray:
    """Grey image -> the same with ink light and background dark: inverted when its border is mostly light."""
    return 1.0 - grey if np.median(_border(grey)) > 0.5 else grey


def ink_levels(grey: np.ndarray) -> np.ndarray:
    """Grey image -> ink in [0, 1] on a background of exactly 0: background level and noise measured on the
    border, everything up to 3 noise deviations above it set to 0, the strongest ink stretched to 1."""
    g = light_on_dark(grey)
    border = _border(g)
    background = float(np.median(border))
    noise = 1.4826 * float(np.median(np.abs(border - background)))  # robust sigma (median absolute deviation)
    floor = background + max(0.05, 3.0 * noise)
    peak = float(g.max())
    if peak - floor < MIN_CONTRAST:
        raise BlankImageError(
            "No digit found: the image is blank or has too little contrast. Draw a digit (dark strokes on the "
            "light canvas) or upload a picture of one."
        )
    return np.clip((g - floor) / (peak - floor), 0.0, 1.0).astype(np.float32)


# ---------------------------------------------------------------------------------------------------------
# geometry


def ink_bounding_box(ink: np.ndarray, threshold: float = INK_THRESHOLD) -> tuple[int, int, int, int]:
    """-> (top, bottom, left, right), bottom/right exclusive, of the pixels above threshold that have at least
    two such neighbours, in the connected pieces (8-connected) whose longer side is at least SPECK_SIDE of the
    largest piece's: specks of noise or dust, single pixels or clumps, do not stretch the box; a 1-px stroke, the
    separate strokes of a digit and a lone pixel of an enlarged Fashion-MNIST image still count."""
    mask = ink > threshold
    p = np.pad(mask, 1).astype(np.uint8)
    neighbours = sum(
        p[1 + dy:p.shape[0] - 1 + dy, 1 + dx:p.shape[1] - 1 + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1)
        if (dy, dx) != (0, 0)
    )
    solid = mask & (neighbours >= 2)
    if not solid.any():
        solid = mask
    if not solid.any():
        raise BlankImageError("No digit found: no stroke stands out from the background. Draw or upload a digit.")
    pieces, count = ndimage.label(solid, structure=np.ones((3, 3), bool))
    if count > 1:
        boxes = ndimage.find_objects(pieces)  # (count,) slices, piece k + 1 in boxes[k]
        sides = np.array([max(b[0].stop - b[0].start, b[1].stop - b[1].start) for b in boxes])
        largest = int(np.argmax(np.bincount(pieces.ravel())[1:]))  # the piece with the most pixels
        solid = np.isin(pieces, 1 + np.flatnonzero(sides >= SPECK_SIDE * sides[largest]))
    rows, cols = np.flatnonzero(solid.any(axis=1)), np.flatnonzero(solid.any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def stroke_width(ink: np.ndarray, threshold: float = 0.5) -> float:
    """Mean stroke width in pixels, 2 * area / edge count of the mask ink > threshold (a stroke of width w and
    length L has area w L and about 2 L boundary edges). Same measure as MNIST_STROKE."""
    mask = ink > threshold
    area = int(mask.sum())
    if area == 0:
        return 0.0
    p = np.pad(mask, 1)
    edges = int((p[1:, :] != p[:-1, :]).sum() + (p[:, 1:] != p[:, :-1]).sum())
    return 2.0 * area / edges


def max_filter(image: np.ndarray, radius: int) -> np.ndarray:
    """Grey dilation by a (2 radius + 1) square, done as two 1-D running maxima."""
    if radius < 1:
        return image
    out = image
    for axis in (0, 1):
        padded = np.pad(out, [(radius, radius) if a == axis else (0, 0) for a in (0, 1)])
        out = np.lib.stride_tricks.sliding_window_view(padded, 2 * radius + 1, axis=axis).max(axis=-1)
    return out


def max_pool(image: np.ndarray, factor: int) -> np.ndarray:
    """Shrink by an integer factor keeping each block's maximum (a thin stroke survives at full strength)."""
    if factor <= 1:
        return image
    h, w = image.shape
    padded = np.pad(image, ((0, -h % factor), (0, -w % factor)))
    return padded.reshape(padded.shape[0] // factor, factor, padded.shape[1] // factor, factor).max(axis=(1, 3))


def fit_box(ink: np.ndarray, box: int = BOX) -> np.ndarray:
    """Scale so the longer side is `box` pixels, keeping the aspect ratio; area-averaging when shrinking (the
    anti-aliasing MNIST has), bilinear when enlarging a tiny drawing."""
    h, w = ink.shape
    scale = box / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))  # PIL wants (width, height)
    method = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
    return np.asarray(Image.fromarray(ink.astype(np.float32), mode="F").resize(size, method), dtype=np.float32)


def centre_by_mass(digit: np.ndarray, side: int = SIDE, centre: float = CENTRE) -> np.ndarray:
    """Place a small image in a side x side field, translated by whole pixels so its centre of mass lands on
    (centre, centre), as far as the field allows."""
    h, w = digit.shape
    mass = float(digit.sum())
    rows, cols = np.arange(h), np.arange(w)
    cy = float(digit.sum(axis=1) @ rows) / mass if mass > 0 else (h - 1) / 2
    cx = float(digit.sum(axis=0) @ cols) / mass if mass > 0 else (w - 1) / 2
    top = int(np.clip(round(centre - cy), 0, side - h))
    left = int(np.clip(round(centre - cx), 0, side - w))
    out = np.zeros((side, side), np.float32)
    out[top:top + h, left:left + w] = digit
    return out


# ---------------------------------------------------------------------------------------------------------
# the whole recipe


def as_given(grey: np.ndarray, blank: str) -> np.ndarray:
    """A 28x28 grey picture, taken to be in the data set's format already: only made light-on-dark (so an image of
    the data set passes through unchanged); BlankImageError(blank) when nothing stands out."""
    item = light_on_dark(grey).astype(np.float32)
    if float(item.max()) - float(np.median(_border(item))) < MIN_CONTRAST:
        raise BlankImageError(blank)
    return item


def preprocess_digit(image: np.ndarray) -> np.ndarray:
    """Any picture of one digit -> float32 (28, 28) in [0, 1], white ink on black, as MNIST.

    A 28x28 image is taken to be in MNIST's format already: it is only made grey and, if dark-on-light, inverted
    (so an MNIST digit passes through unchanged). Anything else: grey -> light-on-dark with the background at 0 ->
    crop to the ink -> strokes thickened when much thinner than MNIST's -> fit in 20x20 -> centre of mass to the
    centre of 28x28. Raises BlankImageError when there is no ink, ImageInputError for unusable arrays.
    """
    grey = to_grey(image)
    if grey.shape == (SIDE, SIDE):
        return as_given(grey, "No digit found: the 28x28 image is blank. Draw or upload a digit.")
    ink = ink_levels(grey)
    top, bottom, left, right = ink_bounding_box(ink)
    crop = ink[top:bottom, left:right]
    # work at a bounded size: a thin stroke on a big canvas survives max-pooling, then gets thickened
    crop = max_pool(crop, int(np.ceil(max(crop.shape) / POOL_SIDE)))
    target = MNIST_STROKE * max(crop.shape) / BOX  # MNIST's stroke width at this scale
    width = stroke_width(crop)
    if width < 0.6 * target:
        crop = max_filter(crop, max(1, round((target - width) / 2)))
    digit = fit_box(crop)
    peak = float(digit.max())
    if peak <= 0:
        raise BlankImageError("No digit found after cropping; draw a larger or darker digit.")
    digit = np.clip(digit / peak, 0.0, 1.0)
    return centre_by_mass(digit)


def trim_tolerance(border: np.ndarray, background: float) -> float:
    """How far from the background's grey a pixel must be to count as the object's when trimming.

    A flat background (a rendered or scanned image: nearly every border pixel on the background's grey level) keeps
    TRIM_TOLERANCE, so the faint edge rows of an object survive. A noisy one (a photo's sensor noise, JPEG) gets
    Fashion-MNIST's own cut, NOISY_TRIM of the full range, or NOISE_DEVIATIONS deviations of its noise if more. The
    deviation is the root mean square of the border's offsets that are plausibly noise (under NOISY_TRIM), not
    1.4826 MAD: on whole grey levels the MAD moves in steps (0 for sigma = 0.5, 1/255 for sigma = 2) and a cut at a
    few of those passes hundreds of background pixels, whose specks stretch the box.
    """
    offsets = np.abs(border - background)
    noise = offsets[offsets < NOISY_TRIM]  # an object touching the border is not noise: its pixels are mostly far off
    if float(np.mean(noise > TRIM_TOLERANCE)) < FLAT_SHARE:
        return TRIM_TOLERANCE
    return max(NOISY_TRIM, NOISE_DEVIATIONS * float(np.sqrt(np.mean(noise**2))))


def preprocess_product(image: np.ndarray) -> np.ndarray:
    """A photo of one piece of clothing on a plain background -> float32 (28, 28) in [0, 1], the object light on
    black, as Fashion-MNIST's authors made theirs from product photos on white (Xiao, Rasul & Vollgraf 2017, sec. 2):
    trim the edges of the background's colour (trim_tolerance: fine on a flat background, 5 % on a noisy one), scale
    the longer side to 28 (area-averaged, where they subsampled and sharpened), centre on a 28x28 canvas, greyscale
    and invert. The background becomes 0 even when it is not pure white: the object is
    measured as its distance from the background's grey. A light object on a dark background is not inverted.

    A 28x28 image is taken to be in the data set's format already: only made grey and, if dark-on-light, inverted
    (so a Fashion-MNIST image passes through unchanged). Raises BlankImageError when nothing stands out.
    """
    grey = to_grey(image)
    if grey.shape == (SIDE, SIDE):
        return as_given(grey, "No object found: the 28x28 image is blank. Upload a photo of a piece of clothing.")
    border = _border(grey)
    background = float(np.median(border))
    tolerance = trim_tolerance(border, background)
    distance = np.abs(grey - background)
    if float(distance.max()) < max(MIN_CONTRAST, tolerance):
        raise BlankImageError("No object found: the picture is blank or has too little contrast. Upload a photo of "
                              "one piece of clothing on a plain light background.")
    top, bottom, left, right = ink_bounding_box(distance, threshold=tolerance)
    crop = grey[top:bottom, left:right]
    # inverted (dark-on-light) or not, then stretched so the background is 0 and the far end of the grey range 1
    if background > 0.5:
        item = (background - crop) / background
    else:
        item = (crop - background) / max(1.0 - background, 1e-6)
    item = fit_box(np.clip(item, 0.0, 1.0), SIDE)  # (h, w), the longer side 28
    h, w = item.shape
    # an odd margin's extra pixel goes above and to the left, as in the data set (of the 1,529 odd margins, rows or
    # columns, of its first 3,000 test images, all but 35)
    top, left = (SIDE - h + 1) // 2, (SIDE - w + 1) // 2
    out = np.zeros((SIDE, SIDE), np.float32)
    out[top:top + h, left:left + w] = np.clip(item, 0.0, 1.0)
    return out


PREPROCESSORS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "mnist": preprocess_digit,
    "fashion-mnist": preprocess_product,
}


def preprocessor(dataset: str) -> Callable[[np.ndarray], np.ndarray]:
    """How a picture becomes the input of a model trained on `dataset` (its config's "dataset")."""
    return PREPROCESSORS[dataset]
