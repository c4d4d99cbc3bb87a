"""The Reconstruct tab's handlers, for the model the visitor chose: a drawing or an upload -> the input prepared as
the model's data set was (vae/preprocess.py), its reconstruction, the figures, the posterior for the map, and a status
line; then, as a second step, that input's true posterior p(z|x) as a heat map beside q(z|x)'s ellipse, with its exact
-log p(x), the bounds and the gaps (vae/exact.py); "explore from here" -> the sliders at μ; the examples shown follow
the model's data set."""

from __future__ import annotations

import logging

import gradio as gr
import numpy as np

from vae.datasets import DATASETS, DEFAULT_DATASET, get_dataset
from vae.explorer import ELBO_SAMPLES
from vae.imaging import to_uint8, upscale_nearest
from vae.posterior_map import posterior_heat_map
from vae.preprocess import ImageInputError, load_image, preprocessor
from webapp.hub_fetch import ModelRequestError
from webapp.inputs import Z_LIMIT, digit_from_drawing
from webapp.likelihood import heat_map_caption, likelihood_markdown
from webapp.models import ModelStore
from webapp.page import STATIC, posterior_markdown

UI_SCALE = 8  # 28 px digits are shown at 224 px, nearest neighbour
NOTHING = (None, None, "", None, None)  # input and reconstruction pictures, figures, posterior, the input for the truth
TRUTH_ASK = ("Once an image is reconstructed, its true posterior p(z|x) shows here beside the encoder's q(z|x), with "
             "the exact −log p(x) and how far the bounds are from it.")

log = logging.getLogger("vae_explorer")
ASK = {  # what the status line asks for while nothing is uploaded, per data set
    "mnist": "Upload a picture of a digit, or pick an MNIST example below.",
    "fashion-mnist": "Upload a photo of one piece of clothing on a plain light background, or pick a Fashion-MNIST "
                     "example below.",
}


def example_images() -> dict[str, list[str]]:
    """Each data set's Reconstruct examples, one test image per class: MNIST's in static/examples/, the others' in
    static/examples/<data set>/ (<noun>-<label>-<data set>-test-<index>.png)."""
    folders = {name: STATIC / "examples" / ("" if name == DEFAULT_DATASET else name) for name in DATASETS}
    return {name: sorted(str(p) for p in folder.glob("*.png")) for name, folder in folders.items()}


def examples_label(dataset: str) -> str:
    ds = get_dataset(dataset)
    return f"{ds.title} test {ds.noun}s" if ds.noun == "digit" else f"{ds.title} test images, one per class"


class ReconstructTab:
    def __init__(self, store: ModelStore):
        self.store = store

    def show(self, x: np.ndarray, model: str) -> tuple:
        """x float (28, 28) -> (input picture, reconstruction picture, figures markdown, posterior stats, x for
        the_truth)."""
        recon, stats = self.store.get(model).explorer.reconstruct(x)
        return (upscale_nearest(to_uint8(x), UI_SCALE), upscale_nearest(recon, UI_SCALE),
                posterior_markdown(stats, ELBO_SAMPLES), stats, x)

    def the_truth(self, x: np.ndarray | None, model: str) -> tuple:
        """x: the input show() prepared (None: nothing reconstructed) -> (heat map of p(z|x) with q(z|x) over it,
        its caption, the figures markdown); 0.3-1 s an image on 2 cores, hence an event after the reconstruction's."""
        # gr.update rather than gr.Image(...): an Image built here would also write the picture to the cache, as WebP
        hidden = gr.update(value=None, visible=False)
        if x is None:
            return hidden, "", TRUTH_ASK
        try:
            account = self.store.get(model).explorer.likelihood(x)
        except ModelRequestError as e:
            return hidden, "", f"⚠️ {e}"
        except RuntimeError as e:  # vae/exact.py's quadrature did not settle: an input unlike the data, say so
            log.warning("exact likelihood failed: %s", e)
            return hidden, "", f"⚠️ The exact likelihood of this image could not be computed: {e}."
        picture, window = posterior_heat_map(account.posterior, account.q_mean, account.q_sigma)
        return gr.update(value=picture, visible=True), heat_map_caption(window), likelihood_markdown(account)

    def dataset(self, model: str) -> str:
        """The data set the visitor's model was trained on (ModelRequestError when it cannot be served)."""
        return self.store.get(model).model.config.dataset

    def from_upload(self, payload, model: str) -> tuple:
        """Unpreprocessed upload (preprocess=False): Gradio would open the file itself and answer a broken upload
        with a bare "Error"; load_image says what is wrong. Gradio has already checked it is a file it received."""
        try:
            dataset = self.dataset(model)
            if not payload or not payload.get("path"):
                return *NOTHING, ASK[dataset]
            return *self.show(preprocessor(dataset)(load_image(payload["path"])), model), ""
        except (ImageInputError, ModelRequestError) as e:
            return *NOTHING, f"⚠️ {e}"

    def from_drawing(self, data_url, model: str) -> tuple:
        try:
            return *self.show(digit_from_drawing(data_url, self.dataset(model)), model), ""
        except (ImageInputError, ModelRequestError) as e:
            return *NOTHING, f"⚠️ {e}"

    def examples_shown(self, model: str) -> tuple:
        """-> one gr.Column update per data set (example_images' order): only the model's data set's examples show."""
        try:
            dataset = self.dataset(model)
        except ModelRequestError:
            return tuple(gr.skip() for _ in DATASETS)
        return tuple(gr.Column(visible=name == dataset) for name in DATASETS)

    @staticmethod
    def explore_from_here(stats) -> tuple:
        """-> (z1, z2, the tab to show): the sliders at the posterior mean, clipped to their range."""
        if not stats or "mu" not in stats:
            gr.Warning("Reconstruct a digit first: draw or upload one.")
            return gr.skip(), gr.skip(), gr.skip()
        z1, z2 = (round(min(Z_LIMIT, max(-Z_LIMIT, float(m))), 3) for m in stats["mu"])
        return z1, z2, gr.Tabs(selected="explore")
