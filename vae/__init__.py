"""vae: a VAE with a 2-D latent space for MNIST and Fashion-MNIST — the model, its objective and evaluation, the
data sets' reading, image composition and Hugging Face Hub I/O. Knows nothing of Gradio or of the training loop."""

from vae.config import VAEConfig
from vae.datasets import DataSetError, load_split
from vae.evaluate import evaluate_elbo, iwae_bound, iwae_log_likelihood
from vae.mnist import MNISTError, load_mnist
from vae.model import VAE, WeightsError
from vae.objective import NegativeELBO, bernoulli_nll, kl_to_standard_normal, negative_elbo

__all__ = [
    "VAE", "VAEConfig", "WeightsError", "DataSetError", "MNISTError", "load_split", "load_mnist", "negative_elbo",
    "NegativeELBO",
    "bernoulli_nll", "kl_to_standard_normal", "evaluate_elbo", "iwae_bound", "iwae_log_likelihood",
]
