"""The training objective: per-image negative ELBO = BCE summed over pixels + beta * KL(q(z|x) || N(0, I)).

Pixels are the grey levels in [0, 1] (not binarized), as in the spec.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F


class NegativeELBO(NamedTuple):
    loss: torch.Tensor  # (B,) bce + beta * kl, nats per image
    bce: torch.Tensor  # (B,) -log p(x|z), summed over pixels
    kl: torch.Tensor  # (B,) KL(q(z|x) || N(0, I))


def kl_to_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag(exp(logvar))) || N(0, I)) per row (B, D) -> (B,); Kingma & Welling (2013), appendix B:
    -1/2 * sum(1 + log sigma^2 - mu^2 - sigma^2)."""
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=-1)


def bernoulli_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log p(x|z) = BCE summed over pixels, from logits (stable: log-sum-exp inside), (B, ...) -> (B,)."""
    x = x.reshape(logits.shape)
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(dim=1)


def negative_elbo(
    logits: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, beta: float = 1.0
) -> NegativeELBO:
    """Per-image -ELBO from the decoder's logits for one posterior sample and the posterior's (mu, logvar)."""
    bce = bernoulli_nll(logits, x)
    kl = kl_to_standard_normal(mu, logvar)
    return NegativeELBO(bce + beta * kl, bce, kl)
