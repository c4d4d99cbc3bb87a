"""Evaluate any model on the test split of the data set it was trained on (its config.json's "dataset"; none named:
MNIST) with the code that evaluates our runs: -ELBO (BCE + KL), -ELBO at z = mu, and the IWAE bound. Used for the
README's table, e.g. for the earlier version's weights:

    python bench/evaluate_model.py path/to/seed_vae_mnist.safetensors --arch mlp --data-dir "$MNIST_DIR"
    python bench/evaluate_model.py pretrained --data-dir data/mnist     # after `python -m train --download ...`
    python bench/evaluate_model.py pretrained/fashion --data-dir data/fashion-mnist
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vae import VAE, VAEConfig, evaluate_elbo, iwae_bound  # noqa: E402
from vae.datasets import DATASETS, as_tensor, get_dataset, load_split  # noqa: E402
from vae.evaluate import pixel_entropy  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", type=Path, help="a model folder (config.json + model.safetensors) or a bare .safetensors")
    p.add_argument("--arch", default="mlp", help="architecture of a bare .safetensors file")
    p.add_argument("--dataset", choices=list(DATASETS), default=None,
                   help="data set of a bare .safetensors file (default: mnist); a folder's config.json names its own")
    p.add_argument("--data-dir", default=None, help="the data set's folder (default $MNIST_DIR, for fashion-mnist "
                                                    "$FASHION_MNIST_DIR)")
    p.add_argument("--iwae-k", type=int, default=1000, help="importance samples per image")
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = p.parse_args()

    if args.model.is_dir():
        model = VAE.from_pretrained(args.model)
        if args.dataset and args.dataset != model.config.dataset:
            p.error(f"{args.model} was trained on {model.config.dataset}, not {args.dataset}")
    else:
        model = VAE(VAEConfig(arch=args.arch, dataset=args.dataset or "mnist")).eval()
        model.load_weights(args.model)
    dataset = get_dataset(model.config.dataset)
    x = as_tensor(load_split(args.data_dir, "test", dataset)[0])
    t0 = time.perf_counter()
    figures = {"dataset": dataset.name, **evaluate_elbo(model, x), "pixel_entropy": pixel_entropy(x)}
    figures.update(iwae=iwae_bound(model, x, k=args.iwae_k), iwae_k=args.iwae_k,
                   parameters=sum(p.numel() for p in model.parameters()), seconds=time.perf_counter() - t0)
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
