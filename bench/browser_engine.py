"""The training engine in the browser: images per second of the page's engine (static/js/core/engine.js on
static/linear.wasm, in a Web Worker of headless Chromium, as the Train live tab runs it) and of TensorFlow.js 4.22's
WebAssembly backend on the same model and batch in the same Chromium, against PyTorch on one thread; the bytes each
needs the page to download; and each one's exactness against PyTorch (loss and every gradient for the same weights,
batch and eps).

    python bench/browser_engine.py --data-dir "$MNIST_DIR"
    python bench/browser_engine.py --data-dir "$MNIST_DIR" --models resmlp-128-1:128 mlp:64 --no-tfjs   # candidates

TensorFlow.js is not part of the project: the bench installs it from npm into bench/.cache/tfjs (git ignores it)
the first time (`npm install` of @tensorflow/tfjs-core and @tensorflow/tfjs-backend-wasm 4.22.0; needs npm and the
registry once) and serves it to the page itself; --no-tfjs leaves it out.

A minimal HTTP server (this script's, no app) serves the repository's static/ and bench/ folders, TensorFlow.js,
and each model's training program (webapp/training_program.py, seed 0: the weights the page starts from) with a
batch of the first real MNIST test images and one fixed eps. Chromium (Playwright, /usr/bin/chromium or $CHROMIUM)
opens a blank page of that server with two module Web Workers: bench/browser_engine_worker.js (the engine's modules, as
static/js/train-worker.js loads them) and bench/browser_tfjs_worker.js. A timing is --steps Adam steps (forward,
backward, update) after one untimed step; the repeats alternate between the engine, TensorFlow.js and PyTorch (one
thread, bench/engine_speed.py's step), so a change of load on a shared machine touches all three; figures are medians
of --repeats, ratios the medians' over PyTorch's. Writes artifacts/bench/browser_engine.json.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from app_latency import REPO, machine, save_result  # noqa: E402
from browser_fps import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from engine_speed import pytorch_images_per_s  # noqa: E402

sys.path.insert(0, str(REPO))
import torch  # noqa: E402
from safetensors.torch import load, save_file  # noqa: E402

from vae import VAEConfig, negative_elbo  # noqa: E402
from vae.mnist import as_tensor, load_mnist  # noqa: E402
from webapp.live_training import model_config  # noqa: E402
from webapp.training_program import initial_model, write_training_program  # noqa: E402

TFJS_VERSION = "4.22.0"
TFJS_DIR = REPO / "bench" / ".cache" / "tfjs"
TFJS_PACKAGES = [f"@tensorflow/tfjs-core@{TFJS_VERSION}", f"@tensorflow/tfjs-backend-wasm@{TFJS_VERSION}",
                 "esbuild@0.24.0"]
# TensorFlow.js's UMD bundle of tfjs-core registers no gradients (its union package, @tensorflow/tfjs, adds them with
# layers, the converter and two more backends), so the bench bundles what training needs, as a page would: the core,
# its gradients and the WebAssembly backend, minified into one script (esbuild), which the worker loads
TFJS_ENTRY = """import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-core/dist/register_all_gradients";
import * as wasm from "@tensorflow/tfjs-backend-wasm";
self.tf = { ...tf, wasm };
"""
TFJS_BUNDLE = "tfjs-bundle.min.js"
DEFAULT_MODELS = ["resmlp-256-1:256", "mlp:32"]  # the quick preset's model and batch; the spec's
SIDES = {"engine": "/bench/browser_engine_worker.js", "tfjs": "/bench/browser_tfjs_worker.js"}
PAGE = b"<!doctype html><meta charset=utf-8><title>engine bench</title>"


def install_tfjs() -> Path:
    """TensorFlow.js's packages under bench/.cache/tfjs (installed by npm once) and the bundle the worker loads ->
    that folder."""
    if not (TFJS_DIR / "node_modules" / "@tensorflow" / "tfjs-backend-wasm" / "dist").is_dir() or \
            not (TFJS_DIR / "node_modules" / ".bin" / "esbuild").exists():
        npm = shutil.which("npm")
        if npm is None:
            sys.exit("TensorFlow.js is installed with npm, which is not on the PATH; install Node.js's npm, or pass "
                     "--no-tfjs")
        TFJS_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run([npm, "install", "--prefix", str(TFJS_DIR), "--no-audit", "--no-fund", "--no-save",
                        *TFJS_PACKAGES], check=True)
    if not (TFJS_DIR / TFJS_BUNDLE).is_file():
        (TFJS_DIR / "entry.js").write_text(TFJS_ENTRY)
        node_only = [f"--external:{m}" for m in ("fs", "path", "os", "perf_hooks", "worker_threads", "crypto")]
        subprocess.run([str(TFJS_DIR / "node_modules" / ".bin" / "esbuild"), "entry.js", "--bundle", "--minify",
                        "--format=iife", "--platform=browser", "--target=es2017", *node_only,
                        f"--outfile={TFJS_BUNDLE}"], cwd=TFJS_DIR, check=True)
    return TFJS_DIR


class Handler(SimpleHTTPRequestHandler):
    """GET /: a blank page; /static/..., /bench/...: the repository's; /tfjs/...: TensorFlow.js; /data/...: the
    programs and batches. Records the bytes of each file served (`served`)."""

    extensions_map = {".js": "text/javascript", ".wasm": "application/wasm", ".html": "text/html",
                      "": "application/octet-stream"}

    def __init__(self, *args, roots: dict[str, Path], served: dict[str, int], **kwargs):
        self.roots, self.served = roots, served
        super().__init__(*args, directory=str(REPO), **kwargs)

    def translate_path(self, path: str) -> str:
        path = path.split("?", 1)[0]
        top, _, rest = path.lstrip("/").partition("/")
        root = self.roots.get(top)
        if root is None or ".." in rest.split("/"):
            return str(REPO / "nonexistent")
        return str(root / rest)

    def do_GET(self):
        if self.path == "/":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(PAGE)))
            self.end_headers()
            self.wfile.write(PAGE)
            return
        file = Path(self.translate_path(self.path))
        if file.is_file():
            self.served[self.path.split("?", 1)[0]] = file.stat().st_size
        super().do_GET()

    def log_message(self, *args):
        pass


def serve(roots: dict[str, Path]) -> tuple[ThreadingHTTPServer, str, dict[str, int]]:
    served: dict[str, int] = {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, roots=roots, served=served))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/", served


def pytorch_gradients(config: VAEConfig, x: torch.Tensor, eps: torch.Tensor) -> tuple[dict, dict]:
    """The loss parts and every parameter's gradient of the mean -ELBO at the initial weights (beta = 1)."""
    model = initial_model(config, seed=0)
    mu, logvar = model.encode(x)
    parts = negative_elbo(model.decode_logits(mu + torch.exp(0.5 * logvar) * eps), x, mu, logvar, 1.0)
    parts.loss.mean().backward()
    figures = {"loss": parts.loss.mean().item(), "bce": parts.bce.mean().item(), "kl": parts.kl.mean().item()}
    return figures, {name: p.grad.detach().clone() for name, p in model.named_parameters()}


def exactness(reply: dict, figures: dict, grads: dict) -> dict:
    """A worker's {loss, bce, kl, bytes} against PyTorch's: relative errors, the largest over the tensors."""
    theirs = load(base64.b64decode(reply["bytes"]))
    if theirs.keys() != grads.keys():
        raise RuntimeError(f"gradients of {sorted(theirs)} returned, PyTorch has {sorted(grads)}")
    per_tensor = {name: float((theirs[name].double() - g.double()).norm() / g.double().norm().clamp_min(1e-30))
                  for name, g in grads.items()}
    out = {part: abs(reply[part] - figures[part]) / abs(figures[part]) for part in ("loss", "bce", "kl")}
    out["gradient"] = max(per_tensor.values())
    out["gradient_worst_tensor"] = max(per_tensor, key=per_tensor.get)
    return out


async def ask(page, side: str, message: dict) -> dict:
    """Post `message` to a worker of the page and wait for its answer (bytes come back as base64)."""
    reply = await page.evaluate("""([side, message]) => new Promise((resolve) => {
        const worker = window.workers[side];
        worker.onmessage = ({ data }) => {
            if (data.bytes) { let s = ''; const b = data.bytes;
                for (let i = 0; i < b.length; i += 0x8000)
                    s += String.fromCharCode.apply(null, b.subarray(i, i + 0x8000));
                data.bytes = btoa(s); }
            resolve(data); };
        worker.postMessage(message); })""", [side, message])
    if reply.get("type") == "error":
        raise RuntimeError(f"{side} worker: {reply['message']}")
    return reply


def download_bytes(served: dict[str, int], tfjs: Path) -> dict:
    """The files each side's worker had the page fetch (programs and batches aside): bytes and gzip'd bytes."""
    out = {}
    for side, prefixes in {"engine": ("/static/",), "tfjs": ("/tfjs/",)}.items():
        files = sorted(p for p in served if p.startswith(prefixes))
        local = {p: (REPO / p.lstrip("/")) if side == "engine" else tfjs / p.removeprefix("/tfjs/") for p in files}
        if side == "engine":  # the worker's modules, as the Train live tab's worker imports them, too
            files = [p for p in files if p.endswith((".js", ".wasm"))]
        raw = sum(served[p] for p in files)
        zipped = sum(len(gzip.compress(local[p].read_bytes(), 9)) for p in files)
        out[side] = {"files": {p: served[p] for p in files}, "bytes": raw, "gzip_bytes": zipped}
    return out


async def run(args, images: torch.Tensor, tmp: Path, tfjs: Path | None) -> dict:
    from playwright.async_api import async_playwright

    roots = {"static": REPO / "static", "bench": REPO / "bench", "data": tmp}
    if tfjs is not None:
        roots["tfjs"] = tfjs
    server, url, served = serve(roots)
    sides = ["engine"] + (["tfjs"] if tfjs is not None else [])
    results = {"machine_start": machine(), "models": {}}
    try:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = await browser.new_page()
            await page.goto(url)
            results["chromium"] = browser.version
            await page.evaluate("""(sides) => { window.workers = {};
                for (const [side, src] of Object.entries(sides))
                    window.workers[side] = new Worker(src, { type: 'module' }); }""",
                                {side: SIDES[side] for side in sides})
            for spec in args.models:
                key, rows = spec.split(":")
                rows = int(rows)
                config = model_config(key, "mnist")
                program = write_training_program(config, 0, tmp / f"{key}.safetensors")
                x = images[:rows].contiguous()
                eps = torch.randn(rows, config.latent_dim, generator=torch.Generator().manual_seed(0))
                save_file({"x": x, "eps": eps}, str(tmp / f"batch-{key}-{rows}.safetensors"))
                message = {"type": "load", "program": f"{url}data/{program.name}",
                           "batch": f"{url}data/batch-{key}-{rows}.safetensors"}
                kernels = {side: (await ask(page, side, message))["kernel"] for side in sides}
                figures, grads = pytorch_gradients(config, x, eps)
                exact = {side: exactness(await ask(page, side, {"type": "gradients"}), figures, grads)
                         for side in sides}
                timings: dict[str, list[float]] = {"pytorch": [], **{side: [] for side in sides}}
                for _ in range(args.repeats):
                    for side in sides:
                        reply = await ask(page, side, {"type": "time", "steps": args.steps})
                        timings[side].append(reply["imagesPerSecond"])
                    timings["pytorch"].append(pytorch_images_per_s(config, x, eps, args.steps))
                medians = {side: statistics.median(t) for side, t in timings.items()}
                results["models"][spec] = {"model": key, "batch": rows, "kernels": kernels, "images_per_s": timings,
                                           "medians": medians, "exactness": exact}
                print(f"{key}, batch {rows} ({'; '.join(kernels.values())}): PyTorch (1 thread) "
                      f"{medians['pytorch']:,.0f} images/s; " + "; ".join(
                    f"{side} {medians[side]:,.0f} images/s ({medians[side] / medians['pytorch']:.3f}x), loss "
                    f"{exact[side]['loss']:.1e}, gradients {exact[side]['gradient']:.1e} (relative)"
                    for side in sides) + f" (medians of {args.repeats})", flush=True)
            await browser.close()
    finally:
        server.shutdown()
    results["download"] = download_bytes(served, tfjs) if tfjs is not None else None
    results["machine_end"] = machine()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--data-dir", default=os.environ.get("MNIST_DIR"), help="the MNIST folder (default $MNIST_DIR)")
    parser.add_argument("--models", nargs="+", default=DEFAULT_MODELS, metavar="MODEL:BATCH",
                        help="the Train live tab's model keys (mlp, resmlp-WIDTH-BLOCKS) with a batch size "
                             f"(default: {' '.join(DEFAULT_MODELS)})")
    parser.add_argument("--repeats", type=int, default=5, help="timings per side and model; medians are reported")
    parser.add_argument("--steps", type=int, default=5, help="training steps per timing")
    parser.add_argument("--no-tfjs", action="store_true", help="the engine and PyTorch only")
    args = parser.parse_args()
    torch.set_num_threads(1)
    tfjs = None if args.no_tfjs else install_tfjs()
    images = as_tensor(load_mnist(args.data_dir, "test")[0])
    print(f"Chromium {CHROMIUM}, torch {torch.__version__} (1 thread); {machine()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        results = asyncio.run(run(args, images, Path(tmp), tfjs))
    if results["download"]:
        for side, d in results["download"].items():
            print(f"{side}: the page downloads {d['bytes']:,} bytes ({d['gzip_bytes']:,} gzip'd): "
                  + ", ".join(f"{Path(p).name} {n:,}" for p, n in d["files"].items()))
    print(f"{machine()} at the end; written to {save_result('browser_engine', results)}")


if __name__ == "__main__":
    main()
