"""The Train live tab: a VAE trained in the visitor's browser (static/train-tab.html, static/js/tabs/train.js), and
the buttons that send the trained model to the server, to explore it here (Explore this model) or to publish it to
the visitor's Hub namespace (Publish: webapp/publish.py's TrainedModelPublish)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import gradio as gr

from webapp.api import ExplorerAPI
from webapp.choice import ModelChoice
from webapp.live_training import LiveTraining
from webapp.model_row import ModelRow
from webapp.models import ModelStore
from webapp.page import mount_js, template
from webapp.publish import NOT_SET_UP, TrainedModelPublish
from webapp.view_controls import VIEW


# a Train tab button's js: the model the page trains now, sent to the server (static/js/tabs/train.js's sendModel:
# {path, config} or {error}), into the event's first input; the other inputs pass as they are
SEND_TRAINED = "async (sent, ...rest) => [await window.vaeExplorer.sendTrainedModel(), ...rest]"


@dataclass
class TrainUI:
    """The Train live tab: the panel (the page trains), and what the trained model can become on the server: a model
    to explore (Explore this model) and a Hub repo of the visitor's (sign in, a repo name, Publish)."""

    tab: gr.Tab
    explore: gr.Button
    login: gr.LoginButton | None  # None where sign-in cannot work (sign_in_problem says why)
    repo: gr.Textbox
    publish: gr.Button
    note: gr.Markdown  # what Explore this model or Publish did, or why not
    sent: gr.JSON  # a slot SEND_TRAINED fills with the page's upload
    sign_in_problem: str | None

    def wire(self, row: ModelRow, tabs: gr.Tabs, choice: ModelChoice, api: ExplorerAPI, store: ModelStore) -> None:
        receive = partial(receive_trained, api)

        def explore_trained(sent, current):
            """Explore this model: the page's model sent, then chosen as a visitor choosing it would, Explore shown."""
            try:
                name = receive(sent)
            except ValueError as e:
                return (*(gr.skip(),) * (len(row.choice_outputs) + 2), f"⚠️ {e}")
            chosen = choice.choose(name, current)
            return (*chosen, gr.Tabs(selected="explore"), name,
                    f"✓ Sent as **{name}**: Explore, Reconstruct and the compare view show it now. Its link, "
                    f"`?model={name}`, works while the server keeps it (the last few models sent).")

        publish = TrainedModelPublish(self.sign_in_problem, receive, store).publish
        private = dict(api_visibility="private", show_progress="minimal")
        self.explore.click(explore_trained, [self.sent, row.chosen],
                           [*row.choice_outputs, tabs, row.hub_id, self.note], js=SEND_TRAINED, **private)
        self.publish.click(publish, [self.sent, self.repo, row.chosen], [self.note], js=SEND_TRAINED, **private)


def receive_trained(api: ExplorerAPI, sent) -> str:
    """The page's upload ({path, config}) -> its upload-… name, served like any model; ValueError says why not (the
    page's own error, or the server's checks: webapp/uploads.py)."""
    if not isinstance(sent, dict) or not sent.get("path"):
        error = sent.get("error") if isinstance(sent, dict) else None
        raise ValueError(str(error or "Train a model first: press Train, then Explore this model."))
    file = {"path": sent["path"], "meta": {"_type": "gradio.FileData"}}
    try:
        return api.upload_model(file, str(sent.get("config") or ""))["model"]
    except gr.Error as e:
        raise ValueError(f"The server refused the model: {e.message}") from None


def train_tab(live: LiveTraining, sign_in_problem: str | None = NOT_SET_UP) -> TrainUI:
    """The Train tab: a VAE trained in the visitor's browser (static/train-tab.html, static/js/tabs/train.js). Its
    server calls are its panel's server functions (the choices, and a run's training program), and the buttons that
    send the trained model to the server (TrainUI); the rest runs in the page. `sign_in_problem`: None when Gradio's
    LoginButton can sign a visitor in (webapp/publish.py's sign_in_problem), else what the tab says instead."""
    # functions, not bound methods: Gradio marks each server function with an attribute; each takes the one value
    # the page sends (Gradio 6.31's component server passes exactly one)
    def training_program(request: dict) -> dict:
        return live.training_program(request)

    def train_options(_unused=None) -> dict:
        return live.options()

    # the lab first, then what to do with what it trained. The panel's template is a placeholder: the page script
    # fetches the tab's markup (static/train-tab.html) and asks train_options for the choices when the tab is first
    # shown, which keeps them out of the page's HTML
    with gr.Tab("Train live", id="train") as tab:
        gr.HTML(html_template=template("train.html"), elem_id="vae-train",
                server_functions=[training_program, train_options],
                js_on_load=mount_js("mountTrain", "element, props, trigger, watch, server, upload", **VIEW))
        with gr.Row(equal_height=True, elem_id="vae-train-send"):
            explore = gr.Button("Explore this model", elem_id="vae-train-explore", size="sm", scale=0, min_width=170)
            login = gr.LoginButton(size="sm", scale=0, min_width=200) if sign_in_problem is None else None
            repo = gr.Textbox(value="vae-2d-mnist-live", label="Hub repo name (in your namespace)", scale=1,
                              min_width=200, elem_id="vae-train-repo")
            publish = gr.Button("Publish to the Hub", elem_id="vae-train-publish", size="sm", scale=0, min_width=170)
        note = gr.Markdown(sign_in_problem or "", elem_id="vae-train-note")
        sent = gr.JSON(visible=False)
    return TrainUI(tab, explore, login, repo, publish, note, sent, sign_in_problem)
