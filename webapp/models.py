"""The models the app offers, per visitor: the bundled ones by name ("default", "reference", "fashion"), any 2-D VAE
that this project's trainer wrote to a public Hub repo ("user/repo" or "user/repo@revision"), loaded on demand, and
the models visitors trained in their browser and sent (/upload_model: "upload-<16 hex digits>", webapp/uploads.py).

Bounded for a public Space: at most MAX_LOADED Hub models and MAX_UPLOADED uploaded ones in memory (the least
recently used goes first; an uploaded model is not listed by /models, only its sender knows its name), their
page and replay bundles on disk under BUNDLE_CAP_BYTES, one download when several visitors ask for the same model at once.
A request is refused before anything is downloaded when it cannot fit (webapp/inputs-style messages: what is wrong
and what would work): not a Hub model id (server paths never are), a repo without our files, weights over
MAX_WEIGHTS_BYTES, a config that is not ours, latent_dim != 2, a decoder too big for the browser at drag speed.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from vae.config import VAEConfig
from vae.explorer import Explorer
from vae.hub import DEFAULT_TIMEOUT
from vae.latents import LATENTS_NAME, load_latents
from vae.model import RESULTS_NAME, VAE
from webapp.bundle import write_page_bundle
from webapp.hub_fetch import ModelRequestError, fetch_hub_model
from webapp.replay import MAX_SNAPSHOT_FILE_BYTES, Replay, replay_for
from webapp.uploads import UPLOAD_NAME

log = logging.getLogger("vae_explorer")

MAX_LOADED = 4  # Hub models kept in memory at once (a 384x2 resmlp is 7 MB of weights, ~30 MB with its Explorer)
MAX_UPLOADED = 8  # models visitors trained in their browser and sent (webapp/uploads.py), kept at once
BUNDLE_CAP_BYTES = 256 * 2**20  # page bundles on disk, all models together
MAX_WEIGHTS_BYTES = 50 * 2**20
# The browser decodes 101 points per frame while a slider is dragged. A resmlp 512x2 decoder (1.45 M multiply-adds
# per point) still painted 30 updates/s on a busy 2-core machine (docs/speed.md); beyond that a drag stutters.
MAX_DECODER_MACS = 1_500_000
MAX_SPEC_CHARS = 200
# a Hub model id: owner/name (letters, digits, -, _, .), optionally @revision (a branch, tag or commit)
NAME = re.compile(r"[A-Za-z][\w-]{0,31}")  # a bundled model's name
HUB_ID = re.compile(r"(?P<repo>[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95})(?:@(?P<revision>[\w.-][\w./-]{0,127}))?")


def decoder_macs(config: VAEConfig) -> int:
    """Multiply-adds of one decoded point: the browser's cost per grid cell, summed over the decoder's Linear layers
    as `config` builds them (on the meta device: no memory, however large the config asks)."""
    with torch.device("meta"):
        decoder = VAE(config).decoder
    return sum(m.in_features * m.out_features for m in decoder.modules() if isinstance(m, nn.Linear))


def check_browser_fit(config: VAEConfig) -> None:
    """Raise ModelRequestError for a model the explorer cannot show: not 2-D, or a decoder too slow to drag."""
    if config.latent_dim != 2:
        raise ModelRequestError(f"This model has a {config.latent_dim}-D latent space; the explorer walks 2-D ones "
                                "(train with --latent-dim 2).")
    if config.image_size != 28:
        raise ModelRequestError(f"This model makes {config.image_size}x{config.image_size} images; the explorer "
                                "shows MNIST's 28x28.")
    macs = decoder_macs(config)
    if macs > MAX_DECODER_MACS:
        raise ModelRequestError(f"This model's decoder costs {macs / 1e6:.2f} M multiply-adds per point; the browser "
                                f"decodes up to {MAX_DECODER_MACS / 1e6:.1f} M at drag speed (resmlp up to hidden "
                                "512 with 2 blocks, or 384 with 4).")


def parse_model_spec(spec) -> tuple[str, str | None]:
    """A visitor's model choice -> (name or repo, revision or None). Names of bundled models pass as they are."""
    if spec is None or (isinstance(spec, str) and not spec.strip()):
        return "default", None
    if not isinstance(spec, str) or len(spec) > MAX_SPEC_CHARS:
        raise ModelRequestError(f"model must be a name from /models or a Hub id such as your-name/vae-2d-mnist "
                                f"(at most {MAX_SPEC_CHARS} characters).")
    spec = spec.strip()
    if NAME.fullmatch(spec):
        return spec, None
    match = HUB_ID.fullmatch(spec)
    if match is None or ".." in spec:  # not echoed: it may hold markup
        raise ModelRequestError("That is not a model this app can open: give a name from /models (as the "
                                "model picker lists them) or a Hub model id, your-name/repo or your-name/repo@revision. Files on "
                                "the server are never loaded.")
    return match["repo"], match["revision"]


def latents_in(folder: Path) -> dict | None:
    """The latent map written beside a model's weights, or None (with a warning in the log) when it is missing or
    unreadable: the map is optional, and a model is served without its points."""
    path = Path(folder) / LATENTS_NAME
    if not path.is_file():
        log.warning("no %s beside the weights in %s: the latent map has no points", LATENTS_NAME, folder)
        return None
    try:
        return load_latents(path)
    except Exception as e:  # noqa: BLE001 - any unreadable file only costs the map its points
        log.warning("%s cannot be read (%s): the latent map has no points", path, e)
        return None


def read_test_elbo(results_file: Path) -> float | None:
    """The test −ELBO in the trainer's results.json, or None when there is none."""
    try:
        return float(json.loads(results_file.read_text())["elbo"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


@dataclass(frozen=True)
class ModelEntry:
    """A model and what goes with it, before ModelStore serves it: a bundled one (by name) or a Hub model fetched."""

    model: VAE
    source: str  # where its weights came from, for the footer
    latents: dict | None = None  # {'mu', 'labels'} for the latent map (None: no points)
    test_elbo: float | None = None
    folder: Path | None = None  # its folder, whose snapshots.safetensors (if any) the Training tab replays

    @classmethod
    def from_folder(cls, folder: Path, model: VAE | None = None, source: str | None = None) -> ModelEntry:
        """A model folder -> its entry: the weights (unless `model` is given), the latent map and test −ELBO in it."""
        model = model if model is not None else VAE.from_pretrained(folder)
        return cls(model, source or f"bundled: {folder.name}/", latents_in(folder),
                   read_test_elbo(folder / RESULTS_NAME), folder)


@dataclass
class ServedModel:
    """One model as the app serves it."""

    name: str  # "default", "reference", or "user/repo@commit"
    model: VAE
    source: str  # where its weights came from, for the footer
    bundle: Path  # the page's weight bundle
    test_elbo: float | None = None
    replay: Replay | None = None  # the training replay (webapp/replay.py), read when first asked for
    explorer: Explorer = field(init=False)

    def __post_init__(self):
        self.explorer = Explorer(self.model)
        if self.replay is None:  # no folder: a model without a replay (the tab says how to make one)
            self.replay = replay_for(self.model, None, self.bundle.parent)

    def describe(self) -> dict:
        cfg = self.model.config
        return {"name": self.name, "arch": cfg.arch, "dataset": cfg.dataset, "source": self.source,
                "test_elbo": self.test_elbo, "snapshots": self.replay.count}

    def explorer_at(self, snapshot: int | None) -> Explorer:
        """The final model's views (snapshot None), or those of training snapshot `snapshot` (ReplayUnavailable)."""
        if snapshot is None:
            return self.explorer
        return self.replay.explorer(snapshot)


class ModelStore:
    """`bundled`: name -> ModelEntry, always in memory; Hub models on demand, at most `max_loaded` at once."""

    def __init__(self, bundled: dict[str, ModelEntry], bundle_dir: Path, *, timeout: float = DEFAULT_TIMEOUT,
                 max_loaded: int = MAX_LOADED, bundle_cap_bytes: int = BUNDLE_CAP_BYTES,
                 max_weights_bytes: int = MAX_WEIGHTS_BYTES, max_uploaded: int = MAX_UPLOADED):
        self.bundle_dir = Path(bundle_dir)
        self.timeout, self.max_loaded, self.max_uploaded = timeout, max_loaded, max_uploaded
        self.bundle_cap_bytes, self.max_weights_bytes = bundle_cap_bytes, max_weights_bytes
        self.bundled = {name: self._serve(name, entry) for name, entry in bundled.items()}
        self.loaded: OrderedDict[str, ServedModel] = OrderedDict()  # Hub models, least recently used first
        self.uploaded: OrderedDict[str, ServedModel] = OrderedDict()  # visitors' page-trained models, likewise
        self.lock = threading.Lock()
        self.fetching: dict[str, threading.Lock] = {}

    def _serve(self, name: str, entry: ModelEntry) -> ServedModel:
        """An entry as served: its page bundle written, its replay (if any) found."""
        bundle = write_page_bundle(entry.model, entry.latents, self.bundle_dir)
        return ServedModel(name, entry.model, entry.source, bundle, entry.test_elbo,
                           replay_for(entry.model, entry.folder, self.bundle_dir))

    def catalogue(self) -> list[dict]:
        """The models on offer now: the bundled ones, then the Hub models in memory."""
        with self.lock:
            return [m.describe() for m in (*self.bundled.values(), *self.loaded.values())]

    def get(self, spec) -> ServedModel:
        """A visitor's choice -> the model, loading it from the Hub when needed; ModelRequestError says why not."""
        repo, revision = parse_model_spec(spec)
        if revision is None and repo in self.bundled:
            return self.bundled[repo]
        if revision is None and UPLOAD_NAME.fullmatch(repo):
            with self.lock:
                if served := self._recent(repo, self.uploaded):
                    return served
            raise ModelRequestError(f"The model {repo} sent from a browser is no longer on the server (it keeps the "
                                    f"last {self.max_uploaded}): send it again with /upload_model.")
        if "/" not in repo:
            raise ModelRequestError(f"No bundled model named {repo!r}: choose one of {', '.join(self.bundled)}, or "
                                    "give a Hub model id such as your-name/vae-2d-mnist.")
        key = f"{repo}@{revision or 'main'}"
        with self.lock:
            if revision is not None and (served := self._recent(f"{repo}@{revision}")):  # a commit already loaded
                return served
            fetching = self.fetching.setdefault(key, threading.Lock())
        with fetching:  # one download per model, however many visitors ask at once
            try:
                hub = fetch_hub_model(repo, revision, timeout=self.timeout, max_weights_bytes=self.max_weights_bytes,
                                      check_config=check_browser_fit, max_snapshots_bytes=MAX_SNAPSHOT_FILE_BYTES)
            finally:  # the lock is only for callers already waiting on it: the table of locks does not grow
                with self.lock:
                    self.fetching.pop(key, None)
            return self._keep(self.loaded, self.max_loaded, f"{repo}@{hub.commit}", lambda: ModelEntry.from_folder(
                hub.folder, hub.model, f"Hugging Face Hub: {repo} @ {hub.commit}"))

    def _recent(self, name: str, table: OrderedDict | None = None) -> ServedModel | None:
        """The model `name` if `table` (default: the Hub models, "user/repo@commit") holds it, now the most recently
        used (hold self.lock)."""
        table = self.loaded if table is None else table
        if name not in table:
            return None
        table.move_to_end(name)
        return table[name]

    def add_upload(self, name: str, entry: ModelEntry) -> ServedModel:
        """A model a visitor sent (checked by webapp/uploads.py), served under `name` until MAX_UPLOADED newer
        ones push it out; the same name again is the model already served."""
        return self._keep(self.uploaded, self.max_uploaded, name, lambda: entry)

    def _keep(self, table: OrderedDict, cap: int, name: str, entry) -> ServedModel:
        """The model `name` in `table` (least recently used first), else `entry()` served and added, the oldest
        beyond `cap` dropped and the bundle folder trimmed."""
        with self.lock:
            if served := self._recent(name, table):
                return served
        served = self._serve(name, entry())
        with self.lock:
            table[name] = served
            while len(table) > cap:
                table.popitem(last=False)
            self._trim_bundles()
        return served

    def _trim_bundles(self) -> None:
        """Delete the oldest page and replay bundles of models no longer in memory while the folder is over its cap."""
        models = (*self.bundled.values(), *self.loaded.values(), *self.uploaded.values())
        in_use = {m.bundle for m in models} | {m.replay.bundle for m in models if m.replay.bundle}
        bundles = sorted((*self.bundle_dir.glob("page-*.safetensors"), *self.bundle_dir.glob("replay-*.safetensors")),
                         key=lambda p: p.stat().st_mtime)
        total = sum(p.stat().st_size for p in bundles)
        for path in bundles:
            if total <= self.bundle_cap_bytes:
                break
            if path not in in_use:
                total -= path.stat().st_size
                path.unlink(missing_ok=True)

