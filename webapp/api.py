"""The app's public API: endpoints for gradio_client and any HTTP client, registered with gr.api (typed arguments,
no hidden components). Each takes an optional `model`: a name from /models or a Hub model id (webapp/models.py).
Images go back as PNG files (grey level = round(255 p)), /interpolate's frames as a lossless animated GIF; every bad
argument gets a message that says what to send instead (webapp/inputs.py)."""

import os  # no `from __future__ import annotations`: gr.api reads these type hints at run time

from gradio.data_classes import FileData

from vae.explorer import Explorer
from vae.imaging import DEFAULT_SPAN, to_uint8
from vae.posterior_map import posterior_heat_map
from webapp.hub_fetch import ModelRequestError
from webapp.likelihood import likelihood_figures
from webapp.inputs import (bad_input, digit_from_file, grid_span, interpolation_steps, latent_coordinate,
                           snapshot_index, uploaded_path)
from webapp.models import ModelEntry, ModelStore, check_browser_fit
from webapp.png_cache import cached_file, gif_file, png_file
from webapp.replay import ReplayUnavailable
from webapp.uploads import check_upload, read_upload_latents


class ExplorerAPI:
    """The endpoints over the app's models; `cache` is Gradio's cache folder: uploads arrive there, PNGs are
    written there."""

    def __init__(self, store: ModelStore, cache: str | os.PathLike):
        self.store = store
        self.cache = cache

    def endpoints(self) -> list:
        return [self.generate, self.grid, self.interpolate, self.encode, self.reconstruct, self.likelihood,
                self.models, self.replay, self.upload_model]

    def explorer(self, model, snapshot=None) -> Explorer:
        """The model's views; with a snapshot index, those of that training snapshot's decoder."""
        try:
            return self.store.get(model).explorer_at(snapshot)
        except (ModelRequestError, ReplayUnavailable) as e:
            raise bad_input(str(e)) from None

    def models(self) -> list[dict]:
        """The models on offer: [{"name", "arch", "dataset", "source", "test_elbo", "snapshots"}], "default",
        "reference" and "fashion" bundled, then the Hub models loaded now; "dataset" is what the model was trained on
        ("mnist" or "fashion-mnist": what it draws, and how /encode and /reconstruct prepare an image); "snapshots"
        counts the training snapshots that /generate, /grid and /replay can show (0: none). Any public Hub model
        written by this project's trainer can be asked for by id."""
        return self.store.catalogue()

    def generate(self, z1: float, z2: float, model: str = "default", snapshot: int | None = None) -> FileData:
        """The decoded digit at (z1, z2): a 28x28 greyscale PNG (pixel = round(255 p)).

        Args:
            z1: first latent coordinate, in [-3, 3]
            z2: second latent coordinate, in [-3, 3]
            model: a name from /models, or a Hub model id "user/repo" or "user/repo@revision"
            snapshot: decode with this training snapshot's decoder (0 = before training, -1 = the last; /models
                counts them); left out: the final model
        """
        z = latent_coordinate(z1, "z1"), latent_coordinate(z2, "z2")
        digit = self.explorer(model, snapshot_index(snapshot)).digit(*z)
        return png_file(digit, "digit", self.cache)

    def grid(self, z1: float, z2: float, span: float = DEFAULT_SPAN, model: str = "default",
             snapshot: int | None = None) -> FileData:
        """The 10x10 grid centred on (z1, z2): column i at z1 + linspace(-span, span, 10)[i], row j at
        z2 + linspace(span, -span, 10)[j]; a 280x280 RGB PNG, the cell nearest the centre outlined in orange.

        Args:
            z1: the grid's centre, first coordinate, in [-3, 3]
            z2: the grid's centre, second coordinate, in [-3, 3]
            span: the grid's half-width in latent units, in (0, 5]
            model: a name from /models, or a Hub model id "user/repo" or "user/repo@revision"
            snapshot: decode with this training snapshot's decoder (0 = before training, -1 = the last; /models
                counts them); left out: the final model
        """
        z = latent_coordinate(z1, "z1"), latent_coordinate(z2, "z2")
        picture = self.explorer(model, snapshot_index(snapshot)).grid(*z, grid_span(span))
        return png_file(picture, "grid", self.cache)

    def replay(self, model: str = "default", z1: float = 0.0, z2: float = 0.0, span: float = DEFAULT_SPAN) -> FileData:
        """The training replay as an animated GIF: one frame per snapshot, the latent map of 2,000 test digits
        (coloured by class) beside the 10x10 grid around (z1, z2) decoded by that snapshot, step and test -ELBO below.

        Args:
            model: a name from /models (with "snapshots" > 0), or a Hub model id "user/repo" or "user/repo@revision"
            z1: the grid's centre, first coordinate, in [-3, 3]
            z2: the grid's centre, second coordinate, in [-3, 3]
            span: the grid's half-width in latent units, in (0, 5]
        """
        z = latent_coordinate(z1, "z1"), latent_coordinate(z2, "z2")
        span = grid_span(span)
        try:
            served = self.store.get(model)
            data = served.replay.gif(*z, span)
        except (ModelRequestError, ReplayUnavailable) as e:
            raise bad_input(str(e)) from None
        return cached_file(data, "replay.gif", "image/gif", self.cache)

    def interpolate(self, z1_a: float, z2_a: float, z1_b: float, z2_b: float, steps: int = 16,
                    model: str = "default") -> FileData:
        """The walk from z_a to z_b: an animated GIF (28x28, 60 ms a frame, looping) of the digits decoded at
        z_a + t (z_b - z_a), t = linspace(0, 1, steps), with /generate's grey levels, losslessly (a 256-grey palette):
        the first frame is /generate(z1_a, z2_a) and the last /generate(z1_b, z2_b), up to 1 grey level at rare pixels.

        Args:
            z1_a: the start's first latent coordinate, in [-3, 3]
            z2_a: the start's second latent coordinate, in [-3, 3]
            z1_b: the end's first latent coordinate, in [-3, 3]
            z2_b: the end's second latent coordinate, in [-3, 3]
            steps: the number of frames, both ends included: a whole number from 2 to 120
            model: a name from /models, or a Hub model id "user/repo" or "user/repo@revision"
        """
        z_a = latent_coordinate(z1_a, "z1_a"), latent_coordinate(z2_a, "z2_a")
        z_b = latent_coordinate(z1_b, "z1_b"), latent_coordinate(z2_b, "z2_b")
        steps = interpolation_steps(steps)
        frames = self.explorer(model).interpolation(*z_a, *z_b, steps)  # arguments checked before a Hub model loads
        return gif_file(frames, "interpolation", self.cache)

    def encode(self, image: FileData, model: str = "default") -> dict:
        """The posterior q(z|x) of an image, prepared as the model's data set was (a digit as MNIST, a product photo
        on a light background as Fashion-MNIST): {"mu": [m1, m2], "sigma": [s1, s2]}.

        Args:
            image: a picture of one digit, or of one piece of clothing for a Fashion-MNIST model (PNG, JPEG, WebP, BMP
                or GIF; at most 10 MB and 64 megapixels)
            model: a name from /models, or a Hub model id "user/repo" or "user/repo@revision"
        """
        explorer = self.explorer(model)
        mu, sigma = explorer.posterior(digit_from_file(image, self.cache, explorer.model.config.dataset))
        return {"mu": mu, "sigma": sigma}

    def reconstruct(self, image: FileData, model: str = "default") -> tuple[FileData, FileData, dict]:
        """The preprocessed 28x28 input, its reconstruction (decoded mu) and {"mu", "sigma", "elbo", "bce", "kl"},
        elbo = bce + kl being the image's -ELBO in nats.

        Args:
            image: a picture of one digit, or of one piece of clothing for a Fashion-MNIST model (PNG, JPEG, WebP, BMP
                or GIF; at most 10 MB and 64 megapixels)
            model: a name from /models, or a Hub model id "user/repo" or "user/repo@revision"
        """
        explorer = self.explorer(model)
        x = digit_from_file(image, self.cache, explorer.model.config.dataset)
        recon, stats = explorer.reconstruct(x)
        return png_file(to_uint8(x), "preprocessed", self.cache), png_file(recon, "reconstruction", self.cache), stats

    def likelihood(self, image: FileData, model: str = "default") -> tuple[FileData, dict]:
        """The truth beside the bounds for one image, prepared as /reconstruct prepares it: a heat map of the true
        posterior p(z|x) with q(z|x)'s 1σ and 2σ ellipses and mean (orange) and the posterior's modes (blue crosses),
        as a 280x280 PNG, and {"exact": -log p(x) by quadrature on the 2-D plane, "elbo": -ELBO of q(z|x) (no sampling
        noise), "iwae": the IWAE-1000 bound, "approximation_gap": log p(x) - the best Gaussian's ELBO,
        "amortization_gap": that ELBO - q(z|x)'s, "posterior": {"mean", "cov", "modes": [{"z", "share"}]},
        "q": {"mu", "sigma"}, "best_gaussian": {"mean", "cov"}, "quadrature": {"points", "error"}, "window":
        [z1 low, z1 high, z2 low, z2 high] of the heat map}; figures in nats, -ELBO >= IWAE >= exact up to the
        IWAE's sampling noise.

        Args:
            image: a picture of one digit, or of one piece of clothing for a Fashion-MNIST model (PNG, JPEG, WebP, BMP
                or GIF; at most 10 MB and 64 megapixels)
            model: a name from /models, or a Hub model id "user/repo" or "user/repo@revision"
        """
        explorer = self.explorer(model)
        account = explorer.likelihood(digit_from_file(image, self.cache, explorer.model.config.dataset))
        picture, window = posterior_heat_map(account.posterior, account.q_mean, account.q_sigma)
        return png_file(picture, "posterior", self.cache), likelihood_figures(account, window)

    def upload_model(self, weights: FileData, config: str = "", latents: FileData | None = None) -> dict:
        """Send a 2-D VAE (one trained in the page, or written by VAE.save_pretrained) to explore it: checked as a Hub
        model is (safetensors only, at most 10 MB, a config of this project's VAE with latent_dim 2, exactly the
        tensors and shapes that config implies, finite values), then served under the name returned, which every
        endpoint's `model` takes: {"model": "upload-<16 hex digits>", "arch", "dataset"}. The server keeps the last
        8 models sent; /models does not list them.

        Args:
            weights: model.safetensors (with gradio_client: handle_file("model.safetensors"))
            config: the text of config.json; empty: the weights' safetensors metadata "config" holds it
            latents: optional latents.safetensors (mu (N, 2) float32, sigma, labels uint8) for the latent map
        """
        path = uploaded_path(weights, self.cache, "model", "model.safetensors",
                             "send model.safetensors and config.json's text")
        latents_path = uploaded_path(latents, self.cache, "latent map", "latents.safetensors") if latents else None
        try:
            name, model = check_upload(path, config, check_browser_fit)
            means = read_upload_latents(latents_path, model)
        except ModelRequestError as e:
            raise bad_input(str(e)) from None
        self.store.add_upload(name, ModelEntry(model, "sent from a browser", means))
        return {"model": name, "arch": model.config.arch, "dataset": model.config.dataset}
