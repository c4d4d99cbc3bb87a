"""The page as a newcomer meets it, in a real browser (Chromium through Playwright): on a 1366 x 768 laptop screen
the Explore tab's digit and its whole 10 x 10 grid are on the first screen, without scrolling; on a 390 x 844 phone
the digit is, and every tab and the Train live tab's settings fit; at 360 and 390 px no tab overflows and every tap
target is at least 32 px; Train live's controls have the colours, radii and type of Gradio's own in both themes; a
path's ends are set by keyboard and by touch ("A = z", "B = z"), not only by shift-click; and the latent map's
geometry, checked against positions computed here from the map's limit (in the page bundle) and margins
(webapp/page.py) rather than through the page's own transform: a test digit is drawn in its class's colour where
its mean says, ArrowUp raises z2 and moves the marker up, a click at a pixel sets the z that pixel means.

Needs Chromium (tests/browser_helpers.py says how to get it).
Run: python -m pytest tests/test_browser_layout.py   (about 2 min on 2 busy cores)
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors import safe_open

from vae.latents import load_latents

from browser_helpers import browser, served  # noqa: F401 - fixtures: the module's Chromium, the bundled model's app
from browser_helpers import BROWSER_TEST_MARKS, open_app, png, wait_for_state, wait_painted
from conftest import PRETRAINED

pytestmark = BROWSER_TEST_MARKS

MAP = "#vae-explore .vae-main canvas.vae-map"
MARK = (255, 140, 0)  # the marker's centre (vae.imaging.MARK_COLOUR)


def box(page, selector: str) -> dict:
    return page.locator(selector).first.bounding_box()


def on_first_screen(page, selector: str) -> bool:
    """Wholly inside the viewport as the page opened (nothing scrolled)."""
    b, size = box(page, selector), page.viewport_size
    return (b["x"] >= 0 and b["y"] >= 0 and b["x"] + b["width"] <= size["width"]
            and b["y"] + b["height"] <= size["height"])


def test_digit_and_grid_on_a_laptops_first_screen(browser, served):
    url, _, _ = served
    page = open_app(browser, url, viewport={"width": 1366, "height": 768})
    assert page.evaluate("window.scrollY") == 0
    assert on_first_screen(page, "#vae-explore canvas.vae-digit")
    assert on_first_screen(page, "#vae-explore canvas.vae-grid")  # all 100 cells
    assert on_first_screen(page, "#vae-z1") and on_first_screen(page, "#vae-random")  # controls beside them
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366
    assert page.errors == []
    page.close()


def test_the_digit_on_a_phones_first_screen(browser, served):
    url, _, _ = served
    page = open_app(browser, url, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    assert page.evaluate("window.scrollY") == 0
    assert on_first_screen(page, "#vae-explore canvas.vae-digit")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.close()


def test_every_tab_and_the_train_live_controls_fit_a_phone(browser, served):
    """All four tabs are buttons on the screen (none behind Gradio's overflow menu, where a visitor would not look),
    and the Train live tab's settings fit the phone's width (the long model label once pushed its select off it); its
    z sliders have Explore's ranges, step and starting values."""
    url, _, _ = served
    page = open_app(browser, url, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    for name in ("Explore", "Reconstruct", "Training", "Train live"):
        assert on_first_screen(page, f'[role="tab"]:text-is("{name}")'), name
    page.get_by_role("tab", name="Train live").click()
    page.locator("#vae-train .vae-lab-model option").first.wait_for(state="attached")
    rights = page.evaluate("[...document.querySelectorAll('#vae-train .vae-lab-bar > *')]"
                           ".map((e) => e.getBoundingClientRect().right)")
    assert rights and max(rights) <= 390, rights
    ranges = page.evaluate("""() => Object.fromEntries(["z1", "z2", "span"].map((name) => [name, [
        document.querySelector(`#vae-train .vae-lab-${name}`), document.querySelector(`#vae-${name} input[type=range]`)]
        .map((s) => [s.min, s.max, s.step, s.value])]))""")
    for name, (train, explore) in ranges.items():  # the tab's z sliders are Explore's
        assert train == explore, (name, train, explore)
    assert page.errors == []
    page.close()


# what a finger can press: Gradio's and the page's controls, except links inside a sentence (WCAG 2.5.8 exempts them)
# and the hidden copies Gradio measures its tab row with (1 px high); a control inside a <label> is pressed through it
SMALL_TAP_TARGETS = """(least) => [...document.querySelectorAll(
    'button, a[href], input:not([type=hidden]), select, summary, textarea, [role=tab], [role=button], [role=slider]')]
  .flatMap((e) => {
    const r = e.getBoundingClientRect();
    if (r.width < 2 || r.height < 2 || getComputedStyle(e).visibility === 'hidden') return [];
    if (e.tagName === 'A' && e.closest('p, li')) return [];
    const l = e.closest('label') ? e.closest('label').getBoundingClientRect() : r;
    const w = Math.max(r.width, l.width), h = Math.max(r.height, l.height);
    return w >= least && h >= least ? [] : [`${e.tagName} ${e.id || e.className} "${(e.getAttribute('aria-label')
      || e.textContent).trim().slice(0, 30)}" ${Math.round(w)} x ${Math.round(h)}`];
  })"""


@pytest.mark.parametrize("width", [360, 390])
def test_no_tab_overflows_a_phone_and_every_tap_target_is_32px(browser, served, width):
    """At 360 and 390 px (is_mobile, touch): no tab is wider than the screen, the model dropdown and its open list
    end inside it (its right edge once overflowed by 10 px), and every control is at least 32 x 32 px to tap
    (Gradio's small buttons, slider number boxes and reset buttons were 22-26 px high, its range tracks 8 px)."""
    url, _, _ = served
    page = open_app(browser, url, viewport={"width": width, "height": 800}, is_mobile=True, has_touch=True)
    page.locator("#vae-model input").click()
    page.get_by_role("option", name="default", exact=True).wait_for()
    for part in ("#vae-model .wrap", '[role="listbox"]'):
        b = box(page, part)
        assert b["x"] >= 0 and b["x"] + b["width"] <= width, (part, b)
    page.keyboard.press("Escape")
    for name in ("Explore", "Reconstruct", "Training", "Train live"):
        page.get_by_role("tab", name=name).click()
        if name == "Train live":
            page.locator("#vae-train .vae-lab-model option").first.wait_for(state="attached")
        page.wait_for_timeout(500)  # the tab's late layout (images, canvases sized to the width)
        assert page.evaluate("document.documentElement.scrollWidth") <= width, name
        assert page.evaluate(SMALL_TAP_TARGETS, 32) == [], name
    assert page.errors == []
    page.close()


# Train live's own controls beside Gradio's on the same page: the look they must share
LOOKS = """() => {
  const css = (at, ...names) => {
    const s = getComputedStyle(typeof at === 'string' ? document.querySelector(at) : at);
    return Object.fromEntries(names.map((n) => [n, s.getPropertyValue(n)]));
  };
  const probe = document.createElement('div');  // the theme's primary button colour, as Gradio would paint it
  probe.style.background = 'var(--button-primary-background-fill)';
  document.querySelector('#vae-train').append(probe);
  const primary = getComputedStyle(probe).backgroundColor; probe.remove();
  const block = ['background-color', 'border-top-color', 'border-top-width', 'border-radius'];
  const title = ['color', 'font-size', 'font-weight'];
  const button = ['background-color', 'color', 'border-top-color', 'border-radius', 'font-size', 'font-weight',
                  'padding-top', 'padding-left', 'line-height'];
  return {
    // Gradio's box: a form's border and corners around the block's fill
    block: [css('#vae-train .vae-lab-field', ...block), {...css('#vae-train-repo', 'background-color'),
            ...css(document.querySelector('#vae-train-repo').closest('.form'), ...block.slice(1))}],
    title: [css('#vae-train .vae-lab-title', ...title), css('#vae-train-repo [data-testid=block-info]', ...title)],
    input: [css('#vae-train select.vae-lab-lr', 'background-color', 'border-radius', 'color', 'font-size'),
            {...css('#vae-model .wrap', 'background-color', 'border-radius'),
             ...css('#vae-model input', 'color', 'font-size')}],
    button: [css('#vae-train .vae-lab-step', ...button), css('#vae-train-explore', ...button)],
    primary: [css('#vae-train .vae-lab-train', 'background-color')['background-color'], primary],
  };
}"""


def test_train_live_follows_the_theme_like_gradios_own_controls(browser, served):
    """Train live's settings, slider and buttons are drawn with Gradio's theme: in the light and the dark theme each
    has the colours, radii, type and padding of its Gradio counterpart on the same page (the box Gradio draws around
    the Hub name, a dropdown, a small secondary button; Train is the primary button), so the dark theme changes them
    too; every control is named by a visible title, as Gradio's are."""
    url, _, _ = served
    seen = {}
    for theme in ("light", "dark"):
        page = open_app(browser, url + f"?__theme={theme}")
        page.get_by_role("tab", name="Train live").click()
        tab = page.locator("#vae-train")
        tab.locator(".vae-lab-model option").first.wait_for(state="attached")
        seen[theme] = page.evaluate(LOOKS)
        for part, (ours, gradios) in seen[theme].items():
            assert ours == gradios, (theme, part, ours, gradios)
        titles = tab.locator(".vae-lab-field").evaluate_all("fs => fs.map((f) => ["
                                                            "f.querySelector('.vae-lab-title').textContent,"
                                                            "f.querySelectorAll('select, input').length])")
        assert [t for t, _ in titles][:6] == ["data set", "preset", "model", "learning rate", "batch size", "epochs"]
        assert all(n == 1 for _, n in titles), titles  # each title names one control
        # a slider's track is filled to its thumb, as Gradio's are: β = 1 is the middle of log10 β in [-1, 1]
        assert tab.locator(".vae-lab-beta").evaluate("e => e.style.getPropertyValue('--range_progress')") == "50%"
        assert page.errors == []
        page.close()
    for part in ("block", "input", "button"):  # the theme did change them
        assert seen["light"][part][0]["background-color"] != seen["dark"][part][0]["background-color"], part


def test_a_paths_ends_by_keyboard_and_by_touch(browser, served):
    """A = z with the keyboard (Tab to the button, Enter), z moved with the map's arrow keys, then B = z with a tap:
    the path runs between the two z's, its strip's ends are /generate's digits there."""
    url, client, _ = served
    page = open_app(browser, url, has_touch=True)
    page.focus(MAP)
    page.keyboard.press("Shift+ArrowLeft")
    wait_for_state(page, "z1", -0.5)
    page.focus("#vae-set-a")
    page.keyboard.press("Enter")
    page.wait_for_function("document.querySelector('#vae-explore .vae-path-marked').innerText.includes('A = (-0.50')")
    assert page.evaluate("window.vaeExplorer.pathEnds()") == [None] * 4  # one end is not a path
    page.focus(MAP)
    page.keyboard.press("Shift+ArrowUp")
    page.keyboard.press("Shift+ArrowUp")
    wait_for_state(page, "z2", 1.0)
    page.tap("#vae-set-b")
    page.wait_for_function("window.vaeExplorer.debug.strip()", timeout=15_000)
    strip = page.evaluate("window.vaeExplorer.debug.strip()")
    assert strip["a"] == [-0.5, 0.0] and strip["b"] == [-0.5, 1.0]
    assert page.evaluate("window.vaeExplorer.pathEnds()") == [-0.5, 0.0, -0.5, 1.0]
    cells = np.array(strip["pixels"], np.uint8).reshape(10, 28, 28)
    for cell, z in ((cells[0], strip["a"]), (cells[-1], strip["b"])):
        assert np.abs(cell.astype(int) - png(client.predict(*z, api_name="/generate"))).max() <= 1
    page.wait_for_function("() => location.search.includes('b2=1.00')")
    assert page.errors == []
    page.close()


# ---------------------------------------------------------------------------------------------------------
# the map's geometry, from its limit and margins alone


def map_geometry(page) -> dict:
    """The Explore map's limit (from the page bundle the page fetched), margins and CSS size (webapp/), and where
    its canvas is: everything needed to place a latent point without the page's transform."""
    from webapp.page import MAP_MARGIN
    from webapp.view_controls import VIEW

    address = page.evaluate("document.querySelector('#vae-explore [data-bundle]').dataset.bundle")
    with safe_open(address.split("file=", 1)[1], "numpy") as f:
        limit = json.loads(f.metadata()["map_limit"])
    return {"limit": limit, "margin": MAP_MARGIN, "size": VIEW["map_px"], "box": box(page, MAP)}


def css_pixel(geometry: dict, z1: float, z2: float) -> tuple[float, float]:
    """(x, y) in the map's CSS pixels: z1 across, z2 upwards, [-limit, limit] inside the margins."""
    m, size, limit = geometry["margin"], geometry["size"], geometry["limit"]
    x = m["left"] + (z1 + limit) / (2 * limit) * (size - m["left"] - m["right"])
    y = m["top"] + (limit - z2) / (2 * limit) * (size - m["top"] - m["bottom"])
    return x, y


def client_pixel(geometry: dict, z1: float, z2: float) -> tuple[float, float]:
    x, y = css_pixel(geometry, z1, z2)
    scale = geometry["box"]["width"] / geometry["size"]
    return geometry["box"]["x"] + x * scale, geometry["box"]["y"] + y * scale


def map_rgb(page) -> np.ndarray:
    """The map canvas's pixels, uint8 (height, width, 3), at the canvas's resolution."""
    data = page.evaluate(f"""() => {{ const c = document.querySelector('{MAP}');
        return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data); }}""")
    side = int(round(np.sqrt(len(data) // 4)))
    return np.array(data, np.uint8).reshape(side, side, 4)[..., :3]


def marker_centre(rgb: np.ndarray) -> np.ndarray:
    """The (x, y) centroid of the marker's orange centre, in canvas pixels."""
    ys, xs = np.nonzero(np.abs(rgb.astype(int) - MARK).max(-1) <= 2)
    assert len(xs) >= 4, "no marker on the map"
    return np.array([xs.mean(), ys.mean()])


def isolated_digits(geometry: dict, mu: np.ndarray, labels: np.ndarray, count: int) -> list[int]:
    """Test digits whose point nothing else overlaps (no other point within 4 CSS px) and that lie away from the
    grid's window and the sliders' range outline drawn over the points."""
    xy = np.stack(css_pixel(geometry, mu[:, 0], mu[:, 1]), 1)
    chosen = []
    for i in np.random.default_rng(0).permutation(len(mu)):
        extent = np.abs(mu[i]).max()
        if not 1.7 < extent < 2.85 or np.abs(mu[i]).min() > 2.85:
            continue
        if (np.abs(xy - xy[i]).max(1) < 4).sum() == 1:
            chosen.append(int(i))
            if len(chosen) == count:
                break
    return chosen


def test_the_maps_points_are_where_their_means_say(browser, served):
    url, _, _ = served
    page = open_app(browser, url)
    geometry = map_geometry(page)
    latents = load_latents(PRETRAINED / "latents.safetensors")
    mu, labels = latents["mu"][:, :2], latents["labels"]
    rgb, dpr = map_rgb(page), page.evaluate("window.devicePixelRatio")
    background = rgb[2, 2].astype(float)
    from webapp.page import page_constants

    colours = page_constants(0.05, (0.1, 3.0))["class_colours"]
    chosen = isolated_digits(geometry, mu, labels, 5)
    assert len(chosen) == 5
    for i in chosen:
        x, y = css_pixel(geometry, *mu[i])
        colour = np.array([int(colours[labels[i]][k:k + 2], 16) for k in (1, 3, 5)], float)
        expected = 0.55 * colour + 0.45 * background  # a 2-px square at 55% opacity
        got = rgb[int(np.floor(y * dpr)), int(np.floor(x * dpr))].astype(float)
        assert np.abs(got - expected).max() <= 12, (i, labels[i], got, expected)
        sx, sy = css_pixel(geometry, mu[i, 1], mu[i, 0])  # z1 and z2 swapped: not this digit's square
        swapped = rgb[int(np.floor(sy * dpr)), int(np.floor(sx * dpr))].astype(float)
        assert np.abs(swapped - expected).max() > 12 or abs(mu[i, 0] - mu[i, 1]) < 0.05
    page.close()


def test_arrow_up_raises_z2_and_moves_the_marker_up(browser, served):
    url, _, _ = served
    page = open_app(browser, url + "?z1=0.50&z2=-1.00")
    wait_for_state(page, "z2", -1.0)
    wait_painted(page)
    geometry, dpr = map_geometry(page), page.evaluate("window.devicePixelRatio")
    before = marker_centre(map_rgb(page))
    assert np.abs(before - np.array(css_pixel(geometry, 0.5, -1.0)) * dpr).max() <= 1.5 * dpr
    page.focus(MAP)
    page.keyboard.press("Shift+ArrowUp")  # ten slider steps: z2 + 0.5
    wait_for_state(page, "z2", -0.5)
    wait_painted(page)
    assert float(page.input_value("#vae-z2 input[type=number]")) == -0.5
    after = marker_centre(map_rgb(page))
    assert after[1] < before[1] - 5 and abs(after[0] - before[0]) <= 1  # up on the screen, not sideways
    assert np.abs(after - np.array(css_pixel(geometry, 0.5, -0.5)) * dpr).max() <= 1.5 * dpr
    page.close()


@pytest.mark.parametrize("z1, z2", [(1.0, -2.0), (-2.5, 0.75)])
def test_a_click_sets_the_z_its_pixel_means(browser, served, z1, z2):
    url, _, _ = served
    page = open_app(browser, url)
    page.locator(MAP).scroll_into_view_if_needed()
    x, y = client_pixel(map_geometry(page), z1, z2)
    page.mouse.click(x, y)
    wait_for_state(page, "z1", z1)
    wait_for_state(page, "z2", z2)
    assert [float(page.input_value(f"#vae-{k} input[type=number]")) for k in ("z1", "z2")] == [z1, z2]
    page.close()
