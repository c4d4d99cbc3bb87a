"""Load test: start the app in a subprocess and run many concurrent gradio_client users against its API.

    python bench/load.py                                  # 50 users x 20 mixed calls, the app's queue settings
    python bench/load.py --concurrency 1 --queue-size 64 --json load-c1.json

Each user is a thread with its own Client; its calls cycle through /generate, /grid, /encode and /reconstruct (an
MNIST example from static/examples) with varying latents. Reports latency p50, p95 and max (per call, client
side), throughput (calls per second of wall time), errors, and the server's resident memory (VmRSS) after
start-up and after the load, then after a second identical round (growth between rounds = a leak).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from app_latency import free_port  # noqa: E402  (the benchmarks' shared helpers)

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = sorted((REPO / "static" / "examples").glob("*.png"))[0]

SERVER = """
import sys, torch, app
from vae import VAE
from vae.latents import load_latents
from webapp.models import ModelEntry
model = VAE.from_pretrained(app.BUNDLED)
queue = int(sys.argv[2]) or None
demo = app.build_demo(ModelEntry(model, "bundled (load test)", load_latents(app.BUNDLED / "latents.safetensors")),
                      options=app.Options(concurrency=int(sys.argv[1]), queue_size=queue))
demo.launch(**app.launch_options())
"""


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_server(concurrency: int, queue_size: int, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAE_", "GRADIO_"))}
    env.update(GRADIO_SERVER_PORT=str(port), GRADIO_SERVER_NAME="127.0.0.1", GRADIO_ANALYTICS_ENABLED="False",
               PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1")
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", SERVER, str(concurrency), str(queue_size)], cwd=REPO, env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the app exited:\n{log.read_text()}")
        try:
            if httpx.get(url + "config", timeout=5).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise SystemExit("the app did not start within 180 s")


def user(url: str, index: int, calls: int, latencies: list, errors: list, barrier: threading.Barrier) -> None:
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False)
    barrier.wait()
    for k in range(calls):
        kind = (index + k) % 4
        z1, z2 = ((index * 7 + k * 3) % 13 - 6) / 2.5, ((index * 5 + k) % 11 - 5) / 2.5
        t0 = time.perf_counter()
        try:
            if kind == 0:
                client.predict(z1, z2, api_name="/generate")
            elif kind == 1:
                client.predict(z1, z2, 1.5, api_name="/grid")
            elif kind == 2:
                client.predict(handle_file(str(EXAMPLE)), api_name="/encode")
            else:
                client.predict(handle_file(str(EXAMPLE)), api_name="/reconstruct")
            latencies.append((kind, time.perf_counter() - t0))
        except Exception as e:  # noqa: BLE001 - counted and reported
            errors.append(f"{['generate', 'grid', 'encode', 'reconstruct'][kind]}: {type(e).__name__}: {e}"[:200])


def round_of_load(url: str, users: int, calls: int) -> dict:
    latencies: list = []
    errors: list = []
    barrier = threading.Barrier(users + 1)
    threads = [threading.Thread(target=user, args=(url, i, calls, latencies, errors, barrier)) for i in range(users)]
    for t in threads:
        t.start()
    barrier.wait()  # every client connected: start the clock
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    times = sorted(s for _, s in latencies)
    q = statistics.quantiles(times, n=100) if len(times) > 1 else times * 99
    return {"calls": users * calls, "ok": len(times), "errors": len(errors), "error_samples": errors[:5],
            "wall_s": round(wall, 2), "throughput_per_s": round(len(times) / wall, 1),
            "p50_ms": round(1000 * statistics.median(times), 1), "p95_ms": round(1000 * q[94], 1),
            "max_ms": round(1000 * times[-1], 1),
            "p50_ms_by_endpoint": {name: round(1000 * statistics.median([s for k, s in latencies if k == i]), 1)
                                   for i, name in enumerate(["generate", "grid", "encode", "reconstruct"])
                                   if any(k == i for k, _ in latencies)}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--users", type=int, default=50, help="concurrent gradio_client users")
    p.add_argument("--calls", type=int, default=20, help="calls per user, cycling through the four endpoints")
    p.add_argument("--rounds", type=int, default=2, help="identical rounds; memory is read after each")
    p.add_argument("--concurrency", type=int, default=None, help="the queue's default_concurrency_limit "
                                                                    "(default: app.CONCURRENCY)")
    p.add_argument("--queue-size", type=int, default=None, help="the queue's max_size (0 = unbounded; "
                                                                   "default: app.QUEUE_SIZE)")
    p.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = p.parse_args()
    sys.path.insert(0, str(REPO))
    import app  # for the defaults only (importing it builds no demo)

    concurrency = args.concurrency or app.CONCURRENCY
    queue_size = app.QUEUE_SIZE if args.queue_size is None else args.queue_size
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"vae-load-{os.getpid()}.log"
    proc, url = start_server(concurrency, queue_size, log)
    try:
        time.sleep(1.0)
        result = {"users": args.users, "calls_per_user": args.calls, "concurrency": concurrency,
                  "queue_size": queue_size, "cpus": os.cpu_count(), "rss_start_mib": round(rss_mib(proc.pid), 1),
                  "rounds": []}
        for _ in range(args.rounds):
            figures = round_of_load(url, args.users, args.calls)
            figures["rss_after_mib"] = round(rss_mib(proc.pid), 1)
            result["rounds"].append(figures)
            print(json.dumps(figures), flush=True)
        result["server_alive"] = proc.poll() is None
    finally:
        proc.terminate()
        proc.wait(30)
    print(json.dumps({k: v for k, v in result.items() if k != "rounds"}))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
