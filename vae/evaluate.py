"""Test-set figures: -ELBO (with its BCE and KL parts) and the importance-weighted bound on -log p(x).

IWAE bound: Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders" (2015), eq. 8:
    log p(x) >= E[ log 1/K sum_k p(x, z_k) / q(z_k|x) ],  z_k ~ q(z|x),
so -log p(x) <= -logmeanexp_k [log p(x|z_k) + log p(z_k) - log q(z_k|x)], tighter as K grows.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
import torch.nn.functional as F

from vae.model import VAE
from vae.objective import negative_elbo

LOG_2PI = math.log(2 * math.pi)


@torch.inference_mode()
def evaluate_elbo(model: VAE, x: torch.Tensor, batch_size: int = 2000, seed: int = 0) -> dict[str, float]:
    """x (N, 784) in [0, 1] -> mean nats per image: 'elbo' (= -ELBO with one posterior sample, beta = 1, as
    the reference reports it), 'bce', 'kl', and 'elbo_at_mu' (BCE of the decoded posterior mean + KL)."""
    model.eval()
    device = next(model.parameters()).device
    gen = torch.Generator(device=device).manual_seed(seed)
    totals = torch.zeros(4, dtype=torch.float64)
    for xb in x.split(batch_size):
        xb = xb.to(device).reshape(len(xb), -1)
        mu, logvar = model.encode(xb)
        z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=gen, device=device)
        sample = negative_elbo(model.decode_logits(z), xb, mu, logvar, beta=1.0)
        at_mu = negative_elbo(model.decode_logits(mu), xb, mu, logvar, beta=1.0)
        totals += torch.stack([sample.loss.sum(), sample.bce.sum(), sample.kl.sum(), at_mu.loss.sum()]).double().cpu()
    elbo, bce, kl, at_mu = (totals / len(x)).tolist()
    return {"elbo": elbo, "bce": bce, "kl": kl, "elbo_at_mu": at_mu}


@torch.inference_mode()
def pixel_entropy(x: torch.Tensor, batch_size: int = 2000) -> float:
    """x (N, 784) in [0, 1] -> mean over images of the summed binary entropy H(x_p) = -x_p log x_p - (1 - x_p)
    log(1 - x_p), in nats: the BCE of a perfect reconstruction, below which no Bernoulli decoder's BCE (and so no
    -ELBO) can go on grey-level targets. A data set with more grey levels has a higher floor."""
    total = torch.zeros((), dtype=torch.float64)
    for xb in x.split(batch_size):
        xb = xb.reshape(len(xb), -1).double()
        total += (-torch.xlogy(xb, xb) - torch.xlogy(1 - xb, 1 - xb)).sum()  # xlogy: 0 log 0 = 0
    return float(total / len(x))


def _log_normal(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag(exp(logvar))) summed over the last axis."""
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) / logvar.exp()).sum(-1)


@torch.inference_mode()
def iwae_chunks(model: VAE, x: torch.Tensor, k: int = 1000, samples_per_chunk: int = 50_000,
                seed: int = 0) -> Iterator[torch.Tensor]:
    """x (N, 784) -> yields (B,) importance-weighted estimates of log p(x) (lower bounds), B images at a time, with
    k samples each: as many images per chunk as keep (B x k) decoded samples within `samples_per_chunk`.

    One generator runs through all chunks, so the chunks together are iwae_log_likelihood's result to the bit;
    a caller can time the first chunk to say how long the rest will take (python -m train does).
    """
    model.eval()
    device = next(model.parameters()).device
    gen = torch.Generator(device=device).manual_seed(seed)
    images_per_chunk = max(1, samples_per_chunk // k)
    for xb in x.split(images_per_chunk):
        xb = xb.to(device).reshape(len(xb), -1)  # (B, P)
        mu, logvar = model.encode(xb)  # (B, D)
        eps = torch.randn((len(xb), k, mu.shape[1]), generator=gen, device=device)
        z = mu[:, None] + torch.exp(0.5 * logvar)[:, None] * eps  # (B, K, D)
        logits = model.decode_logits(z.reshape(-1, z.shape[-1])).reshape(len(xb), k, -1)  # (B, K, P)
        # log p(x|z) = -BCE = sum_p [x l - softplus(l)]
        log_px_z = torch.einsum("bkp,bp->bk", logits, xb) - F.softplus(logits).sum(-1)
        log_pz = -0.5 * (LOG_2PI + z.pow(2)).sum(-1)
        log_qz = _log_normal(z, mu[:, None], logvar[:, None])
        log_w = (log_px_z + log_pz - log_qz).double()  # (B, K)
        yield (torch.logsumexp(log_w, dim=1) - math.log(k)).cpu()


def iwae_log_likelihood(model: VAE, x: torch.Tensor, k: int = 1000, samples_per_chunk: int = 50_000,
                        seed: int = 0) -> torch.Tensor:
    """x (N, 784) -> (N,) importance-weighted estimate of log p(x) (a lower bound) with k samples each."""
    return torch.cat(list(iwae_chunks(model, x, k=k, samples_per_chunk=samples_per_chunk, seed=seed)))


def iwae_bound(model: VAE, x: torch.Tensor, k: int = 1000, seed: int = 0) -> float:
    """Mean importance-weighted upper bound on -log p(x), nats per image (K = 1000 for reported figures)."""
    return float(-iwae_log_likelihood(model, x, k=k, seed=seed).mean())


__all__ = ["evaluate_elbo", "iwae_bound", "iwae_chunks", "iwae_log_likelihood", "pixel_entropy"]
