"""A visitor's model choice, as the page's events need it: the chosen model, both maps' bundles, the footer and a
message; a second model to compare with; and the choices a page's address holds (?model=, ?tab=). Every output gets
a value: gr.skip() on a gr.HTML would drop its props (bundle_path) in Gradio 6.31."""

from __future__ import annotations

import gradio as gr

from vae.datasets import get_dataset
from webapp.hub_fetch import ModelRequestError
from webapp.models import ModelStore, ServedModel
from webapp.page import model_footer

TABS = ("explore", "reconstruct", "training", "train")


def bundle_url(served: ServedModel) -> str:
    return f"gradio_api/file={served.bundle}"


def replay_props(served: ServedModel) -> dict:
    """The Training tab's props for a model: its replay bundle's URL ("" when none), the line shown instead, and
    whether that line reports an error (a file that cannot be read) rather than a model trained without snapshots."""
    path, message = served.replay.page()
    return dict(replay_path=f"gradio_api/file={path}" if path else "", replay_message=message,
                replay_error=served.replay.unreadable, model_label=served.name)


INTRO_SUBJECT = {  # what the title line says the model squeezes into two numbers, and what a visitor brings
    "mnist": ("every digit", "your own digit"),
    "fashion-mnist": ("every image of clothing", "a photo of a garment"),
}


def intro(dataset: str) -> str:
    """The page's title and first line, for a model trained on `dataset`."""
    every, own = INTRO_SUBJECT[dataset]
    return (f"# VAE 2-D Latent Explorer\nA variational autoencoder trained on {get_dataset(dataset).title} squeezes "
            f"{every} into two numbers, z = (z1, z2). **Explore** walks through that plane; **Reconstruct** finds "
            f"where {own} lands; **Training** replays how the plane took shape; **Train live** trains one in your "
            "browser.")


def footer(served: ServedModel) -> str:
    return model_footer(served.name, served.source, served.model.config, served.test_elbo)


class ModelChoice:
    def __init__(self, store: ModelStore):
        self.store = store

    def choose(self, spec, current="default"):
        """-> (the visitor's model, the Explore map's update, the Reconstruct map's, the footer, a message, the Training
        tab's update). A choice that cannot be served keeps the `current` model and says why."""
        note = ""
        try:
            served = self.store.get(spec)
        except ModelRequestError as e:
            served, note = self.store.get(current), f"⚠️ {e} The page keeps the model it had."
        bundle = dict(bundle_path=bundle_url(served))
        return (served.name, gr.HTML(**bundle, main_label=served.name), gr.HTML(**bundle), footer(served), note,
                gr.HTML(**replay_props(served)))

    def compare(self, spec, current):
        """A second model beside the visitor's, at the same z ("none" or empty: no second model)."""
        if not spec or spec == "none":
            return gr.HTML(compare_bundle_path=""), ""
        try:
            other = self.store.get(spec)
        except ModelRequestError as e:
            return gr.HTML(compare_bundle_path=""), f"⚠️ {e}"
        return gr.HTML(compare_bundle_path=bundle_url(other), compare_label=other.name,
                       main_label=self.store.get(current).name), ""

    def model_from_url(self, request: gr.Request):
        """?model=NAME or ?model=user/repo[@revision] in the page's address opens the page on that model."""
        return self.choose(request.query_params.get("model") if request else None)

    @staticmethod
    def tab_from_url(request: gr.Request):
        """?tab=reconstruct (or training) in the page's address opens that tab."""
        tab = request.query_params.get("tab") if request else None
        return gr.Tabs(selected=tab) if tab in TABS else gr.skip()
