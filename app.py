"""VAE 2-D Latent Explorer: a Gradio app to walk through the 2-D latent space of a VAE trained on MNIST.

    python app.py                                      # http://127.0.0.1:7860
    VAE_MODEL_REPO=user/vae-2d-mnist python app.py     # weights from the Hugging Face Hub

Environment: VAE_MODEL_REPO (a Hub model repo id or a local model folder; unset: the bundled pretrained/),
VAE_MODEL_REVISION (branch, tag or commit), VAE_HUB_TIMEOUT (seconds before falling back, default 3),
VAE_CACHE_SECONDS (uploads and outputs older than this are deleted, default 1800),
GRADIO_SERVER_NAME / GRADIO_SERVER_PORT (where to listen).

Explore: sliders z1, z2 and the grid's span drive the decoded digit, the 10x10 grid and the latent map, all
decoded in the browser (static/explorer.js) so a drag is painted at display rate.
Reconstruct: draw or upload a digit; it is preprocessed as MNIST was made and encoded on the server.
API for gradio_client: /generate, /grid, /encode, /reconstruct (docs/app.md has examples).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import math
import os
import tempfile
from pathlib import Path

import gradio as gr
import numpy as np
import torch
from safetensors.numpy import save_file

from vae import VAE
from vae.evaluate import evaluate_elbo
from vae.hub import resolve_from_env
from vae.imaging import DEFAULT_SPAN, GRID_SIZE, grid_image, latent_grid, png_bytes, to_uint8, upscale_nearest
from vae.latents import load_latents
from vae.preprocess import ImageInputError, load_image, preprocess_digit

HERE = Path(__file__).resolve().parent
BUNDLED = HERE / "pretrained"  # the model shipped with the code
STATIC = HERE / "static"  # explorer.js, linear.wasm, the MNIST examples

Z_LIMIT = 3.0  # the sliders' range, and the API's: [-3, 3] holds 99.7% of the prior N(0, 1) per axis
Z_STEP = 0.05
SPAN_MAX = 5.0  # a wider grid only shows blur far outside the prior's mass
SPAN_UI = (0.1, 3.0)  # the span slider's range
UI_SCALE = 8  # 28 px digits are shown at 224 px, nearest neighbour
ELBO_SAMPLES = 128  # posterior samples for an image's -ELBO (fixed seed: the same image gives the same figure)
MAX_FILE_SIZE = "10mb"  # uploads above this are refused by the server before they reach the app
LAUNCH_OPTIONS = dict(max_file_size=MAX_FILE_SIZE)  # tests launch with these too
CACHE_SECONDS = 1800  # uploads and API outputs live this long in Gradio's cache, then are deleted (a public Space
#                       would otherwise keep every file anyone sent); VAE_CACHE_SECONDS overrides it
CONCURRENCY = 4  # API calls run at once per endpoint: best tail and throughput of 1, 2, 4 (bench/load.py, docs/reliability.md)
QUEUE_SIZE = 128  # calls waiting beyond this are refused at once (HTTP 503; gradio_client: "Queue is full! Please
#                   try again.") instead of an ever longer wait

log = logging.getLogger("vae_explorer")


# ---------------------------------------------------------------------------------------------------------
# the model's work, as arrays (no Gradio here)


class Explorer:
    """The four things the app asks of the model, on numpy arrays."""

    def __init__(self, model: VAE):
        if model.config.latent_dim != 2:
            raise ValueError(f"the explorer needs a 2-D latent space; this model has {model.config.latent_dim}")
        self.model = model.eval()

    @torch.inference_mode()
    def decode(self, z: np.ndarray) -> np.ndarray:
        """z (B, 2) -> pixel probabilities (B, 28, 28), in one batch."""
        return self.model.decode(torch.as_tensor(z, dtype=torch.float32)).numpy()[:, 0]

    def digit(self, z1: float, z2: float) -> np.ndarray:
        """-> uint8 (28, 28)"""
        return to_uint8(self.decode(np.array([[z1, z2]], np.float32))[0])

    def grid(self, z1: float, z2: float, span: float) -> np.ndarray:
        """-> uint8 RGB (280, 280, 3): the spec's grid, the cell nearest the centre outlined"""
        return grid_image(self.decode(latent_grid(z1, z2, span, GRID_SIZE)), GRID_SIZE)

    @torch.inference_mode()
    def posterior(self, x: np.ndarray) -> tuple[list[float], list[float]]:
        """x float (28, 28) in [0, 1] -> (mu, sigma) of q(z|x)"""
        mu, logvar = self.model.encode(torch.as_tensor(x, dtype=torch.float32).reshape(1, -1))
        return mu[0].tolist(), torch.exp(0.5 * logvar[0]).tolist()

    @torch.inference_mode()
    def reconstruct(self, x: np.ndarray) -> tuple[np.ndarray, dict]:
        """x float (28, 28) -> (decoded mu as uint8 (28, 28), {mu, sigma, elbo, bce, kl})"""
        mu, sigma = self.posterior(x)
        recon = to_uint8(self.decode(np.array([mu], np.float32))[0])
        # -ELBO of this one image: the library's estimator over ELBO_SAMPLES copies (one posterior sample each)
        copies = torch.as_tensor(x, dtype=torch.float32).reshape(1, -1).expand(ELBO_SAMPLES, -1)
        figures = evaluate_elbo(self.model, copies, batch_size=ELBO_SAMPLES, seed=0)
        stats = {"mu": mu, "sigma": sigma, "elbo": figures["elbo"], "bce": figures["bce"], "kl": figures["kl"]}
        return recon, stats


# ---------------------------------------------------------------------------------------------------------
# checking what users send (each message says what to do)


def latent_coordinate(value, name: str) -> float:
    try:
        z = float(value)
    except (TypeError, ValueError):
        raise gr.Error(f"{name} must be a number between -{Z_LIMIT:g} and {Z_LIMIT:g}; got {value!r}.",
                       title="Bad input") from None
    if not math.isfinite(z):
        raise gr.Error(f"{name} must be a finite number between -{Z_LIMIT:g} and {Z_LIMIT:g}; got {value!r}.",
                       title="Bad input")
    if abs(z) > Z_LIMIT:
        raise gr.Error(f"{name} = {z:g} is outside the latent range [-{Z_LIMIT:g}, {Z_LIMIT:g}] the app explores; "
                       f"pick a value between -{Z_LIMIT:g} and {Z_LIMIT:g}.", title="Bad input")
    return z


def grid_span(value) -> float:
    try:
        span = float(value)
    except (TypeError, ValueError):
        raise gr.Error(f"span must be a number in (0, {SPAN_MAX:g}]; got {value!r}.", title="Bad input") from None
    if not (math.isfinite(span) and 0 < span <= SPAN_MAX):
        raise gr.Error(f"span must be greater than 0 and at most {SPAN_MAX:g} (the grid's half-width in latent "
                       f"units; the default is {DEFAULT_SPAN:g}); got {value!r}.", title="Bad input")
    return span


def digit_from_file(path) -> np.ndarray:
    """An uploaded file -> MNIST-style float (28, 28), or a gr.Error saying what is wrong with it."""
    if path is None or (isinstance(path, str) and not path.strip()):
        raise gr.Error("No image given: upload a PNG or JPEG of a digit "
                       "(with gradio_client: handle_file('digit.png')).", title="Bad input")
    try:
        return preprocess_digit(load_image(path))
    except ImageInputError as e:
        raise gr.Error(str(e), title="Bad input") from e


def digit_from_sketch(sketch) -> np.ndarray:
    """Sketchpad value {'background', 'layers', 'composite'} -> float (28, 28); BlankImageError when empty."""
    composite = sketch.get("composite") if isinstance(sketch, dict) else None
    if composite is None or np.asarray(composite).size == 0:
        from vae.preprocess import BlankImageError

        raise BlankImageError("The canvas is empty: draw a digit with the mouse or a finger.")
    return preprocess_digit(np.asarray(composite))


def without_empty_temp_file(component: gr.File) -> gr.File:
    """gr.File(type="filepath") minus a leak: Gradio 6.31's File.preprocess opens an empty NamedTemporaryFile in the
    cache on every call and never deletes it (one zero-byte file per /encode or /reconstruct, for ever). The path
    Gradio hands over is the upload's own, already in its cache. (Patched on the instance: a gr.File subclass would
    make Gradio write an app.pyi stub beside this file.)"""
    from gradio.utils import NamedString

    component._process_single_file = lambda f: NamedString(f.path)
    return component


# ---------------------------------------------------------------------------------------------------------
# what the page needs: the browser decoder's script and one file with its weights and the latent map


def page_script() -> str:
    """static/explorer.js with static/linear.wasm inlined (base64)."""
    wasm = base64.b64encode((STATIC / "linear.wasm").read_bytes()).decode("ascii")
    return (STATIC / "explorer.js").read_text().replace("@WASM_BASE64@", wasm)


def page_bundle(model: VAE, latents: dict | None, folder: Path) -> Path:
    """Write the decoder's tensors, its config and the latent means to one safetensors file named by its content
    (so a browser cache never serves stale weights) and return its path."""
    tensors = {k: v.detach().to(torch.float32).contiguous().numpy()
               for k, v in model.state_dict().items() if k.startswith("decoder.")}
    if latents is not None:
        tensors["latents.mu"] = np.ascontiguousarray(latents["mu"][:, :2], np.float32)
        tensors["latents.labels"] = np.ascontiguousarray(latents["labels"], np.uint8)
    metadata = {"config": json.dumps(model.config.to_dict()), "format": "vae-explorer-page/1"}
    digest = hashlib.sha256(json.dumps(metadata, sort_keys=True).encode())
    for name in sorted(tensors):
        digest.update(name.encode())
        digest.update(tensors[name].tobytes())
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"page-{digest.hexdigest()[:20]}.safetensors"
    if not path.is_file():
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".part")
        os.close(fd)
        save_file(tensors, tmp, metadata=metadata)
        os.replace(tmp, path)  # atomic: several app processes may write the same file
    return path


EXPLORE_HTML = """
<div class="vae-explore">
  <div class="vae-status">Loading the decoder…</div>
  <div class="vae-panels">
    <div class="vae-column">
      <figure class="vae-panel">
        <canvas class="vae-digit" width="224" height="224" role="img" aria-label="decoded digit"></canvas>
        <figcaption>decoded digit at <b class="vae-z">z = (0.00, 0.00)</b></figcaption>
      </figure>
      <figure class="vae-panel">
        <canvas class="vae-map" width="380" height="380" role="img"
                aria-label="latent map; click to move there"></canvas>
        <div class="vae-legend"></div>
        <figcaption>test-set latent means μ, coloured by digit; ● z, □ the grid's window.
          Click or drag on the map to move there.</figcaption>
      </figure>
    </div>
    <figure class="vae-panel">
      <canvas class="vae-grid" width="560" height="560" role="img"
              aria-label="10 by 10 grid of decoded digits"></canvas>
      <figcaption>10×10 grid around z, span ±<b class="vae-span-value">1.50</b>;
        <span class="vae-mark">outlined</span>: the cell nearest the centre</figcaption>
    </figure>
  </div>
  <div class="vae-backend"></div>
</div>
"""

POSTERIOR_HTML = """
<div class="vae-posterior">
  <figure class="vae-panel">
    <canvas class="vae-map" width="360" height="360" role="img" aria-label="posterior on the latent map"></canvas>
    <div class="vae-legend"></div>
    <figcaption>your digit's μ (+) and the 1σ ellipse of q(z|x), to scale, on the test set's latent map</figcaption>
  </figure>
</div>
"""

PAGE_CSS = """
.vae-panels { display: flex; flex-wrap: wrap; gap: 18px; align-items: flex-start; justify-content: center; }
.vae-column { display: flex; flex-direction: column; align-items: center; gap: 14px; }
.vae-panel { margin: 0; display: flex; flex-direction: column; align-items: center; gap: 6px; }
.vae-panel canvas { image-rendering: pixelated; max-width: 100%; height: auto; border-radius: 4px; }
canvas.vae-digit, canvas.vae-grid { background: #000; }
canvas.vae-map { cursor: crosshair; touch-action: none; border: 1px solid var(--border-color-primary, #ddd); }
figcaption { font-size: 13px; text-align: center; max-width: 380px; color: var(--body-text-color-subdued, #555); }
canvas.vae-grid + figcaption { max-width: 560px; }
.vae-legend { display: flex; gap: 8px; flex-wrap: wrap; justify-content: center; font-size: 12px; }
.vae-key i { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 3px; }
.vae-mark { color: #ff8c00; font-weight: 600; }
.vae-status { padding: 8px; font-size: 14px; }
.vae-status.vae-error { color: #b00020; }
.vae-backend { font-size: 12px; text-align: right; color: var(--body-text-color-subdued, #777); }
"""


def stats_markdown(stats: dict) -> str:
    mu, sigma = stats["mu"], stats["sigma"]
    return (
        "| | z1 | z2 |\n|---|---:|---:|\n"
        f"| μ | {mu[0]:.3f} | {mu[1]:.3f} |\n| σ | {sigma[0]:.3f} | {sigma[1]:.3f} |\n\n"
        f"**−ELBO {stats['elbo']:.1f} nats** = BCE {stats['bce']:.1f} + KL {stats['kl']:.1f} "
        f"(mean over {ELBO_SAMPLES} posterior samples)"
    )


# ---------------------------------------------------------------------------------------------------------
# the app


def build_demo(model: VAE, latents: dict | None = None, source: str = "a model given to build_demo",
               bundle_dir: str | os.PathLike | None = None, cache_seconds: int | None = None,
               concurrency: int = CONCURRENCY, queue_size: int | None = QUEUE_SIZE) -> gr.Blocks:
    """The Blocks app for `model` (2-D latent space). `latents`: {'mu', 'labels'} for the latent map (None: no
    scatter); `source`: where the weights came from, shown in the footer; `bundle_dir`: where the page's weight
    file is written (default: a folder in the system's temporary directory); `cache_seconds`: age at which
    uploads and outputs are deleted (default $VAE_CACHE_SECONDS or CACHE_SECONDS); `concurrency`, `queue_size`:
    the queue's settings."""
    if cache_seconds is None:
        cache_seconds = int(os.environ.get("VAE_CACHE_SECONDS") or CACHE_SECONDS)
    explorer = Explorer(model)
    folder = Path(bundle_dir) if bundle_dir else Path(tempfile.gettempdir()) / "vae-explorer"
    bundle = page_bundle(model, latents, folder)
    gr.set_static_paths([folder, STATIC])  # the page fetches the bundle; examples are served from static/
    head = f"<script>{page_script()}</script>"
    bundle_path = f"gradio_api/file={bundle}"
    cfg = model.config
    arch = (f"{cfg.arch}, hidden {cfg.hidden}, {cfg.blocks} residual blocks" if cfg.arch == "resmlp"
            else f"{cfg.arch} (the spec's 784-400-200-2 network)")

    # --- API handlers: validate, compute, write the PNG
    def png_file(image: np.ndarray, name: str, component: gr.Image) -> str:
        """Encode to PNG (fast zlib level) into the component's cache folder, named by content as Gradio names its
        own outputs, so Gradio serves the file as it is instead of re-encoding it (13 ms -> 4 ms for a grid)."""
        data = png_bytes(image)
        folder = Path(component.GRADIO_CACHE) / hashlib.sha256(data).hexdigest()
        path = folder / f"{name}.png"
        if path.is_file():
            os.utime(path)  # a fresh ctime: the cache cleaner ages files by it and must not take one handed out now
        else:
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=folder, suffix=".part")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        component.temp_files.add(str(path))  # cleaned up with Gradio's own outputs
        return str(path)

    def generate(z1, z2):
        """The decoded digit at (z1, z2): a 28x28 greyscale PNG (pixel = round(255 p)).

        Args:
            z1: first latent coordinate, in [-3, 3]
            z2: second latent coordinate, in [-3, 3]
        """
        digit = explorer.digit(latent_coordinate(z1, "z1"), latent_coordinate(z2, "z2"))
        return png_file(digit, "digit", api_digit)

    def grid(z1, z2, span=DEFAULT_SPAN):
        """The 10x10 grid centred on (z1, z2): column i at z1 + linspace(-span, span, 10)[i], row j at
        z2 + linspace(span, -span, 10)[j]; a 280x280 RGB PNG, the cell nearest the centre outlined in orange.

        Args:
            z1: the grid's centre, first coordinate, in [-3, 3]
            z2: the grid's centre, second coordinate, in [-3, 3]
            span: the grid's half-width in latent units, in (0, 5]
        """
        span = DEFAULT_SPAN if span is None else span  # a raw HTTP call may send null for "not given"
        picture = explorer.grid(latent_coordinate(z1, "z1"), latent_coordinate(z2, "z2"), grid_span(span))
        return png_file(picture, "grid", api_grid)

    def encode(image):
        """The posterior q(z|x) of a digit image (preprocessed like MNIST): {"mu": [m1, m2], "sigma": [s1, s2]}.

        Args:
            image: a picture of one digit (PNG, JPEG, WebP, BMP or GIF; at most 10 MB and 64 megapixels)
        """
        mu, sigma = explorer.posterior(digit_from_file(image))
        return {"mu": mu, "sigma": sigma}

    def reconstruct(image):
        """The preprocessed 28x28 input, its reconstruction (decoded mu) and {"mu", "sigma", "elbo", "bce", "kl"},
        elbo = bce + kl being the image's -ELBO in nats.

        Args:
            image: a picture of one digit (PNG, JPEG, WebP, BMP or GIF; at most 10 MB and 64 megapixels)
        """
        x = digit_from_file(image)
        recon, stats = explorer.reconstruct(x)
        # written by png_file, not returned as arrays: Gradio 6.31 rewrites a same-content output file in place
        # (truncate, then write), so under load a concurrent download of it could read 0 bytes
        return (png_file(to_uint8(x), "preprocessed", api_preprocessed),
                png_file(recon, "reconstruction", api_reconstruction), stats)

    # --- UI handlers (private events)
    empty = (None, None, "", None)

    def show_reconstruction(x: np.ndarray):
        recon, stats = explorer.reconstruct(x)
        big = lambda a: upscale_nearest(a, UI_SCALE)  # noqa: E731
        return big(to_uint8(x)), big(recon), stats_markdown(stats), stats

    def reconstruct_upload(payload):
        # unpreprocessed (preprocess=False): Gradio would open the file itself and answer a broken upload with a
        # bare "Error"; load_image says what is wrong. Gradio has already checked the file is one it received.
        if not payload or not payload.get("path"):
            return *empty, "Upload a picture of a digit, or pick an MNIST example below."
        try:
            return *show_reconstruction(preprocess_digit(load_image(payload["path"]))), ""
        except ImageInputError as e:
            return *empty, f"⚠️ {e}"

    def reconstruct_sketch(sketch):
        try:
            return *show_reconstruction(digit_from_sketch(sketch)), ""
        except ImageInputError as e:
            return *empty, f"⚠️ {e}"

    def explore_from_here(stats):
        if not stats or "mu" not in stats:
            gr.Warning("Reconstruct a digit first: draw or upload one.")
            return gr.skip(), gr.skip(), gr.skip()
        z1, z2 = (round(min(Z_LIMIT, max(-Z_LIMIT, float(m))), 3) for m in stats["mu"])
        return z1, z2, gr.Tabs(selected="explore")

    with gr.Blocks(title="VAE 2-D Latent Explorer", delete_cache=(cache_seconds, cache_seconds)) as demo:
        gr.Markdown(
            "# VAE 2-D Latent Explorer\n"
            "A variational autoencoder trained on MNIST squeezes every digit into two numbers, z = (z1, z2). "
            "**Explore** walks through that plane; **Reconstruct** finds where your own digit lands."
        )
        with gr.Tabs(selected="explore") as tabs:
            with gr.Tab("Explore", id="explore"):
                with gr.Row(equal_height=True):
                    z1 = gr.Slider(-Z_LIMIT, Z_LIMIT, value=0, step=Z_STEP, label="z1", elem_id="vae-z1")
                    z2 = gr.Slider(-Z_LIMIT, Z_LIMIT, value=0, step=Z_STEP, label="z2", elem_id="vae-z2")
                    span = gr.Slider(*SPAN_UI, value=DEFAULT_SPAN, step=Z_STEP, label="grid span (half-width)",
                                     elem_id="vae-span")
                    random_button = gr.Button("Random z ~ N(0, I)", elem_id="vae-random", scale=0, min_width=210)
                gr.HTML(
                    html_template=EXPLORE_HTML, css_template=PAGE_CSS, head=head, elem_id="vae-explore",
                    js_on_load="window.vaeExplorer.mountExplore(element, props);",
                    bundle_path=bundle_path, z1=0.0, z2=0.0, span=DEFAULT_SPAN,
                    slider_ids={"z1": "vae-z1", "z2": "vae-z2", "span": "vae-span"},
                    digit_px=28 * UI_SCALE, grid_px=28 * GRID_SIZE * 2, map_px=380,
                )
            with gr.Tab("Reconstruct", id="reconstruct"):
                with gr.Row():
                    with gr.Column(scale=1):
                        with gr.Tabs():
                            with gr.Tab("Draw"):
                                sketch = gr.Sketchpad(
                                    label="draw a digit", type="numpy", image_mode="RGBA", format="png",
                                    canvas_size=(280, 280), layers=False, elem_id="vae-sketch",
                                    brush=gr.Brush(colors=["#000000"], color_mode="fixed", default_size=12),
                                )
                            with gr.Tab("Upload"):
                                upload = gr.Image(label="a picture of a digit", type="filepath", image_mode=None,
                                                  sources=["upload", "clipboard"], format="png", elem_id="vae-upload")
                                gr.Examples(sorted(str(p) for p in (STATIC / "examples").glob("*.png")),
                                            inputs=[upload], label="MNIST test digits", examples_per_page=10)
                        status = gr.Markdown(elem_id="vae-status")
                    with gr.Column(scale=1):
                        with gr.Row():
                            preprocessed = gr.Image(label="preprocessed 28×28 input", format="png", interactive=False,
                                                    elem_id="vae-preprocessed", height=240)
                            reconstruction = gr.Image(label="reconstruction (decoded μ)", format="png",
                                                      interactive=False, elem_id="vae-reconstruction", height=240)
                        figures = gr.Markdown(elem_id="vae-figures")
                        explore_button = gr.Button("Explore from here → moves z to μ", elem_id="vae-explore-here")
                    with gr.Column(scale=1):
                        gr.HTML(html_template=POSTERIOR_HTML, css_template=PAGE_CSS, head=head,
                                elem_id="vae-posterior", bundle_path=bundle_path, map_px=360, sketch_id="vae-sketch",
                                js_on_load="window.vaeExplorer.mountPosterior(element, props);")
                posterior = gr.JSON(visible=False)
        gr.Markdown(f"<small>Weights: {source} · architecture: {arch} · "
                    f"API: /generate, /grid, /encode, /reconstruct (see “Use via API” below)</small>",
                    elem_id="vae-footer")

        # --- the Explore tab runs in the browser: these only hand values to static/explorer.js
        gr.on([z1.change, z2.change, span.change], fn=None, inputs=[z1, z2, span],
              js="(a, b, s) => { window.vaeExplorer && window.vaeExplorer.setView(a, b, s); }")
        random_button.click(fn=None, js="() => window.vaeExplorer.randomLatent()", outputs=[z1, z2])

        # --- the Reconstruct tab
        ui = dict(outputs=[preprocessed, reconstruction, figures, posterior, status], show_progress="hidden",
                  trigger_mode="always_last", api_visibility="private")
        show = dict(fn=None, inputs=[posterior],
                    js="(s) => { window.vaeExplorer && window.vaeExplorer.showPosterior(s); }")
        upload.change(reconstruct_upload, [upload], preprocess=False, **ui).then(**show)
        sketch.change(reconstruct_sketch, [sketch], **ui).then(**show)
        explore_button.click(explore_from_here, [posterior], [z1, z2, tabs], api_visibility="private",
                             show_progress="hidden")

        # --- the public API: its own hidden inputs and outputs, one event each
        with gr.Column(visible=False):
            api_z1, api_z2 = gr.Number(label="z1"), gr.Number(label="z2")
            api_span = gr.Number(label="span", value=DEFAULT_SPAN)
            api_image = without_empty_temp_file(gr.File(label="image", type="filepath"))
            api_digit = gr.Image(label="digit", format="png")
            api_grid = gr.Image(label="grid", format="png")
            api_posterior = gr.JSON(label="posterior")
            api_preprocessed = gr.Image(label="preprocessed", format="png")
            api_reconstruction = gr.Image(label="reconstruction", format="png")
            api_stats = gr.JSON(label="stats")
            api_call = gr.Button()
        api_call.click(generate, [api_z1, api_z2], api_digit, api_name="generate")
        api_call.click(grid, [api_z1, api_z2, api_span], api_grid, api_name="grid")
        api_call.click(encode, [api_image], api_posterior, api_name="encode")
        api_call.click(reconstruct, [api_image], [api_preprocessed, api_reconstruction, api_stats],
                       api_name="reconstruct")
    demo.queue(default_concurrency_limit=concurrency, max_size=queue_size)
    return demo


def create_demo() -> gr.Blocks:
    """The app as `python app.py` and the Space run it: weights resolved from the environment."""
    torch.set_num_threads(1)  # a 100-cell decode: 4.9 ms on 1 thread vs 12.9 ms on 2 (median, busy 2-core box)
    model, source = resolve_from_env(BUNDLED)
    log.info("weights: %s", source.describe(relative_to=HERE))
    latents = None
    if source.latents_file is None:
        log.warning("no latents.safetensors beside the weights in %s: the latent map has no points", source.folder)
    else:
        try:
            latents = load_latents(source.latents_file)
        except Exception as e:  # noqa: BLE001 - the map is optional; the app must start without it
            log.warning("%s cannot be read (%s): the latent map has no points", source.latents_file, e)
    return build_demo(model, latents=latents, source=source.describe(relative_to=HERE))


if not log.handlers:  # the source of the weights is always printed, with or without logging configured
    _handler = logging.StreamHandler()
    _handler.setFormatter(logging.Formatter("[%(name)s] %(levelname)s %(message)s"))
    for _name in ("vae_explorer", "vae.hub"):
        logging.getLogger(_name).addHandler(_handler)
        logging.getLogger(_name).setLevel(logging.INFO)

demo = create_demo()

if __name__ == "__main__":
    demo.launch(**LAUNCH_OPTIONS)
