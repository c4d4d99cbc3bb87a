"""One image's exact likelihood for people and programs: the /likelihood endpoint's figures as JSON, and the
Reconstruct tab's panel of the same figures, each with one plain sentence on what it means."""

from __future__ import annotations

import numpy as np

from vae.exact import ImageLikelihood

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


def likelihood_markdown(account: ImageLikelihood) -> str:
    """The Reconstruct tab's panel: the figures as a table with a sentence each, then the posterior's shape."""
    gaps, post = account.gaps, account.posterior
    far = float(np.linalg.norm(post.mean - account.q_mean))
    rows = [
        ("−ELBO", account.elbo, "what training minimises: the cost of the image under the encoder's guess q(z|x)."),
        (f"IWAE-{account.iwae_k}", account.iwae,
         f"a tighter bound: {account.iwae_k} samples from q, weighted by how well each explains the image."),
        ("exact −log p(x)", account.exact,
         "the truth: p(x|z) p(z) summed over the whole plane, which a 2-D latent space makes possible."),
        ("approximation gap", gaps.approximation,
         "what no Gaussian q could close: the true posterior is not Gaussian."),
        ("amortization gap", gaps.amortization,
         "what a better encoder could close: the best Gaussian for this image beats the encoder's by this much."),
    ]
    table = "| | nats | what it means |\n|---|---:|---|\n" + "".join(
        f"| {name} | {value:.2f} | {sentence} |\n" for name, value, sentence in rows)
    sd = np.sqrt(np.diag(post.cov))
    shape = (f"The true posterior's mean is ({post.mean[0]:.2f}, {post.mean[1]:.2f}), its spread "
             f"({sd[0]:.3f}, {sd[1]:.3f}); q(z|x)'s mean is {far:.2f} from it.")
    other = second_mode(account)
    if other:
        shape += (f" **The posterior has two modes:** the second, at ({other[0]:.2f}, {other[1]:.2f}), holds "
                  f"{100 * other[2]:.0f} % of the mass, and a single Gaussian q(z|x) can cover only one of them.")
    return table + "\n" + shape
