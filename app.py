"""VAE 2-D Latent Explorer: a Gradio app to walk through the 2-D latent space of a VAE trained on MNIST.

    python app.py                                      # http://127.0.0.1:7860
    VAE_MODEL_REPO=user/vae-2d-mnist python app.py     # weights from the Hugging Face Hub

Environment: VAE_MODEL_REPO (a Hub model repo id or a local model folder; unset: the bundled pretrained/),
VAE_MODEL_REVISION (branch, tag or commit), VAE_HUB_TIMEOUT (seconds before falling back, default 3),
VAE_CACHE_SECONDS (uploads and outputs older than this are deleted, default 1800),
GRADIO_SERVER_NAME / GRADIO_SERVER_PORT (where to listen).

Explore runs in the browser (static/explorer.js decodes what webapp/bundle.py writes); Reconstruct encodes on the
server (webapp/reconstruct.py); Training replays the model's snapshots.safetensors in the browser (webapp/replay.py);
the API for gradio_client and MCP clients is webapp/api.py: /generate, /grid, /interpolate, /encode, /reconstruct,
/models, /replay, each with an optional model (webapp/models.py).
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import gradio as gr
import torch

from vae import VAE
from vae.hub import DEFAULT_TIMEOUT, RESULTS_NAME, resolve_from_env, timeout_from_env
from vae.imaging import DEFAULT_SPAN, GRID_SIZE
from webapp.api import ExplorerAPI
from webapp.choice import ModelChoice, bundle_url, footer, intro, replay_props
from webapp.inputs import Z_LIMIT
from webapp.models import ModelStore, bundled_entry, latents_in, read_test_elbo
from webapp.page import STATIC, page_script, template
from webapp.reconstruct import UI_SCALE, ReconstructTab, example_images, examples_label

HERE = Path(__file__).resolve().parent
BUNDLED = HERE / "pretrained"  # the model shipped with the code
REFERENCE = BUNDLED / "reference"  # the spec's network trained with the spec's recipe (--preset reference)
FASHION = BUNDLED / "fashion"  # the default recipe on Fashion-MNIST (--dataset fashion-mnist)

Z_STEP = 0.05  # the sliders' step
SPAN_UI = (0.1, 3.0)  # the span slider's range (the API takes up to 5)
MAX_FILE_SIZE = "10mb"  # uploads above this are refused by the server before they reach the app
# tests launch with these too; mcp_server: the API endpoints are also MCP tools, at /gradio_api/mcp/
LAUNCH_OPTIONS = dict(max_file_size=MAX_FILE_SIZE, mcp_server=True)
CACHE_SECONDS = 1800  # uploads and API outputs live this long in Gradio's cache, then are deleted (a public Space
#                       would otherwise keep every file anyone sent); VAE_CACHE_SECONDS overrides it
CONCURRENCY = 4  # calls at once per endpoint: best tail and throughput of 1, 2, 4 (bench/load.py, docs/reliability.md)
QUEUE_SIZE = 128  # calls waiting beyond this are refused at once (HTTP 503; gradio_client: "Queue is full! Please
#                   try again.") instead of an ever longer wait

log = logging.getLogger("vae_explorer")


def build_demo(model: VAE, latents: dict | None = None, source: str = "a model given to build_demo",
               bundle_dir: str | os.PathLike | None = None, cache_seconds: int | None = None,
               concurrency: int = CONCURRENCY, queue_size: int | None = QUEUE_SIZE, test_elbo: float | None = None,
               more_models: dict[str, tuple] | None = None, hub_timeout: float = DEFAULT_TIMEOUT,
               folder: str | os.PathLike | None = None) -> gr.Blocks:
    """The Blocks app; `model` (2-D latent space) is its "default". `latents`: {'mu', 'labels'} for the latent map
    (None: no points); `source`: where the weights came from, shown in the footer; `test_elbo`: its test −ELBO, for
    the footer; `more_models`: other bundled models, name -> webapp.models.bundled_entry(folder); `bundle_dir`:
    where the page's weight bundles are written (default: a folder in the system's temporary directory);
    `cache_seconds`: age at which uploads and outputs are deleted (default $VAE_CACHE_SECONDS or CACHE_SECONDS);
    `concurrency`, `queue_size`: the queue's settings; `hub_timeout`: seconds a visitor's Hub model may take;
    `folder`: the model's folder, whose snapshots.safetensors (if any) the Training tab replays."""
    if cache_seconds is None:
        cache_seconds = int(os.environ.get("VAE_CACHE_SECONDS") or CACHE_SECONDS)
    bundles = Path(bundle_dir) if bundle_dir else Path(tempfile.gettempdir()) / "vae-explorer"
    store = ModelStore({"default": (model, latents, source, test_elbo, folder), **(more_models or {})}, bundles,
                       timeout=hub_timeout)
    default = store.get("default")
    gr.set_static_paths([bundles, STATIC])  # the page fetches the bundles; examples are served from static/
    page = dict(head=f"<script>{page_script()}</script>", css_template=template("page.css"),
                bundle_path=bundle_url(default))
    tab = ReconstructTab(store)

    choice = ModelChoice(store)

    with gr.Blocks(title="VAE 2-D Latent Explorer", delete_cache=(cache_seconds, cache_seconds)) as demo:
        intro_line = gr.Markdown(intro(default.model.config.dataset), elem_id="vae-intro")
        with gr.Row(equal_height=True):
            model_name = gr.Dropdown(list(store.bundled), value="default", label="model", elem_id="vae-model", scale=1)
            hub_id = gr.Textbox(label="or any 2-D VAE from the Hub written by this project's trainer",
                                placeholder="your-name/vae-2d-mnist or your-name/vae-2d-mnist@revision",
                                elem_id="vae-hub-id", scale=3)
            open_button = gr.Button("Open", elem_id="vae-open", scale=0, min_width=100)
        model_note = gr.Markdown(elem_id="vae-model-note")
        chosen = gr.State("default")  # per visitor: the model their views show
        with gr.Tabs(selected="explore") as tabs:
            with gr.Tab("Explore", id="explore") as explore_tab:
                with gr.Row(equal_height=True):
                    z1 = gr.Slider(-Z_LIMIT, Z_LIMIT, value=0, step=Z_STEP, label="z1", elem_id="vae-z1")
                    z2 = gr.Slider(-Z_LIMIT, Z_LIMIT, value=0, step=Z_STEP, label="z2", elem_id="vae-z2")
                    span = gr.Slider(*SPAN_UI, value=DEFAULT_SPAN, step=Z_STEP, label="grid span (half-width)",
                                     elem_id="vae-span")
                    random_button = gr.Button("Random z ~ N(0, I)", elem_id="vae-random", scale=0, min_width=210)
                    compare = gr.Dropdown(["none", *store.bundled], value="none", allow_custom_value=True,
                                          label="compare with (a name, or a Hub id)", elem_id="vae-compare", scale=1)
                    with gr.Column(scale=0, min_width=150):
                        copy_button = gr.Button("Copy link", elem_id="vae-copy-link", size="sm")
                        link = gr.Textbox(show_label=False, container=False, interactive=False, elem_id="vae-link",
                                          placeholder="a link to this view")
                with gr.Row():
                    gif_button = gr.Button("GIF of the path A → B", elem_id="vae-gif", size="sm", scale=0,
                                           min_width=200)
                    gif_file = gr.File(label="interpolation GIF (30 frames)", elem_id="vae-gif-file", visible=False)
                    path_ends = gr.JSON(visible=False)
                explore = gr.HTML(
                    value={"z1": 0.0, "z2": 0.0}, html_template=template("explore.html"), elem_id="vae-explore",
                    js_on_load="window.vaeExplorer.mountExplore(element, props, trigger, watch);",
                    z1=0.0, z2=0.0, span=DEFAULT_SPAN, digit_px=28 * UI_SCALE, grid_px=28 * GRID_SIZE * 2, map_px=380,
                    compare_bundle_path="", compare_label="", main_label="",
                    **page,
                )
            with gr.Tab("Reconstruct", id="reconstruct") as reconstruct_tab:
                with gr.Row():
                    with gr.Column(scale=1):
                        with gr.Tabs():
                            with gr.Tab("Draw"):
                                drawing = gr.HTML(value=None, html_template=template("drawing.html"),
                                                  elem_id="vae-drawing", pad_px=280, brush_px=18,
                                                  js_on_load="window.vaeExplorer.mountDrawing(element, props, trigger);",
                                                  **page)
                            with gr.Tab("Upload"):
                                upload = gr.Image(label="a picture of a digit", type="filepath", image_mode=None,
                                                  sources=["upload", "clipboard"], format="png", elem_id="vae-upload")
                                example_columns = []  # each data set's examples; the model's are shown
                                for dataset, files in example_images().items():
                                    with gr.Column(visible=dataset == default.model.config.dataset) as column:
                                        gr.Examples(files, inputs=[upload], label=examples_label(dataset),
                                                    examples_per_page=10)
                                    example_columns.append(column)
                        status = gr.Markdown(elem_id="vae-status")
                    with gr.Column(scale=1):
                        with gr.Row():
                            preprocessed = gr.Image(label="preprocessed 28×28 input", format="png", interactive=False,
                                                    elem_id="vae-preprocessed", height=240)
                            reconstruction = gr.Image(label="reconstruction (decoded μ)", format="png",
                                                      interactive=False, elem_id="vae-reconstruction", height=240)
                        figures = gr.Markdown(elem_id="vae-figures")
                        explore_button = gr.Button("Explore from here: z = μ (A of a path)", elem_id="vae-explore-here")
                    with gr.Column(scale=1):
                        posterior_map = gr.HTML(html_template=template("posterior.html"), elem_id="vae-posterior",
                                                map_px=360, **page,
                                                js_on_load="window.vaeExplorer.mountPosterior(element, props, watch);")
                posterior = gr.JSON(visible=False)
            with gr.Tab("Training", id="training") as training_tab:
                gr.Markdown(
                    "Each dot is one of 2,000 test digits at its posterior mean, coloured by its class. Watch the KL "
                    "term hold every digit near the origin while the decoder draws one grey blur, then the "
                    "reconstruction term push the classes apart and the grid's digits sharpen. Press ▶ or drag "
                    "the scrubber; click the map to move z.", elem_id="vae-training-intro")
                with gr.Row(equal_height=True):
                    tz1 = gr.Slider(-Z_LIMIT, Z_LIMIT, value=0, step=Z_STEP, label="z1", elem_id="vae-train-z1")
                    tz2 = gr.Slider(-Z_LIMIT, Z_LIMIT, value=0, step=Z_STEP, label="z2", elem_id="vae-train-z2")
                    tspan = gr.Slider(*SPAN_UI, value=DEFAULT_SPAN, step=Z_STEP, label="grid span (half-width)",
                                      elem_id="vae-train-span")
                    replay_button = gr.Button("GIF of the replay", elem_id="vae-replay-gif", size="sm", scale=0,
                                              min_width=180)
                replay_file = gr.File(label="training replay GIF (one frame per snapshot)", elem_id="vae-replay-file",
                                      visible=False)
                training = gr.HTML(
                    value={"z1": 0.0, "z2": 0.0, "span": DEFAULT_SPAN}, html_template=template("training.html"),
                    elem_id="vae-training",
                    js_on_load="window.vaeExplorer.mountTraining(element, props, trigger, watch);",
                    z1=0.0, z2=0.0, span=DEFAULT_SPAN, digit_px=28 * UI_SCALE, grid_px=28 * GRID_SIZE * 2,
                    map_px=380, **replay_props(default), **page,
                )
        model_footer_md = gr.Markdown(footer(default), elem_id="vae-footer")

        # --- the model: per visitor, from the picker, the Hub box or ?model= in the address
        chosen_outputs = dict(outputs=[chosen, explore, posterior_map, model_footer_md, model_note, training],
                              api_visibility="private", show_progress="minimal")
        def data_set_views(model):
            """The title line and the Reconstruct examples follow the data set of the visitor's model."""
            return intro(tab.dataset(model)), *tab.examples_shown(model)

        examples_follow = dict(fn=data_set_views, inputs=[chosen], outputs=[intro_line, *example_columns],
                               api_visibility="private", show_progress="hidden")
        model_name.input(choice.choose, [model_name, chosen], **chosen_outputs).then(**examples_follow)
        gr.on([open_button.click, hub_id.submit], choice.choose, [hub_id, chosen], **chosen_outputs).then(
            **examples_follow)
        demo.load(choice.model_from_url, None, **chosen_outputs).then(**examples_follow)

        # --- Explore runs in the browser: these events only hand values to static/explorer.js, no server call
        gr.on([z1.change, z2.change, span.change], fn=None, inputs=[z1, z2, span],
              js="(a, b, s) => { window.vaeExplorer && window.vaeExplorer.setView(a, b, s); }")
        explore.change(fn=None, inputs=[explore], outputs=[z1, z2, span],
                       js="(picked) => [picked.z1, picked.z2, picked.span]")
        copy_button.click(fn=None, outputs=[link], js="() => window.vaeExplorer.copyLink()")
        # --- Training: the same, on the tab's own sliders and the snapshot the page shows
        gr.on([tz1.change, tz2.change, tspan.change], fn=None, inputs=[tz1, tz2, tspan],
              js="(a, b, s) => { window.vaeExplorer && window.vaeExplorer.setTrainingView(a, b, s); }")
        training.change(fn=None, inputs=[training], outputs=[tz1, tz2, tspan],
                        js="(picked) => [picked.z1, picked.z2, picked.span]")
        for shown in (explore_tab, reconstruct_tab, training_tab):  # the tab shown is kept in the address
            shown.select(fn=None, js=f"() => {{ window.vaeExplorer.setTab('{shown.id}'); }}")
        demo.load(choice.tab_from_url, None, [tabs], api_visibility="private")
        random_button.click(fn=None, js="() => window.vaeExplorer.randomLatent()", outputs=[z1, z2])
        compare.input(choice.compare, [compare, chosen], [explore, model_note], api_visibility="private",
                      show_progress="minimal")

        # --- Reconstruct (private events: not part of the API)
        ui = dict(outputs=[preprocessed, reconstruction, figures, posterior, status], show_progress="hidden",
                  trigger_mode="always_last", api_visibility="private")
        show = dict(fn=None, inputs=[posterior],
                    js="(s) => { window.vaeExplorer && window.vaeExplorer.showPosterior(s); }")
        upload.change(tab.from_upload, [upload, chosen], preprocess=False, **ui).then(**show)
        drawing.change(tab.from_drawing, [drawing, chosen], **ui).then(**show)
        explore_button.click(tab.explore_from_here, [posterior], [z1, z2, tabs], api_visibility="private",
                             show_progress="hidden")

        # --- the public API
        api = ExplorerAPI(store, demo.GRADIO_CACHE)

        def path_gif(ends, model):
            """The page's path A -> B as the /interpolate GIF, 30 frames."""
            if not ends or any(v is None for v in ends):
                gr.Warning("Shift-click the map to set B first: the path runs from A, the current z, to B.")
                return None
            return gr.File(api.interpolate(*ends, steps=30, model=model).path, visible=True)

        gif_button.click(path_gif, [path_ends, chosen], [gif_file], js="(e, m) => [window.vaeExplorer.pathEnds(), m]",
                         api_visibility="private")

        def replay_gif(model, a, b, s):
            """The visitor's model's replay as the /replay GIF, its grid centred where the tab's sliders are."""
            return gr.File(api.replay(model, a, b, s).path, visible=True)

        replay_button.click(replay_gif, [chosen, tz1, tz2, tspan], [replay_file], api_visibility="private")
        for endpoint in api.endpoints():
            gr.api(endpoint, api_name=endpoint.__name__)
    demo.queue(default_concurrency_limit=concurrency, max_size=queue_size)
    return demo


def create_demo() -> gr.Blocks:
    """The app as `python app.py` and the Space run it: weights resolved from the environment."""
    torch.set_num_threads(1)  # a 100-cell decode: 4.9 ms on 1 thread vs 12.9 ms on 2 (median, busy 2-core box)
    model, source = resolve_from_env(BUNDLED)
    log.info("weights: %s", source.describe(relative_to=HERE))
    latents = latents_in(source.folder)  # optional: without it the map has no points, the app starts all the same
    more = {name: bundled_entry(folder) for name, folder in (("reference", REFERENCE), ("fashion", FASHION))
            if (folder / "model.safetensors").is_file()}
    return build_demo(model, latents=latents, source=source.describe(relative_to=HERE),
                      test_elbo=read_test_elbo(source.folder / RESULTS_NAME), more_models=more,
                      hub_timeout=timeout_from_env(), folder=source.folder)


if not log.handlers:  # the source of the weights is always printed, with or without logging configured
    _handler = logging.StreamHandler()
    _handler.setFormatter(logging.Formatter("[%(name)s] %(levelname)s %(message)s"))
    for _name in ("vae_explorer", "vae.hub"):
        logging.getLogger(_name).addHandler(_handler)
        logging.getLogger(_name).setLevel(logging.INFO)

demo = create_demo()

if __name__ == "__main__":
    demo.launch(**LAUNCH_OPTIONS)
