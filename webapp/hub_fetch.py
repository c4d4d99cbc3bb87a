"""A Hub model a visitor of the public app chose: fetched without any token, only the files a model needs, each
checked before the next comes (vae/hub.py loads the app's own model; this is someone else's choice)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from vae.config import VAEConfig
from vae.hub import DEFAULT_TIMEOUT, client_timeout, first_line, with_timeout
from vae.latents import LATENTS_NAME
from vae.model import CONFIG_NAME, RESULTS_NAME, VAE, WEIGHTS_NAME
from vae.snapshots import SNAPSHOTS_NAME


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
    at = f"{repo}@{revision}" if revision else repo
    info = hub_model_info(repo, revision, at, timeout)
    sizes = {s.rfilename: s.size for s in info.siblings or []}
    check_listed_files(at, sizes, max_weights_bytes)
    commit = info.sha
    model, folder = download_model(repo, commit, at, sizes, timeout=timeout, check_config=check_config,
                                   cache_dir=cache_dir, max_snapshots_bytes=max_snapshots_bytes)
    return HubModel(model, repo, commit, folder)


def hub_model_info(repo: str, revision: str | None, at: str, timeout: float):
    """The repo's file list with sizes and the commit `revision` names, asked without a token; every failure becomes
    one ModelRequestError line for the visitor."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    try:
        return with_timeout(lambda: HfApi().model_info(repo, revision=revision, files_metadata=True, token=False,
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


def check_listed_files(at: str, sizes: dict[str, int | None], max_weights_bytes: int) -> None:
    """Refuse, from the file list alone, a repo without config.json and model.safetensors or with weights over
    `max_weights_bytes`, so nothing is downloaded for it."""
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


def download_model(repo: str, commit: str, at: str, sizes: dict[str, int | None], *, timeout: float, check_config,
                   cache_dir: str | os.PathLike | None, max_snapshots_bytes: int) -> tuple[VAE, Path]:
    """config.json first, checked, then the weights and the optional files, all at `commit`; returns the model and the
    cache snapshot folder holding them. Every failure becomes one ModelRequestError line for the visitor."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    def download(name: str) -> Path:
        return Path(with_timeout(lambda: hf_hub_download(repo, name, revision=commit, token=False,
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
        model = with_timeout(lambda: from_pretrained_without_token(repo, commit, cache_dir, timeout), timeout)
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
    return model, config_file.parent


def from_pretrained_without_token(repo: str, commit: str, cache_dir, timeout: float) -> VAE:
    """VAE.from_pretrained without a token (a visitor's choice), strict, safetensors only."""
    return VAE.from_pretrained(repo, revision=commit, cache_dir=cache_dir, token=False,
                               etag_timeout=client_timeout(timeout))
