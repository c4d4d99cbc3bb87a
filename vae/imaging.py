"""Image composition for the explorer: the latent grid's coordinates, tiling decoded digits into one picture,
crisp (nearest-neighbour) upscaling, uint8 conversion, the straight path between two latent points, and PNG and
animated GIF bytes. Pure numpy and Pillow: arrays in, arrays (or file bytes) out.

The grid follows the spec's "Grid Generation Algorithm": for a centre (z1, z2) and a span,
    column i (left to right) sits at z1 + linspace(-span, span, n)[i]
    row j    (top to bottom) sits at z2 + linspace(span, -span, n)[j]
so z2 grows upwards, like the y axis of the latent map.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import GifImagePlugin, Image

GRID_SIZE = 10  # cells per side, as in the spec
DEFAULT_SPAN = 1.5  # half-width of the grid in latent units, as in the spec
MARK_COLOUR = (255, 140, 0)  # outline of the cell nearest the centre (orange: visible on black and white)
GIF_FRAME_MS = 60  # an interpolation GIF's frame time: 60 frames play in 3.6 s (GIF counts time in 1/100 s)


def grid_axes(z1: float, z2: float, span: float = DEFAULT_SPAN, n: int = GRID_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """-> (columns (n,) left to right, rows (n,) top to bottom): the latent coordinates of the grid's cells."""
    columns = z1 + np.linspace(-span, span, n)
    rows = z2 + np.linspace(span, -span, n)
    return columns, rows


def latent_grid(z1: float, z2: float, span: float = DEFAULT_SPAN, n: int = GRID_SIZE) -> np.ndarray:
    """-> float32 (n * n, 2): the latent point of every cell, row-major (cell k is row k // n, column k % n)."""
    columns, rows = grid_axes(z1, z2, span, n)
    zz1, zz2 = np.meshgrid(columns, rows)  # (n, n) each, [row, column]
    return np.stack([zz1.ravel(), zz2.ravel()], axis=1).astype(np.float32)


def centre_cell(n: int = GRID_SIZE) -> tuple[int, int]:
    """(row, column) of the cell nearest the grid's centre. With an even n the four middle cells are equally near;
    the upper-left one is chosen, so the choice does not depend on floating-point rounding."""
    return (n - 1) // 2, (n - 1) // 2


def to_uint8(probabilities: np.ndarray) -> np.ndarray:
    """Pixel probabilities in [0, 1] -> uint8 grey levels, rounded to nearest (255 * p)."""
    return np.clip(np.rint(np.asarray(probabilities, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)


def compose_grid(tiles: np.ndarray, n: int = GRID_SIZE) -> np.ndarray:
    """tiles (n * n, h, w[, c]) in row-major cell order -> one image (n * h, n * w[, c])."""
    tiles = np.asarray(tiles)
    if tiles.shape[0] != n * n:
        raise ValueError(f"need {n * n} tiles for a {n}x{n} grid, got {tiles.shape[0]}")
    h, w = tiles.shape[1:3]
    rest = tiles.shape[3:]
    # (n, n, h, w, ...) -> (n, h, n, w, ...): row of cells, pixel row, column of cells, pixel column
    return tiles.reshape(n, n, h, w, *rest).swapaxes(1, 2).reshape(n * h, n * w, *rest)


def upscale_nearest(image: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upscaling by an integer factor: every pixel becomes a factor x factor block (crisp edges)."""
    if int(factor) != factor or factor < 1:
        raise ValueError(f"factor must be a positive integer, got {factor!r}")
    factor = int(factor)
    return np.repeat(np.repeat(np.asarray(image), factor, axis=0), factor, axis=1)


def outline_cell(image: np.ndarray, row: int, column: int, cell: int, colour=MARK_COLOUR, width: int = 1) -> np.ndarray:
    """Grey (H, W) or RGB (H, W, 3) uint8 -> RGB copy with a `width`-pixel outline drawn inside one cell."""
    image = np.asarray(image, dtype=np.uint8)
    rgb = np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image.copy()
    top, left = row * cell, column * cell
    box = rgb[top:top + cell, left:left + cell]  # a view: drawing on it draws on rgb
    box[:width], box[-width:], box[:, :width], box[:, -width:] = colour, colour, colour, colour
    return rgb


def grid_image(probabilities: np.ndarray, n: int = GRID_SIZE, mark: bool = True) -> np.ndarray:
    """Decoded cells (n * n, h, w) or (n * n, 1, h, w) in [0, 1] -> the grid picture: uint8 grey (n h, n w), or RGB
    with the cell nearest the centre outlined when `mark`."""
    probabilities = np.asarray(probabilities)
    if probabilities.ndim == 4:
        probabilities = probabilities[:, 0]
    grid = compose_grid(to_uint8(probabilities), n)
    if not mark:
        return grid
    row, column = centre_cell(n)
    return outline_cell(grid, row, column, probabilities.shape[-1])


def png_bytes(image: np.ndarray, compress_level: int = 1) -> bytes:
    """uint8 grey (H, W) or RGB (H, W, 3) -> PNG file bytes. zlib level 1: a 280x280 RGB grid encodes about 3x
    faster than at Pillow's default 6, for a file about as small (digits are mostly black)."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise ValueError(f"expected a uint8 grey or RGB image, got {image.dtype} {image.shape}")
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="png", compress_level=compress_level)
    return buffer.getvalue()


def latent_path(z_a, z_b, steps: int) -> np.ndarray:
    """-> float32 (steps, 2): z_a + t (z_b - z_a) for t = linspace(0, 1, steps), computed as (1 - t) z_a + t z_b so
    that the first point is z_a and the last z_b exactly (z_a + 1 (z_b - z_a) can miss z_b by a rounding error)."""
    t = np.linspace(0.0, 1.0, steps)[:, None]  # (steps, 1)
    return ((1.0 - t) * np.asarray(z_a, np.float64) + t * np.asarray(z_b, np.float64)).astype(np.float32)


def gif_bytes(frames: np.ndarray, frame_ms: int = GIF_FRAME_MS) -> bytes:
    """uint8 grey frames (N, H, W) -> an animated GIF file's bytes: N frames of frame_ms each, looping forever.

    Lossless for grey levels: the global colour table is the 256 greys (index v is (v, v, v)) and each frame is
    written whole as its own grey levels, so every frame reads back exactly (Pillow: ImageSequence, convert("L")).
    Written block by block with Pillow's GIF encoder (GifImagePlugin.getheader / getdata) rather than
    Image.save(save_all=True), which drops a frame equal to the one before it (adding its time to that one): the
    animation has exactly N frames, whatever the path (tests/test_interpolate.py)."""
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 3 or len(frames) == 0:
        raise ValueError(f"expected uint8 grey frames (N, H, W), got {frames.dtype} {frames.shape}")
    if frame_ms <= 0 or frame_ms % 10:
        raise ValueError(f"a GIF frame lasts a whole number of 1/100 s; got {frame_ms} ms")
    images = [Image.fromarray(frame) for frame in frames]  # mode "L": written as indices into the grey table
    header, _ = GifImagePlugin.getheader(images[0], info={"loop": 0})  # "GIF89a", size, grey table, loop forever
    # each frame: a graphic control block (its time; disposal 1: leave it in place) and the whole frame at (0, 0)
    blocks = [b"".join(GifImagePlugin.getdata(image, duration=frame_ms, disposal=1)) for image in images]
    return b"".join(header) + b"".join(blocks) + b";"  # ";": the GIF trailer
