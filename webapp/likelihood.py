"""One image's exact likelihood for people and programs: the /likelihood endpoint's figures as JSON, and the
Reconstruct tab's panel of the same figures, each with one plain sentence on what it means, with the caption of the
heat map beside them (vae/posterior_map.py)."""

from __future__ import annotations

import logging

import numpy as np

from vae.exact import ImageLikelihood

log = logging.getLogger("vae_explorer")

BIMODAL_SHARE = 0.05  # a second mode holding at least this share of the posterior's mass is called out


def likelihood_figures(account: ImageLikelihood, window) -> dict:
    """-> /likelihood's dict: the three figures and two gaps in nats, the posterior's and both Gaussians' moments."""
    post, gaps = account.posterior, account.gaps
    return {
        "exact": account.exact, "elbo": account.elbo, "iwae": account.iwae, "iwae_k": account.iwae_k,
        "approximation_gap": gaps.approximation, "amortization_gap": gaps.amortization,
        "posterior": {"mean": post.mean.tolist(), "cov": post.cov.tolist(),
                      "modes": [{"z": [z1, z2], "share": share} for z1, z2, share in post.modes]},
        "q": {"mu": account.q_mean.tolist(), "sigma": account.q_sigma.tolist()},
        "best_gaussian": {"mean": gaps.best_mean.tolist(), "cov": gaps.best_cov.tolist()},
        "quadrature": {"points": post.points, "error": post.error},
        "window": [float(w) for w in window],
    }


def second_mode(account: ImageLikelihood) -> tuple[float, float, float] | None:
    """The posterior's second mode when it holds at least BIMODAL_SHARE of the mass, else None."""
    modes = account.posterior.modes
    return modes[1] if len(modes) > 1 and modes[1][2] >= BIMODAL_SHARE else None


def table_cell(text: str) -> str:
    """Text for a cell of a Markdown table: a "|" (as in q(z|x)) escaped, or it would end the cell there."""
    return text.replace("|", r"\|")


def likelihood_markdown(account: ImageLikelihood) -> str:
    """The Reconstruct tab's panel: the figures as a table with a sentence each, then the posterior's shape."""
    gaps, post = account.gaps, account.posterior
    far = float(np.linalg.norm(post.mean - account.q_mean))
    rows = [
        ("−ELBO", account.elbo, "what training minimises: the image's cost when z is drawn from the encoder's guess "
                                "q(z|x) (computed here without sampling noise)."),
        (f"IWAE-{account.iwae_k}", account.iwae,
         f"a tighter bound from {account.iwae_k} samples of q, each weighted by how well it explains the image; an "
         "estimate, so by chance it can fall a little below the truth."),
        ("exact −log p(x)", account.exact,
         "the truth: p(x|z) p(z) summed over the whole latent plane, which only a 2-D latent space makes affordable."),
        ("approximation gap", gaps.approximation,
         "what even the best Gaussian for this image leaves: how far the true posterior is from a Gaussian's shape."),
        ("amortization gap", gaps.amortization,
         "what a better encoder could close: the best Gaussian for this image beats the encoder's q(z|x) by this "
         "much."),
    ]
    table = "| | nats | what it means |\n|---|---:|---|\n" + "".join(
        f"| {name} | {value:.2f} | {table_cell(sentence)} |\n" for name, value, sentence in rows)
    sd = np.sqrt(np.diag(post.cov))
    shape = ("The two gaps add up to −ELBO minus the exact −log p(x). "
             f"The true posterior's mean is ({post.mean[0]:.2f}, {post.mean[1]:.2f}), its spread "
             f"({sd[0]:.3f}, {sd[1]:.3f}); q(z|x)'s mean is {far:.2f} from it.")
    other = second_mode(account)
    if other:
        shape += (f" **The posterior has two modes:** the second, at ({other[0]:.2f}, {other[1]:.2f}), holds "
                  f"{100 * other[2]:.0f} % of the mass, and a single Gaussian q(z|x) can cover only one of them.")
    return table + "\n" + shape


def heat_map_caption(window) -> str:
    """What vae.posterior_map.posterior_heat_map's picture shows, and the latent box `window` it covers."""
    z1_lo, z1_hi, z2_lo, z2_hi = window
    return ("**Colour:** the true posterior p(z|x), dark where it holds the most mass, light where it holds none "
            "(the square root of each pixel's share of the darkest, so that the tails show). **Orange:** the "
            "encoder's guess q(z|x), its 1σ (thick) and 2σ (thin) ellipses and its mean (dot). **Blue crosses:** "
            f"the true posterior's modes. The square spans z1 from {z1_lo:.2f} to {z1_hi:.2f} and z2 from "
            f"{z2_lo:.2f} to {z2_hi:.2f}, z2 growing upwards.")


def warm_up(explorer, x: np.ndarray) -> None:
    """One likelihood computed and thrown away, so the first visitor's is as fast as the next: the model's coarse
    scan is built, and L-BFGS's first step imports torch._dynamo (3.6 s of a 5.4 s first call, measured). For a
    background thread at start-up."""
    try:
        explorer.likelihood(x)
    except Exception:  # noqa: BLE001 a warm-up that fails leaves the first request to do the work, and to report it
        log.exception("warming up the exact likelihood failed")
