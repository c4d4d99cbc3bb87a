"""Which weights the app serves, from its environment, and how long a Hub model may take:

    VAE_MODEL_REPO      a Hub model repo id ("user/vae-2d-mnist") or a local model folder; unset: the bundled model
    VAE_MODEL_REVISION  branch, tag or commit of that repo (default: main)
    VAE_HUB_TIMEOUT     seconds to wait for the Hub before falling back (default 3); also a visitor's Hub model's bound

The loading itself (Hub, Hub cache, local folder, bundled folder) is vae/hub.py's.
"""

from __future__ import annotations

import logging
import os

from vae.hub import DEFAULT_TIMEOUT, ModelSource, bundled_model, first_line, resolve_model
from vae.model import VAE

REPO_ENV = "VAE_MODEL_REPO"
REVISION_ENV = "VAE_MODEL_REVISION"
TIMEOUT_ENV = "VAE_HUB_TIMEOUT"

log = logging.getLogger("vae_explorer")


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
