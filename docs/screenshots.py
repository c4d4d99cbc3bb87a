"""The README's pictures of the app's four tabs, in the light theme, the dark theme and on a phone.

    python docs/screenshots.py

(with the venv's Python: `.venv/bin/python docs/screenshots.py`). Starts `python app.py` on a free port as the tests
do (tests/app_server.py: its own Gradio cache, temporary folder and Hub home, the bundled model), opens it in
headless Chromium ($CHROMIUM, else /usr/bin/chromium, else chromium on the PATH; Playwright's own browser download
is not used) and, for each tab, waits for the page's own signal that it has painted before taking the picture:

- Explore at z = (-0.60, 0.80), its digit, map and grid painted;
- Reconstruct with the MNIST test 0 of static/examples/ uploaded, its reconstruction, posterior and true posterior
  shown;
- Training at the replay's snapshot after epoch 1, its canvases painted;
- Train live after 400 steps of its default ("quick") preset, then paused: MNIST_DIR must name the folder of
  MNIST's IDX files, as it does for `python app.py` (the script will not start without it).

Written to docs/, quantised to 256 colours (Pillow) to keep them small:

    docs/tab-explore.png, tab-reconstruct.png,   each tab in Gradio's light theme in a 1280 px wide window, from
    tab-training.png, tab-train-live.png         the tab bar to the tab's end (at most 1200 px)
    docs/tabs-dark.png                           the four in the dark theme (?__theme=dark), two by two, half size
    docs/tabs-phone.png                          the four on a phone (390 x 844, touch), light theme, side by side,
                                                 each scrolled to what the tab shows

`--raw DIR` also keeps each screenshot as taken. About 3 minutes on 2 busy cores, most of it the three Train live
runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]  # the tests' helpers import the library
from app_server import launch_app  # noqa: E402 - the tests' launcher: `python app.py` on a free port
from browser_helpers import CHROMIUM_ARGS  # noqa: E402 - the browser tests' headless Chromium flags

TABS = ["Explore", "Reconstruct", "Training", "Train live"]
DESKTOP = {"width": 1280, "height": 800}  # a laptop's window; the picture runs to the tab's end
MAX_HEIGHT = 1200
PHONE = {"width": 390, "height": 844}
MODES = {  # name: (query, Playwright page options)
    "light": ("", {"viewport": DESKTOP}),
    "dark": ("__theme=dark", {"viewport": DESKTOP}),
    "phone": ("", {"viewport": PHONE, "is_mobile": True, "has_touch": True}),
}
EXAMPLE = REPO / "static" / "examples" / "digit-0-mnist-test-00003.png"
AFTER_EPOCH_1 = 6  # the replay's snapshots: step 0, 25, 50, 100, 200, 400, then the end of epoch 1 (vae/snapshots.py)
LIVE = "window.vaeExplorer.debug.live"
GAP = 12  # pixels between the pictures in a composite, and its colour
GAP_COLOUR = (200, 200, 200)
MINUTE = 60_000


def chromium() -> str:
    for candidate in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and Path(candidate).exists():
            return candidate
    sys.exit("no Chromium found: apt-get install -y chromium, or set CHROMIUM to a Chromium or Chrome binary")


def open_page(browser, url: str, query: str, options: dict):
    """A new page on the app once its Explore tab has painted; page.errors collects its uncaught errors."""
    page = browser.new_page(**options)
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.goto(url + ("?" + query if query else ""))
    page.wait_for_function("window.vaeExplorer && window.vaeExplorer.debug.ready", timeout=2 * MINUTE)
    page.wait_for_function("window.vaeExplorer.debug.stats.frames.length > 0", timeout=MINUTE)
    return page


# each tab: bring it to the state pictured, wait until it is painted, and return the selector the phone's picture
# starts at (the desktop's start at the tab bar)

def show_explore(page) -> str:
    page.wait_for_function("""() => { const d = window.vaeExplorer.debug, s = d.state, f = d.stats.frames.at(-1);
        return Math.abs(s.z1 + 0.6) < 1e-9 && Math.abs(s.z2 - 0.8) < 1e-9 && f && f.z1 === s.z1 && f.z2 === s.z2
            && f.span === s.span; }""", timeout=MINUTE)
    return "[role=tablist]"


def show_reconstruct(page) -> str:
    page.get_by_role("tab", name="Reconstruct").click()
    page.get_by_role("tab", name="Upload").click()
    page.set_input_files("#vae-upload input[type=file]", str(EXAMPLE))
    page.wait_for_function("document.querySelector('#vae-posterior [data-posterior]')?.dataset.posterior",
                           timeout=MINUTE)
    # the true posterior comes in a second event; its picture loads lazily, once scrolled to (a phone's viewport)
    page.wait_for_function("document.querySelector('#vae-likelihood')?.textContent.includes('exact')", timeout=MINUTE)
    page.locator("#vae-heat-map img").scroll_into_view_if_needed()
    page.wait_for_function("['#vae-preprocessed', '#vae-reconstruction', '#vae-heat-map'].every((id) => {"
                           " const img = document.querySelector(id + ' img'); return img && img.complete"
                           " && img.naturalWidth > 0; })", timeout=MINUTE)
    return "#vae-preprocessed"


def show_training(page) -> str:
    page.get_by_role("tab", name="Training").click()
    page.wait_for_function("window.vaeExplorer.debug.training.ready", timeout=2 * MINUTE)
    scrub = page.locator("#vae-training .vae-scrub")
    scrub.focus()
    page.keyboard.press("Home")
    for _ in range(AFTER_EPOCH_1):
        page.keyboard.press("ArrowRight")
    page.wait_for_function("""(k) => { const t = window.vaeExplorer.debug.training, v = t.view;
        const f = window.vaeExplorer.debug.stats.trainingFrames.at(-1);
        return t.ready && t.position === k && f && f.pos === k && f.z1 === v.z1 && f.z2 === v.z2
            && f.span === v.span; }""", arg=AFTER_EPOCH_1, timeout=MINUTE)
    scrub.blur()
    return "#vae-training .vae-train-bar"


def show_train_live(page) -> str:
    page.get_by_role("tab", name="Train live").click()
    page.wait_for_function(f"{LIVE} && {LIVE}.state === 'idle'", timeout=MINUTE)
    page.get_by_role("button", name="Train", exact=True).click()
    page.wait_for_function(f"""() => {{ const s = {LIVE};
        if (s.state === 'failed' || s.state === 'stopped') throw new Error(s.message);
        return s.state === 'running' && s.points > 0 && s.pixels && s.step >= 400 && s.tests.length >= 2; }}""",
                           timeout=5 * MINUTE)
    page.get_by_role("button", name="Pause", exact=True).click()
    page.wait_for_function(f"(s => s.state === 'paused' && !s.workerRunning)({LIVE})", timeout=MINUTE)
    return "#vae-train .vae-lab-readout"


SHOW = {"Explore": show_explore, "Reconstruct": show_reconstruct, "Training": show_training,
        "Train live": show_train_live}


def picture(page, start: str, path: Path, whole_tab: bool):
    """The page from `start`'s top (less a margin) down: to the end of the tab shown (`whole_tab`, at most
    MAX_HEIGHT) or one viewport high; canvases and all, however far it is scrolled."""
    page.evaluate("new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(() => done(true))))")
    view = page.viewport_size
    top = page.locator(start).first.evaluate("(el) => el.getBoundingClientRect().top + window.scrollY")
    bottom = page.evaluate("document.documentElement.scrollHeight")
    height = view["height"]
    if whole_tab:
        end = page.evaluate("""() => { const panel = [...document.querySelectorAll('[role=tabpanel]')]
            .find((e) => e.offsetParent !== null); const r = panel.getBoundingClientRect();
            return r.bottom + window.scrollY; }""")
        height = min(MAX_HEIGHT, round(end - top) + 24)
    y = max(0, min(round(top) - 8, bottom - height))
    page.screenshot(path=str(path), full_page=True,
                    clip={"x": 0, "y": y, "width": view["width"], "height": min(height, bottom - y)})


def sheet(images: list[Image.Image], columns: int) -> Image.Image:
    """The images in rows of `columns`, top-aligned, with a grey gap between them."""
    rows = [images[i:i + columns] for i in range(0, len(images), columns)]
    width = max(sum(im.width for im in row) + GAP * (len(row) - 1) for row in rows)
    heights = [max(im.height for im in row) for row in rows]
    out = Image.new("RGB", (width, sum(heights) + GAP * (len(rows) - 1)), GAP_COLOUR)
    y = 0
    for row, height in zip(rows, heights):
        x = 0
        for im in row:
            out.paste(im, (x, y))
            x += im.width + GAP
        y += height + GAP
    return out


def save_small(image: Image.Image, path: Path):
    """256 colours (the octree keeps the maps' ten class colours apart), as an optimised PNG."""
    small = image.convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    small.save(path, optimize=True)
    print(f"wrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path} "
          f"({image.width} x {image.height}, {path.stat().st_size // 1024} KB)", flush=True)


def slug(tab: str) -> str:
    return tab.lower().replace(" ", "-")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs", help="where the pictures go (docs/)")
    parser.add_argument("--raw", type=Path, help="also keep each screenshot as taken in this folder")
    parser.add_argument("--modes", nargs="+", choices=list(MODES), default=list(MODES))
    args = parser.parse_args(argv)
    if not os.environ.get("MNIST_DIR"):
        sys.exit("set MNIST_DIR to the folder of MNIST's IDX files: the Train live tab trains on them")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="vae-screenshots-") as tmp:
        raw = args.raw or Path(tmp) / "raw"
        raw.mkdir(parents=True, exist_ok=True)
        args.out.mkdir(parents=True, exist_ok=True)
        app = launch_app(Path(tmp) / "app")
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
                for mode in args.modes:
                    query, options = MODES[mode]
                    shots = []
                    for tab in TABS:
                        page = open_page(browser, app.url, "&".join(filter(None, [query, "z1=-0.60&z2=0.80"])),
                                         options)
                        anchor = SHOW[tab](page)
                        shot = raw / f"{mode}-{slug(tab)}.png"
                        picture(page, anchor if mode == "phone" else "[role=tablist]", shot, whole_tab=mode != "phone")
                        if page.errors:
                            sys.exit(f"{mode}, {tab}: the page raised {page.errors}")
                        page.close()
                        shots.append(Image.open(shot))
                        print(f"{mode:5} {tab}" + (f": {shot}" if args.raw else ""), flush=True)
                    if mode == "light":
                        for tab, im in zip(TABS, shots):
                            save_small(im, args.out / f"tab-{slug(tab)}.png")
                    elif mode == "dark":  # a glimpse of the theme: two by two at half size
                        both = sheet(shots, 2)
                        save_small(both.resize((both.width // 2, both.height // 2), Image.Resampling.LANCZOS),
                                   args.out / "tabs-dark.png")
                    else:
                        save_small(sheet(shots, 4), args.out / "tabs-phone.png")
                browser.close()
        finally:
            app.stop()


if __name__ == "__main__":
    main()
