"""The page's static parts, from static/: the HTML templates and CSS of the two canvases panels, and the browser
decoder's script with its WebAssembly kernel inlined."""

from __future__ import annotations

import base64
from functools import cache
from pathlib import Path

STATIC = Path(__file__).resolve().parent.parent / "static"  # explorer.js, linear.wasm, templates, MNIST examples


@cache
def template(name: str) -> str:
    """static/<name> as text (explore.html, posterior.html, page.css)."""
    return (STATIC / name).read_text(encoding="utf-8")


@cache
def page_script() -> str:
    """static/explorer.js with static/linear.wasm inlined (base64), for the page's <head>."""
    wasm = base64.b64encode((STATIC / "linear.wasm").read_bytes()).decode("ascii")
    return template("explorer.js").replace("@WASM_BASE64@", wasm)


def examples() -> list[str]:
    """The Reconstruct tab's MNIST test digits (static/examples/*.png), sorted by name."""
    return sorted(str(p) for p in (STATIC / "examples").glob("*.png"))


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
            "API: /generate, /grid, /interpolate, /encode, /reconstruct, /models, /replay (see “Use via API” below)"
            "</small>")
