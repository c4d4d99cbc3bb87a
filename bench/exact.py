"""The exact likelihood (vae/exact.py), measured: the plane grid's step for 0.01 nats per image, the whole test
split's exact -log p(x) against IWAE-1000 on the same images in the same run, the inference gaps on a sample, and
/likelihood's latency through gradio_client against /reconstruct's in the same rounds.

    python bench/exact.py pretrained --data-dir data/mnist                 # all four parts
    python bench/exact.py pretrained/fashion --data-dir data/fashion-mnist --parts grid split gaps
    python bench/exact.py pretrained --data-dir data/mnist --parts latency --rounds 40
    python bench/exact.py pretrained --data-dir data/mnist --parts picture   # the README's docs/posterior.png

  grid     PlaneGrid at steps 0.08, 0.04, 0.02 on the first --grid-images test images against each image's own
           adaptive grid (exact_posterior at tol 0.001): the largest and median error per image, and the time
  split    PlaneGrid at --step on the whole test split, then vae.evaluate's IWAE-1000 on the same split: both means
           and times (one thread each, as `python -m train --threads 1` evaluates)
  gaps     exact_posterior and inference_gaps on the first --gap-images test images: the mean -ELBO (Gauss-Hermite,
           no sampling noise), exact -log p(x), approximation and amortization gaps, and the time per image
  latency  `python app.py` serving the model; --rounds rounds, each one /likelihood and one /reconstruct call on a
           test image sent as a PNG file (shuffled order), median and p90 of each and their ratio
  picture  the heat maps of test digits 3 (q(z|x) on the posterior) and 7 (q misses it) side by side, with their
           figures, into docs/posterior.png
Writes artifacts/bench/exact-<model folder name>.json.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from app_latency import machine, percentile, save_result, start_app  # noqa: E402
from vae import VAE  # noqa: E402
from vae.datasets import as_tensor, load_split  # noqa: E402
from vae.evaluate import iwae_log_likelihood  # noqa: E402
from vae.exact import CoarseScan, PlaneGrid, exact_posterior, image_likelihood  # noqa: E402


def grid_accuracy(model: VAE, x: torch.Tensor) -> dict:
    scan = CoarseScan(model)
    reference = np.array([exact_posterior(model, xi, tol=1e-3, scan=scan).log_px for xi in x])
    out = {}
    for step in (0.08, 0.04, 0.02):
        t0 = time.perf_counter()
        log_px, _, _ = PlaneGrid(step=step).log_px(model, x)
        error = np.abs(log_px.numpy() - reference)
        out[str(step)] = dict(max_error=float(error.max()), median_error=float(np.median(error)),
                              seconds=time.perf_counter() - t0)
        print(f"  step {step}: error per image max {error.max():.2e}, median {np.median(error):.2e} nats "
              f"({out[str(step)]['seconds']:.1f} s for {len(x)} images)", flush=True)
    return out


def whole_split(model: VAE, x: torch.Tensor, step: float) -> dict:
    t0 = time.perf_counter()
    log_px, _, _ = PlaneGrid(step=step).log_px(model, x)
    exact_seconds = time.perf_counter() - t0
    print(f"  exact -log p(x) {-log_px.mean():.3f} nats, {exact_seconds:.1f} s", flush=True)
    t0 = time.perf_counter()
    iwae = iwae_log_likelihood(model, x, k=1000)
    iwae_seconds = time.perf_counter() - t0
    print(f"  IWAE-1000 {-iwae.mean():.3f} nats, {iwae_seconds:.1f} s", flush=True)
    return dict(images=len(x), step=step, exact=float(-log_px.mean()), exact_seconds=exact_seconds,
                iwae=float(-iwae.mean()), iwae_seconds=iwae_seconds, iwae_over_exact_time=iwae_seconds / exact_seconds,
                iwae_above_exact_per_image_max=float((log_px - iwae).max()),
                images_where_iwae_below_exact=int((iwae > log_px).sum()))


def gaps(model: VAE, x: torch.Tensor) -> dict:
    scan = CoarseScan(model)
    rows, times = [], []
    for xi in x:
        t0 = time.perf_counter()
        a = image_likelihood(model, xi, scan=scan)
        times.append(time.perf_counter() - t0)
        rows.append((a.elbo, a.exact, a.gaps.approximation, a.gaps.amortization, len(a.posterior.modes) > 1))
    elbo, exact, approximation, amortization, multimodal = (np.array(c) for c in zip(*rows))
    out = dict(images=len(x), elbo=float(elbo.mean()), exact=float(exact.mean()),
               approximation_gap=float(approximation.mean()), amortization_gap=float(amortization.mean()),
               share_with_two_modes=float(multimodal.mean()), seconds_per_image_median=statistics.median(times))
    print("  " + ", ".join(f"{k} {v:.3f}" for k, v in out.items()), flush=True)
    return out


def latency(model_dir: Path, images: np.ndarray, rounds: int) -> dict:
    from gradio_client import Client, handle_file
    from PIL import Image

    folder = Path(tempfile.mkdtemp())
    files = []
    for i, image in enumerate(images[:rounds]):
        files.append(folder / f"test-{i}.png")
        Image.fromarray(image).save(files[-1])
    proc, url = start_app(str(model_dir.resolve()), folder / "app.log")
    try:
        client = Client(url, verbose=False)
        client.predict(handle_file(str(files[0])), api_name="/likelihood")  # the model's coarse scan, built once
        times: dict[str, list[float]] = {"/likelihood": [], "/reconstruct": []}
        order = random.Random(0)
        for path in files:
            for endpoint in order.sample(list(times), 2):
                t0 = time.perf_counter()
                client.predict(handle_file(str(path)), api_name=endpoint)
                times[endpoint].append(time.perf_counter() - t0)
    finally:
        proc.terminate()
        proc.wait()
    out = {name: dict(median=statistics.median(t), p90=percentile(t, 90)) for name, t in times.items()}
    out["ratio_median"] = out["/likelihood"]["median"] / out["/reconstruct"]["median"]
    print("  " + json.dumps(out), flush=True)
    return out


def picture(model: VAE, x: torch.Tensor, out: Path) -> dict:
    from PIL import Image, ImageDraw

    from vae.posterior_map import HEAT_MAP_SIZE, posterior_heat_map

    scan, figures = CoarseScan(model), {}
    sheet = Image.new("RGB", (2 * HEAT_MAP_SIZE + 10, HEAT_MAP_SIZE + 34), "white")
    draw = ImageDraw.Draw(sheet)
    for k, i in enumerate((3, 7)):
        a = image_likelihood(model, x[i], scan=scan)
        heat, _ = posterior_heat_map(a.posterior, a.q_mean, a.q_sigma)
        sheet.paste(Image.fromarray(heat), (k * (HEAT_MAP_SIZE + 10), 0))
        draw.text((k * (HEAT_MAP_SIZE + 10) + 4, HEAT_MAP_SIZE + 4),
                  f"test {i}: -ELBO {a.elbo:.1f}, IWAE {a.iwae:.1f}, exact {a.exact:.1f}", fill="black")
        draw.text((k * (HEAT_MAP_SIZE + 10) + 4, HEAT_MAP_SIZE + 18),
                  f"gaps: approximation {a.gaps.approximation:.2f}, amortization {a.gaps.amortization:.2f}",
                  fill="black")
        figures[i] = dict(elbo=a.elbo, iwae=a.iwae, exact=a.exact, approximation=a.gaps.approximation,
                          amortization=a.gaps.amortization, modes=a.posterior.modes)
    sheet.save(out, optimize=True)
    print(f"  wrote {out}: {figures}", flush=True)
    return figures


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", type=Path, help="a model folder (config.json + model.safetensors)")
    p.add_argument("--data-dir", default=None, help="the test split's folder (default $MNIST_DIR / $FASHION_MNIST_DIR)")
    p.add_argument("--parts", nargs="+", default=["grid", "split", "gaps", "latency"],
                   choices=["grid", "split", "gaps", "latency", "picture"])
    p.add_argument("--grid-images", type=int, default=300)
    p.add_argument("--gap-images", type=int, default=300)
    p.add_argument("--step", type=float, default=PlaneGrid().step, help="the plane grid's step for the whole split")
    p.add_argument("--rounds", type=int, default=40)
    args = p.parse_args()

    torch.set_num_threads(1)
    model = VAE.from_pretrained(args.model).eval()
    images, _ = load_split(args.data_dir, "test", model.config.dataset)
    x = as_tensor(images).reshape(len(images), -1)
    result = {"model": str(args.model), "machine": machine(), "torch_threads": 1}
    for part in args.parts:
        print(f"{part}:", flush=True)
        if part == "grid":
            result["grid"] = grid_accuracy(model, x[: args.grid_images])
        elif part == "split":
            result["split"] = whole_split(model, x, args.step)
        elif part == "gaps":
            result["gaps"] = gaps(model, x[: args.gap_images])
        elif part == "picture":
            result["picture"] = picture(model, x, Path(__file__).resolve().parent.parent / "docs" / "posterior.png")
        else:
            result["latency"] = latency(args.model, images, args.rounds)
    result["machine_after"] = machine()
    print(f"wrote {save_result('exact-' + args.model.resolve().name, result)}")


if __name__ == "__main__":
    main()
