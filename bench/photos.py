"""How far a photo made from a test image lands from that image's own latent mean, after the app's preparation
(vae/preprocess.py: preprocess_product for a Fashion-MNIST model, preprocess_digit for an MNIST one). Each test image
is inverted to dark-on-light, enlarged, pasted at a random place on a light background, and then, as a camera and
a phone would, blurred, given sensor noise and saved as a JPEG; then prepared and encoded.

    python bench/photos.py pretrained/fashion --data-dir data/fashion-mnist   # every 50th test image, every condition
    python bench/photos.py pretrained --data-dir data/mnist                   # MNIST digits photographed on paper

Prints, per condition, the median, 90th percentile and largest distance |mu - mu_test| and how many images land 0.2
or more away. tests/test_photos.py asserts the goals (median <= 0.2, 90th percentile <= 0.4) on the Fashion model.
"""

from __future__ import annotations

import argparse
import io
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vae import VAE  # noqa: E402
from vae.datasets import load_split  # noqa: E402
from vae.latents import load_latents  # noqa: E402
from vae.preprocess import preprocessor  # noqa: E402


@dataclass(frozen=True)
class Camera:
    """How a test image is photographed: enlarged `scale` times with `method`, on a `canvas` (height, width) of grey
    `paper` at a random place, blurred by a Gaussian of radius `blur` px, given Gaussian sensor noise of `noise` grey
    levels and `dust` dark specks of 1 to 3 px anywhere, saved as JPEG at `jpeg` quality (0: kept lossless)."""

    noise: float = 2.0
    blur: float = 0.8
    jpeg: int = 90
    paper: int = 245
    scale: int = 12
    canvas: tuple[int, int] = (480, 640)
    method: Image.Resampling = Image.Resampling.BILINEAR
    dust: int = 0

    def label(self) -> str:
        return (f"noise {self.noise:g}, blur {self.blur:g}, JPEG {self.jpeg or 'none'}, paper {self.paper}, "
                f"{self.scale}x {self.method.name.lower()} on {self.canvas[1]}x{self.canvas[0]}"
                + (f", {self.dust} specks" if self.dust else ""))


CLEAN = Camera(noise=0, blur=0, jpeg=0, paper=255)
CONDITIONS = (  # what users bring: clean renders, and phone photos from barely noisy to grainy, on white and grey
    CLEAN,
    replace(CLEAN, method=Image.Resampling.NEAREST),
    Camera(noise=0, blur=0.8, jpeg=90),
    Camera(noise=0.5),
    Camera(noise=1),
    Camera(noise=2),
    Camera(noise=4),
    Camera(noise=2, paper=255),
    Camera(noise=2, paper=200),
    Camera(noise=2, blur=0, method=Image.Resampling.NEAREST),
    Camera(noise=4, blur=1.5, jpeg=75),
    Camera(noise=2, dust=12),
    Camera(noise=1, scale=5, canvas=(200, 180)),
)


def photograph(item: np.ndarray, camera: Camera, rng: np.random.Generator) -> np.ndarray:
    """A 28x28 test image (uint8, light on black) -> an RGB photo (uint8, dark on light) taken with `camera`."""
    side = 28 * camera.scale
    big = np.asarray(Image.fromarray(255 - item).resize((side, side), camera.method), np.float32)
    height, width = camera.canvas
    top, left = rng.integers(0, height - side + 1), rng.integers(0, width - side + 1)
    scene = np.full((height, width), 255.0, np.float32)
    scene[top:top + side, left:left + side] = big
    scene *= camera.paper / 255.0  # the backdrop's grey dims the object's light parts alike
    photo = Image.fromarray(np.rint(scene).astype(np.uint8))
    if camera.blur:
        photo = photo.filter(ImageFilter.GaussianBlur(camera.blur))
    pixels = np.asarray(photo, np.float32)
    if camera.noise:
        pixels = pixels + rng.normal(0.0, camera.noise, pixels.shape)
    for _ in range(camera.dust):
        side = int(rng.integers(1, 4))
        y, x = rng.integers(0, height - side), rng.integers(0, width - side)
        pixels[y:y + side, x:x + side] = rng.integers(100, 200)
    photo = Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8)).convert("RGB")
    if camera.jpeg:
        buffer = io.BytesIO()
        photo.save(buffer, "JPEG", quality=camera.jpeg)
        photo = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    return np.asarray(photo)


def distances(model: VAE, own_mu: np.ndarray, dataset: str, images: np.ndarray, chosen, camera: Camera,
              seed: int = 0) -> np.ndarray:
    """(len(chosen),) distances |mu(prepared photo) - mu(test image)| for the test images `chosen`."""
    rng = np.random.default_rng(seed)
    prepare = preprocessor(dataset)
    x = np.stack([prepare(photograph(images[i], camera, rng)) for i in chosen])  # (N, 28, 28)
    with torch.inference_mode():
        mu = model.encode(torch.from_numpy(x).reshape(len(x), -1))[0].numpy()  # (N, 2)
    return np.linalg.norm(mu - own_mu[list(chosen)], axis=1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", type=Path, help="a model folder with its latents.safetensors (its config names the data "
                                            "set)")
    p.add_argument("--data-dir", default=None, help="the data set's folder (default: its environment variable's)")
    p.add_argument("--every", type=int, default=50, help="take every N-th test image (default: %(default)s)")
    args = p.parse_args()

    torch.set_num_threads(1)
    model = VAE.from_pretrained(args.model)
    dataset = model.config.dataset
    own = load_latents(args.model / "latents.safetensors")["mu"]
    images, _ = load_split(args.data_dir, "test", dataset)
    chosen = range(0, len(images), args.every)
    print(f"{args.model} ({dataset}), {len(chosen)} test images")
    for camera in CONDITIONS:
        d = distances(model, own, dataset, images, chosen, camera)
        print(f"{camera.label():60s} median {np.median(d):.3f}, 90th percentile {np.quantile(d, 0.9):.3f}, "
              f"largest {d.max():.3f}; {(d >= 0.2).sum()} at 0.2 or more")


if __name__ == "__main__":
    main()
