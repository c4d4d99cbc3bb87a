"""What a visitor downloads: the page's HTML, and every byte fetched until the first digit is drawn.

    python bench/page_bytes.py                          # the bundled model
    python bench/page_bytes.py --model /path/to/model   # any model folder

Starts `python app.py`, opens it in Chromium (Playwright, /usr/bin/chromium or $CHROMIUM) with an empty cache, and
records every response as transferred (headers and body as they crossed the wire, Chromium's own count) until the
Explore tab has painted its first frame (window.vaeExplorer.debug.stats.frames). Reports the HTML document's bytes,
the total, when the first digit was drawn, the total by kind (the page's own script modules, the weight bundle,
Gradio's assets, the rest), and, as the baseline in the same run, what the same model's weights weigh in float32
(what the page downloaded before its weights became compact). --runs repeats the load (fresh browser context each
time) and reports the medians.
Writes artifacts/bench/page_bytes.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from app_latency import REPO, machine, save_result, start_app  # noqa: E402

sys.path.insert(0, str(REPO))
from browser_fps import CHROMIUM, CHROMIUM_ARGS  # noqa: E402


def kind(url: str) -> str:
    if "/static/js/" in url or url.endswith("linear.wasm"):
        return "page script"
    if "/page-" in url and url.endswith(".safetensors"):
        return "weights bundle"
    if "/assets/" in url or "/theme.css" in url:
        return "gradio assets"
    return "other"


def load_once(browser, url: str) -> dict:
    """One visit with an empty cache -> {html, total, by kind, requests} in bytes up to the first painted digit, and
    when that digit was drawn (ms after the navigation started; on localhost, so CPU time rather than transfer)."""
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    finished = []
    page.on("requestfinished", lambda request: finished.append(request))
    page.goto(url)
    page.wait_for_function("window.vaeExplorer && window.vaeExplorer.debug.stats.frames.length > 0",
                           timeout=120_000)
    drawn = list(finished)  # what had arrived when the first digit was drawn
    first_ms = page.evaluate("window.vaeExplorer.debug.stats.frames[0].drawn")  # since the navigation started
    sizes = [(r.url, r.resource_type, r.sizes()) for r in drawn]
    context.close()
    by_kind: dict[str, int] = {}
    for address, _, size in sizes:
        by_kind[kind(address)] = by_kind.get(kind(address), 0) + size["responseBodySize"] + size["responseHeadersSize"]
    html = sum(s["responseBodySize"] for _, t, s in sizes if t == "document")
    return {"html": html, "total": sum(by_kind.values()), "by_kind": by_kind, "requests": len(sizes),
            "first_digit_ms": first_ms}


def float32_weights(model: str | None) -> int:
    """Bytes of the model's decoder tensors in float32 (the page's weights before they were compact)."""
    from vae import VAE
    from webapp.bundle import decoder_program, program_tensors

    vae = VAE.from_pretrained(model or REPO / "pretrained")
    state = vae.state_dict()
    return sum(state[name].numel() * 4 for name in program_tensors(decoder_program(vae)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=None, help="a model folder (default: the bundled pretrained/)")
    p.add_argument("--runs", type=int, default=3, help="visits, each with an empty cache (the median is reported)")
    args = p.parse_args()
    from playwright.sync_api import sync_playwright

    proc, url = start_app(args.model, REPO / "artifacts" / "bench" / "page_bytes.app.log")
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            visits = [load_once(browser, url) for _ in range(args.runs)]
            browser.close()
    finally:
        proc.terminate()
        proc.wait()
    median = lambda key: statistics.median(v[key] for v in visits)  # noqa: E731
    result = {"machine": machine(), "runs": args.runs, "html_bytes": median("html"),
              "bytes_before_first_digit": median("total"), "requests": median("requests"),
              "first_digit_ms": median("first_digit_ms"),
              "by_kind": {k: statistics.median(v["by_kind"].get(k, 0) for v in visits)
                          for k in sorted({k for v in visits for k in v["by_kind"]})},
              "float32_weights_bytes": float32_weights(args.model)}
    for key in ("html_bytes", "bytes_before_first_digit", "float32_weights_bytes"):
        print(f"{key:28s} {result[key] / 1e3:10.1f} kB")
    print(f"{'first_digit_ms':28s} {result['first_digit_ms']:10.0f} ms")
    for key, value in result["by_kind"].items():
        print(f"  {key:26s} {value / 1e3:10.1f} kB")
    print(f"-> {save_result('page_bytes', result)}")


if __name__ == "__main__":
    main()
