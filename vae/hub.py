"""Loading a model from wherever it is: a Hugging Face Hub repo when it is reachable, else the copy in the Hub
cache, else the model folder bundled with the code. Never waits on the network for more than `timeout` seconds.
(Which repo the app serves, from its environment, is webapp/settings.py; HF_TOKEN, for a private repo, is read by
huggingface_hub itself.)

Order: a local folder -> that folder. A repo id -> ask the Hub which commit the revision points at (bounded by
the timeout), then `VAE.from_pretrained` through the Hub cache at that commit. Hub unreachable or slow -> the
copy already in the Hub cache, if any. Anything failing -> the bundled folder, with the reason logged. The source
names its revision: the Hub commit, or for a folder the hash of its weights file.

Publishing goes the other way: push_folder uploads a model folder to a repo (`python -m train.publish`, and the app's
Train live tab with a visitor's own token).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from vae.latents import LATENTS_NAME
from vae.snapshots import SNAPSHOTS_NAME
from vae.model import CONFIG_NAME, RESULTS_NAME, VAE, WEIGHTS_NAME

DEFAULT_TIMEOUT = 3.0  # seconds; the Hub answers a metadata request in well under a second when it is reachable

log = logging.getLogger("vae.hub")


@dataclass(frozen=True)
class ModelSource:
    kind: str  # "hub" (fetched now), "hub-cache" (offline, from the cache), "local" (a folder given), "bundled"
    location: str  # repo id or folder
    revision: str  # Hub sources: the commit loaded; folders: "sha256:" and the start of the weights file's hash
    folder: Path  # the folder holding config.json, model.safetensors (and latents.safetensors, when present)
    note: str = ""  # why this source was chosen when it is a fallback

    def describe(self, relative_to: str | os.PathLike | None = None) -> str:
        """One line for logs and the footer; folders under `relative_to` are shown relative to it."""
        location = self.location
        if relative_to is not None and self.kind in ("local", "bundled"):
            try:
                location = str(Path(self.location).resolve().relative_to(Path(relative_to).resolve())) + "/"
            except ValueError:
                pass
        if self.kind == "hub":
            text = f"Hugging Face Hub: {self.location} @ {self.revision}"
        elif self.kind == "hub-cache":
            text = f"Hugging Face Hub cache (offline): {self.location} @ {self.revision}"
        elif self.kind == "local":
            text = f"local folder: {location}, weights {self.revision}"
        else:
            text = f"bundled model: {location}, weights {self.revision}"
        return f"{text} ({self.note})" if self.note else text


def weights_digest(folder: Path) -> str:
    """'sha256:' + 12 hex digits of the folder's model.safetensors: which weights a folder held, for the log."""
    digest = hashlib.sha256()
    with open(folder / WEIGHTS_NAME, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()[:12]


def client_timeout(timeout: float) -> float:
    """The HTTP client's own timeout inside a `with_timeout(fn, timeout)`: a second longer, only to end the daemon
    thread. Were it equal, the client's timer and ours would race at the bound and a stalled Hub would be reported
    either as "did not answer within ..." or as the client's ReadTimeout, depending on which fired first."""
    return timeout + 1.0


def with_timeout(fn, timeout: float):
    """Run fn() in a daemon thread and wait at most `timeout` s: a hard bound even when DNS or a socket hangs
    (the HTTP client's own timeouts do not cover name resolution). Returns fn's result or raises its error."""
    box: dict = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the caller
            box["error"] = e

    thread = threading.Thread(target=target, name="vae-hub-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(f"no answer from the Hub within {timeout:g} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


def _hub_commit(repo_id: str, revision: str | None, timeout: float) -> str:
    from huggingface_hub import HfApi

    info = with_timeout(lambda: HfApi().model_info(repo_id, revision=revision, timeout=client_timeout(timeout)),
                         timeout)
    return info.sha


def _download_extras(repo_id: str, commit: str, local_files_only: bool) -> None:
    """Fetch latents.safetensors, the training replay (snapshots.safetensors) and the trainer's test figures
    (results.json) beside the weights in the cache; a repo without them just has no latent map, no Training tab
    replay, no test -ELBO in the footer."""
    from huggingface_hub import hf_hub_download

    optional = ((LATENTS_NAME, "the latent map will be empty"), (SNAPSHOTS_NAME, "no training replay"),
                (RESULTS_NAME, "no test -ELBO shown"))
    for name, loss in optional:
        try:
            hf_hub_download(repo_id, name, revision=commit, local_files_only=local_files_only)
        except Exception as e:  # noqa: BLE001 - optional file; any failure only loses what it shows
            log.warning("no %s in %s@%s (%s): %s", name, repo_id, commit, e, loss)


def _from_cache(repo_id: str, revision: str | None) -> tuple[VAE, ModelSource]:
    from huggingface_hub import hf_hub_download

    model = VAE.from_pretrained(repo_id, revision=revision, local_files_only=True)
    config = Path(hf_hub_download(repo_id, CONFIG_NAME, revision=revision, local_files_only=True))
    _download_extras(repo_id, revision, local_files_only=True)
    folder = config.parent  # .../snapshots/<commit>
    return model, ModelSource("hub-cache", repo_id, folder.name, folder)


def bundled_model(bundled: str | os.PathLike, note: str = "") -> tuple[VAE, ModelSource]:
    """The model shipped with the code; `note` says why it is used instead of the one configured."""
    bundled = Path(bundled)
    return VAE.from_pretrained(bundled), ModelSource("bundled", str(bundled), weights_digest(bundled),
                                                     bundled.resolve(), note)


def first_line(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}".split("\n")[0][:300]


def resolve_model(
    repo: str | None = None,
    revision: str | None = None,
    *,
    bundled: str | os.PathLike,
    timeout: float = DEFAULT_TIMEOUT,
) -> tuple[VAE, ModelSource]:
    """-> (model in eval mode, where it came from). `repo`: a Hub repo id or a local folder; None: the bundled one.
    A Hub repo that cannot be fetched (nor found in the Hub cache) falls back to the bundled model; a local folder
    that cannot be loaded raises (WeightsError, OSError), for the caller to decide."""
    if not repo:
        return bundled_model(bundled)
    if Path(repo).expanduser().is_dir():
        folder = Path(repo).expanduser().resolve()
        model = VAE.from_pretrained(folder)
        return model, ModelSource("local", str(folder), weights_digest(folder), folder)
    offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
    try:
        if offline:
            raise ConnectionError("HF_HUB_OFFLINE is set")
        commit = _hub_commit(repo, revision, timeout)
        model = VAE.from_pretrained(repo, revision=commit)
        _download_extras(repo, commit, local_files_only=False)
        from huggingface_hub import hf_hub_download

        folder = Path(hf_hub_download(repo, CONFIG_NAME, revision=commit)).parent
        return model, ModelSource("hub", repo, commit, folder)
    except Exception as e:  # noqa: BLE001 - any Hub failure falls back, with the reason shown
        reason = first_line(e)
        log.warning("could not fetch %s@%s from the Hub (%s); trying the Hub cache", repo, revision or "main", reason)
    try:
        model, source = _from_cache(repo, revision)
        return model, ModelSource(source.kind, source.location, source.revision, source.folder,
                                  f"Hub unreachable: {reason}")
    except Exception as e:  # noqa: BLE001
        log.warning("%s@%s is not in the Hub cache either (%s); using the bundled model", repo, revision or "main",
                    type(e).__name__)
    return bundled_model(bundled, f"{repo} unavailable: {reason}")


def card_data(dataset, **fields):
    """The Hub metadata of every model card of this project (the trainer's, and a model published from the page) for
    a model trained on `dataset` (vae.datasets.DataSet), with `fields` (ModelCardData's) added."""
    from huggingface_hub import ModelCardData

    return ModelCardData(license="mit", library_name="pytorch", pipeline_tag="unconditional-image-generation",
                         tags=["vae", "variational-autoencoder", dataset.name, "latent-space",
                               "pytorch_model_hub_mixin"], datasets=[dataset.hub_id], **fields)


def push_folder(folder: str | os.PathLike, repo_id: str, *, private: bool = False, revision: str | None = None,
                commit_message: str | None = None, ignore_patterns: list[str] | None = None, api=None) -> str:
    """Create the model repo if needed (and the branch `revision`), upload the folder; returns the commit id.
    `api`: an HfApi holding the token to write with (None: huggingface_hub's own login, HF_TOKEN or the cached one;
    the app passes a visitor's token explicitly, webapp/publish.py)."""
    from huggingface_hub import HfApi

    api = api or HfApi()
    api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    if revision and revision != "main":
        api.create_branch(repo_id, branch=revision, repo_type="model", exist_ok=True)
    info = api.upload_folder(
        repo_id=repo_id, repo_type="model", folder_path=str(folder), revision=revision,
        commit_message=commit_message or f"Upload VAE from {Path(folder).name}",
        ignore_patterns=list(ignore_patterns or []))  # a copy: upload_folder appends its defaults to the list
    return info.oid
