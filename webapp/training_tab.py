"""The Training tab: a model's training replayed in the browser (static/training.html, static/js/tabs/training.js,
from webapp/replay.py's bundle), with the sliders and the replay's GIF (webapp/api.py's /replay)."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from vae.datasets import get_dataset
from vae.imaging import DEFAULT_SPAN
from webapp.api import ExplorerAPI
from webapp.choice import replay_props
from webapp.models import ServedModel
from webapp.page import mount_js, template
from webapp.view_controls import VIEW, follow_sliders, gif_markdown, view_sliders


def training_intro(dataset: str) -> str:
    """The Training tab's lead, in the words of the model's data set ("test digits", "test images")."""
    noun = get_dataset(dataset).noun
    return (f"Each dot is one of 2,000 test {noun}s at its posterior mean, coloured by its class. Watch the KL term "
            f"hold every {noun} near the origin while the decoder draws one grey blur, then the reconstruction term "
            f"push the classes apart and the grid's {noun}s sharpen. Press ▶ or drag the scrubber; click the map to "
            "move z.")


@dataclass
class TrainingUI:
    tab: gr.Tab
    intro: gr.Markdown
    sliders: tuple  # z1, z2, span
    replay_gif: gr.Button
    replay_file: gr.Markdown  # the replay's GIF, shown and linked (gif_markdown)
    view: gr.HTML  # the replay's map, grid, curve and scrubber (static/training.html)

    def wire(self, chosen: gr.State, api: ExplorerAPI) -> None:
        follow_sliders(self.sliders, self.view, "setTrainingView")

        def replay_gif(model, a, b, s):
            """The visitor's model's replay as the /replay GIF, its grid centred where the tab's sliders are."""
            return gif_markdown(api.replay(model, a, b, s).path, "training replay GIF (one frame per snapshot)")

        self.replay_gif.click(replay_gif, [chosen, *self.sliders], [self.replay_file], api_visibility="private")


def training_tab(default: ServedModel, page: dict) -> TrainingUI:
    """The Training tab, showing `default`'s replay until a visitor chooses another model."""
    with gr.Tab("Training", id="training") as tab:
        intro_text = gr.Markdown(training_intro(default.model.config.dataset), elem_id="vae-training-intro")
        with gr.Row(equal_height=True):
            sliders = view_sliders("vae-train-")
            replay_button = gr.Button("GIF of the replay", elem_id="vae-replay-gif", size="sm", scale=0,
                                      min_width=180)
        replay_file = gr.Markdown(elem_id="vae-replay-file")
        view = gr.HTML(value={"z1": 0.0, "z2": 0.0, "span": DEFAULT_SPAN}, html_template=template("training.html"),
                       elem_id="vae-training",
                       js_on_load=mount_js("mountTraining", "element, props, trigger, watch", **VIEW),
                       **replay_props(default), **page)
    return TrainingUI(tab, intro_text, sliders, replay_button, replay_file, view)
