"""The Training tab in a real browser (Chromium through Playwright): the replay is fetched only once the tab is
opened; scrubbing moves the map's points and re-decodes the grid; the grid and the digit each snapshot's decoder
paints in the page equal the server's /grid and /generate with that snapshot within 1/255 (int8, float16 with
subnormal values, float32 weights); play runs through the snapshots; the map and the tab's sliders follow each other;
?tab=training opens it; a model without snapshots says how to make them, a damaged snapshots file or replay file
says what went wrong while the rest of the app keeps working; switching model reloads the replay; the page reads
safetensors' F16, I8 and I32 exactly.

The model is a tiny resmlp trained here for two short epochs (7 snapshots, a few seconds). Needs Chromium as
tests/browser_helpers.py says. Screenshots go to artifacts/browser/.
Run: python -m pytest tests/test_browser_training.py   (about 60 s on 2 cores)
"""

from __future__ import annotations

import base64
import json
import shutil
import struct

import numpy as np
import pytest
from gradio_client import Client
from PIL import Image, ImageSequence

from vae import VAE
from vae.latents import load_latents
from vae.snapshots import SNAPSHOTS_NAME, decode_tensor, load_snapshots

from browser_helpers import browser  # noqa: F401 - the module's Chromium, the same fixture as the other browser tests
from browser_helpers import (BROWSER_TEST_MARKS, SHOTS, VIEWPORT, away_from_centre_cell, compose, png, press_at_once,
                             sample_canvas, wait_frames)

pytestmark = BROWSER_TEST_MARKS

EPOCHS, SUBSET, BATCH = 2, 4000, 32  # 125 steps per epoch: snapshots at steps 0, 25, 50, 100, 125, 200, 250
COUNT = 7
MIDDLE = COUNT // 2  # stored as float16, with subnormal values planted (see half_precision)
GRID_SELECTOR = "#vae-training canvas.vae-grid"
DIGIT_SELECTOR = "#vae-training canvas.vae-digit"
MAP_SELECTOR = "#vae-training canvas.vae-map"


def half_precision(path, k: int) -> None:
    """Store snapshot k's decoder as float16 (the encoding the trainer falls back to where int8 is not exact
    enough), with values the page must widen exactly: subnormal halves (below 6.1e-5) and a negative zero."""
    snaps = load_snapshots(path)
    for name, encoding in list(snaps.records[k]["encodings"].items()):
        scale = snaps.tensors.pop(f"s{k}.{name}.scale", None)
        weights = decode_tensor(encoding, snaps.tensors[f"s{k}.{name}"], scale).numpy().astype(np.float16)
        flat = weights.reshape(-1)
        flat[:4] = [6e-8, -3e-6, 2.5e-5, -0.0]
        snaps.tensors[f"s{k}.{name}"] = weights
        snaps.records[k]["encodings"][name] = "float16"
    snaps.save(path)


@pytest.fixture(scope="module")
def served(tmp_path_factory, run_train, tiny_run_args):
    """The app with three models: "default" (the tiny run, with its snapshots), "plain" (the same weights, no
    snapshots file) and "broken" (a damaged snapshots file) -> (url, client)."""
    import app
    from webapp.models import ModelEntry

    root = tmp_path_factory.mktemp("training")
    out = root / "default"
    result = run_train(*tiny_run_args, "--epochs", EPOCHS, "--train-subset", SUBSET, "--batch-size", BATCH,
                       "--iwae-k", "0", "--no-exact", "--out-dir", out)
    assert result.returncode == 0, result.stderr[-3000:]
    half_precision(out / SNAPSHOTS_NAME, MIDDLE)
    plain, broken = root / "plain", root / "broken"
    for folder in (plain, broken):
        folder.mkdir()
        for name in ("config.json", "model.safetensors", "latents.safetensors"):
            shutil.copy(out / name, folder / name)
    data = (out / SNAPSHOTS_NAME).read_bytes()
    (broken / SNAPSHOTS_NAME).write_bytes(data[: len(data) // 2])  # cut short, as by a failed copy
    model = VAE.from_pretrained(out).eval()
    demo = app.build_demo(ModelEntry(model, "test model", load_latents(out / "latents.safetensors"), folder=out),
                          {"plain": ModelEntry.from_folder(plain), "broken": ModelEntry.from_folder(broken)},
                          app.Options(bundle_dir=root / "bundles"))
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True, **app.launch_options())
    yield url, Client(url, verbose=False)
    demo.close()


def open_page(browser, url: str, route_replay=None):
    """The app, its Explore tab ready; page.replay_requests lists the replay files the page asked for."""
    page = browser.new_page(viewport=VIEWPORT)
    page.errors, page.replay_requests = [], []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.on("request", lambda r: page.replay_requests.append(r.url) if "/replay-" in r.url else None)
    if route_replay:
        page.route("**/replay-*.safetensors", route_replay)
    page.goto(url)
    page.wait_for_function("window.vaeExplorer && window.vaeExplorer.debug.ready", timeout=60_000)
    page.wait_for_function("window.vaeExplorer.debug.stats.frames.length > 0", timeout=30_000)
    return page


def open_training(page):
    page.get_by_role("tab", name="Training").click()
    page.wait_for_function("window.vaeExplorer.debug.training.ready", timeout=60_000)
    wait_training_painted(page)


def training(page) -> dict:
    return page.evaluate("window.vaeExplorer.debug.training")


def wait_training_painted(page):
    """Until the last frame the tab painted shows its current position and view."""
    page.wait_for_function("""() => { const t = window.vaeExplorer.debug.training, v = t.view;
        const f = window.vaeExplorer.debug.stats.trainingFrames.at(-1);
        return t.ready && f && f.pos === t.position && f.z1 === v.z1 && f.z2 === v.z2 && f.span === v.span; }""",
                           timeout=15_000)


def show(page, k: int, z1: float = 0.0, z2: float = 0.0, span: float = 1.5):
    """Snapshot k at the view (z1, z2, span), painted."""
    page.evaluate("([k, a, b, s]) => { window.vaeExplorer.debug.setSnapshot(k); "
                  "window.vaeExplorer.setTrainingView(a, b, s); }",
                  [k, z1, z2, span])
    wait_training_painted(page)


def canvas_bytes(page, selector: str) -> bytes:
    """All of a canvas's RGBA pixels."""
    data = page.evaluate("""(sel) => { const c = document.querySelector(sel);
        const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let s = ''; for (let i = 0; i < px.length; i += 4096) s += String.fromCharCode(...px.subarray(i, i + 4096));
        return btoa(s); }""", selector)
    return base64.b64decode(data)


def coloured_pixels(page, selector: str) -> int:
    """Pixels of a canvas that are clearly coloured (the digits' class colours, not grey)."""
    return page.evaluate("""(sel) => { const c = document.querySelector(sel);
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
        for (let i = 0; i < d.length; i += 4) {
            const hi = Math.max(d[i], d[i + 1], d[i + 2]), lo = Math.min(d[i], d[i + 1], d[i + 2]);
            if (hi - lo > 60) n++; }
        return n; }""", selector)


def choose_model(page, name: str):
    page.click("#vae-model input")
    page.get_by_role("option", name=name, exact=True).click()
    page.wait_for_function("(n) => document.querySelector('#vae-footer').innerText.includes('Model ' + n)", arg=name,
                           timeout=30_000)


def training_status(page) -> str:
    return page.inner_text("#vae-training .vae-status")


# ---------------------------------------------------------------------------------------------------------


def test_the_replay_is_fetched_only_when_the_tab_is_opened(browser, served):
    url, _ = served
    page = open_page(browser, url)
    page.evaluate("window.vaeExplorer.setView(0.5, -0.5)")  # Explore in use: painted, settled, still no replay
    page.wait_for_function("location.search.includes('z1=0.50') && location.search.includes('z2=-0.50')",
                           timeout=15_000)
    assert page.replay_requests == []
    assert training(page)["opened"] is False
    open_training(page)
    assert len(page.replay_requests) == 1 and page.replay_requests[0].endswith(".safetensors")
    state = training(page)
    assert state["count"] == COUNT and state["snapshot"] == 0 and state["playing"] is False
    assert page.inner_text("#vae-training .vae-train-when").startswith(f"snapshot 1 of {COUNT}: step 0 ")
    assert coloured_pixels(page, MAP_SELECTOR) > 500  # the 2,000 test digits' points
    assert coloured_pixels(page, "#vae-training canvas.vae-curve") > 200  # the train and test -ELBO lines
    assert training_status(page).strip() == ""
    # the tab is part of the view kept in the address; the Explore tab and back does not fetch again
    page.wait_for_function("location.search.includes('tab=training')", timeout=10_000)
    page.get_by_role("tab", name="Explore").click()
    page.get_by_role("tab", name="Training").click()
    page.wait_for_function("location.search.includes('tab=training')", timeout=10_000)
    wait_training_painted(page)
    wait_frames(page, 20)
    assert len(page.replay_requests) == 1
    show(page, MIDDLE, 0.5, -1.0)
    page.screenshot(path=SHOTS / "training.png", full_page=True)
    assert page.errors == []
    page.close()


def test_the_address_opens_the_training_tab(browser, served):
    url, _ = served
    page = browser.new_page(viewport=VIEWPORT)
    page.goto(url + "?tab=training")
    page.wait_for_function("window.vaeExplorer && window.vaeExplorer.debug.training.ready", timeout=60_000)
    wait_training_painted(page)
    assert training(page)["count"] == COUNT
    page.close()


def test_scrubbing_changes_the_map_and_the_grid(browser, served):
    url, _ = served
    page = open_page(browser, url)
    open_training(page)
    show(page, 0, 0.5, -1.0)
    first_map, first_grid = canvas_bytes(page, MAP_SELECTOR), sample_canvas(page, GRID_SELECTOR, 280)
    show(page, COUNT - 1, 0.5, -1.0)
    last_map, last_grid = canvas_bytes(page, MAP_SELECTOR), sample_canvas(page, GRID_SELECTOR, 280)
    assert first_map != last_map
    assert np.abs(first_grid.astype(int) - last_grid).mean() > 5  # a grey blur, then digits
    # drag the scrubber with the mouse from the start to the end: the points move through positions between the
    # snapshots, the grid follows the nearest snapshot, and let go the position settles on a snapshot
    page.evaluate("window.vaeExplorer.debug.setSnapshot(0)")
    wait_training_painted(page)
    scrub = page.locator("#vae-training .vae-scrub")
    scrub.scroll_into_view_if_needed()
    box = scrub.bounding_box()
    y, left, right = box["y"] + box["height"] / 2, box["x"] + 8, box["x"] + box["width"] - 8
    frames0 = page.evaluate("window.vaeExplorer.debug.stats.trainingFrames.length")
    page.mouse.move(left, y)
    page.mouse.down()
    for i in range(1, 41):
        page.mouse.move(left + (right - left) * i / 40 * 0.8, y)  # up to 80% of the track: between snapshots
        page.wait_for_timeout(20)
    page.mouse.up()
    page.wait_for_function("Number.isInteger(window.vaeExplorer.debug.training.position)", timeout=10_000)
    wait_training_painted(page)
    frames = page.evaluate(f"window.vaeExplorer.debug.stats.trainingFrames.slice({frames0})")
    positions = [f["pos"] for f in frames]
    assert len(frames) > 10 and any(not float(p).is_integer() for p in positions)
    assert len({f["k"] for f in frames}) >= 4  # several snapshots' grids decoded along the way
    assert training(page)["snapshot"] == round(0.8 * (COUNT - 1))
    # the keyboard on the scrubber: one snapshot per arrow key
    scrub.focus()
    page.keyboard.press("ArrowLeft")
    wait_training_painted(page)
    assert training(page)["position"] == round(0.8 * (COUNT - 1)) - 1
    page.keyboard.press("End")
    wait_training_painted(page)
    assert training(page)["position"] == COUNT - 1
    assert page.errors == []
    page.close()


@pytest.mark.parametrize("z1, z2, span", [(0.5, -1.0, 1.5), (-2.0, 1.35, 0.8)])
def test_each_snapshot_paints_the_servers_pixels(browser, served, z1, z2, span):
    """Snapshots 0 (int8 and float32), MIDDLE (float16 with subnormals) and the last: the painted grid and digit, and
    the decoder's own output, equal /grid and /generate with that snapshot within 1/255."""
    url, client = served
    page = open_page(browser, url)
    open_training(page)
    for k in (0, MIDDLE, COUNT - 1):
        show(page, k, z1, z2, span)
        grid = png(client.predict(z1, z2, span, snapshot=k, api_name="/grid"))[..., 0]
        digit = png(client.predict(z1, z2, snapshot=k, api_name="/generate"))
        painted = sample_canvas(page, GRID_SELECTOR, 280).astype(int)
        assert np.abs(painted - grid)[away_from_centre_cell()].max() <= 1, k
        assert np.abs(sample_canvas(page, DIGIT_SELECTOR, 28).astype(int) - digit).max() <= 1, k
        cells = np.array(page.evaluate("([a, b, s, k]) => window.vaeExplorer.debug.decodeTraining(a, b, s, k)",
                                       [z1, z2, span, k]), np.uint8).reshape(101, 28, 28)
        assert np.abs(compose(cells[1:]).astype(int) - grid)[away_from_centre_cell()].max() <= 1, k
    # negative indices count from the end, as the API's
    assert page.evaluate("window.vaeExplorer.debug.setSnapshot(-1)") == COUNT - 1
    assert page.errors == []
    page.close()


def test_play_runs_through_the_snapshots(browser, served):
    url, _ = served
    page = open_page(browser, url)
    open_training(page)
    page.evaluate("window.vaeExplorer.debug.setSnapshot(0)")
    wait_training_painted(page)
    frames0 = page.evaluate("window.vaeExplorer.debug.stats.trainingFrames.length")
    page.click("#vae-training .vae-play")
    page.wait_for_function("window.vaeExplorer.debug.training.playing", timeout=5_000)
    assert "pause" in page.inner_text("#vae-training .vae-play")
    page.wait_for_function("window.vaeExplorer.debug.training.snapshot >= 2", timeout=15_000)
    page.click("#vae-training .vae-play")  # pause
    paused = training(page)
    assert paused["playing"] is False and "play" in page.inner_text("#vae-training .vae-play")
    wait_frames(page, 30)  # half a second of display frames: a playing replay moves every frame
    assert training(page)["position"] == paused["position"]
    page.click("#vae-training .vae-play")  # on to the end, where it stops
    page.wait_for_function(f"window.vaeExplorer.debug.training.position === {COUNT - 1} && "
                           "!window.vaeExplorer.debug.training.playing", timeout=30_000)
    frames = page.evaluate(f"window.vaeExplorer.debug.stats.trainingFrames.slice({frames0})")
    positions = [f["pos"] for f in frames]
    assert positions == sorted(positions) and len(frames) > 3 * COUNT  # moving smoothly forwards, frame by frame
    assert {f["k"] for f in frames} == set(range(COUNT))  # every snapshot's grid shown on the way
    assert page.inner_text("#vae-training .vae-train-when").startswith(f"snapshot {COUNT} of {COUNT}: step 250 ")
    assert page.evaluate("window.vaeExplorer.debug.playTraining()") is True  # at the end, play starts again from 0
    page.wait_for_function("window.vaeExplorer.debug.training.playing", timeout=5_000)
    assert training(page)["position"] < 1
    page.evaluate("window.vaeExplorer.setTab('explore')")  # leaving the tab stops it
    assert training(page)["playing"] is False
    assert page.errors == []
    page.close()


def test_the_replay_gif_button_shows_the_servers_replay(browser, served, tmp_path):
    url, client = served
    page = open_page(browser, url)
    open_training(page)
    page.click("#vae-replay-gif")
    page.wait_for_function("document.querySelector('#vae-replay-file img')?.complete", timeout=60_000)
    link = page.evaluate("document.querySelector('#vae-replay-file a').href")
    assert link == page.evaluate("document.querySelector('#vae-replay-file img').src")  # shown and downloadable
    gif = tmp_path / "page.gif"
    gif.write_bytes(page.request.get(link).body())
    expected = client.predict("default", 0.0, 0.0, 1.5, api_name="/replay")
    with Image.open(gif) as got, Image.open(expected) as want:
        assert got.n_frames == want.n_frames == COUNT
        assert all(np.array_equal(np.asarray(g.convert("RGB")), np.asarray(w.convert("RGB")))
                   for g, w in zip(ImageSequence.Iterator(got), ImageSequence.Iterator(want)))
    assert page.errors == []
    page.close()


def test_the_map_and_the_tabs_sliders_follow_each_other(browser, served):
    url, _ = served
    page = open_page(browser, url)
    open_training(page)
    canvas = page.locator(MAP_SELECTOR)
    canvas.scroll_into_view_if_needed()
    target = page.evaluate("window.vaeExplorer.debug.trainingMapPoint(1.0, -2.0)")
    page.mouse.click(target["x"], target["y"])
    page.wait_for_function("parseFloat(document.querySelector('#vae-train-z1 input[type=number]').value) === 1",
                           timeout=15_000)
    assert float(page.input_value("#vae-train-z2 input[type=number]")) == -2.0
    assert training(page)["view"] == {"z1": 1.0, "z2": -2.0, "span": 1.5}
    # the Explore tab's sliders are its own
    assert float(page.input_value("#vae-z1 input[type=number]")) == 0.0
    # a slider of the tab moves its view
    page.fill("#vae-train-span input[type=number]", "0.5")
    page.press("#vae-train-span input[type=number]", "Enter")
    page.wait_for_function("window.vaeExplorer.debug.training.view.span === 0.5", timeout=15_000)
    wait_training_painted(page)
    assert page.inner_text("#vae-training .vae-train-span") == "0.50"
    # the map's arrow keys, faster than the sliders answer: every key counts, the span stays
    press_at_once(page, MAP_SELECTOR, ["ArrowRight", "ArrowRight", "ArrowUp"])
    page.wait_for_function("""(want) => { const v = window.vaeExplorer.debug.training.view;
        return Object.entries(want).every(([k, x]) => Math.abs(v[k] - x) < 1e-9); }""",
                           arg={"z1": 1.1, "z2": -1.95, "span": 0.5}, timeout=15_000)
    assert float(page.input_value("#vae-train-z2 input[type=number]")) == -1.95
    assert page.errors == []
    page.close()


def test_models_without_a_usable_replay_say_why_and_switching_reloads(browser, served):
    url, _ = served
    page = open_page(browser, url)
    # chosen before the tab is opened: nothing fetched until it is
    choose_model(page, "plain")
    page.get_by_role("tab", name="Training").click()
    page.wait_for_function("document.querySelector('#vae-training [data-state]')?.dataset.state === 'none'",
                           timeout=15_000)
    status = training_status(page)
    assert "no training replay" in status and "python -m train" in status and "--snapshots" in status
    assert not page.locator("#vae-training .vae-train-body").is_visible()
    assert "vae-error" not in page.locator("#vae-training .vae-status").get_attribute("class")  # a note, not an error
    assert page.replay_requests == []
    # a damaged snapshots file: the tab says so, as an error
    choose_model(page, "broken")
    page.wait_for_function("document.querySelector('#vae-training .vae-status').innerText.includes('cannot be shown')",
                           timeout=15_000)
    assert "vae-error" in page.locator("#vae-training .vae-status").get_attribute("class")
    assert page.replay_requests == []
    # the rest of the app keeps working: Explore decodes with the broken model's final weights
    page.get_by_role("tab", name="Explore").click()
    page.evaluate("window.vaeExplorer.setView(1.0, 1.0)")
    page.wait_for_function("window.vaeExplorer.debug.stats.frames.at(-1).z1 === 1", timeout=15_000)
    # back to a model with a replay: the opened tab loads it at once
    choose_model(page, "default")
    page.wait_for_function("window.vaeExplorer.debug.training.ready", timeout=30_000)
    assert len(page.replay_requests) == 1 and training(page)["count"] == COUNT
    page.get_by_role("tab", name="Training").click()
    wait_training_painted(page)
    assert page.locator("#vae-training .vae-train-body").is_visible()
    assert training_status(page).strip() == ""
    assert page.errors == []
    page.close()


def test_a_damaged_replay_file_shows_an_error_and_explore_keeps_working(browser, served):
    url, _ = served
    # the replay file arrives cut short
    page = open_page(browser, url, route_replay=lambda route: route.fulfill(
        status=200, content_type="application/octet-stream", body=struct.pack("<Q", 64) + b'{"labels": '))
    page.get_by_role("tab", name="Training").click()
    page.wait_for_function("document.querySelector('#vae-training [data-state]')?.dataset.state === 'error'",
                           timeout=30_000)
    status = page.locator("#vae-training .vae-status")
    assert "could not be shown" in status.inner_text() and "vae-error" in status.get_attribute("class")
    assert training(page)["ready"] is False
    page.get_by_role("tab", name="Explore").click()
    page.evaluate("window.vaeExplorer.setView(-1.0, 0.5)")
    page.wait_for_function("window.vaeExplorer.debug.stats.frames.at(-1).z1 === -1", timeout=15_000)
    assert page.evaluate("window.vaeExplorer.debug.ready")
    assert page.errors == []
    page.close()


def safetensors_bytes(tensors: dict[str, tuple[str, list[int], bytes]]) -> bytes:
    """A safetensors file by hand: name -> (dtype, shape, raw little-endian bytes)."""
    header, offset = {}, 0
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + b"".join(raw for _, _, raw in tensors.values())


def test_the_page_reads_float16_int8_and_int32_exactly(browser, served):
    """Every one of the 65,536 half-precision values (zeros, subnormals, normals, infinities) widened to the float32
    numpy gives, bit for bit; every int8 value; int32 extremes."""
    url, _ = served
    halves = np.arange(65536, dtype=np.uint16)
    int8 = np.arange(-128, 128, dtype=np.int8)
    int32 = np.array([-2**31, -1, 0, 1, 2**31 - 1], np.int32)
    data = safetensors_bytes({"h": ("F16", [256, 256], halves.tobytes()), "q": ("I8", [2, 128], int8.tobytes()),
                              "i": ("I32", [5], int32.tobytes())})
    page = browser.new_page(viewport=VIEWPORT)
    page.goto(url)
    page.wait_for_function("window.vaeExplorer", timeout=60_000)
    got = page.evaluate("""(b64) => { const raw = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const { tensors } = window.vaeExplorer.debug.readSafetensors(raw.buffer);
        const bits = new Uint8Array(tensors.h.data.buffer); let s = '';
        for (let i = 0; i < bits.length; i += 4096) s += String.fromCharCode(...bits.subarray(i, i + 4096));
        return { h: btoa(s), hShape: tensors.h.shape, q: Array.from(tensors.q.data), i: Array.from(tensors.i.data),
                 dtypes: [tensors.h.dtype, tensors.q.dtype, tensors.i.dtype] }; }""",
                        base64.b64encode(data).decode())
    widened = np.frombuffer(base64.b64decode(got["h"]), np.float32)
    expected = halves.view(np.float16).astype(np.float32)
    finite = ~np.isnan(expected)
    np.testing.assert_array_equal(widened[finite].view(np.uint32), expected[finite].view(np.uint32))
    assert np.isnan(widened[~finite]).all()
    assert got["hShape"] == [256, 256] and got["dtypes"] == ["F16", "I8", "I32"]
    assert got["q"] == int8.tolist() and got["i"] == int32.tolist()
    # a file cut short is refused with a message, not read as fewer values
    with pytest.raises(Exception, match="truncated or damaged"):
        page.evaluate("""(b64) => { const raw = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            window.vaeExplorer.debug.readSafetensors(raw.buffer); }""", base64.b64encode(data[:-3]).decode())
    page.close()
