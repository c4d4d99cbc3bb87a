"""The true posterior p(z|x) as a heat map, with the encoder's q(z|x) drawn over it: its 1σ and 2σ ellipses and its
mean, and the posterior's modes marked. Pure numpy and Pillow: a Posterior (vae/exact.py) in, an RGB array out.

    from vae.exact import image_likelihood
    from vae.posterior_map import posterior_heat_map
    account = image_likelihood(model, x)
    image, window = posterior_heat_map(account.posterior, account.q_mean, account.q_sigma)  # (280, 280, 3), box

The window is a square in latent units, z2 growing upwards, that holds both the posterior's mass and q's 2σ
ellipse: q can sit far from where the posterior is (a mode it misses), and the picture must show both.
"""

from __future__ import annotations

import numpy as np
from matplotlib import colormaps
from PIL import Image, ImageDraw
from scipy.interpolate import RegularGridInterpolator

from vae.exact import Posterior
from vae.imaging import MARK_COLOUR

HEAT_MAP_SIZE = 280  # px, the side of the picture: as the grid's
MASS_SHOWN = 1e-4  # the window holds every grid point whose density is above this share of the peak
Q_COLOUR = MARK_COLOUR  # q's ellipses and mean
MODE_COLOUR = (0, 180, 255)  # the posterior's modes: a cross each
COLOURS = colormaps["magma_r"]  # light where there is no mass, so the page's light theme frames it quietly


def heat_map_window(post: Posterior, q_mean: np.ndarray, q_sigma: np.ndarray,
                    margin: float = 0.15) -> tuple[float, float, float, float]:
    """-> (z1 low, z1 high, z2 low, z2 high): the square box of the posterior's mass and q's 2σ ellipse, widened by
    `margin` of its side on each edge."""
    rows, cols = np.nonzero(post.density > MASS_SHOWN * post.density.max())
    lo = np.minimum([post.z1[cols].min(), post.z2[rows].min()], q_mean - 2 * q_sigma)
    hi = np.maximum([post.z1[cols].max(), post.z2[rows].max()], q_mean + 2 * q_sigma)
    centre, side = (lo + hi) / 2, float((hi - lo).max()) * (1 + 2 * margin)
    return centre[0] - side / 2, centre[0] + side / 2, centre[1] - side / 2, centre[1] + side / 2


def _mass_per_pixel(post: Posterior, window, size: int) -> np.ndarray:
    """The posterior's density over the window's pixels, (size, size), rows running down as z2 falls: where the
    grid is finer than the pixels, its points binned (so a peak narrower than a pixel still shows); else each pixel
    interpolates the grid (binning would leave pixels between the points empty)."""
    z1_lo, z1_hi, z2_lo, z2_hi = window
    step, pixel = post.z1[1] - post.z1[0] if len(post.z1) > 1 else 1.0, (z1_hi - z1_lo) / size
    if step < pixel:
        g1, g2 = np.meshgrid(post.z1, post.z2)  # (n2, n1) each, as the density
        mass, _, _ = np.histogram2d(-g2.ravel(), g1.ravel(), bins=size, range=[[-z2_hi, -z2_lo], [z1_lo, z1_hi]],
                                    weights=post.density.ravel())
        return mass
    centres = (np.arange(size) + 0.5) * pixel
    z1, z2 = np.meshgrid(z1_lo + centres, z2_hi - centres)  # (size, size) each, the picture's rows top first
    with np.errstate(divide="ignore"):
        log_density = np.maximum(np.log(post.density), np.log(post.density.max()) - 50)  # finite, for interpolation
    # bilinear in the log density: a Gaussian's log is a quadratic, so the picture is smooth at any zoom
    interpolate = RegularGridInterpolator((post.z2, post.z1), log_density, bounds_error=False, fill_value=None)
    inside = (z1 >= post.z1[0]) & (z1 <= post.z1[-1]) & (z2 >= post.z2[0]) & (z2 <= post.z2[-1])
    out = np.zeros((size, size))
    out[inside] = np.exp(interpolate(np.stack([z2[inside], z1[inside]], -1)))
    return out


def posterior_heat_map(post: Posterior, q_mean, q_sigma, size: int = HEAT_MAP_SIZE
                       ) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """-> (uint8 RGB (size, size, 3), its window as heat_map_window's). Each pixel's colour is the posterior's mass
    in it as a share of the largest pixel's, square-rooted so that the tails show too."""
    q_mean, q_sigma = np.asarray(q_mean, np.float64), np.asarray(q_sigma, np.float64)
    window = z1_lo, z1_hi, z2_lo, z2_hi = heat_map_window(post, q_mean, q_sigma)
    shade = _mass_per_pixel(post, window, size)
    shade = np.sqrt(shade / shade.max())
    picture = Image.fromarray((COLOURS(shade)[..., :3] * 255).round().astype(np.uint8))
    draw = ImageDraw.Draw(picture)
    scale = size / (z1_hi - z1_lo)  # px per latent unit, the same on both axes

    def px(z1: float, z2: float) -> tuple[float, float]:
        return (z1 - z1_lo) * scale, (z2_hi - z2) * scale

    for k in (1, 2):
        (a1, a2), (b1, b2) = px(*(q_mean - k * q_sigma * [1, -1])), px(*(q_mean + k * q_sigma * [1, -1]))
        draw.ellipse([a1, a2, b1, b2], outline=Q_COLOUR, width=2 if k == 1 else 1)
    c1, c2 = px(*q_mean)
    draw.ellipse([c1 - 3, c2 - 3, c1 + 3, c2 + 3], fill=Q_COLOUR)
    for z1, z2, _ in post.modes:
        m1, m2 = px(z1, z2)
        draw.line([m1 - 6, m2, m1 + 6, m2], fill=MODE_COLOUR, width=2)
        draw.line([m1, m2 - 6, m1, m2 + 6], fill=MODE_COLOUR, width=2)
    return np.asarray(picture), window


__all__ = ["HEAT_MAP_SIZE", "heat_map_window", "posterior_heat_map"]
