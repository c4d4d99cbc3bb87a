"""train: `python -m train` trains a VAE on MNIST, evaluates it on the test split and writes a Hub-ready folder."""
