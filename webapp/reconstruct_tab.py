"""The Reconstruct tab's layout and events: a drawing pad or an upload (with the data set's examples), the prepared
input, its reconstruction, the figures and the posterior's map (static/posterior.html). The handlers that encode on
the server are webapp/reconstruct.py's."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from vae.datasets import get_dataset
from webapp.explore_tab import ExploreUI
from webapp.page import mount_js, template
from webapp.reconstruct import ReconstructTab, example_images, examples_label
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

    def wire(self, handlers: ReconstructTab, chosen: gr.State, explore: ExploreUI, tabs: gr.Tabs) -> None:
        """A drawing or an upload is encoded on the server; "Explore from here" opens Explore at its posterior mean."""
        ui = dict(outputs=[self.preprocessed, self.reconstruction, self.figures, self.posterior, self.status],
                  show_progress="hidden", trigger_mode="always_last", api_visibility="private")
        show = dict(fn=None, inputs=[self.posterior],
                    js="(s) => { window.vaeExplorer && window.vaeExplorer.showPosterior(s); }")
        self.upload.change(handlers.from_upload, [self.upload, chosen], preprocess=False, **ui).then(**show)
        self.drawing.change(handlers.from_drawing, [self.drawing, chosen], **ui).then(**show)
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
    return ReconstructUI(tab, drawing, upload, example_columns, status, preprocessed, reconstruction, figures,
                         explore_here, posterior_map, posterior)


def upload_subject(dataset: str) -> str:
    """What the upload box asks for: "digit", "piece of clothing"."""
    return "digit" if get_dataset(dataset).noun == "digit" else "piece of clothing"
