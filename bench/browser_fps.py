"""Explore tab in a real browser while a slider is dragged without pause: digit-and-grid updates painted per second
and input-to-paint latency; and the Training tab's replay, played and scrubbed.

    python bench/browser_fps.py                          # the bundled model
    python bench/browser_fps.py --model /path/to/model   # any model folder, e.g. the 512-wide resmlp
    python bench/browser_fps.py --compare reference      # two models side by side, both decoded per frame
    python bench/browser_fps.py --cases training         # only the Training tab (the model needs snapshots)

Starts `python app.py`, opens it in Chromium (Playwright, /usr/bin/chromium or $CHROMIUM) and drags the z1 slider
back and forth across its whole track (a 2 s triangle wave) with real mouse events sent at --hz through the
DevTools protocol, as a person holding the mouse button would. The benchmark records every input event of the
slider's range input (a listener of its own) and the page every painted frame (static/js/main.js keeps
window.vaeExplorer.debug.stats); the value reaches the page's decoder through Gradio's change event. In the same run:
  display   requestAnimationFrame callbacks per second with nothing to do: the ceiling for "updates per second"
  cached    the app as shipped: slider positions on the 0.05 lattice reuse already decoded cells
  uncached  every frame decodes all 101 points (the digit and the 100 cells)
  path      the interpolation's animation playing along a path A -> B (frames per second over 3 s)
  training  the Training tab: the replay played from its first snapshot to its last (the map's points move every
            frame, the grid is decoded by each snapshot's decoder as it is reached), then its scrubber dragged back
            and forth like the slider above, with the cell cache and without; then played while z is dragged round
            a circle on its map with the cache off (every frame decodes the digit and the 100 cells); frames
            painted per second, the median frame interval as frames/s, and the decode time of the frames that
            decoded
Latency: from the input event's timestamp (the latest arrival of the value a frame shows) to (a) the end of the
frame's drawing, (b) the start of the next frame, by which the drawn frame has been presented (an upper bound
on input-to-paint).
Writes artifacts/bench/browser_fps.json (with --cases, browser_fps-<cases>.json).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import math
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from app_latency import REPO, machine, percentile, save_result, start_app  # noqa: E402

CHROMIUM = os.environ.get("CHROMIUM") or os.environ.get("CHROMIUM_PATH") or "/usr/bin/chromium"
CASES = ("drag", "path", "training")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]


async def triangle_wave(mouse, left: float, right: float, seconds: float, hz: float, phase0: float = 0.0) -> int:
    """Send mouse("mouseMoved", x) at `hz` for `seconds`, x going left -> right -> left every 2 s (starting at
    phase0 of the wave), without waiting for each event's answer; returns how many were sent."""
    t0, sent, pending = time.perf_counter(), 0, []
    while (t := time.perf_counter() - t0) < seconds:
        phase = (phase0 + t / 2.0) % 1.0
        frac = 2 * phase if phase < 0.5 else 2 - 2 * phase
        pending.append(asyncio.ensure_future(mouse("mouseMoved", left + frac * (right - left))))
        sent += 1
        await asyncio.sleep(max(0.0, t0 + sent / hz - time.perf_counter()))
    await asyncio.gather(*pending)
    return sent


async def drag(page, cdp, seconds: float, hz: float) -> dict:
    """Drag z1 back and forth for `seconds`; -> what the page painted meanwhile."""
    box = await page.locator("#vae-z1 input[type=range]").bounding_box()
    y = box["y"] + box["height"] / 2
    left, right = box["x"] + 6, box["x"] + box["width"] - 6
    start_x = left + (right - left) * (await page.evaluate("window.vaeExplorer.debug.state.z1") + 3) / 6

    async def mouse(kind: str, x: float):
        await cdp.send("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left",
                                                    "buttons": 0 if kind == "mouseReleased" else 1, "clickCount": 1})

    await page.mouse.move(start_x, y)
    await mouse("mousePressed", start_x)
    frames0 = await page.evaluate("window.vaeExplorer.debug.stats.frames.length")
    inputs0 = await page.evaluate("window.benchInputs.length")
    decodes0 = await page.evaluate("window.vaeExplorer.debug.stats.decodeMs.length")
    page_t0 = await page.evaluate("performance.now()")
    phase0 = (start_x - left) / (right - left) / 2  # start the triangle wave where the thumb is
    sent = await triangle_wave(mouse, left, right, seconds, hz, phase0)
    page_t1 = await page.evaluate("performance.now()")
    await mouse("mouseReleased", left)
    await page.wait_for_timeout(300)
    frames = await page.evaluate(f"window.vaeExplorer.debug.stats.frames.slice({frames0})")
    inputs = await page.evaluate(f"window.benchInputs.slice({inputs0})")
    decode_ms = await page.evaluate(f"window.vaeExplorer.debug.stats.decodeMs.slice({decodes0})")
    rows = await page.evaluate(f"window.vaeExplorer.debug.stats.decodedRows.slice({decodes0})")
    frames = [f for f in frames if page_t0 <= f["drawn"] <= page_t1]
    duration = (page_t1 - page_t0) / 1000
    # when each value arrived: the first of a run of input events carrying it (a value recurs on every sweep)
    arrivals: dict[float, list[float]] = {}
    previous = None
    for i in inputs:
        if i["value"] != previous:
            arrivals.setdefault(i["value"], []).append(i["t"])
        previous = i["value"]
    timed = []
    for f in frames:
        times = arrivals.get(round(f["z1"], 2), [])
        k = bisect.bisect_right(times, f["drawn"])
        if k:
            timed.append((f, times[k - 1]))  # the latest arrival of the value this frame shows
    drawn = [f["drawn"] - t for f, t in timed]
    presented = [f["next"] - t for f, t in timed if f["next"] is not None]
    return {
        "seconds": duration, "mouse_moves_per_s": sent / duration,
        "input_events_per_s": len([i for i in inputs if page_t0 <= i["t"] <= page_t1]) / duration,
        "updates_per_s": len(frames) / duration,
        "input_to_drawn_ms": {"p50": statistics.median(drawn), "p95": percentile(drawn, 95)},
        "input_to_next_frame_ms": {"p50": statistics.median(presented), "p95": percentile(presented, 95)},
        "decode_ms": {"p50": statistics.median(decode_ms), "p95": percentile(decode_ms, 95)},
        "rows_decoded_per_frame": statistics.fmean(rows) if rows else 0.0,
    }


def frame_rates(frames: list[dict], seconds: float) -> dict:
    """The Training tab's painted frames (window.vaeExplorer.debug.stats.trainingFrames) over `seconds` -> rates."""
    starts = [f["frameStart"] for f in frames]
    gaps = [b - a for a, b in zip(starts, starts[1:])] or [float("nan")]
    decodes = [f["decodeMs"] for f in frames if f["decodeMs"] is not None and f["decoded"]]
    return {
        "seconds": seconds, "frames": len(frames), "frames_per_s": len(frames) / seconds,
        "median_frames_per_s": 1000 / statistics.median(gaps),
        "frame_interval_ms": {"p50": statistics.median(gaps), "p95": percentile(gaps, 95)},
        "snapshots_shown": len({f["k"] for f in frames}),
        "decode_ms": {"p50": statistics.median(decodes), "p95": percentile(decodes, 95)} if decodes else None,
        "rows_decoded_per_frame": statistics.fmean(f["decoded"] or 0 for f in frames) if frames else 0.0,
    }


async def play_replay(page) -> dict:
    """Play the Training tab's replay from its first snapshot to its last."""
    await page.evaluate("window.vaeExplorer.debug.setSnapshot(0)")
    await page.wait_for_timeout(300)
    n0 = await page.evaluate("window.vaeExplorer.debug.stats.trainingFrames.length")
    t0 = await page.evaluate("window.vaeExplorer.debug.playTraining() && performance.now()")
    await page.wait_for_function("!window.vaeExplorer.debug.training.playing", timeout=120_000, polling=100)
    t1 = await page.evaluate("performance.now()")
    frames = await page.evaluate(f"window.vaeExplorer.debug.stats.trainingFrames.slice({n0})")
    return frame_rates(frames, (t1 - t0) / 1000)


async def scrub_replay(page, cdp, seconds: float, hz: float) -> dict:
    """Drag the Training tab's scrubber from end to end and back (a 2 s triangle wave) for `seconds`."""
    scrub = page.locator("#vae-training .vae-scrub")
    await scrub.scroll_into_view_if_needed()
    box = await scrub.bounding_box()
    y, left, right = box["y"] + box["height"] / 2, box["x"] + 8, box["x"] + box["width"] - 8

    async def mouse(kind: str, x: float):
        await cdp.send("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left",
                                                    "buttons": 0 if kind == "mouseReleased" else 1, "clickCount": 1})

    await page.evaluate("window.vaeExplorer.debug.setSnapshot(0)")
    await page.mouse.move(left, y)
    await mouse("mousePressed", left)
    n0 = await page.evaluate("window.vaeExplorer.debug.stats.trainingFrames.length")
    page_t0 = await page.evaluate("performance.now()")
    sent = await triangle_wave(mouse, left, right, seconds, hz)
    page_t1 = await page.evaluate("performance.now()")
    await mouse("mouseReleased", left)
    await page.wait_for_timeout(300)
    frames = await page.evaluate(f"window.vaeExplorer.debug.stats.trainingFrames.slice({n0})")
    frames = [f for f in frames if page_t0 <= f["drawn"] <= page_t1]
    return {"mouse_moves_per_s": sent / ((page_t1 - page_t0) / 1000),
            **frame_rates(frames, (page_t1 - page_t0) / 1000)}


async def drag_map_while_playing(page, cdp, seconds: float, hz: float) -> dict:
    """Play the replay and, at once, drag z around a circle on the Training tab's map for `seconds` (cell cache off):
    every frame moves the points and decodes the digit and all 100 cells with the snapshot's decoder."""
    await page.locator("#vae-training canvas.vae-map").scroll_into_view_if_needed()
    centre = await page.evaluate("window.vaeExplorer.debug.trainingMapPoint(0, 0)")
    edge = await page.evaluate("window.vaeExplorer.debug.trainingMapPoint(2, 0)")
    radius = edge["x"] - centre["x"]

    def at(t: float) -> tuple[float, float]:  # once round the circle every 2 s
        return centre["x"] + radius * math.cos(math.pi * t), centre["y"] + radius * math.sin(math.pi * t)

    async def mouse(kind: str, x: float, y: float):
        await cdp.send("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left",
                                                    "buttons": 0 if kind == "mouseReleased" else 1, "clickCount": 1})

    await page.evaluate("window.vaeExplorer.debug.setSnapshot(0)")
    await page.mouse.move(*at(0))
    await mouse("mousePressed", *at(0))
    n0 = await page.evaluate("window.vaeExplorer.debug.stats.trainingFrames.length")
    page_t0 = await page.evaluate("window.vaeExplorer.debug.playTraining() && performance.now()")
    t0, sent, pending = time.perf_counter(), 0, []
    while (t := time.perf_counter() - t0) < seconds:
        pending.append(asyncio.ensure_future(mouse("mouseMoved", *at(t))))
        sent += 1
        await asyncio.sleep(max(0.0, t0 + sent / hz - time.perf_counter()))
    await asyncio.gather(*pending)
    page_t1 = await page.evaluate("performance.now()")
    await mouse("mouseReleased", *at(seconds))
    await page.evaluate("window.vaeExplorer.debug.pauseTraining()")
    frames = await page.evaluate(f"window.vaeExplorer.debug.stats.trainingFrames.slice({n0})")
    frames = [f for f in frames if page_t0 <= f["drawn"] <= page_t1]
    return {"mouse_moves_per_s": sent / ((page_t1 - page_t0) / 1000),
            **frame_rates(frames, (page_t1 - page_t0) / 1000)}


async def run(args) -> dict:
    from playwright.async_api import async_playwright

    proc, url = start_app(args.model, REPO / "artifacts" / "bench" / "browser_fps.app.log")
    try:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = await browser.new_page(viewport={"width": 1400, "height": 1000})
            await page.goto(url)
            await page.wait_for_function("window.vaeExplorer && window.vaeExplorer.debug.ready", timeout=120_000)
            if args.compare:  # Explore's "compare with": a second model beside the first, painted every frame
                await page.click("#vae-compare input")
                await page.get_by_role("option", name=args.compare, exact=True).click()
                await page.wait_for_function("window.vaeExplorer.debug.comparing", timeout=120_000)
            await page.evaluate("""() => { window.benchInputs = [];
                document.querySelector('#vae-z1 input[type=range]').addEventListener('input', (e) => {
                    window.benchInputs.push({ t: e.timeStamp, value: Math.round(parseFloat(e.target.value) * 100) / 100 });
                }); }""")
            cdp = await page.context.new_cdp_session(page)
            result = {"backend": await page.evaluate("window.vaeExplorer.debug.backend"), "machine_before": machine()}
            result["display_frames_per_s"] = await page.evaluate("""() => new Promise((done) => {
                let n = 0; const t0 = performance.now();
                const tick = (t) => { n++;
                    if (t - t0 < 2000) requestAnimationFrame(tick); else done(n / (t - t0) * 1000); };
                requestAnimationFrame(tick); })""")
            if "drag" in args.cases:
                result["cached"] = await drag(page, cdp, args.seconds, args.hz)
                await page.evaluate("window.vaeExplorer.debug.setCache(false)")
                result["uncached"] = await drag(page, cdp, args.seconds, args.hz)
                await page.evaluate("window.vaeExplorer.debug.setCache(true)")
            if "path" in args.cases:  # the interpolation's animation: frames played per second along A -> B, 3 s
                result["path_frames_per_s"] = await page.evaluate("""() => new Promise((done) => {
                    window.vaeExplorer.debug.setPath([-1.5, 0.0], [1.5, 0.5]);
                    const f = window.vaeExplorer.debug.stats.pathFrames, n0 = f.length, t0 = performance.now();
                    setTimeout(() => { const n = f.length - n0, t = performance.now() - t0;
                                       window.vaeExplorer.debug.setPath(null); done(n / t * 1000); }, 3000); })""")
            if "training" in args.cases:  # the Training tab: its replay fetched on opening, then played, scrubbed
                await page.get_by_role("tab", name="Training").click()
                await page.wait_for_function("window.vaeExplorer.debug.training.ready || "
                                             "document.querySelector('#vae-training [data-state]')?.dataset.state "
                                             "=== 'none'", timeout=120_000)
                if not await page.evaluate("window.vaeExplorer.debug.training.ready"):
                    raise SystemExit("the model has no training replay: train it with --snapshots")
                result["snapshots"] = await page.evaluate("window.vaeExplorer.debug.training.count")
                result["training_play"] = await play_replay(page)
                result["training_scrub_cached"] = await scrub_replay(page, cdp, args.seconds, args.hz)
                await page.evaluate("window.vaeExplorer.debug.setCache(false)")
                result["training_scrub_uncached"] = await scrub_replay(page, cdp, args.seconds, args.hz)
                result["training_play_and_drag_uncached"] = await drag_map_while_playing(page, cdp, args.seconds,
                                                                                          args.hz)
                await page.evaluate("window.vaeExplorer.debug.setCache(true)")
            result["machine_after"] = machine()
            await browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="model folder for the app (default: the bundled pretrained/)")
    parser.add_argument("--compare", help="a second model to show beside the first (a name from the picker)")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each drag")
    parser.add_argument("--hz", type=float, default=120.0, help="mouse-move events sent per second")
    parser.add_argument("--cases", default=",".join(CASES),
                        help=f"comma-separated, from {', '.join(CASES)} (default: all)")
    args = parser.parse_args()
    args.cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    if not args.cases or set(args.cases) - set(CASES):
        parser.error(f"--cases takes a comma-separated list of {', '.join(CASES)}")
    result = asyncio.run(run(args))
    result["model"] = (args.model or "pretrained/ (bundled)") + (f" + {args.compare}" if args.compare else "")
    result["cases"] = args.cases
    print(f"model: {result['model']}; decoder: {result['backend']}; mouse moves sent at {args.hz:g}/s")
    print(f"machine: before {result['machine_before']}; after {result['machine_after']}")
    print(f"display: {result['display_frames_per_s']:.1f} frames/s with nothing to draw")
    if "path" in args.cases:
        print(f"interpolation animation: {result['path_frames_per_s']:.1f} frames/s played along a path")
    if "drag" in args.cases:
        print("\n| drag | input events/s | updates painted/s | input→drawn p50 / p95 ms "
              "| input→next frame p50 / p95 ms | decode p50 / p95 ms | points decoded per frame |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for mode in ("cached", "uncached"):
            r = result[mode]
            print(f"| {mode} | {r['input_events_per_s']:.1f} | {r['updates_per_s']:.1f} | "
                  f"{r['input_to_drawn_ms']['p50']:.1f} / {r['input_to_drawn_ms']['p95']:.1f} | "
                  f"{r['input_to_next_frame_ms']['p50']:.1f} / {r['input_to_next_frame_ms']['p95']:.1f} | "
                  f"{r['decode_ms']['p50']:.1f} / {r['decode_ms']['p95']:.1f} | {r['rows_decoded_per_frame']:.1f} |")
    if "training" in args.cases:
        print(f"\n| training replay ({result['snapshots']} snapshots) | frames painted/s | median frames/s | "
              "frame interval p50 / p95 ms | decode p50 / p95 ms (frames that decoded) | points decoded per frame |")
        print("|---|---:|---:|---:|---:|---:|")
        for mode, name in (("training_play", "play"), ("training_scrub_cached", "scrub, cached"),
                           ("training_scrub_uncached", "scrub, no cache"),
                           ("training_play_and_drag_uncached", "play, dragging z on the map, no cache")):
            r = result[mode]
            decode = f"{r['decode_ms']['p50']:.1f} / {r['decode_ms']['p95']:.1f}" if r["decode_ms"] else "–"
            print(f"| {name} | {r['frames_per_s']:.1f} | {r['median_frames_per_s']:.1f} | "
                  f"{r['frame_interval_ms']['p50']:.1f} / {r['frame_interval_ms']['p95']:.1f} | {decode} | "
                  f"{r['rows_decoded_per_frame']:.1f} |")
    save_result("browser_fps" if args.cases == list(CASES) else f"browser_fps-{'-'.join(args.cases)}", result)


if __name__ == "__main__":
    main()
