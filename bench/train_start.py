"""Train live: the time from pressing Train to the first training step, in headless Chromium on a local server.

    MNIST_DIR=data/mnist python bench/train_start.py                        # 5 runs, the quick preset
    git worktree add ../base <commit> && MNIST_DIR=data/mnist python bench/train_start.py --baseline ../base
    MNIST_DIR=data/mnist python bench/train_start.py --runs 9 --model mlp --batch 32
    MNIST_DIR=data/mnist python bench/train_start.py --rate 2          # the data file at 2 MB/s, as from afar

Starts `python app.py` (MNIST_DIR must name the MNIST IDX files), opens the page in Chromium (Playwright,
/usr/bin/chromium or $CHROMIUM) and presses Train on the Train live tab. A press first asks the server for the model's
training program, then the tab's Web Worker fetches it and the training data file, builds the trainer, computes the
first test figure and the map's 2,000 posterior means, and trains; measured in the page, from the click to the first
progress that reports step 1. Each run:
  cold   a new browser profile (nothing kept): the data file (10 MB for MNIST) comes from the server; also when the
         whole file was in, and how many training images had arrived at the first step
  warm   a second page in the same profile: the data file from Cache Storage (the run says whether the file was
         fetched again)
Before the runs, one press on each freshly started server is timed on its own ("first press"): the server writes the
data file and the training program once, on the first request for them. --baseline DIR starts a second app from
another checkout (e.g. the commit before a change) and alternates the two, press by press, in the same run.
--rate R sends the data file at R MB/s (through a local relay the browser's requests for it are routed to), as a
visitor far from the server receives it; a local server otherwise sends all 10 MB within a fraction of a second.
Writes artifacts/bench/train_start.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, urlparse

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from app_latency import REPO, machine, save_result, start_app  # noqa: E402

CHROMIUM = os.environ.get("CHROMIUM") or os.environ.get("CHROMIUM_PATH") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
LIVE = "window.vaeExplorer.debug.live"

# In the page: press Train, then read the tab's summary every frame -> {first_step_ms, arrived, n, whole_ms}. A tab
# that does not report arrival (a checkout from before the worker read the file as it streams) had it all at step 1.
PRESS_AND_WATCH = """async () => {
  const live = () => LIVE, t0 = performance.now();
  [...document.querySelectorAll('#vae-train button')].find((b) => b.textContent.trim() === 'Train').click();
  const frame = () => new Promise((resolve) => requestAnimationFrame(resolve));
  let first = null;
  while (performance.now() - t0 < 120000) {
    await frame();
    const s = live(), whole = s.n === undefined || (s.n > 0 && s.arrived === s.n);
    if (s.state === 'failed' || (s.state === 'idle' && s.message)) return { error: s.message };
    if (!first && s.step >= 1) first = { first_step_ms: performance.now() - t0, arrived: s.arrived ?? null,
                                         n: s.n ?? null };
    if (first && whole) return { ...first, whole_ms: performance.now() - t0 };
  }
  return { error: 'no first step within 120 s', summary: live() };
}""".replace("LIVE", LIVE)
# Kept: what the tab reports (the worker's word that Cache Storage stored all of it: a key is listed while its body
# is still being written, and a page closed then keeps nothing); a checkout whose tab does not report it: a key
KEPT = f"""async () => {{
  const s = {LIVE};
  if (s && 'dataKept' in s) return s.dataKept;
  return (await (await caches.open('vae-explorer-training-data')).keys()).length > 0;
}}"""


def start_relay(rate: float) -> ThreadingHTTPServer:
    """A local server that relays ?from=URL at `rate` MB/s, in 64 kB pieces."""
    class Relay(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            data = httpx.get(parse_qs(urlparse(self.path).query)["from"][0], timeout=60).content
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            t0, piece = time.perf_counter(), 65_536
            for at in range(0, len(data), piece):
                time.sleep(max(0.0, t0 + at / (rate * 1e6) - time.perf_counter()))
                self.wfile.write(data[at:at + piece])

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Relay)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def press_train(context, url: str, model: str, batch: str) -> dict:
    """A new page in `context`, the Train live tab with the model and batch size chosen; Train pressed -> figures,
    with `fetched`: how many times the page requested the data file."""
    page = context.new_page()
    fetched = []
    context.on("request", lambda request: "training-data-" in request.url and fetched.append(request.url))
    page.goto(url)
    page.wait_for_function("window.vaeExplorer && window.vaeExplorer.debug.ready", timeout=120_000)
    page.get_by_role("tab", name="Train live").click()
    page.wait_for_function(f"{LIVE} && {LIVE}.state === 'idle'", timeout=60_000)
    page.locator("#vae-train .vae-lab-model").select_option(model)
    page.locator("#vae-train .vae-lab-batch").select_option(batch)
    result = page.evaluate(PRESS_AND_WATCH)
    if "error" in result:
        raise SystemExit(f"Train did not start: {result}")
    page.wait_for_function(KEPT, timeout=60_000)  # kept in the background once all of it has arrived and is stored
    page.close()
    return {**result, "fetched": len(fetched)}


def summary(runs: list[dict]) -> dict:
    return {key: statistics.median(r[key] for r in runs) for key in ("first_step_ms", "whole_ms")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="cold and warm presses each (medians reported)")
    parser.add_argument("--model", default="resmlp-256-1", help="a model key the tab offers (the quick preset's)")
    parser.add_argument("--batch", default="256", help="batch size (the quick preset's)")
    parser.add_argument("--baseline", type=Path, help="another checkout of the app, timed in the same run")
    parser.add_argument("--rate", type=float, help="send the data file at this many MB/s (default: as fast as it goes)")
    args = parser.parse_args()
    if not os.environ.get("MNIST_DIR"):
        raise SystemExit("set MNIST_DIR to the folder with the MNIST IDX files (the tab trains on them)")
    from playwright.sync_api import sync_playwright

    checkouts = {"this": REPO, **({"baseline": args.baseline.resolve()} if args.baseline else {})}
    apps = {name: start_app(None, REPO / "artifacts" / "bench" / f"train_start-{name}.log", path)
            for name, path in checkouts.items()}
    runs = {name: {"cold": [], "warm": []} for name in apps}
    first_press = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            relay = start_relay(args.rate) if args.rate else None
            new_context = browser.new_context
            if relay:
                def new_context():
                    context = browser.new_context()
                    address = f"http://127.0.0.1:{relay.server_address[1]}/?from="
                    context.route("**/training-data-*.bin",
                                  lambda route: route.continue_(url=address + quote(route.request.url)))
                    return context
            for name, (_, url) in apps.items():
                context = new_context()
                first_press[name] = press_train(context, url, args.model, args.batch)
                context.close()
                print(f"{name}: first press on a fresh server {first_press[name]['first_step_ms']:.0f} ms", flush=True)
            for i in range(args.runs):
                for name, (_, url) in apps.items():
                    context = new_context()  # a new profile: nothing kept
                    for kind in ("cold", "warm"):
                        r = press_train(context, url, args.model, args.batch)
                        runs[name][kind].append(r)
                        print(f"run {i + 1} {name} {kind}: first step {r['first_step_ms']:.0f} ms ({r['arrived']} of "
                              f"{r['n']} training images in), whole file {r['whole_ms']:.0f} ms, data file fetched "
                              f"{r['fetched']}x", flush=True)
                    context.close()
            browser.close()
    finally:
        for proc, _ in apps.values():
            proc.terminate()
            proc.wait(timeout=30)
    median = {name: {kind: summary(rs) for kind, rs in kinds.items()} for name, kinds in runs.items()}
    result = {"model": args.model, "batch": args.batch, "rate_mb_s": args.rate, "runs": runs,
              "first_press": first_press, "median": median, "machine": machine()}
    for name, kinds in median.items():
        for kind, m in kinds.items():
            print(f"{name} {kind}: median first step {m['first_step_ms']:.0f} ms, whole file {m['whole_ms']:.0f} ms")
    if "baseline" in median:
        for kind in ("cold", "warm"):
            ratio = median["this"][kind]["first_step_ms"] / median["baseline"][kind]["first_step_ms"]
            result.setdefault("ratio", {})[kind] = ratio
            print(f"{kind}: first step {ratio:.2f}x the baseline's")
    print(f"machine: {result['machine']}; wrote {save_result('train_start', result)}")


if __name__ == "__main__":
    main()
