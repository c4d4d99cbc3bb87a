"""The training objective (vae/objective.py) against values worked out by hand, and the KL closed form against a
Monte Carlo estimate.

    python -m pytest tests/test_objective.py      # about 2 s, no data needed

Every expected value is computed in the test from the textbook formula, with the arithmetic written out:
    BCE(x, p)        = -[x log p + (1 - x) log(1 - p)]            per pixel, summed over pixels
    KL(N(m, s²)||N(0,1)) = 1/2 (s² + m² - 1 - log s²)             per dimension, summed (Kingma & Welling, app. B)
"""

from __future__ import annotations

import math

import pytest
import torch

from vae import NegativeELBO, bernoulli_nll, kl_to_standard_normal, negative_elbo

LN2, LN3 = math.log(2.0), math.log(3.0)


# ---------------------------------------------------------------------------------------------------------
# Bernoulli negative log-likelihood


def test_bernoulli_nll_by_hand():
    # image 1: logits (0, ln 3) -> p = (1/2, 3/4); pixels x = (1, 0.25)
    #   pixel 1: -[1 * log 1/2]                          = ln 2
    #   pixel 2: -[0.25 log 3/4 + 0.75 log 1/4]          = -0.25 ln 3 + 0.25 ln 4 + 0.75 ln 4 = 2 ln 2 - 0.25 ln 3
    # image 2: logits (0, 0) -> p = 1/2 everywhere, so each pixel costs ln 2 whatever x is: 2 ln 2
    logits = torch.tensor([[0.0, LN3], [0.0, 0.0]])
    x = torch.tensor([[1.0, 0.25], [0.3, 0.9]])
    expected = torch.tensor([LN2 + 2 * LN2 - 0.25 * LN3, 2 * LN2])
    got = bernoulli_nll(logits, x)
    assert got.shape == (2,)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)


def test_bernoulli_nll_accepts_images_shaped_like_mnist():
    # x as (B, 1, 28, 28) with logits (B, 784): the same numbers as the flat layout
    logits = torch.linspace(-3, 3, 2 * 784).reshape(2, 784)
    x = torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    flat = bernoulli_nll(logits, x.reshape(2, 784))
    torch.testing.assert_close(bernoulli_nll(logits, x), flat, rtol=0, atol=0)
    # and per image it is the pixel sum of -[x log p + (1 - x) log(1 - p)] in float64
    p = torch.sigmoid(logits.double())
    xd = x.reshape(2, 784).double()
    by_formula = -(xd * p.log() + (1 - xd) * (1 - p).log()).sum(1)
    torch.testing.assert_close(flat.double(), by_formula, rtol=1e-6, atol=1e-4)


def test_bernoulli_nll_is_stable_for_huge_logits():
    # |logit| = 1e4 saturates sigmoid to exactly 0 or 1 in float32; a naive log(sigmoid) would give -inf.
    # BCE from logits l: softplus(l) - x l. For l = +1e4: softplus = 1e4 (+ e^-1e4), so
    #   x = 1: 1e4 - 1e4 = 0;   x = 0: 1e4;   x = 0.5: 1e4 - 5e3 = 5e3
    # For l = -1e4: softplus = e^-1e4 ~ 0, so x = 1: +1e4; x = 0: 0.
    logits = torch.tensor([[1e4], [1e4], [1e4], [-1e4], [-1e4]], requires_grad=True)
    x = torch.tensor([[1.0], [0.0], [0.5], [1.0], [0.0]])
    got = bernoulli_nll(logits, x)
    torch.testing.assert_close(got.detach(), torch.tensor([0.0, 1e4, 5e3, 1e4, 0.0]), rtol=1e-6, atol=1e-6)
    got.sum().backward()
    # d/dl = sigmoid(l) - x: (1 - 1, 1 - 0, 1 - 0.5, 0 - 1, 0 - 0)
    torch.testing.assert_close(logits.grad, torch.tensor([[0.0], [1.0], [0.5], [-1.0], [0.0]]), rtol=0, atol=1e-6)


# ---------------------------------------------------------------------------------------------------------
# KL to the standard normal prior


def test_kl_by_hand():
    # row 1: mu = (1, 0), logvar = (0, ln 2) -> s² = (1, 2)
    #   dim 1: 1/2 (1 + 1 - 1 - 0)     = 1/2
    #   dim 2: 1/2 (2 + 0 - 1 - ln 2)  = 1/2 - ln2 / 2
    #   total: 1 - ln 2 / 2
    # row 2: the prior itself (mu = 0, s² = 1): KL = 0
    mu = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    logvar = torch.tensor([[0.0, LN2], [0.0, 0.0]])
    got = kl_to_standard_normal(mu, logvar)
    assert got.shape == (2,)
    torch.testing.assert_close(got, torch.tensor([1 - LN2 / 2, 0.0]), rtol=0, atol=1e-6)


def test_kl_is_finite_at_the_models_logvar_limits():
    from vae.model import LOGVAR_MAX, LOGVAR_MIN

    # logvar at the clamp limits: 1/2 (e^lv + 0 - 1 - lv), finite in float32 at both ends
    logvar = torch.tensor([[LOGVAR_MIN], [LOGVAR_MAX]])
    got = kl_to_standard_normal(torch.zeros(2, 1), logvar)
    expected = torch.tensor([0.5 * (math.exp(v) - 1 - v) for v in (LOGVAR_MIN, LOGVAR_MAX)])
    assert torch.isfinite(got).all()
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-6)


def test_kl_closed_form_matches_monte_carlo():
    # KL(q || p) = E_q[log q(z) - log p(z)]. Estimate it from n samples and compare with the closed form; the
    # tolerance is 5 standard errors of the estimate, so a wrong formula (e.g. a missing 1/2, or sigma in place of
    # sigma²) fails while sampling noise passes (a 5-sigma miss has probability ~6e-7).
    gen = torch.Generator().manual_seed(1234)
    mu = torch.tensor([[0.5, -1.0], [2.0, 0.3], [0.0, 0.0]], dtype=torch.float64)
    logvar = torch.tensor([[-0.7, 0.4], [0.0, -2.0], [1.2, -1.5]], dtype=torch.float64)
    n = 200_000
    sigma = (0.5 * logvar).exp()
    eps = torch.randn((n, *mu.shape), generator=gen, dtype=torch.float64)  # (n, B, D)
    z = mu + sigma * eps
    log_q = (-0.5 * (math.log(2 * math.pi) + logvar + eps.pow(2))).sum(-1)  # (n, B); (z - mu)/sigma = eps
    log_p = (-0.5 * (math.log(2 * math.pi) + z.pow(2))).sum(-1)
    diff = log_q - log_p
    estimate, stderr = diff.mean(0), diff.std(0) / math.sqrt(n)
    closed = kl_to_standard_normal(mu, logvar)
    assert ((estimate - closed).abs() < 5 * stderr).all(), (estimate, closed, stderr)
    assert (stderr < 0.02).all()  # the check has teeth: the estimates are precise to a few hundredths of a nat


# ---------------------------------------------------------------------------------------------------------
# the -ELBO and its beta weighting


def _one_image_case():
    # one image of 2 pixels, latent of 2 dims: the two hand-computed parts from above
    logits = torch.tensor([[0.0, LN3]])
    x = torch.tensor([[1.0, 0.25]])
    mu = torch.tensor([[1.0, 0.0]])
    logvar = torch.tensor([[0.0, LN2]])
    bce = 3 * LN2 - 0.25 * LN3  # = ln 2 + (2 ln 2 - 0.25 ln 3)
    kl = 1 - LN2 / 2
    return (logits, x, mu, logvar), bce, kl


@pytest.mark.parametrize("beta", [0.0, 1.0, 4.0, 0.25])
def test_negative_elbo_is_bce_plus_beta_kl(beta):
    args, bce, kl = _one_image_case()
    out = negative_elbo(*args, beta=beta)
    assert isinstance(out, NegativeELBO)
    torch.testing.assert_close(out.bce, torch.tensor([bce]), rtol=0, atol=1e-6)
    torch.testing.assert_close(out.kl, torch.tensor([kl]), rtol=0, atol=1e-6)  # KL is reported unweighted
    torch.testing.assert_close(out.loss, torch.tensor([bce + beta * kl]), rtol=0, atol=1e-6)


def test_negative_elbo_default_beta_is_one_and_per_image():
    (logits, x, mu, logvar), bce, kl = _one_image_case()
    # a batch of the same image twice plus the "free" image: logits 0 (ln 2 per pixel), posterior = prior
    logits = torch.cat([logits, logits, torch.zeros(1, 2)])
    x = torch.cat([x, x, torch.tensor([[0.0, 1.0]])])
    mu = torch.cat([mu, mu, torch.zeros(1, 2)])
    logvar = torch.cat([logvar, logvar, torch.zeros(1, 2)])
    out = negative_elbo(logits, x, mu, logvar)
    torch.testing.assert_close(out.loss, torch.tensor([bce + kl, bce + kl, 2 * LN2]), rtol=0, atol=1e-6)


def test_negative_elbo_with_huge_logits_is_finite_and_exact():
    # one image of 4 pixels decoded with saturated logits: BCE = 0 + 1e4 + 0 + 1e4 (see the BCE test); KL = 0
    logits = torch.tensor([[1e4, 1e4, -1e4, -1e4]])
    x = torch.tensor([[1.0, 0.0, 0.0, 1.0]])
    out = negative_elbo(logits, x, torch.zeros(1, 2), torch.zeros(1, 2))
    assert torch.isfinite(out.loss).all()
    torch.testing.assert_close(out.loss, torch.tensor([2e4]), rtol=1e-6, atol=0)
