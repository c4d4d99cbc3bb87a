"""Latency of the app's API through gradio_client on localhost, against the framework's own floor.

    python bench/app_latency.py                          # the bundled model, 150 rounds
    python bench/app_latency.py --model /path/to/model   # any model folder (config.json + model.safetensors)

Servers in their own processes, called in interleaved rounds (a shuffled order per round, fixed seed) so they
share the machine's noise:
  floor     a bare gr.Blocks app: /echo returns its number (what any Gradio call costs here), /image returns a
            fixed 280x280 PNG through the same gr.Image(format="png") output (the framework's cost of an image:
            PNG file in the cache, plus gradio_client's second request to download it)
  app       `python app.py` (VAE_MODEL_REPO=--model): /generate (one digit) and /grid (100 cells, one batch)
  per-cell  the spec's way: the same grid with one decode call per cell (100 calls), in a bare app
Every call is a fresh random z in [-3, 3]; image calls include gradio_client's download of the PNG.
Also times the app's own server-side work in this process (decode, compose, PNG encode and cache write).
Prints p50/p95 per endpoint and the differences and ratios to the floor; writes artifacts/bench/app_latency.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


# ---------------------------------------------------------------------------------------------------------
# helpers shared with the other benchmarks


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, timeout: float = 120.0, proc: subprocess.Popen | None = None) -> float:
    """Poll GET url every 20 ms until it answers 200; -> seconds waited. Uses http.client, which costs next to no
    CPU per attempt (an httpx client builds an SSL context each time, which slows the server being timed)."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    t0 = time.perf_counter()
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited with code {proc.returncode} before answering {url}")
        try:
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
            conn.request("GET", parts.path or "/")
            status = conn.getresponse().status
            conn.close()
            if status == 200:
                return time.perf_counter() - t0
        except OSError:
            pass
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError(f"{url} did not answer within {timeout} s")
        time.sleep(0.02)


def app_env(port: int, model: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAE_")}
    env.update(GRADIO_SERVER_PORT=str(port), GRADIO_SERVER_NAME="127.0.0.1", GRADIO_ANALYTICS_ENABLED="False")
    if model:
        env["VAE_MODEL_REPO"] = model
    return env


def start_app(model: str | None, log: Path, checkout: Path = REPO) -> tuple[subprocess.Popen, str]:
    """`python app.py` (of `checkout`: this one, or another to compare with) on a free port -> (process, url), once it
    serves its page."""
    port = free_port()
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:
        proc = subprocess.Popen([PYTHON, "app.py"], cwd=checkout, env=app_env(port, model), stdout=out,
                                stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    wait_for(url, proc=proc)
    return proc, url


def save_result(name: str, result: dict) -> Path:
    """Write a benchmark's figures to artifacts/bench/<name>.json."""
    out = REPO / "artifacts" / "bench" / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def machine() -> str:
    load = os.getloadavg()
    return f"{os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"


# ---------------------------------------------------------------------------------------------------------
# the two baseline servers (run by this script in a child process)


def serve_baselines(floor_port: int, cell_port: int, model_dir: str | None) -> None:
    import gradio as gr
    import numpy as np
    import torch

    sys.path.insert(0, str(REPO))
    from vae import VAE
    from vae.imaging import grid_image, latent_grid

    torch.set_num_threads(1)  # as app.py
    model = VAE.from_pretrained(model_dir or REPO / "pretrained")

    picture = np.zeros((280, 280, 3), np.uint8)
    picture[::28] = 255  # a fixed grid-sized image

    with gr.Blocks() as floor:
        number = gr.Number()
        button = gr.Button()
        button.click(lambda x: x, number, number, api_name="echo")
        button.click(lambda x: picture, number, gr.Image(format="png"), api_name="image")

    @torch.inference_mode()
    def grid_per_cell(z1: float, z2: float, span: float = 1.5):
        # the spec's loop: for each cell, model.decode([z1_grid[i], z2_grid[j]])
        tiles = [model.decode(torch.tensor([z], dtype=torch.float32))[0, 0].numpy() for z in latent_grid(z1, z2, span)]
        return grid_image(np.stack(tiles))  # PNG-encoded by gr.Image's default path

    with gr.Blocks() as per_cell:
        a, b, s = gr.Number(), gr.Number(), gr.Number(value=1.5)
        out = gr.Image(format="png")
        gr.Button().click(grid_per_cell, [a, b, s], out, api_name="grid")

    floor.launch(server_port=floor_port, prevent_thread_lock=True, quiet=True)
    per_cell.launch(server_port=cell_port, prevent_thread_lock=True, quiet=True)
    while True:
        time.sleep(3600)


def server_work(model_dir: str | None, repeats: int = 200) -> dict[str, float]:
    """Median ms of what the app's handlers do for one call, in this process: decode + compose, + PNG encode as the
    app does it (zlib level 1), + PNG through Gradio's default output path (level 6, hash, cache write) for
    comparison, and the spec's per-cell loop."""
    import gradio as gr
    import numpy as np
    import torch

    sys.path.insert(0, str(REPO))
    from vae.explorer import Explorer
    from vae import VAE
    from vae.imaging import grid_image, latent_grid, png_bytes

    torch.set_num_threads(1)
    explorer = Explorer(VAE.from_pretrained(model_dir or REPO / "pretrained"))
    default_output = gr.Image(format="png")
    rng = np.random.default_rng(0)

    def per_cell(z1, z2):
        with torch.inference_mode():
            return grid_image(np.stack([explorer.model.decode(torch.tensor(z[None]))[0, 0].numpy()
                                        for z in latent_grid(z1, z2, 1.5)]))

    jobs = {"digit": lambda a, b: explorer.digit(a, b),
            "digit+png": lambda a, b: png_bytes(explorer.digit(a, b)),
            "grid": lambda a, b: explorer.grid(a, b, 1.5),
            "grid+png": lambda a, b: png_bytes(explorer.grid(a, b, 1.5)),
            "grid+gradio-default-png": lambda a, b: default_output.postprocess(explorer.grid(a, b, 1.5)),
            "per-cell grid+png": lambda a, b: png_bytes(per_cell(a, b))}
    result = {}
    for name, job in jobs.items():
        times = []
        for _ in range(repeats // (10 if name.startswith("per-cell") else 1)):
            a, b = rng.uniform(-3, 3, 2)
            t0 = time.perf_counter()
            job(float(a), float(b))
            times.append((time.perf_counter() - t0) * 1000)
        result[name] = statistics.median(times[2:])
    return result


# ---------------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="model folder for the app and the per-cell baseline (default: pretrained/)")
    parser.add_argument("--rounds", type=int, default=150, help="measured calls per endpoint")
    parser.add_argument("--warmup", type=int, default=15, help="unmeasured calls per endpoint first")
    parser.add_argument("--serve-baselines", nargs=2, type=int, metavar=("FLOOR_PORT", "CELL_PORT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_baselines:
        serve_baselines(*args.serve_baselines, args.model)
        return

    from gradio_client import Client

    out_dir = REPO / "artifacts" / "bench"
    floor_port, cell_port = free_port(), free_port()
    baselines = subprocess.Popen(
        [PYTHON, __file__, "--serve-baselines", str(floor_port), str(cell_port)]
        + (["--model", args.model] if args.model else []),
        cwd=REPO, env=app_env(0, None), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    app_proc = None
    try:
        app_proc, app_url = start_app(args.model, out_dir / "app_latency.app.log")
        wait_for(f"http://127.0.0.1:{floor_port}/", proc=baselines)
        wait_for(f"http://127.0.0.1:{cell_port}/", proc=baselines)
        clients = {"floor": Client(f"http://127.0.0.1:{floor_port}/", verbose=False),
                   "app": Client(app_url, verbose=False),
                   "per-cell": Client(f"http://127.0.0.1:{cell_port}/", verbose=False)}
        rng = random.Random(0)
        z = lambda: round(rng.uniform(-3, 3), 2)  # noqa: E731
        calls = {
            "floor /echo": lambda: clients["floor"].predict(z(), api_name="/echo"),
            "floor /image": lambda: clients["floor"].predict(z(), api_name="/image"),
            "app /generate": lambda: clients["app"].predict(z(), z(), api_name="/generate"),
            "app /grid": lambda: clients["app"].predict(z(), z(), 1.5, api_name="/grid"),
            "per-cell /grid": lambda: clients["per-cell"].predict(z(), z(), 1.5, api_name="/grid"),
        }
        load_before = machine()
        for fn in calls.values():
            for _ in range(args.warmup):
                fn()
        times: dict[str, list[float]] = {name: [] for name in calls}
        names = list(calls)
        for _ in range(args.rounds):
            rng.shuffle(names)
            for name in names:
                t0 = time.perf_counter()
                calls[name]()
                times[name].append((time.perf_counter() - t0) * 1000)
        load_after = machine()
    finally:
        for proc in (app_proc, baselines):
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=30)

    stats = {name: {"p50": statistics.median(t), "p95": percentile(t, 95), "mean": statistics.fmean(t), "n": len(t)}
             for name, t in times.items()}
    floor = stats["floor /echo"]["p50"]
    model_name = args.model or "pretrained/ (bundled)"
    print(f"model: {model_name}; {args.rounds} interleaved rounds after {args.warmup} warm-up calls each")
    print(f"machine: before {load_before}; after {load_after}\n")
    print("| endpoint | p50 ms | p95 ms | p50 − floor ms | p50 / floor |")
    print("|---|---:|---:|---:|---:|")
    for name, s in stats.items():
        print(f"| {name} | {s['p50']:.1f} | {s['p95']:.1f} | {s['p50'] - floor:+.1f} | {s['p50'] / floor:.2f} |")
    ratio = stats["per-cell /grid"]["p50"] / stats["app /grid"]["p50"]
    print(f"\nper-cell /grid p50 / app /grid p50 = {ratio:.2f}")
    print(f"app /grid p50 − floor /image p50 = {stats['app /grid']['p50'] - stats['floor /image']['p50']:+.1f} ms")
    work = server_work(args.model)
    print("\nserver-side work per call, in-process median ms: " + ", ".join(f"{k} {v:.2f}" for k, v in work.items()))
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "app_latency.json").write_text(json.dumps(
        {"model": model_name, "machine_before": load_before, "machine_after": load_after, "stats": stats,
         "grid_minus_floor_ms": stats["app /grid"]["p50"] - floor, "per_cell_over_batched": ratio,
         "server_work_ms": work}, indent=2))


if __name__ == "__main__":
    main()
