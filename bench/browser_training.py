"""Train live in the browser: seconds of training until the page's model beats the earlier version's test -ELBO
(145.73 nats on the full MNIST test split), computed in the page and confirmed by PyTorch on the downloaded weights;
the frames the tab paints per second while it trains; the images per second it reports.

    python bench/browser_training.py --data-dir "$MNIST_DIR"                      # the tab's quick preset
    python bench/browser_training.py --data-dir "$MNIST_DIR" --model resmlp-128-1 --batch 64 --epochs 3 --lr 0.003

Starts `python app.py` (MNIST_DIR set to --data-dir, so the tab has the training images), opens its Train live tab in
headless Chromium (Playwright, /usr/bin/chromium or $CHROMIUM) and presses Train with the tab's quick preset (or the
settings given). Every --interval seconds of training it presses Pause, and once the worker has stopped it:
  - presses Download model and loads the two files with VAE.from_pretrained (strictly, as a visitor's would),
  - asks the page's worker for the test figure on the whole test split (its "test" message: core/trainer.js's
    testFigure over all 10,000 images, one posterior sample each, beta = 1, as vae/evaluate.py defines the -ELBO),
  - evaluates the downloaded weights in PyTorch (vae/evaluate.py's evaluate_elbo on the real test split: the
    definition of the anchor's 145.73),
then presses Train again. The training seconds are the sum of the spans between the tab entering "running" (after
the program and the data have arrived: the start is timed apart) and the worker confirming the pause; evaluations
and downloads fall outside them. It stops at the first evaluation where both figures are at or below --target, or when
training finishes.

Display rate: over the first --display seconds of training (after 2 s), the tab's own paints per second (its
summary's frame count: each paint draws the map, the digit and grid, the curve and the readout), the page's
requestAnimationFrame callbacks per second (the frames the page could paint) and the training steps per second (a
new frame needs new progress, which comes at most once per step).
Writes artifacts/bench/browser_training.json.
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from app_latency import REPO, machine, save_result, start_app  # noqa: E402
from browser_fps import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

sys.path.insert(0, str(REPO))
import torch  # noqa: E402

from vae import VAE, evaluate_elbo  # noqa: E402
from vae.mnist import as_tensor, load_mnist  # noqa: E402

TARGET = 145.73  # the earlier version's test -ELBO (one posterior sample, beta 1), nats
LIVE = "(window.vaeExplorer && window.vaeExplorer.debug.live)"
# Before the page's scripts: keep the Train live tab's worker (to ask it for the whole split's test figure) and count
# requestAnimationFrame callbacks (the frames the page could paint)
INIT = """(() => {
  const Native = window.Worker;
  window.benchWorkers = [];
  window.Worker = class extends Native {
    constructor(url, options) {
      super(url, options);
      if (String(url).includes('train-worker')) window.benchWorkers.push(this);
    }
  };
  window.benchFrames = 0;
  const tick = () => { window.benchFrames += 1; requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
})();"""
PAGE_TEST = """() => new Promise((resolve) => {
  const worker = window.benchWorkers[window.benchWorkers.length - 1], images = window.benchTestImages;
  const answer = ({ data }) => {
    if (data.type === 'test') { worker.removeEventListener('message', answer); resolve(data); }
  };
  worker.addEventListener('message', answer);
  worker.postMessage({ type: 'test', count: images.length / 784, images });
})"""
# the whole test split into the page, once (base64 over the DevTools protocol)
PAGE_TEST_IMAGES = """(b64) => { const s = atob(b64), out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  window.benchTestImages = out; return out.length; }"""


def wait_live(page, condition: str, timeout: float = 300_000):
    page.wait_for_function(f"() => {{ const s = {LIVE}; return !!s && ({condition}); }}", timeout=timeout)


def live(page) -> dict:
    return page.evaluate(f"(() => {{ const s = {LIVE}; return {{...s, tests: undefined}}; }})()")


def download_model(page, folder: Path) -> VAE:
    """Download model's two files into `folder` -> the model VAE.from_pretrained loads from them."""
    downloads = []

    def collect(download):
        downloads.append(download)

    page.on("download", collect)
    page.get_by_role("button", name="Download model").click()
    deadline = time.monotonic() + 60
    while len(downloads) < 2 and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    page.remove_listener("download", collect)
    if len(downloads) < 2:
        raise RuntimeError("Download model gave fewer than two files within 60 s")
    folder.mkdir(parents=True, exist_ok=True)
    for d in downloads:
        d.save_as(folder / d.suggested_filename)
    return VAE.from_pretrained(folder).eval()


def run(args, x_test: torch.Tensor, test_bytes: bytes, tmp: Path) -> dict:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout, sync_playwright

    os.environ["MNIST_DIR"] = str(Path(args.data_dir).resolve())
    proc, url = start_app(None, REPO / "artifacts" / "bench" / "browser_training_app.log")
    rows, result = [], {"machine_start": machine(), "target": args.target}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.add_init_script(INIT)
            page.goto(url + "?tab=train")
            wait_live(page, "s.state === 'idle'", 120_000)
            page.evaluate(PAGE_TEST_IMAGES, base64.b64encode(test_bytes).decode())
            tab = page.locator("#vae-train")
            for name, value in (("model", args.model), ("batch", args.batch), ("lr", args.lr)):
                if value is not None:
                    tab.locator(f".vae-lab-{name}").select_option(str(value))
            if args.epochs is not None:
                tab.locator(".vae-lab-epochs").fill(str(args.epochs))
                tab.locator(".vae-lab-epochs").dispatch_event("change")
            result["settings"] = {name: tab.locator(f".vae-lab-{name}").input_value()
                                  for name in ("preset", "model", "batch", "lr", "epochs")}
            print(f"settings {result['settings']}", flush=True)
            pressed = time.perf_counter()
            page.get_by_role("button", name="Train", exact=True).click()
            wait_live(page, "s.state === 'running'", 120_000)
            started = time.perf_counter()
            result["start_s"] = started - pressed  # program and data fetched, the trainer built
            training, display, images_per_s = 0.0, None, []
            while True:
                segment = time.perf_counter()
                if display is None:  # the display rate, over the first seconds of training
                    page.wait_for_timeout(2000)
                    counts = f"[{LIVE}.frames, window.benchFrames, {LIVE}.step, performance.now()]"
                    before = page.evaluate(counts)
                    page.wait_for_timeout(args.display * 1000)
                    after = page.evaluate(counts)
                    seconds = (after[3] - before[3]) / 1000
                    display = {"tab_frames_per_s": (after[0] - before[0]) / seconds,
                               "raf_per_s": (after[1] - before[1]) / seconds,
                               "steps_per_s": (after[2] - before[2]) / seconds, "seconds": seconds}
                    print(f"display: the tab painted {display['tab_frames_per_s']:.1f} frames/s; "
                          f"requestAnimationFrame {display['raf_per_s']:.1f}/s; training steps "
                          f"{display['steps_per_s']:.1f}/s", flush=True)
                remaining = args.interval - (time.perf_counter() - segment)
                if remaining > 0:
                    try:
                        wait_live(page, "s.state === 'stopped'", remaining * 1000)
                    except PlaywrightTimeout:  # still training: pause it
                        pass
                s = live(page)
                images_per_s.append(s["imagesPerSecond"])
                finished = s["state"] == "stopped"
                if not finished:
                    page.get_by_role("button", name="Pause").click()
                    wait_live(page, "s.state === 'stopped' || (s.state === 'paused' && !s.workerRunning)")
                training += time.perf_counter() - segment
                s = live(page)
                finished = s["state"] == "stopped"
                if s["message"] and "diverged" in s["message"]:
                    raise RuntimeError(s["message"])
                model = download_model(page, tmp / f"step-{s['step']}")
                in_page = page.evaluate(PAGE_TEST)
                if in_page["images"] != x_test.shape[0] or in_page["step"] != s["step"]:
                    raise RuntimeError(f"the page evaluated {in_page['images']} images at step {in_page['step']}")
                torch_figures = evaluate_elbo(model, x_test)
                row = {"training_s": training, "step": s["step"], "epoch": s["epoch"], "page": in_page,
                       "pytorch": torch_figures, "images_per_s": s["imagesPerSecond"]}
                rows.append(row)
                print(f"{training:6.1f} s of training, step {s['step']:,} (epoch {s['epoch']:.2f}, "
                      f"{s['imagesPerSecond']:,.0f} images/s): test -ELBO in the page {in_page['elbo']:.2f}, "
                      f"PyTorch {torch_figures['elbo']:.2f} (at mu {torch_figures['elbo_at_mu']:.2f})", flush=True)
                if (in_page["elbo"] <= args.target and torch_figures["elbo"] <= args.target) or finished or \
                        training >= args.seconds:
                    break
                page.get_by_role("button", name="Train", exact=True).click()
                wait_live(page, "s.state === 'running'")
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    reached = [r for r in rows if r["page"]["elbo"] <= args.target and r["pytorch"]["elbo"] <= args.target]
    result.update(rows=rows, display=display, reached=reached[0] if reached else None,
                  images_per_s_median=statistics.median(images_per_s), machine_end=machine())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--data-dir", default=os.environ.get("MNIST_DIR"), help="the MNIST folder (default $MNIST_DIR)")
    parser.add_argument("--target", type=float, default=TARGET, help="test -ELBO to reach, nats (default %(default)s)")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds of training between evaluations")
    parser.add_argument("--display", type=float, default=5.0, help="seconds over which the display rate is counted")
    parser.add_argument("--seconds", type=float, default=300.0, help="stop after this many seconds of training")
    parser.add_argument("--model", help="the tab's model key instead of the preset's (mlp, resmlp-WIDTH-BLOCKS)")
    parser.add_argument("--batch", type=int, help="batch size instead of the preset's")
    parser.add_argument("--lr", help="learning rate instead of the preset's (one the tab offers, as it writes it)")
    parser.add_argument("--epochs", type=int, help="epochs instead of the preset's")
    args = parser.parse_args()
    if not args.data_dir:
        sys.exit("no MNIST folder: pass --data-dir or set MNIST_DIR (python -m train --download --data-dir DIR "
                 "gets it)")
    torch.set_num_threads(1)
    test_images = load_mnist(args.data_dir, "test")[0]
    x_test = as_tensor(test_images)
    print(f"Chromium {CHROMIUM}, torch {torch.__version__}; {machine()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        result = run(args, x_test, test_images.astype("uint8").tobytes(), Path(tmp))
    r = result["reached"]
    if r:
        print(f"reached {args.target} after {r['training_s']:.1f} s of training (step {r['step']:,}, epoch "
              f"{r['epoch']:.2f}): test -ELBO {r['page']['elbo']:.2f} in the page, {r['pytorch']['elbo']:.2f} in "
              f"PyTorch on the downloaded weights")
    else:
        last = result["rows"][-1]
        print(f"not reached: {last['page']['elbo']:.2f} in the page, {last['pytorch']['elbo']:.2f} in PyTorch after "
              f"{last['training_s']:.1f} s of training")
    print(f"start (Train pressed to training): {result['start_s']:.2f} s; median {result['images_per_s_median']:,.0f} "
          f"images/s; {machine()} at the end; written to {save_result('browser_training', result)}")


if __name__ == "__main__":
    main()
