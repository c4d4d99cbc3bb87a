"""Where the app's weights come from: a Hugging Face Hub repo when one is configured and reachable, else the
model folder bundled with the code. Never waits on the network for more than `timeout` seconds.

    VAE_MODEL_REPO      a Hub model repo id ("user/vae-2d-mnist") or a local model folder; unset: the bundled model
    VAE_MODEL_REVISION  branch, tag or commit of that repo (default: main)
    VAE_HUB_TIMEOUT     seconds to wait for the Hub before falling back (default 3)
    HF_TOKEN            for a private repo (read by huggingface_hub itself)

Order: a local folder -> that folder. A repo id -> ask the Hub which commit the revision points at (bounded by
the timeout), then `VAE.from_pretrained` through the Hub cache at that commit. Hub unreachable or slow -> the
copy already in the Hub cache, if any. Anything failing -> the bundled folder, with the reason logged. The source
names its revision: the Hub commit, or for a folder the hash of its weights file.
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
from vae.model import CONFIG_NAME, VAE, WEIGHTS_NAME

REPO_ENV = "VAE_MODEL_REPO"
REVISION_ENV = "VAE_MODEL_REVISION"
TIMEOUT_ENV = "VAE_HUB_TIMEOUT"
DEFAULT_TIMEOUT = 3.0  # seconds; the Hub answers a metadata request in well under a second when it is reachable

log = logging.getLogger("vae.hub")


@dataclass(frozen=True)
class ModelSource:
    kind: str  # "hub" (fetched now), "hub-cache" (offline, from the cache), "local" (a folder given), "bundled"
    location: str  # repo id or folder
    revision: str  # Hub sources: the commit loaded; folders: "sha256:" and the start of the weights file's hash
    folder: Path  # the folder holding config.json, model.safetensors (and latents.safetensors, when present)
    note: str = ""  # why this source was chosen when it is a fallback

    @property
    def latents_file(self) -> Path | None:
        path = self.folder / LATENTS_NAME
        return path if path.is_file() else None

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
    """The HTTP client's own timeout inside a `_with_timeout(fn, timeout)`: a second longer, only to end the daemon
    thread. Were it equal, the client's timer and ours would race at the bound and a stalled Hub would be reported
    either as "did not answer within ..." or as the client's ReadTimeout, depending on which fired first."""
    return timeout + 1.0


def _with_timeout(fn, timeout: float):
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

    info = _with_timeout(lambda: HfApi().model_info(repo_id, revision=revision, timeout=client_timeout(timeout)),
                         timeout)
    return info.sha


def _download_extras(repo_id: str, commit: str, local_files_only: bool) -> None:
    """Fetch latents.safetensors (and the training replay, snapshots.safetensors) beside the weights in the cache; a
    repo without them just has no latent map (no Training tab replay)."""
    from huggingface_hub import hf_hub_download

    for name, loss in ((LATENTS_NAME, "the latent map will be empty"), (SNAPSHOTS_NAME, "no training replay")):
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


def timeout_from_env() -> float:
    """VAE_HUB_TIMEOUT in seconds (default DEFAULT_TIMEOUT)."""
    try:
        return float(os.environ.get(TIMEOUT_ENV) or DEFAULT_TIMEOUT)
    except ValueError:
        log.warning("%s=%r is not a number of seconds; using %g", TIMEOUT_ENV, os.environ.get(TIMEOUT_ENV),
                    DEFAULT_TIMEOUT)
        return DEFAULT_TIMEOUT


def resolve_from_env(bundled: str | os.PathLike) -> tuple[VAE, ModelSource]:
    """resolve_model with VAE_MODEL_REPO, VAE_MODEL_REVISION and VAE_HUB_TIMEOUT from the environment. For the
    app, which must start: a local folder that cannot be loaded (truncated or corrupt weights, a config.json that
    does not match, a missing file) falls back to the bundled model with the reason in the log and the footer."""
    timeout = timeout_from_env()
    repo = os.environ.get(REPO_ENV) or None
    try:
        return resolve_model(repo, os.environ.get(REVISION_ENV) or None, bundled=bundled, timeout=timeout)
    except (ValueError, OSError) as e:  # WeightsError is a ValueError; the bundled folder itself is not retried
        if not repo:
            raise
        log.warning("cannot load the model in %s (%s); using the bundled model", repo, first_line(e))
        return bundled_model(bundled, f"{repo} unusable: {first_line(e)}")


# ---------------------------------------------------------------------------------------------------------
# a model someone else chose (a visitor of a public app): no token, only the files a model needs, checked first

RESULTS_NAME = "results.json"  # the trainer's final test figures, shown beside the model when present


class ModelRequestError(ValueError):
    """A requested Hub model that cannot be served; the message says what is wrong and what would work."""


@dataclass(frozen=True)
class HubModel:
    model: VAE
    repo: str
    commit: str
    folder: Path  # the cache snapshot holding config.json, model.safetensors (latents / results when present)


def fetch_hub_model(repo: str, revision: str | None, *, timeout: float = DEFAULT_TIMEOUT,
                    max_weights_bytes: int, check_config=None, cache_dir: str | os.PathLike | None = None,
                    max_snapshots_bytes: int = 0) -> HubModel:
    """Download and load a model written by this project's trainer from a public Hub repo, without any token (the
    app's own HF_TOKEN may read its owner's private repos; a visitor's choice must not). Before the weights are
    downloaded: the repo and revision must exist, hold config.json and model.safetensors, the weights must be at
    most `max_weights_bytes`, and the config must be ours and pass `check_config(config)` (which raises
    ModelRequestError). Each network step waits at most `timeout` seconds. Only config.json, model.safetensors and,
    when present, latents.safetensors, results.json and (when at most `max_snapshots_bytes`) the training replay
    snapshots.safetensors are fetched."""
    import json

    from huggingface_hub import HfApi, hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

    from vae.config import VAEConfig

    at = f"{repo}@{revision}" if revision else repo
    try:
        info = _with_timeout(lambda: HfApi().model_info(repo, revision=revision, files_metadata=True, token=False,
                                                        timeout=client_timeout(timeout)), timeout)
    except RevisionNotFoundError:
        raise ModelRequestError(f"{repo} has no revision {revision!r}: give a branch, a tag or a commit of it "
                                "(or leave the @revision out for main).") from None
    except RepositoryNotFoundError:
        raise ModelRequestError(f"No public model repo {repo} on the Hub (private repos cannot be opened here): "
                                "check the name, e.g. your-name/vae-2d-mnist.") from None
    except TimeoutError:
        raise ModelRequestError(f"The Hub did not answer within {timeout:g} s for {at}; try again later.") from None
    except Exception as e:  # noqa: BLE001 - offline, DNS, HTTP errors: the visitor gets one line
        raise ModelRequestError(f"Could not reach the Hub for {at} ({first_line(e)}); try again later.") from None
    sizes = {s.rfilename: s.size for s in info.siblings or []}
    missing = [name for name in (CONFIG_NAME, WEIGHTS_NAME) if name not in sizes]
    if missing:
        pickles = sorted(n for n in sizes if n.endswith((".bin", ".pt", ".pth", ".ckpt", ".pkl")))
        hint = (f" It holds {', '.join(pickles)}: pickled weights are never loaded here; save them as safetensors."
                if pickles else "")
        raise ModelRequestError(f"{at} has no {' or '.join(missing)}: the app opens models written by "
                                f"`python -m train` (config.json and model.safetensors).{hint}")
    size = sizes[WEIGHTS_NAME]
    if size is not None and size > max_weights_bytes:
        raise ModelRequestError(f"{at}'s model.safetensors is {size / 2**20:.0f} MB; the app opens models up to "
                                f"{max_weights_bytes / 2**20:.0f} MB.")
    commit = info.sha

    def download(name: str) -> Path:
        return Path(_with_timeout(lambda: hf_hub_download(repo, name, revision=commit, token=False,
                                                          cache_dir=cache_dir, etag_timeout=client_timeout(timeout)),
                                        timeout))

    try:
        config_file = download(CONFIG_NAME)
        try:
            config = VAEConfig.from_dict(json.loads(config_file.read_text()))
        except (ValueError, TypeError) as e:
            raise ModelRequestError(f"{at}'s config.json is not a config of this project's VAE ({e}).") from None
        if check_config is not None:
            check_config(config)
        # through the Hub cache at the commit just checked: config.json is there already, the weights come now
        model = _with_timeout(lambda: from_pretrained_without_token(repo, commit, cache_dir, timeout), timeout)
        for name in (LATENTS_NAME, RESULTS_NAME):
            if name in sizes:
                download(name)
        if sizes.get(SNAPSHOTS_NAME) is not None and sizes[SNAPSHOTS_NAME] <= max_snapshots_bytes:
            download(SNAPSHOTS_NAME)
    except TimeoutError:
        raise ModelRequestError(f"The Hub did not answer within {timeout:g} s for {at}; try again later.") from None
    except EntryNotFoundError as e:
        raise ModelRequestError(f"{at}: {first_line(e)}") from None
    except ModelRequestError:
        raise
    except ValueError as e:  # WeightsError: truncated, corrupt or mismatched weights
        raise ModelRequestError(f"{at}'s model.safetensors cannot be loaded: {first_line(e)}") from None
    except Exception as e:  # noqa: BLE001
        raise ModelRequestError(f"Could not download {at} ({first_line(e)}); try again later.") from None
    return HubModel(model, repo, commit, config_file.parent)


def from_pretrained_without_token(repo: str, commit: str, cache_dir, timeout: float) -> VAE:
    """VAE.from_pretrained without a token (a visitor's choice), strict, safetensors only."""
    return VAE.from_pretrained(repo, revision=commit, cache_dir=cache_dir, token=False,
                               etag_timeout=client_timeout(timeout))
