"""Evaluate any model on the MNIST test split with the code that evaluates our runs: -ELBO (BCE + KL), -ELBO at
z = mu, and the IWAE bound. Used for the README's table, e.g. for the earlier version's weights:

    python bench/evaluate_model.py path/to/seed_vae_mnist.safetensors --arch mlp --data-dir "$MNIST_DIR"
    python bench/evaluate_model.py pretrained --data-dir data/mnist     # after `python -m train --download ...`
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vae import VAE, VAEConfig, evaluate_elbo, iwae_bound  # noqa: E402
from vae.mnist import as_tensor, load_mnist  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", type=Path, help="a model folder (config.json + model.safetensors) or a bare .safetensors")
    p.add_argument("--arch", default="mlp", help="architecture of a bare .safetensors file")
    p.add_argument("--data-dir", default=None, help="MNIST folder (default $MNIST_DIR)")
    p.add_argument("--iwae-k", type=int, default=1000, help="importance samples per image")
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = p.parse_args()

    if args.model.is_dir():
        model = VAE.from_pretrained(args.model)
    else:
        model = VAE(VAEConfig(arch=args.arch)).eval()
        model.load_weights(args.model)
    x = as_tensor(load_mnist(args.data_dir, "test")[0])
    t0 = time.perf_counter()
    figures = evaluate_elbo(model, x)
    figures.update(iwae=iwae_bound(model, x, k=args.iwae_k), iwae_k=args.iwae_k,
                   parameters=sum(p.numel() for p in model.parameters()), seconds=time.perf_counter() - t0)
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
