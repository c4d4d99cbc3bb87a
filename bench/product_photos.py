"""How far a product photo made from a Fashion-MNIST test image lands from that image's own latent mean, after the
app's preparation (vae/preprocess.py, preprocess_product): each image inverted to dark-on-white, enlarged 12 times
with one of Pillow's filters and pasted off-centre on a 640x480 white canvas, then prepared and encoded.

    python bench/product_photos.py pretrained/fashion --data-dir data/fashion-mnist      # every 50th test image

Prints, per enlargement filter, the median, 90th percentile and largest distance |mu - mu_test| and how many images
land 0.2 or more away (tests/test_fashion_app.py asserts < 0.2 for the ten examples, nearest-neighbour).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vae import VAE  # noqa: E402
from vae.datasets import load_split  # noqa: E402
from vae.latents import load_latents  # noqa: E402
from vae.preprocess import preprocess_product  # noqa: E402

FILTERS = (Image.Resampling.NEAREST, Image.Resampling.BILINEAR, Image.Resampling.LANCZOS)


def product_photo(item: np.ndarray, method, scale: int = 12) -> np.ndarray:
    big = Image.fromarray(255 - item).resize((28 * scale, 28 * scale), method)
    photo = Image.new("RGB", (640, 480), "white")
    photo.paste(big, (40, 100))
    return np.asarray(photo)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", type=Path, help="a Fashion-MNIST model folder with its latents.safetensors")
    p.add_argument("--data-dir", default=None, help="Fashion-MNIST folder (default $FASHION_MNIST_DIR)")
    p.add_argument("--every", type=int, default=50, help="take every N-th test image (default: %(default)s)")
    args = p.parse_args()

    torch.set_num_threads(1)
    model = VAE.from_pretrained(args.model)
    own = load_latents(args.model / "latents.safetensors")["mu"]
    images, _ = load_split(args.data_dir, "test", "fashion-mnist")
    chosen = list(range(0, len(images), args.every))
    for method in FILTERS:
        x = np.stack([preprocess_product(product_photo(images[i], method)) for i in chosen])  # (N, 28, 28)
        with torch.inference_mode():
            mu = model.encode(torch.from_numpy(x).reshape(len(x), -1))[0].numpy()
        d = np.linalg.norm(mu - own[chosen], axis=1)
        print(f"{method.name.lower():8s} {len(d)} images: median {np.median(d):.3f}, 90th percentile "
              f"{np.quantile(d, 0.9):.3f}, largest {d.max():.3f}; {(d >= 0.2).sum()} at 0.2 or more")


if __name__ == "__main__":
    main()
