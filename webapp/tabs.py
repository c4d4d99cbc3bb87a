"""The page's parts, one builder each: the model row, the Explore, Reconstruct, Training and Train live tabs. A
builder lays its components out where it is called (inside app.py's gr.Blocks) and returns them; its `wire` method
adds the events that belong to the part. Explore and Training run in the browser (static/js/): their events hand
values to the page script and make no server call. Every server event here is private: the API is webapp/api.py's."""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import quote

import gradio as gr
from gradio.route_utils import get_root_url

from vae.datasets import get_dataset
from vae.imaging import DEFAULT_SPAN, GRID_SIZE
from webapp.api import ExplorerAPI
from webapp.choice import ModelChoice, intro, replay_props
from webapp.hub_fetch import ModelRequestError
from webapp.inputs import Z_LIMIT
from webapp.live_training import LiveTraining
from webapp.models import ModelStore, ServedModel
from webapp.page import mount_js, page_constants, template
from webapp.publish import (NOT_SET_UP, SIGN_IN_FIRST, on_space, publish_model, repo_name_problem,
                            visitor_token)
from webapp.reconstruct import UI_SCALE, ReconstructTab, example_images, examples_label
from webapp.uploads import UPLOAD_NAME

Z_STEP = 0.05  # the sliders' step
SPAN_UI = (0.1, 3.0)  # the span slider's range (the API takes up to 5)
CONSTANTS = page_constants(Z_STEP, SPAN_UI)  # what the page script shares with Python
# what the Explore and Training panels' scripts start with: the constants, the canvases' CSS sizes, the sliders' view
VIEW = dict(constants=CONSTANTS, digit_px=28 * UI_SCALE, grid_px=28 * GRID_SIZE * 2, map_px=340,
            view={"z1": 0.0, "z2": 0.0, "span": DEFAULT_SPAN})
PICKED = "(picked) => [picked.z1, picked.z2, picked.span]"  # a view the page moved (map click, key) -> the sliders


def training_intro(dataset: str) -> str:
    """The Training tab's lead, in the words of the model's data set ("test digits", "test images")."""
    noun = get_dataset(dataset).noun
    return (f"Each dot is one of 2,000 test {noun}s at its posterior mean, coloured by its class. Watch the KL term "
            f"hold every {noun} near the origin while the decoder draws one grey blur, then the reconstruction term "
            f"push the classes apart and the grid's {noun}s sharpen. Press ▶ or drag the scrubber; click the map to "
            "move z.")


def gif_markdown(path: str, caption: str) -> str:
    """A GIF the server wrote into Gradio's cache, shown and linked for download. A Markdown output, not a gr.File:
    each gr.File adds about 5 KB of API schema to the page's HTML, kept under 150 KB (bench/page_bytes.py)."""
    url = f"gradio_api/file={quote(str(path))}"  # relative to the app's root, which serves the page
    return f"![{caption}]({url})\n\n[Download the {caption}]({url})"


def view_sliders(prefix: str) -> tuple[gr.Slider, gr.Slider, gr.Slider]:
    """z1, z2 and the grid's span, elem_ids `{prefix}z1`, `{prefix}z2`, `{prefix}span`."""
    return (gr.Slider(-Z_LIMIT, Z_LIMIT, value=0, step=Z_STEP, label="z1", elem_id=f"{prefix}z1"),
            gr.Slider(-Z_LIMIT, Z_LIMIT, value=0, step=Z_STEP, label="z2", elem_id=f"{prefix}z2"),
            gr.Slider(*SPAN_UI, value=DEFAULT_SPAN, step=Z_STEP, label="grid span (half-width)",
                      elem_id=f"{prefix}span"))


def follow_sliders(sliders: tuple, view: gr.HTML, setter: str) -> None:
    """The sliders drive the page's view (window.vaeExplorer[setter]); a view the page moves drives the sliders."""
    gr.on([s.change for s in sliders], fn=None, inputs=list(sliders),
          js=f"(a, b, s) => {{ window.vaeExplorer && window.vaeExplorer.{setter}(a, b, s); }}")
    view.change(fn=None, inputs=[view], outputs=list(sliders), js=PICKED)


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
        def receive(sent) -> str:
            """The page's upload ({path, config}) -> its upload-… name, served like any model; ValueError says why
            not (the page's own error, or the server's checks: webapp/uploads.py)."""
            if not isinstance(sent, dict) or not sent.get("path"):
                error = sent.get("error") if isinstance(sent, dict) else None
                raise ValueError(str(error or "Train a model first: press Train, then Explore this model."))
            file = {"path": sent["path"], "meta": {"_type": "gradio.FileData"}}
            try:
                return api.upload_model(file, str(sent.get("config") or ""))["model"]
            except gr.Error as e:
                raise ValueError(f"The server refused the model: {e.message}") from None

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

        def publish(sent, repo_name, current, request: gr.Request, profile: gr.OAuthProfile | None,
                    token: gr.OAuthToken | None):
            """Publish: the page's model (else the visitor's chosen model, if it was sent from a browser) to
            <visitor>/<repo_name> with the visitor's own token; then the ?model= link that opens it."""
            if self.sign_in_problem:
                return f"⚠️ {self.sign_in_problem}"
            secret = visitor_token(profile, token)
            if secret is None:
                return f"⚠️ {SIGN_IN_FIRST}"
            if problem := repo_name_problem(repo_name):
                return f"⚠️ {problem}"
            try:
                name = receive(sent)
            except ValueError as e:
                page_sent = isinstance(sent, dict) and sent.get("path")
                if page_sent or not (isinstance(current, str) and UPLOAD_NAME.fullmatch(current)):
                    return f"⚠️ {e}"
                name = current  # signing in reloaded the page, which came back with the model sent before
            repo_id = f"{profile.username}/{repo_name.strip()}"
            link = f"{app_link(request)}?model={quote(repo_id)}"
            try:
                commit = publish_model(store.get(name).model, repo_id, secret, link)
            except (ValueError, ModelRequestError) as e:
                return f"⚠️ {e}"
            return (f"✓ Published to [{repo_id}](https://huggingface.co/{repo_id}) (commit `{commit[:12]}`). "
                    f"Anyone can open it here: [{link}]({link})")

        private = dict(api_visibility="private", show_progress="minimal")
        self.explore.click(explore_trained, [self.sent, row.chosen],
                           [*row.choice_outputs, tabs, row.hub_id, self.note], js=SEND_TRAINED, **private)
        self.publish.click(publish, [self.sent, self.repo, row.chosen], [self.note], js=SEND_TRAINED, **private)


def app_link(request: gr.Request | None) -> str:
    """The address that opens this app for anyone: the Space's page on a Space, else the address it was reached at."""
    space = os.environ.get("SPACE_ID")
    if on_space() and space:
        return f"https://huggingface.co/spaces/{space}"
    if request is None:
        return ""
    return get_root_url(request.request, request.request.url.path, None) + "/"


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


def upload_subject(dataset: str) -> str:
    """What the upload box asks for: "digit", "piece of clothing"."""
    return "digit" if get_dataset(dataset).noun == "digit" else "piece of clothing"


def wire_tab_choice(demo: gr.Blocks, tabs: gr.Tabs, shown: tuple) -> None:
    """The tab shown is kept in the address, and ?tab= in the address opens that tab."""
    for tab in shown:
        tab.select(fn=None, js=f"() => {{ window.vaeExplorer.setTab('{tab.id}'); }}")
    demo.load(ModelChoice.tab_from_url, None, [tabs], api_visibility="private")
