"""A model trained elsewhere (in the page, here a few Adam steps in PyTorch on real MNIST) sent to the launched app
through gradio_client's /upload_model, then used by name: /generate and /grid draw that model's pixels, /encode its
posterior, the page's model choice and compare view take the name. Bad uploads get a clear message and the app keeps
serving: a truncated file, a pickle, wrong shapes, NaN weights, a 3-D latent space, a file over the size cap, a
config that is not ours. The store keeps the last MAX_UPLOADED models (webapp/models.py, webapp/uploads.py).

Needs MNIST (tests/conftest.py).
Run: python -m pytest tests/test_upload_model.py   (about 30 s on 2 cores)
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image
from safetensors.torch import save_file

from vae import VAE, VAEConfig
from vae.datasets import as_tensor
from vae.explorer import Explorer
from vae.imaging import to_uint8
from vae.latents import save_latents
from vae.objective import negative_elbo
from vae.preprocess import load_image, preprocessor
import webapp.uploads
from webapp.choice import ModelChoice
from webapp.hub_fetch import ModelRequestError
from webapp.models import ModelEntry, ModelStore, check_browser_fit
from webapp.uploads import UPLOAD_NAME, check_upload

from conftest import PRETRAINED

pytestmark = pytest.mark.filterwarnings(  # raised inside gradio's queue by pandas 3, not by this app
    "ignore:'future.no_silent_downcasting' is deprecated", "ignore:The copy keyword is deprecated")


def trained(mnist_train, steps: int = 30, seed: int = 0, **config) -> VAE:
    """A small resmlp after `steps` Adam steps on real training digits: weights no initialiser wrote."""
    torch.manual_seed(seed)
    model = VAE(VAEConfig(arch="resmlp", hidden=64, blocks=1, **config))
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    x = as_tensor(mnist_train[0][:steps * 64])
    for batch in x.split(64):
        optimiser.zero_grad()
        logits, mu, logvar = model(batch)
        negative_elbo(logits, batch, mu, logvar, model.config.beta)[0].mean().backward()
        optimiser.step()
    return model.eval()


@pytest.fixture(scope="module")
def mnist_train(mnist_path):
    from vae.datasets import load_split

    return load_split(mnist_path, "train")


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    import app

    demo = app.build_demo(ModelEntry.from_folder(PRETRAINED), {}, app.Options(bundle_dir=tmp_path_factory.mktemp("b")))
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True, **app.launch_options())
    yield Client(url, verbose=False)
    demo.close()


def png(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im)


def digit(model: VAE, z1: float, z2: float) -> np.ndarray:
    with torch.inference_mode():
        return to_uint8(model.decode(torch.tensor([[z1, z2]])).numpy()[0, 0])


def upload(client, folder, config: str | None = None, **files):
    weights = handle_file(str(folder / "model.safetensors"))
    text = (folder / "config.json").read_text() if config is None else config
    return client.predict(weights, text, *[handle_file(str(f)) for f in files.values()], api_name="/upload_model")


def test_a_model_sent_is_explored_by_name(client, mnist_train, tmp_path):
    model = trained(mnist_train)
    model.save_pretrained(tmp_path)
    sent = upload(client, tmp_path)
    assert UPLOAD_NAME.fullmatch(sent["model"]) and sent["arch"] == "resmlp" and sent["dataset"] == "mnist"
    for z in ((0.0, 0.0), (1.3, -2.1), (-2.95, 2.5)):
        assert (png(client.predict(*z, sent["model"], api_name="/generate")) == digit(model, *z)).all()
    assert (png(client.predict(0.4, -0.3, 1.5, sent["model"], api_name="/grid"))
            == Explorer(model).grid(0.4, -0.3, 1.5)).all()
    # the bundled model answers as before: the name chose the sent model
    assert not (png(client.predict(1.3, -2.1, "default", api_name="/generate")) == digit(model, 1.3, -2.1)).all()
    image = tmp_path / "digit.png"
    Image.fromarray(mnist_train[0][7]).save(image)
    mu = client.predict(handle_file(str(image)), sent["model"], api_name="/encode")["mu"]
    prepared = preprocessor("mnist")(load_image(image))  # as the app prepares an upload
    assert np.allclose(mu, Explorer(model).posterior(prepared)[0], atol=1e-4)
    # the same model again is the same name; with its config in the weights' metadata instead, too
    assert upload(client, tmp_path)["model"] == sent["model"]
    save_file(model.state_dict(), str(tmp_path / "model.safetensors"),
              metadata={"config": json.dumps(model.config.to_dict())})
    assert upload(client, tmp_path, config="")["model"] == sent["model"]


def test_a_latent_map_comes_with_it(client, mnist_train, tmp_path):
    model = trained(mnist_train, steps=5, seed=1)
    model.save_pretrained(tmp_path)
    mu = np.random.default_rng(0).normal(size=(300, 2)).astype(np.float32)
    save_latents(tmp_path / "latents.safetensors", mu, np.ones_like(mu), np.arange(300, dtype=np.uint8) % 10)
    sent = upload(client, tmp_path, latents=tmp_path / "latents.safetensors")
    assert (png(client.predict(0.5, 0.5, sent["model"], api_name="/generate")) == digit(model, 0.5, 0.5)).all()
    bad = tmp_path / "bad-latents.safetensors"
    save_latents(bad, np.full((3, 2), np.nan, np.float32), np.ones((3, 2), np.float32), np.zeros(3, np.uint8))
    with pytest.raises(AppError, match="finite 2-D means"):
        upload(client, tmp_path, latents=bad)


def test_bad_uploads_get_a_message_and_the_app_keeps_serving(client, mnist_train, tmp_path, monkeypatch):
    model = trained(mnist_train, steps=3, seed=2)
    good = tmp_path / "good"
    model.save_pretrained(good)
    weights = (good / "model.safetensors").read_bytes()
    config = (good / "config.json").read_text()

    def refused(data: bytes, match: str, text: str = config) -> None:
        folder = tmp_path / f"case{len(list(tmp_path.iterdir()))}"
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(data)
        (folder / "config.json").write_text(text)
        with pytest.raises(AppError, match=match):
            upload(client, folder)

    refused(weights[: len(weights) // 2], "not a readable safetensors file")
    refused(b"\x80\x04\x95" + weights[3:200], "pickled PyTorch file")
    wider = json.dumps({**model.config.to_dict(), "hidden": 96})
    refused(weights, r"do not fit: .*file has \(64,", wider)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state["decoder.0.weight"][0, 0] = float("nan")
    save_file(state, str(tmp_path / "nan.safetensors"))
    refused((tmp_path / "nan.safetensors").read_bytes(), "non-finite values in")
    three = VAE(VAEConfig(arch="resmlp", hidden=64, blocks=1, latent_dim=3))
    save_file(three.state_dict(), str(tmp_path / "three.safetensors"))
    refused((tmp_path / "three.safetensors").read_bytes(), "3-D latent space",
            json.dumps(three.config.to_dict()))
    refused(weights, "not a config.json of this project's VAE", json.dumps({"arch": "transformer"}))
    refused(weights, "not a config.json", "{not json")
    refused(weights, "No config", "")
    # over the cap: the app's upload limit (gradio_client checks it before sending), and the check's own
    big = tmp_path / "big.safetensors"
    big.write_bytes(weights + b"\0" * (10 * 2**20))
    with pytest.raises(ValueError, match="exceeds the maximum file size of 10485760"):
        client.predict(handle_file(str(big)), config, api_name="/upload_model")
    monkeypatch.setattr(webapp.uploads, "MAX_UPLOAD_BYTES", len(weights) - 1)
    with pytest.raises(ModelRequestError, match="the app takes models up to"):
        check_upload(good / "model.safetensors", config, check_browser_fit)
    monkeypatch.undo()
    # the app still serves, the bundled model and the good upload alike
    assert png(client.predict(0.0, 0.0, api_name="/generate")).shape == (28, 28)
    assert (png(client.predict(0.0, 0.0, upload(client, good)["model"], api_name="/generate"))
            == digit(model, 0.0, 0.0)).all()


def test_the_store_keeps_the_last_uploads_and_the_page_takes_their_names(mnist_train, tmp_path):
    store = ModelStore({"default": ModelEntry.from_folder(PRETRAINED)}, tmp_path / "bundles", max_uploaded=2)
    names = []
    for seed in range(3):
        model = trained(mnist_train, steps=1, seed=10 + seed)
        folder = tmp_path / f"m{seed}"
        model.save_pretrained(folder)
        name, checked = check_upload(folder / "model.safetensors", (folder / "config.json").read_text(),
                                     check_browser_fit)
        store.add_upload(name, ModelEntry(checked, "sent from a browser"))
        names.append(name)
    choice = ModelChoice(store)
    assert choice.choose(names[2])[0] == names[2]  # the picker (and ?model=) opens it
    assert choice.compare(names[1], "default")[1] == ""  # and the compare view shows it
    with pytest.raises(ModelRequestError, match="no longer on the server"):
        store.get(names[0])  # the oldest of three went
    assert names[0] not in {m["name"] for m in store.catalogue()} and len(store.uploaded) == 2
