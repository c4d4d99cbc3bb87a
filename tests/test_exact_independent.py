"""vae/exact.py against values computed independently of it, on real MNIST test images and the bundled model.

Nothing here inverts vae/exact.py's own formulas: log p(x|z) is this file's Bernoulli formula on
`model.decode_logits` (log sigmoid(l) - (1 - x) l, not exact.py's x l - softplus(l)), Gaussians' densities are
torch.distributions', and the integrals are scipy's or Monte-Carlo's:

1. exact log p(x) (`exact_posterior`, `PlaneGrid().log_px`) and the posterior's mean and covariance against
   adaptive Gauss-Kronrod cubature (`scipy.integrate.cubature`) of exp(log p(x, z) - C) over the box [-8, 8]^2, C the
   log joint's maximum found by `scipy.optimize`, on test images 0, 1 (a wide posterior q's mean sits off) and 7 (the
   posterior with a mode q misses, tests/test_exact.py);
2. `gaussian_elbo`'s Gauss-Hermite ELBO of the encoder's Gaussian, and `inference_gaps`' two ELBOs (q* started
   from q_phi and from scipy's posterior moments), against reparameterised Monte-Carlo ELBOs, within 4 standard
   errors, with ELBO(q_phi) <= ELBO(q*) <= scipy's log p(x);
3. `elbo_surgery`'s KL(q(z) || p(z)) of the aggregate posterior over 400 test images against Monte-Carlo from the
   mixture of the encoder's Gaussians (log q(z) by this file's mixture formula), and its hole share against
   Monte-Carlo from the prior, within 4 standard errors;
4. IWAE with k = 20,000 (`vae.evaluate.iwae_log_likelihood`) between the ELBO and the exact log p(x) (plus its
   Monte-Carlo error).

Run: python -m pytest tests/test_exact_independent.py   (about 60 s on one core; all but one test are marked slow)
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import integrate, optimize
from torch.distributions import MultivariateNormal, Normal

from vae.evaluate import iwae_log_likelihood
from vae.exact import CoarseScan, PlaneGrid, elbo_surgery, exact_posterior, gaussian_elbo, inference_gaps

IMAGES = (0, 1, 7)  # 7: most of the posterior's mass is in a mode far from q(z|x)'s mean (tests/test_exact.py)
BOX = 8.0  # the cubature's box [-BOX, BOX]^2, wider than exact.py's [-6, 6]^2
LOG_2PI = math.log(2 * math.pi)


def log_bernoulli(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log p(x|z) = sum_p x_p log s_p + (1 - x_p) log(1 - s_p), s = sigmoid(logits), with log(1 - s) = log s - l;
    (n, P) logits, (P,) x -> (n,), summed in float64."""
    return (F.logsigmoid(logits) - (1 - x.to(logits.dtype)) * logits).sum(-1, dtype=torch.float64)


def log_std_normal(z: torch.Tensor) -> torch.Tensor:
    return -0.5 * z.double().pow(2).sum(-1) - LOG_2PI  # 2-D


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread for this file: its batches are small (a few hundred points), where a second thread on a
    busy machine costs more than it gives."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def model(bundled_model):
    return bundled_model.eval()


@pytest.fixture(scope="module")
def model64(model):
    """A float64 copy, so the cubature integrates a smooth function rather than float32 rounding."""
    return copy.deepcopy(model).double().eval()


@pytest.fixture(scope="module")
def scan(model):
    return CoarseScan(model)


@pytest.fixture(scope="module")
def exact(model, test_tensor, scan):
    """exact_posterior of each image in IMAGES."""
    return {i: exact_posterior(model, test_tensor[i].reshape(-1), scan=scan) for i in IMAGES}


@pytest.fixture(scope="module")
def plane(model, test_tensor):
    """PlaneGrid()'s (log p(x), mean, cov) of each image in IMAGES, at the default grid."""
    log_px, mean, cov = PlaneGrid().log_px(model, test_tensor[list(IMAGES)].reshape(len(IMAGES), -1))
    return {i: (float(log_px[j]), mean[j].numpy(), cov[j].numpy()) for j, i in enumerate(IMAGES)}


# ---------------------------------------------------------------------------------------------------------
# 1. the exact answer by scipy


@dataclass
class Reference:
    log_px: float
    mean: np.ndarray
    cov: np.ndarray
    modes: list  # (z (2,), log joint there), best first
    error: float  # the cubature's error estimate on log p(x), nats


def scipy_reference(model, model64, x: torch.Tensor) -> Reference:
    x64 = x.reshape(-1).double()

    def log_joint_t(z: torch.Tensor, net=model64) -> torch.Tensor:
        return log_bernoulli(net.decode_logits(z.to(next(net.parameters()).dtype)), x64) + log_std_normal(z)

    def log_joint(z: np.ndarray, net=model64) -> np.ndarray:
        with torch.no_grad():
            return log_joint_t(torch.as_tensor(np.asarray(z, dtype=np.float64).reshape(-1, 2)), net).numpy()

    # where the mass is: local maxima of the log joint on a 0.1 grid over the box (float32 is enough to look),
    # each refined by L-BFGS-B; the best is C, and every maximum is a breakpoint for the cubature
    a = np.arange(-BOX, BOX + 1e-9, 0.1)
    n = len(a)
    g = np.stack(np.meshgrid(a, a), -1)  # (n, n, 2)
    lj = log_joint(g.reshape(-1, 2), net=model).reshape(n, n)
    padded = np.pad(lj, 1, constant_values=-np.inf)
    peak = np.ones((n, n), bool)
    for d1 in (-1, 0, 1):
        for d2 in (-1, 0, 1):
            peak &= lj >= padded[1 + d1:1 + d1 + n, 1 + d2:1 + d2 + n]
    starts = sorted(np.argwhere(peak & (lj > lj.max() - 20)), key=lambda rc: -lj[tuple(rc)])[:5]

    def neg_log_joint(z: np.ndarray):
        zt = torch.tensor(z, dtype=torch.float64, requires_grad=True)
        v = -log_joint_t(zt[None])[0]
        (grad,) = torch.autograd.grad(v, zt)
        return float(v.detach()), grad.numpy()

    modes: list = []
    for rc in starts:
        r = optimize.minimize(neg_log_joint, g[tuple(rc)], jac=True, method="L-BFGS-B")
        if not any(np.abs(r.x - z).max() < 1e-3 for z, _ in modes):
            modes.append((r.x, -float(r.fun)))
    modes.sort(key=lambda m: -m[1])
    z0, C = modes[0]
    edge = max(lj[0].max(), lj[-1].max(), lj[:, 0].max(), lj[:, -1].max())
    assert edge < C - 40, "the box is not generous: the log joint on its edge is within 40 nats of the maximum"

    def f(z: np.ndarray) -> np.ndarray:  # (k, 2) -> (k, 6): mass and first and second moments about z0
        w = np.exp(log_joint(z) - C)
        d = z - z0
        return np.stack([w, w * d[:, 0], w * d[:, 1], w * d[:, 0] ** 2, w * d[:, 0] * d[:, 1], w * d[:, 1] ** 2], 1)

    res = integrate.cubature(f, [-BOX, -BOX], [BOX, BOX], rule="gk15", rtol=1e-4, points=[z for z, _ in modes])
    assert res.status == "converged"
    mass, m1, m2 = res.estimate[0], res.estimate[1:3] / res.estimate[0], res.estimate[3:] / res.estimate[0]
    cov = np.array([[m2[0], m2[1]], [m2[1], m2[2]]]) - np.outer(m1, m1)
    return Reference(log_px=C + math.log(mass), mean=z0 + m1, cov=cov, modes=modes,
                     error=float(res.error[0] / mass))


@pytest.fixture(scope="module")
def reference(model, model64, test_tensor):
    cache: dict[int, Reference] = {}

    def get(i: int) -> Reference:
        if i not in cache:
            cache[i] = scipy_reference(model, model64, test_tensor[i])
        return cache[i]

    return get


@pytest.mark.slow
@pytest.mark.parametrize("i", IMAGES)
def test_exact_log_px_matches_scipy_cubature(i, reference, exact, plane):
    ref = reference(i)
    assert ref.error < 1e-3
    assert abs(exact[i].log_px - ref.log_px) < 0.01, (exact[i].log_px, ref.log_px)
    assert abs(plane[i][0] - ref.log_px) < 0.01, (plane[i][0], ref.log_px)


@pytest.mark.slow
@pytest.mark.parametrize("i", IMAGES)
def test_posterior_mean_and_covariance_match_scipy_moments(i, reference, exact, plane):
    # Tolerance: both grids are converged to 0.01 nats in log p(x), i.e. to a relative error eps ~ 0.01 in the
    # weights. A relative error delta(z), |delta| <= eps, in the weights moves the mean by E[delta (z - mean)] <=
    # eps E|z_i - mean_i| <= eps sd_i and the covariance by at most about eps sd_i sd_j (Cauchy-Schwarz), so 2 eps
    # in units of the posterior's own sd: 0.02 sd_i for mean_i, 0.02 sd_i sd_j for cov_ij. (Measured: ~1e-6.)
    ref = reference(i)
    sd = np.sqrt(np.diag(ref.cov))
    for name, mean, cov in [("exact_posterior", exact[i].mean, exact[i].cov), ("PlaneGrid", *plane[i][1:])]:
        assert np.all(np.abs(mean - ref.mean) <= 0.02 * sd), (name, mean, ref.mean, sd)
        assert np.all(np.abs(cov - ref.cov) <= 0.02 * np.outer(sd, sd)), (name, cov, ref.cov)


# ---------------------------------------------------------------------------------------------------------
# 2. Gauss-Hermite ELBOs against Monte-Carlo


@torch.no_grad()
def mc_elbo(model, x: torch.Tensor, mean: torch.Tensor, chol: torch.Tensor, n: int, seed: int,
            chunk: int = 16384) -> tuple[float, float]:
    """ELBO of q = N(mean, chol chol^T) from n reparameterised samples -> (estimate, standard error)."""
    gen = torch.Generator().manual_seed(seed)
    mean, chol = mean.double(), chol.double()
    q = MultivariateNormal(mean, scale_tril=chol)
    prior = MultivariateNormal(torch.zeros(2, dtype=torch.float64), torch.eye(2, dtype=torch.float64))
    terms = []
    for _ in range(n // chunk):
        z = mean + torch.randn(chunk, 2, generator=gen, dtype=torch.float64) @ chol.T
        terms.append(log_bernoulli(model.decode_logits(z.float()), x.reshape(-1)) + prior.log_prob(z) - q.log_prob(z))
    t = torch.cat(terms)
    return float(t.mean()), float(t.std() / math.sqrt(len(t)))


def encoder_gaussian(model, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.no_grad():
        mu, logvar = model.encode(x.reshape(1, -1))
    return mu[0].double(), torch.diag(torch.exp(0.5 * logvar[0].double()))


@pytest.mark.parametrize("i", [0, pytest.param(1, marks=pytest.mark.slow), pytest.param(7, marks=pytest.mark.slow)])
def test_gaussian_elbo_of_the_encoders_gaussian_matches_monte_carlo(i, model, test_tensor):
    x = test_tensor[i].reshape(-1)
    mean, chol = encoder_gaussian(model, x)
    with torch.no_grad():
        gh = float(gaussian_elbo(model, x, mean, chol))
    mc, se = mc_elbo(model, x, mean, chol, n=1 << 16, seed=i)
    assert abs(gh - mc) < 4 * se, (gh, mc, se)


@pytest.mark.slow
@pytest.mark.parametrize("i", [0, 7])
def test_inference_gaps_best_gaussian_matches_monte_carlo_and_stays_under_the_exact(i, model, test_tensor, reference):
    x = test_tensor[i].reshape(-1)
    ref = reference(i)
    # started from q_phi and from scipy's posterior moments (q_phi misses image 7's main mode)
    gaps = inference_gaps(model, x, ref.log_px, starts=[(ref.mean, ref.cov)])
    mc, se = mc_elbo(model, x, torch.tensor(gaps.best_mean), torch.linalg.cholesky(torch.tensor(gaps.best_cov)),
                     n=1 << 15, seed=100 + i)
    assert abs(gaps.elbo_best - mc) < 4 * se, (gaps.elbo_best, mc, se)
    mc_enc, se_enc = mc_elbo(model, x, *encoder_gaussian(model, x), n=1 << 14, seed=200 + i)
    assert abs(gaps.elbo_encoder - mc_enc) < 4 * se_enc, (gaps.elbo_encoder, mc_enc, se_enc)
    # no Gaussian's ELBO is above log p(x): ELBO(q_phi) <= ELBO(q*) <= log p(x) (scipy's; both quadratures are good
    # to ~1e-6 nats, image 0's approximation gap is 0.003)
    assert gaps.elbo_encoder <= gaps.elbo_best <= ref.log_px + 1e-4
    assert gaps.approximation == pytest.approx(ref.log_px - gaps.elbo_best, abs=1e-9)


# ---------------------------------------------------------------------------------------------------------
# 3. ELBO surgery against Monte-Carlo


SURGERY_IMAGES = 400  # elbo_surgery's default grid costs ~25 ms of one core per image


def mixture_log_density(mu: torch.Tensor, sd: torch.Tensor, z: torch.Tensor, chunk: int = 2048) -> torch.Tensor:
    """log (1/N) sum_n N(z; mu_n, diag(sd_n^2)) at z (S, 2), from (N, 2) means and sds -> (S,)."""
    components = Normal(mu, sd)  # batch shape (N, 2)
    return torch.cat([torch.logsumexp(components.log_prob(zc[:, None, :]).sum(-1), dim=1) - math.log(len(mu))
                      for zc in z.split(chunk)])


@pytest.mark.slow
def test_elbo_surgery_marginal_kl_and_holes_match_monte_carlo(model, test_tensor):
    with torch.no_grad():
        mu, logvar = model.encode(test_tensor[:SURGERY_IMAGES].reshape(SURGERY_IMAGES, -1))
    mu, logvar = mu.double(), logvar.double()
    surgery = elbo_surgery(mu, logvar)
    sd = torch.exp(0.5 * logvar)
    prior = Normal(torch.zeros(2, dtype=torch.float64), torch.ones(2, dtype=torch.float64))
    gen = torch.Generator().manual_seed(0)

    # KL(q(z) || p(z)) = E_q[log q(z) - log p(z)], z from the mixture: a uniform image, then its Gaussian
    s = 1 << 15
    n = torch.randint(len(mu), (s,), generator=gen)
    z = mu[n] + sd[n] * torch.randn(s, 2, generator=gen, dtype=torch.float64)
    t = mixture_log_density(mu, sd, z) - prior.log_prob(z).sum(-1)
    kl, kl_se = float(t.mean()), float(t.std() / math.sqrt(s))
    assert abs(surgery.marginal_kl - kl) < 4 * kl_se, (surgery.marginal_kl, kl, kl_se)

    # the hole share: the prior's mass where q(z) < 0.1 p(z), z from the prior
    z = torch.randn(s, 2, generator=gen, dtype=torch.float64)
    holes = (mixture_log_density(mu, sd, z) < prior.log_prob(z).sum(-1) + math.log(0.1)).double().mean().item()
    holes_se = math.sqrt(holes * (1 - holes) / s)
    assert abs(surgery.hole_share - holes) < 4 * holes_se, (surgery.hole_share, holes, holes_se)

    # the mean KL(q(z|x) || p(z)) in closed form, and 0 <= I(x; z) <= log N (the mutual information of a uniform
    # mixture index with z is at most the index's entropy)
    mean_kl = float((0.5 * (mu.pow(2) + sd.pow(2) - 1 - logvar)).sum(1).mean())
    assert surgery.mean_kl == pytest.approx(mean_kl, rel=1e-9)
    assert 0 <= surgery.mutual_information <= math.log(SURGERY_IMAGES)


# ---------------------------------------------------------------------------------------------------------
# 4. IWAE between the ELBO and the exact log p(x)


@torch.no_grad()
def iwae_standard_error(model, x: torch.Tensor, k: int, seed: int) -> float:
    """The Monte-Carlo error of an IWAE-k estimate, by the delta method from k fresh importance weights of q(z|x):
    sd(log mean w) ~ sd(w) / (sqrt(k) mean(w))."""
    mean, chol = encoder_gaussian(model, x)
    gen = torch.Generator().manual_seed(seed)
    z = mean + torch.randn(k, 2, generator=gen, dtype=torch.float64) @ chol.T
    log_w = (log_bernoulli(model.decode_logits(z.float()), x) + log_std_normal(z)
             - MultivariateNormal(mean, scale_tril=chol).log_prob(z))
    w = torch.exp(log_w - log_w.max())
    return float(w.std() / (w.mean() * math.sqrt(k)))


@pytest.mark.slow
@pytest.mark.parametrize("i", IMAGES)
def test_iwae_with_big_k_lies_between_the_elbo_and_the_exact_log_px(i, model, test_tensor, exact):
    k = 20_000
    x = test_tensor[i].reshape(-1)
    iwae = float(iwae_log_likelihood(model, x[None], k=k)[0])
    se = iwae_standard_error(model, x, k, seed=300 + i)
    with torch.no_grad():
        elbo = float(gaussian_elbo(model, x, *encoder_gaussian(model, x)))
    assert elbo - 4 * se <= iwae <= exact[i].log_px + 4 * se, (elbo, iwae, exact[i].log_px, se)
    if i == 0:  # q(z|x) covers this posterior: IWAE-k is within its Monte-Carlo error of log p(x)
        assert abs(iwae - exact[i].log_px) < 4 * se, (iwae, exact[i].log_px, se)
