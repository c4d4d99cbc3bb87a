"""What the tabs' latent views share: the constants the page script takes from Python, the props the Explore,
Training and Train live panels start with, the z1, z2 and span sliders and how they follow the page's view, and a GIF
the server wrote, shown with its download link."""

from __future__ import annotations

from urllib.parse import quote

import gradio as gr

from vae.imaging import DEFAULT_SPAN, GRID_SIZE
from webapp.inputs import Z_LIMIT
from webapp.page import page_constants
from webapp.reconstruct import UI_SCALE

Z_STEP = 0.05  # the sliders' step
SPAN_UI = (0.1, 3.0)  # the span slider's range (the API takes up to 5)
CONSTANTS = page_constants(Z_STEP, SPAN_UI)  # what the page script shares with Python
# what the Explore and Training panels' scripts start with: the constants, the canvases' CSS sizes, the sliders' view
VIEW = dict(constants=CONSTANTS, digit_px=28 * UI_SCALE, grid_px=28 * GRID_SIZE * 2, map_px=340,
            view={"z1": 0.0, "z2": 0.0, "span": DEFAULT_SPAN})
PICKED = "(picked) => [picked.z1, picked.z2, picked.span]"  # a view the page moved (map click, key) -> the sliders


def gif_markdown(path: str, caption: str) -> str:
    """A GIF the server wrote into Gradio's cache, shown and linked for download. A Markdown output, not a gr.File:
    each gr.File adds about 5 KB of API schema to the page's HTML, kept under 150 KB (bench/page_bytes.py)."""
    url = f"gradio_api/file={quote(str(path))}"  # relative to the app's root, which serves the page
    return f"![{caption}]({url})\n\n[Download the {caption}]({url})"


def view_sliders(prefix: str) -> tuple[gr.Slider, gr.Slider, gr.Slider]:
    """z1, z2 and the grid's span, elem_ids `{prefix}z1`, `{prefix}z2`, `{prefix}span`."""
    return (gr.Slider(-Z_LIMIT, Z_LIMIT, value=0, step=Z_STEP, label="z1", elem_id=f"{prefix}z1"),
            gr.Slider(-Z_LIMIT, Z_LIMIT, value=0, step=Z_STEP, label="z2", elem_id=f"{prefix}z2"),
            gr.Slider(*SPAN_UI, value=DEFAULT_SPAN, step=Z_STEP, label="grid span (half-width)",
                      elem_id=f"{prefix}span"))


def follow_sliders(sliders: tuple, view: gr.HTML, setter: str) -> None:
    """The sliders drive the page's view (window.vaeExplorer[setter]); a view the page moves drives the sliders."""
    gr.on([s.change for s in sliders], fn=None, inputs=list(sliders),
          js=f"(a, b, s) => {{ window.vaeExplorer && window.vaeExplorer.{setter}(a, b, s); }}")
    view.change(fn=None, inputs=[view], outputs=list(sliders), js=PICKED)
