"""The events that reach across the tabs: the visitor's model's data set named in the title, the Reconstruct tab and
the Training tab; the tab shown kept in the page's address (?tab=)."""

from __future__ import annotations

import gradio as gr

from webapp.choice import ModelChoice, intro
from webapp.hub_fetch import ModelRequestError
from webapp.model_row import ModelRow
from webapp.reconstruct import ReconstructTab
from webapp.reconstruct_tab import ReconstructUI, upload_subject
from webapp.training_tab import TrainingUI, training_intro


def follow_data_set(row: ModelRow, reconstruct: ReconstructUI, training: TrainingUI,
                    handlers: ReconstructTab) -> None:
    """Once the visitor's model changes, the title line, the upload's label, the Reconstruct examples and the
    Training tab's lead name its data set."""
    def data_set_views(model):
        try:
            dataset = handlers.dataset(model)
        except ModelRequestError:  # the choice itself said why
            return (gr.skip(),) * (3 + len(reconstruct.example_columns))
        return (intro(dataset), gr.Image(label=f"a picture of a {upload_subject(dataset)}"),
                training_intro(dataset), *handlers.examples_shown(model))

    row.chosen.change(data_set_views, [row.chosen],
                      [row.intro, reconstruct.upload, training.intro, *reconstruct.example_columns],
                      api_visibility="private", show_progress="hidden")


def wire_tab_choice(demo: gr.Blocks, tabs: gr.Tabs, shown: tuple) -> None:
    """The tab shown is kept in the address, and ?tab= in the address opens that tab."""
    for tab in shown:
        tab.select(fn=None, js=f"() => {{ window.vaeExplorer.setTab('{tab.id}'); }}")
    demo.load(ModelChoice.tab_from_url, None, [tabs], api_visibility="private")
