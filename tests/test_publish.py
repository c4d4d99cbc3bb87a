"""Publish to the Hub from the Train live tab, against a local Hub that speaks the upload protocol
(tests/fake_hub.py), nothing else mocked:

- running locally, Gradio's LoginButton signs in as the machine's own login (here the fake Hub's token in HF_TOKEN);
  in a real browser, a model trained in the page is published to <user>/<repo>: the Hub holds model.safetensors,
  config.json and a model card, VAE.from_pretrained loads it strictly, and the ?model= link the page gives opens it
  in Explore with that model's pixels. Before signing in, Publish is refused with a message and nothing reaches the
  Hub; a bad repo name gets a message too;
- on a Space (SYSTEM=spaces, SPACE_ID and the OAuth settings a Space with `hf_oauth: true` gets), a visitor who has
  not signed in is refused although the app's own HF_TOKEN is a token the Hub accepts: no request carries it;
- webapp/publish.py on its own: which token is used for whom, repo names, the card, a push that the Hub refuses.

Needs Chromium (tests/browser_helpers.py), MNIST, and Gradio's sign-in (gradio[oauth], in requirements.txt).
Run: python -m pytest tests/test_publish.py   (two to three minutes on 2 busy cores)
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from gradio_client import Client

from vae import VAE, VAEConfig
from vae.latents import load_latents
from webapp.publish import OAUTH_SCOPE, SIGN_IN_FIRST, publish_model, repo_name_problem, sign_in_problem, visitor_token

from app_server import launch_app
from browser_helpers import browser  # noqa: F401 - the module's Chromium
from browser_helpers import SHOTS, open_app
from conftest import PRETRAINED, REPO
from fake_hub import FakeHub
from hub_repos import decoded, png
from test_browser_train import live, open_train_tab, wait_live
from test_browser_train_publish import Z, digit_shown, wait_note

pytestmark = pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated",
                                        "ignore:The copy keyword is deprecated",
                                        "ignore:Gradio does not support OAuth features outside of a Space")
SPACE = dict(SYSTEM="spaces", SPACE_ID="someone/vae-explorer", OAUTH_CLIENT_ID="client-of-the-space",
             OAUTH_CLIENT_SECRET="secret-of-the-space", OAUTH_SCOPES="openid profile contribute-repos")


class Token:  # what Gradio injects as gr.OAuthToken
    def __init__(self, token):
        self.token = token


@pytest.fixture
def hub(monkeypatch, tmp_path):
    with FakeHub() as hub:
        hub.use(monkeypatch, tmp_path / "hf-home")
        yield hub


# ---------------------------------------------------------------------------------------------------------
# webapp/publish.py


def test_a_visitor_is_pushed_for_with_their_own_token_on_a_space_never_the_apps(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "the-apps-own-token")
    for name, value in SPACE.items():
        monkeypatch.setenv(name, value)
    profile = {"preferred_username": "visitor"}
    assert visitor_token(profile, Token("the-visitors-token")) == "the-visitors-token"
    assert visitor_token(None, None) is None  # not signed in: no token at all, not the app's
    assert visitor_token(profile, None) is None and visitor_token(None, Token("x")) is None
    assert visitor_token(profile, Token("")) is None
    # running locally, Gradio's sign-in stands for the machine's own login, whose token Publish uses
    monkeypatch.delenv("SYSTEM")
    assert visitor_token(profile, Token("mock-oauth-token-for-local-dev")) == "the-apps-own-token"
    assert visitor_token(None, None) is None


def test_the_space_asks_for_the_sign_in_publish_needs():
    from huggingface_hub import SpaceCard

    card = SpaceCard.load(REPO / "README.md").data
    assert card.hf_oauth is True and card.hf_oauth_scopes == [OAUTH_SCOPE]


@pytest.mark.parametrize("name", ["", " ", "a b", "x/y", "../up", "-lead", "dot.", "repo.git", "é", "a" * 97, None])
def test_a_bad_repo_name_gets_a_message(name):
    assert "Give the repo a name" in repo_name_problem(name)


@pytest.mark.parametrize("name", ["vae-2d-mnist-live", "My_VAE.v2", "a", "0" * 96])
def test_repo_names_the_hub_takes_pass(name):
    assert repo_name_problem(name) is None


def test_whether_sign_in_can_work_here(hub, monkeypatch):
    assert "HF_TOKEN" in sign_in_problem()  # locally without a login: Publish says how to get one
    monkeypatch.setenv("HF_TOKEN", "not-a-token-of-this-hub")
    assert "the Hub did not say" in sign_in_problem()
    monkeypatch.setenv("HF_TOKEN", hub.token)
    assert sign_in_problem() is None
    monkeypatch.setenv("SYSTEM", "spaces")
    monkeypatch.setenv("SPACE_ID", SPACE["SPACE_ID"])
    assert "hf_oauth: true" in sign_in_problem()  # a Space whose README does not ask for sign-in
    for name, value in {**SPACE, "OPENID_PROVIDER_URL": hub.url}.items():
        monkeypatch.setenv(name, value)
    assert sign_in_problem() is None


def test_publish_model_pushes_weights_config_and_card_and_refuses_without_a_token(hub, tmp_path):
    torch.manual_seed(0)
    model = VAE(VAEConfig(arch="resmlp", hidden=64, blocks=1)).eval()
    with pytest.raises(ValueError, match="Sign in first"):
        publish_model(model, "someone/vae-live", None, "http://app/?model=someone/vae-live")
    assert hub.writes() == []
    commit = publish_model(model, "someone/vae-live", hub.token, "http://app/?model=someone/vae-live")
    files = hub.files("someone/vae-live", commit)
    assert {"model.safetensors", "config.json", "README.md"} <= set(files)
    card = files["README.md"].decode()
    assert card.startswith("---\n") and "datasets:\n- mnist" in card and "trained in a browser" in card
    assert "http://app/?model=someone/vae-live" in card and 'VAE.from_pretrained("someone/vae-live")' in card
    loaded = VAE.from_pretrained("someone/vae-live")  # strict
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name
    with pytest.raises(ValueError, match="The Hub refused to publish to other/vae-live"):
        publish_model(model, "other/vae-live", "a-token-the-hub-refuses", "http://app/")
    assert "other/vae-live" not in hub.repos


# ---------------------------------------------------------------------------------------------------------
# in a browser


@pytest.fixture
def signed_in_app(hub, monkeypatch, tmp_path, mnist_path, bundled_model):
    """The app as `python app.py` runs it on a machine logged in to the (fake) Hub: Publish signs in as that login."""
    import app
    from webapp.models import ModelEntry

    monkeypatch.setenv("HF_TOKEN", hub.token)
    monkeypatch.setenv("MNIST_DIR", str(mnist_path))
    assert sign_in_problem() is None
    demo = app.build_demo(ModelEntry(bundled_model, "test model", load_latents(PRETRAINED / "latents.safetensors")),
                          options=app.Options(bundle_dir=tmp_path / "bundles", sign_in_problem=None))
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True, **app.launch_options())
    yield url
    demo.close()


@pytest.mark.slow
@pytest.mark.usefixtures("mnist_path")
def test_publish_a_model_trained_in_the_page_and_open_its_link(browser, hub, signed_in_app, bundled_model):
    url = signed_in_app.replace("127.0.0.1", "localhost")  # a secure context, where the sign-in cookie is kept
    page = open_app(browser, url)
    default_digit = digit_shown(page)
    open_train_tab(page)
    page.get_by_role("button", name="Step").click()
    wait_live(page, "s.state === 'paused' && s.step >= 1", timeout=120_000)
    # not signed in: refused, nothing reaches the Hub
    page.get_by_role("button", name="Publish to the Hub").click()
    assert SIGN_IN_FIRST.split(":")[0] in wait_note(page, "Sign in first")
    assert hub.writes() == []
    # the model is kept on the server (Explore this model) before signing in
    page.get_by_role("button", name="Explore this model").click()
    page.wait_for_function("(window.vaeExplorer.debug.model || '').startsWith('upload-')", timeout=60_000)
    sent = page.evaluate("window.vaeExplorer.debug.model")

    # signing in (Gradio's local stand-in for Hugging Face's: the machine's login) reloads the page
    page.get_by_role("tab", name="Train live").click()
    page.evaluate("window.beforeSignIn = true")  # gone once the page has reloaded
    page.get_by_role("button", name="Sign in with Hugging Face").click()
    page.wait_for_function("!window.beforeSignIn && window.vaeExplorer && window.vaeExplorer.debug.ready",
                           timeout=60_000)
    # the model sent before, opened by its link, is published from the tab, which has no run now
    page.goto(f"{url}?model={sent}")
    page.wait_for_function("(name) => window.vaeExplorer && window.vaeExplorer.debug.model === name", arg=sent,
                           timeout=60_000)
    tab = open_train_tab(page)
    page.get_by_role("button", name=f"Logout ({hub.user})").wait_for(timeout=60_000)
    repo = page.locator("#vae-train-repo").locator("input, textarea")
    repo.fill("sent-before-sign-in")
    page.get_by_role("button", name="Publish to the Hub").click()
    wait_note(page, f"Published to {hub.user}/sent-before-sign-in", timeout=120_000)
    before = VAE.from_pretrained(f"{hub.user}/sent-before-sign-in")
    served = png(Client(url, verbose=False).predict(*Z, model=sent, api_name="/generate"))
    assert np.abs(decoded(before, *Z).astype(int) - served).max() <= 1

    page.get_by_role("button", name="Train", exact=True).click()
    wait_live(page, "s.step >= 60 && s.points === 2000")
    page.get_by_role("button", name="Pause").click()
    wait_live(page, "s.state === 'paused' && !s.workerRunning")
    repo.fill("bad name!")
    page.get_by_role("button", name="Publish to the Hub").click()
    assert "Give the repo a name" in wait_note(page, "Give the repo a name")
    writes = len(hub.writes())
    page.get_by_role("button", name="Publish to the Hub").click()
    assert "Give the repo a name" in wait_note(page, "Give the repo a name")
    assert len(hub.writes()) == writes

    repo.fill("my-live-vae")
    page.get_by_role("button", name="Publish to the Hub").click()
    note = wait_note(page, "Published to", timeout=120_000)
    repo_id = f"{hub.user}/my-live-vae"
    link = page.locator("#vae-train-note a", has_text="?model=").get_attribute("href")
    assert link == f"{url}?model={repo_id}", (link, note)
    commit = hub.repos[repo_id].refs["main"]
    assert commit[:12] in note
    assert {"model.safetensors", "config.json", "README.md"} <= set(hub.files(repo_id))
    assert link in hub.files(repo_id)["README.md"].decode()
    published = VAE.from_pretrained(repo_id)  # strict: exactly the tensors its config implies
    assert published.config.hidden == 128 and published.config.arch == "resmlp"
    assert all(r.headers.get("authorization") == f"Bearer {hub.token}" for r in hub.writes())
    tab.screenshot(path=str(SHOTS / "train-published.png"))

    # the link opens it for anyone: Explore draws the published model
    other = open_app(browser, link)
    other.wait_for_function("(repo) => (window.vaeExplorer.debug.model || '').startsWith(repo + '@')", arg=repo_id,
                            timeout=60_000)
    shown = digit_shown(other)
    assert np.abs(shown.astype(int) - decoded(published, *Z)).max() <= 1
    assert np.abs(shown.astype(int) - default_digit).max() > 60  # a trained model, not the default
    assert page.errors == [] and other.errors == []
    other.close()
    page.close()


@pytest.mark.slow
def test_on_a_space_the_apps_own_token_is_never_used_for_a_visitor(browser, hub, tmp_path, mnist_path):
    """The Space's HF_TOKEN is one the Hub accepts; a visitor who has not signed in presses Publish: refused, and
    not one request reaches the Hub with it (nor any write at all)."""
    app = launch_app(tmp_path / "app", HF_ENDPOINT=hub.url, HF_TOKEN=hub.token, MNIST_DIR=str(mnist_path),
                     OPENID_PROVIDER_URL=hub.url, **SPACE)
    try:
        page = open_app(browser, app.url)
        open_train_tab(page)
        assert page.get_by_role("button", name="Sign in with Hugging Face").is_visible()  # the Space's OAuth
        page.get_by_role("button", name="Step").click()
        wait_live(page, "s.state === 'paused' && s.step >= 1", timeout=120_000)
        page.locator("#vae-train-repo").locator("input, textarea").fill("taken-with-the-apps-token")
        page.get_by_role("button", name="Publish to the Hub").click()
        assert "Sign in first" in wait_note(page, "Sign in first")
        assert live(page)["state"] == "paused"
        assert hub.writes() == [] and not any("authorization" in r.headers for r in hub.requests)
        assert not re.search(r"taken-with-the-apps-token", str(hub.repos))
        assert page.errors == []
        page.close()
    finally:
        app.stop()

