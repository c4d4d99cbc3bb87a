"""The Reconstruct tab's layout and events: a drawing pad or an upload (with the data set's examples), the prepared
input, its reconstruction, the figures and the posterior's map (static/posterior.html); below them "the truth beside
the approximation": the true posterior p(z|x) as a heat map with q(z|x) over it, and the exact -log p(x) beside the
bounds. The handlers that encode on the server are webapp/reconstruct.py's."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from vae.datasets import get_dataset
from vae.posterior_map import HEAT_MAP_SIZE
from webapp.explore_tab import ExploreUI
from webapp.page import mount_js, template
from webapp.reconstruct import TRUTH_ASK, ReconstructTab, example_images, examples_label
from webapp.view_controls import CONSTANTS


@dataclass
class ReconstructUI:
    tab: gr.Tab
    drawing: gr.HTML
    upload: gr.Image
    example_columns: list  # one gr.Column of examples per data set (example_images' order): the model's is shown
    status: gr.Markdown
    preprocessed: gr.Image
    reconstruction: gr.Image
    figures: gr.Markdown
    explore_here: gr.Button
    posterior_map: gr.HTML  # the posterior's samples on the latent map (static/posterior.html)
    posterior: gr.JSON
    prepared: gr.State  # the input as the reconstruction prepared it, float (28, 28), for the truth (None: none)
    heat_map: gr.Image  # p(z|x) with q(z|x)'s ellipses (vae/posterior_map.py)
    heat_map_caption: gr.Markdown
    likelihood: gr.Markdown  # the five figures, each with its sentence (webapp/likelihood.py)

    def wire(self, handlers: ReconstructTab, chosen: gr.State, explore: ExploreUI, tabs: gr.Tabs) -> None:
        """A drawing or an upload is encoded on the server, then, once its reconstruction shows, its exact likelihood
        is computed (0.3-1 s, under the panel's own progress); "Explore from here" opens Explore at its posterior
        mean."""
        ui = dict(outputs=[self.preprocessed, self.reconstruction, self.figures, self.posterior, self.prepared,
                           self.status], show_progress="hidden", trigger_mode="always_last", api_visibility="private")
        show = dict(fn=None, inputs=[self.posterior],
                    js="(s) => { window.vaeExplorer && window.vaeExplorer.showPosterior(s); }")
        # always_last: a newer input's truth waits for the pending one and then runs ("once" would drop it)
        truth = dict(fn=handlers.the_truth, inputs=[self.prepared, chosen],
                     outputs=[self.heat_map, self.heat_map_caption, self.likelihood], show_progress="full",
                     trigger_mode="always_last", api_visibility="private")
        for reconstructed in (self.upload.change(handlers.from_upload, [self.upload, chosen], preprocess=False, **ui),
                              self.drawing.change(handlers.from_drawing, [self.drawing, chosen], **ui)):
            reconstructed.then(**show)
            reconstructed.then(**truth)
        self.explore_here.click(handlers.explore_from_here, [self.posterior], [*explore.sliders[:2], tabs],
                                api_visibility="private", show_progress="hidden")


def reconstruct_tab(page: dict, dataset: str) -> ReconstructUI:
    """`dataset`: the default model's, whose examples show until a visitor chooses another model."""
    with gr.Tab("Reconstruct", id="reconstruct") as tab:
        with gr.Row():
            with gr.Column(scale=1):
                with gr.Tabs():
                    with gr.Tab("Draw"):
                        drawing = gr.HTML(value=None, html_template=template("drawing.html"), elem_id="vae-drawing",
                                          js_on_load=mount_js("mountDrawing", "element, props, trigger", pad_px=280,
                                                              brush_px=18))
                    with gr.Tab("Upload"):
                        upload = gr.Image(label=f"a picture of a {upload_subject(dataset)}", type="filepath",
                                          image_mode=None, sources=["upload", "clipboard"], format="png",
                                          elem_id="vae-upload")
                        example_columns = []
                        for name, files in example_images().items():
                            with gr.Column(visible=name == dataset) as column:
                                gr.Examples(files, inputs=[upload], label=examples_label(name), examples_per_page=10)
                            example_columns.append(column)
                status = gr.Markdown(elem_id="vae-status")
            with gr.Column(scale=1):
                with gr.Row():
                    preprocessed = gr.Image(label="preprocessed 28×28 input", format="png", interactive=False,
                                            elem_id="vae-preprocessed", height=240)
                    reconstruction = gr.Image(label="reconstruction (decoded μ)", format="png", interactive=False,
                                              elem_id="vae-reconstruction", height=240)
                figures = gr.Markdown(elem_id="vae-figures")
                explore_here = gr.Button("Explore from here: z = μ (A of a path)", elem_id="vae-explore-here")
            with gr.Column(scale=1):
                posterior_map = gr.HTML(html_template=template("posterior.html"), elem_id="vae-posterior", **page,
                                        js_on_load=mount_js("mountPosterior", "element, props, watch",
                                                            constants=CONSTANTS, map_px=360))
        posterior = gr.JSON(visible=False)
        prepared = gr.State(None)
        with gr.Column(elem_id="vae-truth"):
            gr.Markdown("### The truth beside the approximation\n"
                        "A 2-D latent space can be searched point by point, so the true posterior p(z|x) and the "
                        "exact likelihood p(x) can be computed, and set beside the encoder's Gaussian guess q(z|x) "
                        "and the bounds that training optimises.")
            with gr.Row():
                with gr.Column(scale=1, min_width=HEAT_MAP_SIZE):
                    heat_map = gr.Image(label="the true posterior p(z|x), q(z|x) in orange", format="png",
                                        interactive=False, visible=False, height=HEAT_MAP_SIZE, buttons=["download"],
                                        elem_id="vae-heat-map")
                    heat_map_caption = gr.Markdown(elem_id="vae-heat-map-caption")
                with gr.Column(scale=2):
                    likelihood = gr.Markdown(TRUTH_ASK, elem_id="vae-likelihood")
    return ReconstructUI(tab, drawing, upload, example_columns, status, preprocessed, reconstruction, figures,
                         explore_here, posterior_map, posterior, prepared, heat_map, heat_map_caption, likelihood)


def upload_subject(dataset: str) -> str:
    """What the upload box asks for: "digit", "piece of clothing"."""
    return "digit" if get_dataset(dataset).noun == "digit" else "piece of clothing"
