"""vae.imaging: the latent grid's coordinates and orientation (the spec's algorithm), tiling, nearest-neighbour
upscaling, uint8 conversion and the centre-cell mark; and the composed grid of the bundled model against
one-point decodes.

Run: python -m pytest tests/test_imaging.py   (a few seconds)
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from vae.imaging import (
    MARK_COLOUR, centre_cell, compose_grid, grid_axes, grid_image, latent_grid, outline_cell, to_uint8,
    upscale_nearest,
)


def test_grid_axes_follow_the_spec():
    columns, rows = grid_axes(0.5, -1.0, span=1.5, n=10)
    np.testing.assert_allclose(columns, 0.5 + np.linspace(-1.5, 1.5, 10))  # z1_grid = Z1 + linspace(-span, span)
    np.testing.assert_allclose(rows, -1.0 + np.linspace(1.5, -1.5, 10))  # z2_grid = Z2 + linspace(span, -span)


def test_latent_grid_orientation_left_to_right_and_top_to_bottom():
    z = latent_grid(0.25, 0.75, span=1.5, n=10).reshape(10, 10, 2)  # [row, column, (z1, z2)]
    np.testing.assert_allclose(z[0, 0], [0.25 - 1.5, 0.75 + 1.5], atol=1e-6)  # top-left: smallest z1, largest z2
    np.testing.assert_allclose(z[9, 9], [0.25 + 1.5, 0.75 - 1.5], atol=1e-6)  # bottom-right
    assert np.all(np.diff(z[..., 0], axis=1) > 0)  # z1 grows to the right
    assert np.all(np.diff(z[..., 1], axis=0) < 0)  # z2 shrinks downwards
    assert np.all(z[:, :, 0] == z[0:1, :, 0])  # a column shares its z1
    assert np.all(z[:, :, 1] == z[:, 0:1, 1])  # a row shares its z2
    assert z.dtype == np.float32


def test_centre_cell_is_a_nearest_cell():
    for n in (1, 2, 5, 10, 11):
        z = latent_grid(0.0, 0.0, span=1.5, n=n)
        distance = np.hypot(z[:, 0], z[:, 1]).reshape(n, n)
        row, column = centre_cell(n)
        assert distance[row, column] == pytest.approx(distance.min(), abs=1e-6)
    assert centre_cell(10) == (4, 4)  # of the four tied middle cells, the upper-left
    assert centre_cell(5) == (2, 2)  # odd n: the exact centre


def test_to_uint8_rounds_and_clips():
    p = np.array([-0.5, 0.0, 0.4 / 255, 0.6 / 255, 0.5, 254.6 / 255, 1.0, 1.7])
    assert to_uint8(p).tolist() == [0, 0, 0, 1, 128, 255, 255, 255]
    assert to_uint8(p).dtype == np.uint8


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 6), h=st.integers(1, 5), w=st.integers(1, 5), channels=st.sampled_from([None, 3]))
def test_compose_grid_puts_tile_k_at_row_k_div_n_column_k_mod_n(n, h, w, channels):
    shape = (n * n, h, w) if channels is None else (n * n, h, w, channels)
    tiles = np.random.default_rng(n * 100 + h * 10 + w).integers(0, 256, shape, dtype=np.uint8)
    grid = compose_grid(tiles, n)
    assert grid.shape == (n * h, n * w) + (() if channels is None else (channels,))
    for k in range(n * n):
        r, c = divmod(k, n)
        np.testing.assert_array_equal(grid[r * h:(r + 1) * h, c * w:(c + 1) * w], tiles[k])


def test_compose_grid_wants_n_squared_tiles():
    with pytest.raises(ValueError, match="100 tiles"):
        compose_grid(np.zeros((99, 28, 28)), 10)


def test_upscale_nearest_makes_crisp_blocks():
    image = np.arange(6, dtype=np.uint8).reshape(2, 3)
    big = upscale_nearest(image, 8)
    assert big.shape == (16, 24)
    for (r, c), v in np.ndenumerate(image):
        assert np.all(big[r * 8:(r + 1) * 8, c * 8:(c + 1) * 8] == v)
    assert set(np.unique(big)) == set(image.ravel())  # no new grey levels: no interpolation
    for bad in (0, 1.5, -2):
        with pytest.raises(ValueError):
            upscale_nearest(image, bad)


def test_outline_cell_colours_only_that_cells_border():
    grey = np.full((280, 280), 7, np.uint8)
    marked = outline_cell(grey, 4, 4, 28, width=1)
    assert marked.shape == (280, 280, 3)
    cell = marked[112:140, 112:140]
    border = np.ones((28, 28), bool)
    border[1:-1, 1:-1] = False
    assert np.all(cell[border] == MARK_COLOUR)
    assert np.all(cell[~border] == 7)
    outside = np.ones((280, 280), bool)
    outside[112:140, 112:140] = False
    assert np.all(marked[outside] == 7)
    assert np.all(grey == 7)  # the input is not modified


def test_grid_image_of_the_bundled_model_matches_single_decodes(bundled_model):
    z1, z2, span = 0.35, -0.8, 1.5
    points = latent_grid(z1, z2, span)
    with torch.inference_mode():
        cells = bundled_model.decode(torch.from_numpy(points)).numpy()  # (100, 1, 28, 28) in one batch
        top_left = bundled_model.decode(torch.tensor([[z1 - span, z2 + span]])).numpy()[0, 0]
        bottom_right = bundled_model.decode(torch.tensor([[z1 + span, z2 - span]])).numpy()[0, 0]
    plain, marked = grid_image(cells, mark=False), grid_image(cells)
    assert plain.shape == (280, 280) and plain.dtype == np.uint8
    assert marked.shape == (280, 280, 3)
    np.testing.assert_allclose(plain[:28, :28].astype(int), to_uint8(top_left).astype(int), atol=1)
    np.testing.assert_allclose(plain[-28:, -28:].astype(int), to_uint8(bottom_right).astype(int), atol=1)
    # the mark touches only the centre cell's border; every other pixel is the decoded grey level
    differs = np.any(marked != plain[..., None], axis=2)
    rows, cols = np.nonzero(differs)
    assert rows.min() >= 112 and rows.max() < 140 and cols.min() >= 112 and cols.max() < 140


def test_png_bytes_round_trip_exactly():
    import io

    from PIL import Image

    from vae.imaging import png_bytes

    rng = np.random.default_rng(0)
    for image in (rng.integers(0, 256, (28, 28), dtype=np.uint8), rng.integers(0, 256, (280, 280, 3), dtype=np.uint8)):
        data = png_bytes(image)
        assert data[:8] == b"\x89PNG\r\n\x1a\n"  # PNG, not a lossy format
        with Image.open(io.BytesIO(data)) as decoded:
            np.testing.assert_array_equal(np.asarray(decoded), image)
    with pytest.raises(ValueError):
        png_bytes(np.zeros((28, 28), np.float32))
