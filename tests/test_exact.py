"""vae/exact.py on the real MNIST test split with the bundled model: the exact log p(x) by quadrature, checked
against independent estimates (importance sampling with many samples, Monte-Carlo ELBO), and the true posterior's
second mode that q(z|x) misses. Run: python -m pytest tests/test_exact.py"""

from __future__ import annotations

import pytest
import torch

from vae.evaluate import evaluate_elbo, iwae_log_likelihood
from vae.exact import CoarseScan, PlaneGrid, exact_posterior


@pytest.fixture(scope="module")
def scan(bundled_model):
    return CoarseScan(bundled_model)


@pytest.mark.slow
def test_plane_grid_and_per_image_grid_agree_and_bound_the_elbo_and_iwae(bundled_model, test_tensor, scan):
    x = test_tensor[:12].reshape(12, -1)
    plane, mean, _ = PlaneGrid().log_px(bundled_model, x)
    for i in range(len(x)):
        post = exact_posterior(bundled_model, x[i], scan=scan)
        assert abs(post.log_px - float(plane[i])) < 0.01 and post.error < 0.01  # the tolerance it was asked for
        assert torch.allclose(torch.tensor(post.mean), mean[i], atol=1e-3)
    # ELBO <= IWAE-5000 <= exact, on the mean over the images (IWAE is a lower bound in expectation)
    iwae = iwae_log_likelihood(bundled_model, x, k=5000).mean()
    elbo = -evaluate_elbo(bundled_model, x)["elbo"]
    assert elbo < float(iwae) < float(plane.mean()) + 0.05


def test_a_posterior_with_a_mode_q_misses(bundled_model, test_tensor, scan):
    x = test_tensor[7].reshape(-1)  # a test image whose posterior has a second mode far from q's mean
    post = exact_posterior(bundled_model, x, scan=scan)
    mu, _ = bundled_model.encode(x[None])
    assert len(post.modes) >= 2
    far = [m for m in post.modes if ((torch.tensor(m[:2]) - mu[0].double()).norm() > 1)]
    assert far and far[0][2] > 0.5  # most of the mass is in a mode q(z|x) does not cover
    iwae = float(iwae_log_likelihood(bundled_model, x[None], k=1000)[0])
    assert post.log_px > iwae + 5  # sampling from q never reaches it
