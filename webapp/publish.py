"""Publishing a model a visitor trained in their browser to the Hugging Face Hub, in the visitor's own namespace and
with the visitor's own token: model.safetensors, config.json and a model card, as `python -m train.publish` pushes a
run folder (vae.hub.push_folder).

Who may publish, and with which token:
- On a Space, the visitor signs in with Gradio's LoginButton (Hugging Face OAuth; the README's front matter asks
  for `hf_oauth: true` and the `contribute-repos` scope, which creates repos in the visitor's namespace and writes
  to the ones this app created). The token pushed with is that sign-in's, passed explicitly: the Space's own
  HF_TOKEN is never used for a visitor (HfApi(token=None) would fall back to it, so no call here is made without
  the visitor's token).
- Running locally, Gradio's LoginButton signs in as the machine's own Hugging Face login (HF_TOKEN or `hf auth
  login`), so Publish pushes with that token, to its owner's namespace.
Not signed in: a message, nothing pushed.

The Train live tab's Publish button (webapp/train_tab.py) is TrainedModelPublish.publish: the checks in that order
(sign-in, the repo name, the model), the push, and the link that opens the published model in this app (app_link).
"""

from __future__ import annotations

import importlib.util
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import gradio as gr
from gradio.route_utils import get_root_url
from gradio.utils import get_space
from huggingface_hub import HfApi, ModelCard, get_token
from huggingface_hub.utils import HfHubHTTPError

from vae.datasets import get_dataset
from vae.hub import card_data, first_line, push_folder, with_timeout
from vae.model import VAE
from webapp.hub_fetch import ModelRequestError
from webapp.models import ModelStore
from webapp.page import architecture
from webapp.uploads import UPLOAD_NAME

OAUTH_SCOPE = "contribute-repos"  # what README.md's front matter asks a visitor's sign-in for, beyond their profile
REPO_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}")  # a Hub repo name: letters, digits, -, _, .
SIGN_IN_FIRST = ("Sign in first: press “Sign in with Hugging Face” above, then Publish again. Nothing was pushed. "
                 "Signing in reloads the page, which ends a run: sign in before training, or press **Explore this "
                 "model** first and, once signed in, open its link (?model=upload-…) and Publish it.")
NOT_SET_UP = "Publishing is not set up in this app (it was built without sign-in)."
OAUTH_VARIABLES = ("OAUTH_CLIENT_ID", "OAUTH_CLIENT_SECRET", "OAUTH_SCOPES", "OPENID_PROVIDER_URL")


def on_space() -> bool:
    """Whether the app runs on a Hugging Face Space, as Gradio decides it: then Gradio's LoginButton signs a visitor
    in through OAuth; elsewhere it signs in as the machine's own login."""
    return get_space() is not None


def sign_in_problem(timeout: float = 5.0) -> str | None:
    """None when Gradio's LoginButton can sign a visitor in here; else why it cannot, for the tab to say. The button
    is only added when it can: with it, Gradio refuses to start without OAuth settings on a Space, and locally asks
    the Hub who the machine's login is when the app starts (which `timeout` bounds here first)."""
    missing = [name for name in ("authlib", "itsdangerous") if importlib.util.find_spec(name) is None]
    if missing:
        return f"Publishing needs Gradio's sign-in: install gradio[oauth] ({', '.join(missing)} missing)."
    if on_space():
        if not all(os.environ.get(name) for name in OAUTH_VARIABLES):
            return "This Space has no Hugging Face sign-in: its README's front matter needs `hf_oauth: true`."
        return None
    if get_token() is None:
        return ("Running locally, Publish pushes with your own Hugging Face login: set HF_TOKEN or run "
                "`hf auth login`, then restart the app.")
    try:
        user = with_timeout(lambda: HfApi().whoami(), timeout)
    except Exception as e:  # noqa: BLE001 - offline, a revoked token: the app runs, without Publish
        return (f"Publish needs to know whose Hugging Face login this machine has, and the Hub did not say "
                f"({first_line(e)}).")
    if user.get("type") != "user":
        return "Publish needs a personal Hugging Face login (HF_TOKEN of a user, not of an organisation)."
    return None


def visitor_token(profile, token) -> str | None:
    """The token to push a signed-in visitor's model with, or None when nobody is signed in. `profile`, `token`:
    Gradio's gr.OAuthProfile and gr.OAuthToken of the request (None when not signed in). On a Space: the visitor's
    OAuth token, never the app's HF_TOKEN. Locally, Gradio's sign-in is a stand-in for the machine's own login (its
    token is a placeholder): the login's token."""
    if profile is None or token is None or not getattr(token, "token", None):
        return None
    return token.token if on_space() else get_token()


def repo_name_problem(name) -> str | None:
    """None for a repo name the Hub takes; else what a good one looks like."""
    if not isinstance(name, str) or not REPO_NAME.fullmatch(name.strip()) or ".." in name \
            or name.strip().endswith((".git", ".")):
        return ("Give the repo a name of letters, digits, “-”, “_” or “.” (at most 96 characters), such as "
                "vae-2d-mnist: it goes to your own namespace, your-name/vae-2d-mnist.")
    return None


def model_card(model: VAE, repo_id: str, link: str) -> str:
    """README.md for a page-trained model: the Hub metadata (as the trainer's cards have it) and how to load it."""
    cfg, dataset = model.config, get_dataset(model.config.dataset)
    data = card_data(dataset)
    settings = "\n".join(f"| {k} | {v} |" for k, v in cfg.to_dict().items())
    return str(ModelCard(f"""---
{data.to_yaml()}
---

# VAE with a 2-D latent space on {dataset.title} ({architecture(cfg)}), trained in a browser

Trained in the *Train live* tab of the VAE 2-D Latent Explorer: the page's Web Worker ran the forward and backward
passes and Adam, and this model was published from there. No test figure was computed on the server; load it and
evaluate it as any model of the project (`python -m train` reports test −ELBO the same way).

```python
from vae import VAE

model = VAE.from_pretrained("{repo_id}")  # strict: exactly the tensors this config implies
```

Explore it: [{link}]({link})

| setting | value |
|---|---|
{settings}
"""))


def publish_model(model: VAE, repo_id: str, token: str, link: str) -> str:
    """Push `model` (weights, config.json, the card) to the model repo `repo_id` with `token`; -> the commit id.
    Raises ValueError with a message for the visitor when the Hub refuses."""
    if not token:  # HfApi(token=None) would push with the app's own login
        raise ValueError(SIGN_IN_FIRST)
    with tempfile.TemporaryDirectory(prefix="vae-publish-") as folder:
        model.save_pretrained(folder)
        (Path(folder) / "README.md").write_text(model_card(model, repo_id, link), encoding="utf-8")
        try:
            return push_folder(folder, repo_id, api=HfApi(token=token),
                               commit_message="Upload a VAE trained in the browser")
        except (HfHubHTTPError, OSError, ValueError) as e:
            raise ValueError(f"The Hub refused to publish to {repo_id} ({first_line(e)}). Nothing else was "
                             "changed; check the repo name and that your sign-in may create repos, then try "
                             "again.") from None


def app_link(request: gr.Request | None) -> str:
    """The address that opens this app for anyone: the Space's page on a Space, else the address it was reached at."""
    space = os.environ.get("SPACE_ID")
    if on_space() and space:
        return f"https://huggingface.co/spaces/{space}"
    if request is None:
        return ""
    return get_root_url(request.request, request.request.url.path, None) + "/"


@dataclass(frozen=True)
class TrainedModelPublish:
    """The Publish button's handler (publish), for one app."""

    sign_in_problem: str | None  # None when visitors can sign in (sign_in_problem above), else what Publish says
    receive: Callable[[object], str]  # the page's upload -> the name the app serves it under; ValueError says why not
    store: ModelStore  # the models the app serves, by name

    def publish(self, sent, repo_name, current, request: gr.Request, profile: gr.OAuthProfile | None,
                token: gr.OAuthToken | None) -> str:
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
            name = self.receive(sent)
        except ValueError as e:
            page_sent = isinstance(sent, dict) and sent.get("path")
            if page_sent or not (isinstance(current, str) and UPLOAD_NAME.fullmatch(current)):
                return f"⚠️ {e}"
            name = current  # signing in reloaded the page, which came back with the model sent before
        repo_id = f"{profile.username}/{repo_name.strip()}"
        link = f"{app_link(request)}?model={quote(repo_id)}"
        try:
            commit = publish_model(self.store.get(name).model, repo_id, secret, link)
        except (ValueError, ModelRequestError) as e:
            return f"⚠️ {e}"
        return (f"✓ Published to [{repo_id}](https://huggingface.co/{repo_id}) (commit `{commit[:12]}`). "
                f"Anyone can open it here: [{link}]({link})")
