"""What the explorer app asks of a model, on numpy arrays: the digit at z, the 10x10 grid around z, the digits along
the straight path between two points, the posterior of an image, its reconstruction with its -ELBO, and its exact
-log p(x) beside the bounds. No Gradio here: a benchmark or a notebook uses it as it is.

    from vae import VAE
    from vae.explorer import Explorer
    explorer = Explorer(VAE.from_pretrained("pretrained"))
    explorer.grid(0.5, -1.0, span=1.5)  # uint8 (280, 280, 3)
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import torch

from vae.evaluate import evaluate_elbo
from vae.exact import CoarseScan, ImageLikelihood, image_likelihood
from vae.imaging import DEFAULT_SPAN, GRID_SIZE, grid_image, latent_grid, latent_path, to_uint8
from vae.model import VAE

ELBO_SAMPLES = 128  # posterior samples for one image's -ELBO (fixed seed: the same image gives the same figure)


class Explorer:
    """A 2-D latent model's views, on numpy arrays."""

    def __init__(self, model: VAE):
        if model.config.latent_dim != 2:
            raise ValueError(f"the explorer needs a 2-D latent space; this model has {model.config.latent_dim}")
        self.model = model.eval()

    @torch.inference_mode()
    def decode(self, z: np.ndarray) -> np.ndarray:
        """z (B, 2) -> pixel probabilities (B, 28, 28), in one batch."""
        return self.model.decode(torch.as_tensor(z, dtype=torch.float32)).numpy()[:, 0]

    def digit(self, z1: float, z2: float) -> np.ndarray:
        """-> uint8 (28, 28): grey level = round(255 p)"""
        return to_uint8(self.decode(np.array([[z1, z2]], np.float32))[0])

    def grid(self, z1: float, z2: float, span: float = DEFAULT_SPAN) -> np.ndarray:
        """-> uint8 RGB (280, 280, 3): the spec's grid around (z1, z2), the cell nearest the centre outlined"""
        return grid_image(self.decode(latent_grid(z1, z2, span, GRID_SIZE)), GRID_SIZE)

    def interpolation(self, z1_a: float, z2_a: float, z1_b: float, z2_b: float, steps: int) -> np.ndarray:
        """-> uint8 (steps, 28, 28): the digits at z_a + t (z_b - z_a), t = linspace(0, 1, steps), decoded in one
        batch. The first and last are .digit at z_a and z_b up to one grey level at a rare pixel: a batch's matrix
        products sum in another order than a single digit's (tests/test_interpolate.py)."""
        return to_uint8(self.decode(latent_path((z1_a, z2_a), (z1_b, z2_b), steps)))

    @torch.inference_mode()
    def posterior(self, x: np.ndarray) -> tuple[list[float], list[float]]:
        """x float (28, 28) in [0, 1] -> (mu, sigma) of q(z|x)"""
        mu, logvar = self.model.encode(torch.as_tensor(x, dtype=torch.float32).reshape(1, -1))
        return mu[0].tolist(), torch.exp(0.5 * logvar[0]).tolist()

    @torch.inference_mode()
    def reconstruct(self, x: np.ndarray) -> tuple[np.ndarray, dict]:
        """x float (28, 28) -> (decoded mu as uint8 (28, 28), {mu, sigma, elbo, bce, kl}), elbo = bce + kl in nats"""
        mu, sigma = self.posterior(x)
        recon = to_uint8(self.decode(np.array([mu], np.float32))[0])
        # -ELBO of this one image: the library's estimator over ELBO_SAMPLES copies (one posterior sample each)
        copies = torch.as_tensor(x, dtype=torch.float32).reshape(1, -1).expand(ELBO_SAMPLES, -1)  # (S, 784)
        figures = evaluate_elbo(self.model, copies, batch_size=ELBO_SAMPLES, seed=0)
        return recon, {"mu": mu, "sigma": sigma, "elbo": figures["elbo"], "bce": figures["bce"], "kl": figures["kl"]}

    @cached_property
    def scan(self) -> CoarseScan:
        """The plane's coarse scan for exact likelihoods: decoded once per model, on the first image asked about."""
        return CoarseScan(self.model)

    def likelihood(self, x: np.ndarray) -> ImageLikelihood:
        """x float (28, 28) in [0, 1] -> its -ELBO, IWAE-1000 bound and exact -log p(x), the inference gaps and the
        true posterior (vae/exact.py)."""
        return image_likelihood(self.model, torch.as_tensor(x, dtype=torch.float32), scan=self.scan)
