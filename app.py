"""VAE 2-D Latent Explorer: a Gradio app to walk through the 2-D latent space of a VAE trained on MNIST.

    python app.py                                      # http://127.0.0.1:7860
    VAE_MODEL_REPO=user/vae-2d-mnist python app.py     # weights from the Hugging Face Hub

Environment: VAE_MODEL_REPO (a Hub model repo id or a local model folder; unset: the bundled pretrained/),
VAE_MODEL_REVISION (branch, tag or commit), VAE_HUB_TIMEOUT (seconds before falling back, default 3),
VAE_CACHE_SECONDS (uploads and outputs older than this are deleted, default 1800),
GRADIO_SERVER_NAME / GRADIO_SERVER_PORT (where to listen).

Explore runs in the browser (static/js/ decodes what webapp/bundle.py writes); Reconstruct encodes on the
server (webapp/reconstruct.py); Training replays the model's snapshots.safetensors in the browser (webapp/replay.py);
the API for gradio_client and MCP clients is webapp/api.py: /generate, /grid, /interpolate, /encode, /reconstruct,
/likelihood, /models, /replay, each with an optional model (webapp/models.py).
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import gradio as gr
import torch
from starlette.middleware import Middleware

from vae.hub import DEFAULT_TIMEOUT
from vae.preprocess import load_image, preprocessor
from webapp.across_tabs import follow_data_set, wire_tab_choice
from webapp.api import ExplorerAPI
from webapp.choice import ModelChoice, bundle_url, footer, intro
from webapp.compress import PageCompression
from webapp.explore_tab import explore_tab
from webapp.live_training import LiveTraining
from webapp.model_row import model_row
from webapp.models import ModelEntry, ModelStore
from webapp.page import STATIC, template
from webapp.publish import NOT_SET_UP, sign_in_problem
from webapp.likelihood import warm_up
from webapp.reconstruct import ReconstructTab, example_images
from webapp.reconstruct_tab import reconstruct_tab
from webapp.settings import resolve_from_env, timeout_from_env
from webapp.train_tab import train_tab
from webapp.training_data import missing_message, training_data_path
from webapp.training_tab import training_tab

HERE = Path(__file__).resolve().parent
BUNDLED = HERE / "pretrained"  # the model shipped with the code
REFERENCE = BUNDLED / "reference"  # the spec's network trained with the spec's recipe (--preset reference)
FASHION = BUNDLED / "fashion"  # the default recipe on Fashion-MNIST (--dataset fashion-mnist)

MAX_FILE_SIZE = "10mb"  # uploads above this are refused by the server before they reach the app
CACHE_SECONDS = 1800  # uploads and API outputs live this long in Gradio's cache, then are deleted (a public Space
#                       would otherwise keep every file anyone sent); VAE_CACHE_SECONDS overrides it
CONCURRENCY = 4  # calls at once per endpoint: best tail and throughput of 1, 2, 4 (bench/load.py, docs/reliability.md)
QUEUE_SIZE = 128  # calls waiting beyond this are refused at once (HTTP 503; gradio_client: "Queue is full! Please
#                   try again.") instead of an ever longer wait


def launch_options() -> dict:
    """demo.launch's arguments, as `python app.py` and the tests launch: a new dict each call, because Gradio
    writes into app_kwargs (its response class, its lifespan) and a second launch must not inherit the first's."""
    # mcp_server: the API endpoints are also MCP tools, at /gradio_api/mcp/
    # css: the page's stylesheet, once per page (it was repeated in each gr.HTML's css_template)
    # middleware: the page's HTML compressed (webapp/compress.py; Gradio compresses only the other text files)
    return dict(max_file_size=MAX_FILE_SIZE, mcp_server=True, css=template("page.css"),
                app_kwargs={"middleware": [Middleware(PageCompression)]})


log = logging.getLogger("vae_explorer")


@dataclass(frozen=True)
class Options:
    """How build_demo serves its models."""

    bundle_dir: str | os.PathLike | None = None  # the page's weight bundles (None: a folder in the temporary dir)
    cache_seconds: int | None = None  # age at which uploads and outputs are deleted (None: $VAE_CACHE_SECONDS or
    #                                   CACHE_SECONDS)
    concurrency: int = CONCURRENCY  # the queue's settings
    queue_size: int | None = QUEUE_SIZE
    hub_timeout: float = DEFAULT_TIMEOUT  # seconds a visitor's Hub model may take
    sign_in_problem: str | None = NOT_SET_UP  # None: the Train tab signs visitors in to publish (webapp/publish.py)
    warm_up: bool = False  # compute one exact likelihood in the background at start (webapp/likelihood.py warm_up)


def build_demo(default: ModelEntry, more_models: dict[str, ModelEntry] | None = None,
               options: Options = Options()) -> gr.Blocks:
    """The Blocks app; `default` (a 2-D VAE) is the model it opens with, `more_models` the other bundled ones by
    name (webapp.models.ModelEntry.from_folder(folder))."""
    cache_seconds = options.cache_seconds
    if cache_seconds is None:
        cache_seconds = int(os.environ.get("VAE_CACHE_SECONDS") or CACHE_SECONDS)
    bundles = Path(options.bundle_dir) if options.bundle_dir else Path(tempfile.gettempdir()) / "vae-explorer"
    store = ModelStore({"default": default, **(more_models or {})}, bundles, timeout=options.hub_timeout)
    served = store.get("default")
    gr.set_static_paths([bundles, STATIC])  # the page fetches the bundles; examples are served from static/
    # the page's gr.HTML panels start with the default model's bundle (each imports the page script itself:
    # webapp/page.py's mount_js; the stylesheet comes with launch_options())
    page = dict(bundle_path=bundle_url(served))
    choice = ModelChoice(store)

    with gr.Blocks(title="VAE 2-D Latent Explorer", delete_cache=(cache_seconds, cache_seconds)) as demo:
        row = model_row(store, intro(default.model.config.dataset))
        # "wrap": on a phone the four tabs take two rows rather than hiding Training and Train live behind a menu
        with gr.Tabs(selected="explore", overflow_behavior="wrap") as tabs:
            explore = explore_tab(store, page)
            reconstruct = reconstruct_tab(page, default.model.config.dataset)
            training = training_tab(served, page)
            train = train_tab(LiveTraining(bundles, partial(training_data_path, cache_dir=bundles), missing_message),
                              options.sign_in_problem)
        model_footer = gr.Markdown(footer(served), elem_id="vae-footer")

        api = ExplorerAPI(store, demo.GRADIO_CACHE)
        handlers = ReconstructTab(store)
        row.wire(demo, choice, [explore.view, reconstruct.posterior_map, model_footer, training.view])
        follow_data_set(row, reconstruct, training, handlers)
        explore.wire(row, choice, api)
        training.wire(row.chosen, api)
        train.wire(row, tabs, choice, api, store)
        wire_tab_choice(demo, tabs, (explore.tab, reconstruct.tab, training.tab, train.tab))
        reconstruct.wire(handlers, row.chosen, explore, tabs)
        for endpoint in api.endpoints():  # the public API, for gradio_client and MCP clients
            gr.api(endpoint, api_name=endpoint.__name__)
    demo.queue(default_concurrency_limit=options.concurrency, max_size=options.queue_size)
    if options.warm_up:  # the first visitor's exact likelihood as fast as the next one's
        dataset = default.model.config.dataset
        example = preprocessor(dataset)(load_image(example_images()[dataset][0]))
        threading.Thread(target=warm_up, args=(served.explorer, example), daemon=True).start()
    return demo


def create_demo() -> gr.Blocks:
    """The app as `python app.py` and the Space run it: weights resolved from the environment."""
    torch.set_num_threads(1)  # a 100-cell decode: 4.9 ms on 1 thread vs 12.9 ms on 2 (median, busy 2-core box)
    model, source = resolve_from_env(BUNDLED)
    log.info("weights: %s", source.describe(relative_to=HERE))
    default = ModelEntry.from_folder(source.folder, model, source.describe(relative_to=HERE))
    more = {name: ModelEntry.from_folder(folder) for name, folder in (("reference", REFERENCE), ("fashion", FASHION))
            if (folder / "model.safetensors").is_file()}
    timeout = timeout_from_env()
    problem = sign_in_problem(timeout)
    if problem:
        log.info("Publish to the Hub is off: %s", problem)
    return build_demo(default, more, Options(hub_timeout=timeout, sign_in_problem=problem, warm_up=True))


if not log.handlers:  # the source of the weights is always printed, with or without logging configured
    _handler = logging.StreamHandler()
    _handler.setFormatter(logging.Formatter("[%(name)s] %(levelname)s %(message)s"))
    for _name in ("vae_explorer", "vae.hub"):
        logging.getLogger(_name).addHandler(_handler)
        logging.getLogger(_name).setLevel(logging.INFO)


def __getattr__(name: str):
    """`app.demo` for a module that imports this one to serve it: built on first use, so that importing app for
    build_demo (the tests, the benchmarks) loads no model and writes no bundle."""
    if name == "demo":
        globals()["demo"] = create_demo()
        return globals()["demo"]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":  # also `gradio app.py`, which runs this file and reloads `demo` when it changes
    demo = create_demo()
    demo.launch(**launch_options())
