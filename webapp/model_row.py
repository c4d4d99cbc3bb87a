"""The row above the tabs: the page's title beside the model's choice (the bundled-model picker, the Hub box, the note
under them), and the per-visitor state of the model their views show."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from webapp.choice import ModelChoice
from webapp.models import ModelStore


@dataclass
class ModelRow:
    """The bundled-model picker, the Hub box, the note under them; `chosen`: per visitor, the model their views show."""

    intro: gr.Markdown  # the title line, which names the visitor's model's data set
    name: gr.Dropdown
    hub_id: gr.Textbox
    open: gr.Button
    note: gr.Markdown
    chosen: gr.State
    choice_outputs: list | None = None  # what ModelChoice.choose updates, once wired

    def wire(self, demo: gr.Blocks, choice: ModelChoice, views: list) -> None:
        """A choice from the picker, the Hub box or ?model= in the address updates `views`: the Explore map, the
        Reconstruct map, the footer and the Training map, in that order."""
        explore, posterior, footer, training = views
        self.choice_outputs = [self.chosen, explore, posterior, footer, self.note, training]
        outputs = dict(outputs=self.choice_outputs, api_visibility="private", show_progress="minimal")
        self.name.input(choice.choose, [self.name, self.chosen], **outputs)
        gr.on([self.open.click, self.hub_id.submit], choice.choose, [self.hub_id, self.chosen], **outputs)
        demo.load(choice.model_from_url, None, **outputs)


def model_row(store: ModelStore, intro: str) -> ModelRow:
    """The page's title and `intro` beside the model's choice: one row, so that a laptop's screen shows the Explore
    tab's digit and whole grid without scrolling (tests/test_browser_layout.py)."""
    with gr.Row(equal_height=True, elem_id="vae-header"):
        with gr.Column(scale=3, min_width=300):
            intro_line = gr.Markdown(intro, elem_id="vae-intro")
        name = gr.Dropdown(list(store.bundled), value="default", label="model", elem_id="vae-model", scale=1,
                           min_width=140)
        hub_id = gr.Textbox(label="or a 2-D VAE on the Hub from this project's trainer",
                            placeholder="your-name/vae-2d-mnist[@revision]", elem_id="vae-hub-id", scale=2,
                            min_width=220)
        open_button = gr.Button("Open", elem_id="vae-open", scale=0, min_width=80)
    note = gr.Markdown(elem_id="vae-model-note")
    return ModelRow(intro_line, name, hub_id, open_button, note, gr.State("default"))
