"""Cold start: `python app.py` to its first served responses, against what Python, torch and Gradio cost alone.

    python bench/cold_start.py                 # 5 runs of each, interleaved
    python bench/cold_start.py --runs 9 --model /path/to/model

Each run starts a fresh process and polls it every 20 ms. Measured, in the same run and interleaved:
  app page      python app.py -> first HTTP 200 for its page (GET /)
  app /generate python app.py -> first /generate answer through Gradio's REST call API (POST + event stream)
  bare Gradio   a bare gr.Blocks echo app -> first HTTP 200 (the framework's own cold start)
  import torch, import gradio   python -c "import ..." -> exit (the floor under everything)
Writes artifacts/bench/cold_start.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from app_latency import PYTHON, REPO, app_env, free_port, machine, wait_for  # noqa: E402

FLOOR_APP = """
import gradio as gr
with gr.Blocks() as demo:
    n = gr.Number()
    gr.Button().click(lambda x: x, n, n, api_name="echo")
demo.launch()
"""


def first_generate(url: str, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    """Wait until /generate answers with a file (one reused HTTP client: cheap polling)."""
    t0 = time.perf_counter()
    with httpx.Client(timeout=30) as client:
        while True:
            if proc.poll() is not None:
                raise RuntimeError("the app exited before answering /generate")
            try:
                event = client.post(url + "gradio_api/call/generate", json={"data": [0.5, -0.5]}).json()
                stream = client.get(url + f"gradio_api/call/generate/{event['event_id']}").text
                if "event: complete" in stream and ".png" in stream:
                    return
            except (httpx.HTTPError, KeyError, ValueError):
                pass
            if time.perf_counter() - t0 > timeout:
                raise TimeoutError("/generate did not answer")
            time.sleep(0.02)


def time_app(model: str | None) -> dict[str, float]:
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    t0 = time.perf_counter()
    proc = subprocess.Popen([PYTHON, "app.py"], cwd=REPO, env=app_env(port, model),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(url, proc=proc)
        page = time.perf_counter() - t0
        first_generate(url, proc)
        return {"page": page, "generate": time.perf_counter() - t0}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def time_floor_app() -> float:
    port = free_port()
    t0 = time.perf_counter()
    proc = subprocess.Popen([PYTHON, "-c", FLOOR_APP], cwd=REPO, env=app_env(port, None),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(f"http://127.0.0.1:{port}/", proc=proc)
        return time.perf_counter() - t0
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def time_import(module: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([PYTHON, "-c", f"import {module}"], cwd=REPO, check=True)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--model", help="model folder for the app (default: the bundled pretrained/)")
    args = parser.parse_args()
    results: dict[str, list[float]] = {"app page": [], "app /generate": [], "bare Gradio page": [],
                                       "import torch": [], "import gradio": []}
    load_before = machine()
    time_import("gradio")  # warm the page cache once; every measured run then starts equally warm
    for _ in range(args.runs):
        app = time_app(args.model)
        results["app page"].append(app["page"])
        results["app /generate"].append(app["generate"])
        results["bare Gradio page"].append(time_floor_app())
        results["import torch"].append(time_import("torch"))
        results["import gradio"].append(time_import("gradio"))
    load_after = machine()
    print(f"model: {args.model or 'pretrained/ (bundled)'}; {args.runs} runs each, interleaved")
    print(f"machine: before {load_before}; after {load_after}\n")
    print("| from a fresh process to | median s | min s | max s |")
    print("|---|---:|---:|---:|")
    for name, values in results.items():
        print(f"| {name} | {statistics.median(values):.2f} | {min(values):.2f} | {max(values):.2f} |")
    out = REPO / "artifacts" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / "cold_start.json").write_text(json.dumps(
        {"runs": results, "machine_before": load_before, "machine_after": load_after,
         "median": {k: statistics.median(v) for k, v in results.items()}}, indent=2))


if __name__ == "__main__":
    main()
