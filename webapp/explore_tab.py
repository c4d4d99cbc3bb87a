"""The Explore tab: the sliders and buttons beside the page's digit, grid and map (static/explore.html, decoded in
the browser by static/js/tabs/explore.js). Its events hand values to the page script, but for two private server
calls: the model to compare with (webapp/choice.py) and the path's GIF (webapp/api.py's /interpolate)."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from webapp.api import ExplorerAPI
from webapp.choice import ModelChoice
from webapp.model_row import ModelRow
from webapp.models import ModelStore
from webapp.page import mount_js, template
from webapp.view_controls import VIEW, follow_sliders, gif_markdown, view_sliders


@dataclass
class ExploreUI:
    tab: gr.Tab
    sliders: tuple  # z1, z2, span
    random: gr.Button
    compare: gr.Dropdown
    copy: gr.Button
    link_note: gr.Markdown  # says the link was copied
    set_a: gr.Button
    set_b: gr.Button
    gif: gr.Button
    gif_file: gr.Markdown  # the path's GIF, shown and linked (gif_markdown)
    path_ends: gr.JSON  # a slot the GIF button's js fills with the page's A and B (a gr.State would drop them)
    view: gr.HTML  # the page's digit, grid and map (static/explore.html)

    def wire(self, row: ModelRow, choice: ModelChoice, api: ExplorerAPI) -> None:
        follow_sliders(self.sliders, self.view, "setView")
        self.copy.click(fn=None, outputs=[self.link_note], js="() => window.vaeExplorer.copyLink()")
        for button, end in ((self.set_a, "a"), (self.set_b, "b")):  # the path's ends by touch and keyboard
            button.click(fn=None, js=f"() => {{ window.vaeExplorer.setPathEnd('{end}'); }}")
        self.random.click(fn=None, js="() => window.vaeExplorer.randomLatent()", outputs=list(self.sliders[:2]))
        self.compare.input(choice.compare, [self.compare, row.chosen], [self.view, row.note], api_visibility="private",
                           show_progress="minimal")

        def path_gif(ends, model):
            """The page's path A -> B as the /interpolate GIF, 30 frames."""
            if not ends or any(v is None for v in ends):
                gr.Warning("Set B first: shift-click the map (A is then the current z), or press “A = z” and “B = z” "
                           "at the path's two ends.")
                return gr.skip()
            return gif_markdown(api.interpolate(*ends, steps=30, model=model).path, "interpolation GIF (30 frames)")

        self.gif.click(path_gif, [self.path_ends, row.chosen], [self.gif_file],
                       js="(e, m) => [window.vaeExplorer.pathEnds(), m]", api_visibility="private")


def explore_tab(store: ModelStore, page: dict) -> ExploreUI:
    """`page`: the props the page's panels take (the stylesheet, the default model's bundle)."""
    # the controls, the digit with its map, and the grid side by side (on a phone the picture comes first: page.css)
    with gr.Tab("Explore", id="explore") as tab, gr.Row(elem_id="vae-explore-row"):
        with gr.Column(scale=0, min_width=240, elem_classes=["vae-controls"]):
            sliders = view_sliders("vae-")
            random_button = gr.Button("Random z ~ N(0, I)", elem_id="vae-random", size="sm")
            compare = gr.Dropdown(["none", *store.bundled], value="none", allow_custom_value=True,
                                  label="compare with (a name, or a Hub id)", elem_id="vae-compare")
            copy_button = gr.Button("Copy link", elem_id="vae-copy-link", size="sm")
            link_note = gr.Markdown(elem_id="vae-link-note")
            with gr.Row():
                set_a = gr.Button("A = z", elem_id="vae-set-a", size="sm", min_width=60)
                set_b = gr.Button("B = z", elem_id="vae-set-b", size="sm", min_width=60)
            gif_button = gr.Button("GIF of the path A → B", elem_id="vae-gif", size="sm")
            gif_file = gr.Markdown(elem_id="vae-gif-file")
            path_ends = gr.JSON(visible=False)
        with gr.Column(scale=1, min_width=320):
            view = gr.HTML(value={"z1": 0.0, "z2": 0.0}, html_template=template("explore.html"),
                           elem_id="vae-explore",
                           js_on_load=mount_js("mountExplore", "element, props, trigger, watch", **VIEW),
                           compare_bundle_path="", compare_label="", main_label="", **page)
    return ExploreUI(tab, sliders, random_button, compare, copy_button, link_note, set_a, set_b, gif_button, gif_file,
                     path_ends, view)
