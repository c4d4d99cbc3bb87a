"""The page's static parts, from static/: the HTML templates and CSS of the canvases' panels, the constants the page
script shares with Python, and how a gr.HTML component starts the page script (static/js/main.js, an ES module)."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

from vae.datasets import DEFAULT_DATASET, class_words
from vae.imaging import GRID_SIZE
from webapp.inputs import Z_LIMIT
from webapp.replay import COLOURS

STATIC = Path(__file__).resolve().parent.parent / "static"  # js/, linear.wasm, templates, MNIST examples
MAP_MARGIN = {"left": 34, "right": 8, "top": 8, "bottom": 30}  # CSS px around a latent map's plot area


@cache
def template(name: str) -> str:
    """static/<name> as text (explore.html, posterior.html, page.css), without the indentation and comments that
    only help a reader of the file: the page's HTML carries every template and the stylesheet, and is kept under
    150 KB (bench/page_bytes.py)."""
    text = (STATIC / name).read_text(encoding="utf-8")
    text = re.sub(r"/\*.*?\*/" if name.endswith(".css") else r"<!--.*?-->", "", text, flags=re.S)
    return re.sub(r"\n\s+", "\n", text)


def page_constants(z_step: float, span_range: tuple[float, float]) -> dict:
    """What the page script shares with Python, given to the panels' scripts (mount_js): the sliders' range
    and step, the span slider's range, the grid's cells per side, a digit's pixels per side, the latent maps'
    margins, a colour per class, and the words of a bundle written without its own (vae.datasets.class_words of
    MNIST, the data set of every model before Fashion-MNIST): a name per class (the map's key, the live line's
    "mostly 7s nearby") and what one image is."""
    words = class_words(DEFAULT_DATASET)
    return {"z_limit": Z_LIMIT, "z_step": z_step, "span_min": span_range[0], "span_limit": span_range[1],
            "grid": GRID_SIZE, "side": 28, "map_margin": MAP_MARGIN, "class_colours": COLOURS[:len(words["names"])],
            "class_names": words["names"], "noun": words["noun"]}


def mount_js(function: str, arguments: str, **options) -> str:
    """A gr.HTML js_on_load that imports static/js/main.js (once per page: a module is evaluated once, however many
    components import it) relative to the app's root, which is not the page's URL behind a proxy, then calls
    `function`(`arguments`, `options`). The options (constants, sizes) are written into the call rather than given
    as props: Gradio 6.31 mounts a tab's gr.HTML when the tab is first shown, with only the props of the latest
    update (such as a model choice's bundle_path), so a prop set once at build time can be missing by then."""
    script = json.dumps(f"gradio_api/file={STATIC / 'js' / 'main.js'}")
    arguments = ", ".join([arguments, json.dumps(options, separators=(",", ":"))])
    return (f"const root = (window.gradio_config && window.gradio_config.root) || document.baseURI; "
            f"import(new URL({script}, root.replace(/\\/?$/, '/')).href)"
            f".then((page) => page.{function}({arguments}))"
            f".catch((error) => {{ console.error(error); element.textContent = "
            f"'The page script could not start: ' + error.message; }});")


def posterior_markdown(stats: dict, samples: int) -> str:
    """μ and σ of q(z|x) as a table, then the image's −ELBO = BCE + KL."""
    mu, sigma = stats["mu"], stats["sigma"]
    return (
        "| | z1 | z2 |\n|---|---:|---:|\n"
        f"| μ | {mu[0]:.3f} | {mu[1]:.3f} |\n| σ | {sigma[0]:.3f} | {sigma[1]:.3f} |\n\n"
        f"**−ELBO {stats['elbo']:.1f} nats** = BCE {stats['bce']:.1f} + KL {stats['kl']:.1f} "
        f"(mean over {samples} posterior samples)"
    )


def architecture(config) -> str:
    if config.arch == "resmlp":
        return f"resmlp, hidden {config.hidden}, {config.blocks} residual blocks"
    return f"{config.arch} (the spec's 784-400-200-2 network)"


def model_footer(name: str, source: str, config, test_elbo: float | None) -> str:
    """The footer line of the model a view shows: its name, where its weights came from, its architecture and,
    when its trainer wrote results.json, its test −ELBO."""
    elbo = f" · test −ELBO {test_elbo:.2f} nats" if test_elbo is not None else ""
    return (f"<small>Model **{name}** · weights: {source} · architecture: {architecture(config)}{elbo} · "
            "API: /generate, /grid, /interpolate, /encode, /reconstruct, /likelihood, /models, /replay (see “Use via "
            "API” below)</small>")
