"""Training engine speed: images per second of the page's training engine (static/js/core/engine.js, Adam in
static/js/core/adam.js) under Node.js, with each of its kernels (JavaScript loops; static/linear.wasm, WebAssembly
SIMD), against PyTorch on one thread, for the same model, batch and step (forward, backward, one Adam update).

    python bench/engine_speed.py --data-dir "$MNIST_DIR"
    python bench/engine_speed.py --data-dir "$MNIST_DIR" --repeats 7 --steps 5 --json engine_speed.json

Models: the quick preset's `resmlp` (256 wide, 1 block, batch 256) and the spec's `mlp` (batch 32, its recipe's),
initialised as webapp/training_program.py writes them for the page; the batch is the first real MNIST test images,
eps one fixed standard normal draw. Node runs JavaScript on one thread, so PyTorch is held to one
(torch.set_num_threads(1)). The repeats alternate between PyTorch and the engine's kernels, so a change of load on a
shared machine touches all three; each figure is the median of --repeats timings of --steps steps after one untimed
step, and the ratio is the engine's median over PyTorch's. Node's V8 is the JavaScript and WebAssembly engine of
Chromium, where the page will run it: a preliminary figure for the browser's.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import torch  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

from vae import VAEConfig, negative_elbo  # noqa: E402
from vae.mnist import as_tensor, load_mnist  # noqa: E402
from webapp.training_program import initial_model, write_training_program  # noqa: E402

MODELS = {  # name: (config, batch size)
    "quick resmlp 256x1": (VAEConfig(arch="resmlp", hidden=256, blocks=1), 256),
    "spec mlp": (VAEConfig(arch="mlp"), 32),
}


def pytorch_images_per_s(config: VAEConfig, x: torch.Tensor, eps: torch.Tensor, steps: int) -> float:
    """train/loop.py's step on one thread: forward with this eps, the mean -ELBO, backward, Adam."""
    model = initial_model(config, seed=0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        mu, logvar = model.encode(x)
        loss = negative_elbo(model.decode_logits(mu + torch.exp(0.5 * logvar) * eps), x, mu, logvar, 1.0).loss.mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return len(x) * steps / (time.perf_counter() - start)


KERNELS = {"javascript": "engine, JavaScript", "wasm": "engine, WebAssembly SIMD"}


def engine_images_per_s(node: str, program: Path, batch: Path, steps: int, kernel: str) -> float:
    command = [node, str(REPO / "bench" / "engine_speed.mjs"), str(program), str(batch), str(steps), kernel]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)["images_per_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--data-dir", default=os.environ.get("MNIST_DIR"), help="the MNIST folder (default $MNIST_DIR)")
    parser.add_argument("--repeats", type=int, default=5, help="timings per side and model; medians are reported")
    parser.add_argument("--steps", type=int, default=5, help="training steps per timing")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args()
    node = shutil.which("node")
    if node is None:
        sys.exit("no Node.js on the PATH: install it (Debian/Ubuntu: apt-get install nodejs)")
    torch.set_num_threads(1)
    images = as_tensor(load_mnist(args.data_dir, "test")[0])
    node_version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} "
          f"(1 thread), Node {node_version}; load average at the start {os.getloadavg()[0]:.2f}")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (config, rows) in MODELS.items():
            program = write_training_program(config, 0, Path(tmp) / f"{config.arch}.safetensors")
            x = images[:rows].contiguous()
            eps = torch.randn(rows, config.latent_dim, generator=torch.Generator().manual_seed(0))
            batch = Path(tmp) / f"batch-{config.arch}.safetensors"
            save_file({"x": x, "eps": eps}, str(batch))
            timings: dict[str, list[float]] = {"pytorch": [], **{kernel: [] for kernel in KERNELS}}
            for _ in range(args.repeats):
                for kernel in KERNELS:
                    timings[kernel].append(engine_images_per_s(node, program, batch, args.steps, kernel))
                timings["pytorch"].append(pytorch_images_per_s(config, x, eps, args.steps))
            medians = {side: statistics.median(t) for side, t in timings.items()}
            results[name] = {"batch": rows, "images_per_s": timings, "medians": medians}
            print(f"{name}, batch {rows}: PyTorch {medians['pytorch']:,.0f} images/s; " + "; ".join(
                f"{label} {medians[kernel]:,.0f} images/s ({medians[kernel] / medians['pytorch']:.3f}x)"
                for kernel, label in KERNELS.items()) + f" (medians of {args.repeats})")
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
