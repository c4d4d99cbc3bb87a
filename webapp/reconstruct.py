"""The Reconstruct tab's handlers, for the model the visitor chose: a drawing or an upload -> the prepared input, its
reconstruction, the figures, the posterior for the map, and a status line; "explore from here" -> the sliders at μ."""

from __future__ import annotations

import gradio as gr
import numpy as np

from vae.explorer import ELBO_SAMPLES
from vae.imaging import to_uint8, upscale_nearest
from vae.preprocess import ImageInputError, load_image, preprocess_digit
from webapp.hub_fetch import ModelRequestError
from webapp.inputs import Z_LIMIT, digit_from_drawing
from webapp.models import ModelStore
from webapp.page import posterior_markdown

UI_SCALE = 8  # 28 px digits are shown at 224 px, nearest neighbour
NOTHING = (None, None, "", None)  # prepared input, reconstruction, figures, posterior


class ReconstructTab:
    def __init__(self, store: ModelStore):
        self.store = store

    def show(self, x: np.ndarray, model: str) -> tuple:
        """x float (28, 28) -> (input picture, reconstruction picture, figures markdown, posterior stats)."""
        recon, stats = self.store.get(model).explorer.reconstruct(x)
        return (upscale_nearest(to_uint8(x), UI_SCALE), upscale_nearest(recon, UI_SCALE),
                posterior_markdown(stats, ELBO_SAMPLES), stats)

    def from_upload(self, payload, model: str) -> tuple:
        """Unpreprocessed upload (preprocess=False): Gradio would open the file itself and answer a broken upload
        with a bare "Error"; load_image says what is wrong. Gradio has already checked it is a file it received."""
        if not payload or not payload.get("path"):
            return *NOTHING, "Upload a picture of a digit, or pick an MNIST example below."
        try:
            return *self.show(preprocess_digit(load_image(payload["path"])), model), ""
        except (ImageInputError, ModelRequestError) as e:
            return *NOTHING, f"⚠️ {e}"

    def from_drawing(self, data_url, model: str) -> tuple:
        try:
            return *self.show(digit_from_drawing(data_url), model), ""
        except (ImageInputError, ModelRequestError) as e:
            return *NOTHING, f"⚠️ {e}"

    @staticmethod
    def explore_from_here(stats) -> tuple:
        """-> (z1, z2, the tab to show): the sliders at the posterior mean, clipped to their range."""
        if not stats or "mu" not in stats:
            gr.Warning("Reconstruct a digit first: draw or upload one.")
            return gr.skip(), gr.skip(), gr.skip()
        z1, z2 = (round(min(Z_LIMIT, max(-Z_LIMIT, float(m))), 3) for m in stats["mu"])
        return z1, z2, gr.Tabs(selected="explore")
