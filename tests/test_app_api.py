"""The app's public API, called through gradio_client on a launched server, for both architectures (the bundled
"resmlp" model and the spec's "mlp" network trained for a few seconds): which endpoints exist, shapes and values against the model
itself, determinism, the grid's orientation, /encode of real MNIST test digits, /reconstruct's figures, and every
bad input's message (the server keeps serving after each).

Run: python -m pytest tests/test_app_api.py   (about a minute on 2 cores)
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from vae import VAE, kl_to_standard_normal
from vae.imaging import MARK_COLOUR, to_uint8
from vae.latents import load_latents
from webapp.models import ModelEntry

from conftest import PRETRAINED, png

pytestmark = pytest.mark.filterwarnings(  # raised inside gradio's queue by pandas 3, not by this app
    "ignore:'future.no_silent_downcasting' is deprecated", "ignore:The copy keyword is deprecated")

PUBLIC = {"/generate", "/grid", "/interpolate", "/encode", "/reconstruct", "/likelihood", "/models", "/replay",
          "/upload_model"}
MNIST_SAMPLE = [0, 1, 2, 3, 4, 7, 8, 11, 18, 61]  # one of each digit




@pytest.fixture(scope="module", params=["mlp", "resmlp"])
def served(request, bundled_model, quick_mlp, tmp_path_factory):
    """(client, model, url): build_demo for the model, launched as the app launches it."""
    import app

    model = quick_mlp if request.param == "mlp" else bundled_model
    assert model.config.arch == request.param
    demo = app.build_demo(ModelEntry(model, "test model", load_latents(PRETRAINED / "latents.safetensors")),
                          {"reference": ModelEntry.from_folder(PRETRAINED / "reference")},
                          app.Options(bundle_dir=tmp_path_factory.mktemp("bundle")))
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True, **app.launch_options())
    yield Client(url, verbose=False), model, url
    demo.close()


@pytest.fixture(scope="module")
def digit_files(mnist_test, tmp_path_factory) -> dict[int, Path]:
    """Test-split digits written as PNG files, as a user would upload them."""
    images, _ = mnist_test
    folder = tmp_path_factory.mktemp("digits")
    paths = {}
    for i in MNIST_SAMPLE:
        paths[i] = folder / f"mnist-test-{i}.png"
        Image.fromarray(images[i]).save(paths[i])
    return paths


def decode(model: VAE, z1: float, z2: float) -> np.ndarray:
    with torch.inference_mode():
        return to_uint8(model.decode(torch.tensor([[z1, z2]], dtype=torch.float32)).numpy()[0, 0])


# ---------------------------------------------------------------------------------------------------------
# the surface


def test_only_the_api_endpoints_are_public(served):
    client, _, _ = served
    api = client.view_api(return_format="dict", print_info=False)
    assert set(api["named_endpoints"]) == PUBLIC
    assert api["unnamed_endpoints"] == {}
    params = {name: [p["parameter_name"] for p in ep["parameters"]] for name, ep in api["named_endpoints"].items()}
    assert params == {"/generate": ["z1", "z2", "model", "snapshot"], "/grid": ["z1", "z2", "span", "model", "snapshot"],
                      "/interpolate": ["z1_a", "z2_a", "z1_b", "z2_b", "steps", "model"],
                      "/encode": ["image", "model"], "/reconstruct": ["image", "model"],
                      "/likelihood": ["image", "model"], "/models": [],
                      "/replay": ["model", "z1", "z2", "span"], "/upload_model": ["weights", "config", "latents"]}
    span = api["named_endpoints"]["/grid"]["parameters"][2]
    assert span["parameter_has_default"] and span["parameter_default"] == 1.5
    for endpoint in PUBLIC - {"/models", "/upload_model"}:  # every endpoint that draws takes an optional model, the
        #                                                        app's own by default
        model = next(p for p in api["named_endpoints"][endpoint]["parameters"] if p["parameter_name"] == "model")
        assert model["parameter_has_default"] and model["parameter_default"] == "default"
    for endpoint in ("/generate", "/grid"):  # and the final model unless a training snapshot is asked for
        snapshot = api["named_endpoints"][endpoint]["parameters"][-1]
        assert snapshot["parameter_has_default"] and snapshot["parameter_default"] is None
    # every other event of the page is private
    public = [d for d in client.config["dependencies"] if d.get("api_visibility", "public") == "public"]
    assert {"/" + d["api_name"] for d in public} == PUBLIC


def test_training_snapshots_through_the_api(served):
    """/models counts each model's snapshots; /grid and /generate render any of them; /replay is the GIF of all."""
    client, _, _ = served
    listed = {m["name"]: m for m in client.predict(api_name="/models")}
    assert listed["default"]["snapshots"] == 0  # built without its folder: no replay to offer
    assert listed["reference"]["snapshots"] == 13
    grid = lambda *snapshot: png(client.predict(0.5, -0.5, 1.5, "reference", *snapshot, api_name="/grid")).astype(int)  # noqa: E731
    first, last, final = grid(0), grid(-1), grid()
    assert np.abs(last - final).max() <= 2  # the last snapshot is the final model, to the compact weights' fidelity
    assert np.abs(first - final).max() > 50  # before training: another picture altogether
    assert np.array_equal(grid(12), last)
    digit = png(client.predict(0.5, -0.5, "reference", 6, api_name="/generate"))
    assert digit.shape == (28, 28)
    with pytest.raises(AppError, match="--snapshots"):
        client.predict(0.0, 0.0, 1.5, "default", 0, api_name="/grid")
    with pytest.raises(AppError, match="from 0 to 12"):
        client.predict(0.0, 0.0, 1.5, "reference", 13, api_name="/grid")
    with Image.open(client.predict("reference", 0.0, 0.0, 1.5, api_name="/replay")) as gif:
        assert gif.format == "GIF" and gif.n_frames == 13


# ---------------------------------------------------------------------------------------------------------
# values


def test_generate_is_the_decoded_digit_as_png(served):
    client, model, _ = served
    for z1, z2 in [(0.0, 0.0), (1.25, -0.5), (-3.0, 3.0)]:
        image = png(client.predict(z1, z2, api_name="/generate"))
        assert image.shape == (28, 28) and image.dtype == np.uint8  # greyscale
        np.testing.assert_allclose(image.astype(int), decode(model, z1, z2).astype(int), atol=1)
    first = Path(client.predict(0.4, 0.3, api_name="/generate")).read_bytes()
    assert Path(client.predict(z1=0.4, z2=0.3, api_name="/generate")).read_bytes() == first  # deterministic


def test_grid_orientation_and_corners(served):
    client, model, _ = served
    z1, z2, span = 0.5, -0.25, 1.5
    grid = png(client.predict(z1, z2, span, api_name="/grid"))
    assert grid.shape == (280, 280, 3)
    corners = {(0, 0): (z1 - span, z2 + span), (0, 9): (z1 + span, z2 + span),
               (9, 0): (z1 - span, z2 - span), (9, 9): (z1 + span, z2 - span)}
    for (row, col), (c1, c2) in corners.items():
        cell = grid[row * 28:(row + 1) * 28, col * 28:(col + 1) * 28]
        single = png(client.predict(c1, c2, api_name="/generate"))
        np.testing.assert_allclose(cell[..., 0].astype(int), single.astype(int), atol=1)
        assert np.array_equal(cell[..., 0], cell[..., 1])  # grey
    # the cell nearest the centre, (4, 4), is outlined
    centre = grid[4 * 28:5 * 28, 4 * 28:5 * 28]
    assert np.all(centre[0] == MARK_COLOUR) and np.all(centre[:, -1] == MARK_COLOUR)
    # span defaults to the spec's 1.5; the call is deterministic
    assert np.array_equal(png(client.predict(z1, z2, api_name="/grid")), grid)
    wider = png(client.predict(z1, z2, 2.0, api_name="/grid"))
    np.testing.assert_allclose(wider[:28, :28, 0].astype(int),
                               png(client.predict(z1 - 2.0, z2 + 2.0, api_name="/generate")).astype(int), atol=1)


def test_encode_of_mnist_test_digits_equals_the_models_encode(served, digit_files, test_tensor):
    client, model, _ = served
    with torch.inference_mode():
        mu, logvar = model.encode(test_tensor[MNIST_SAMPLE])
    sigma = torch.exp(0.5 * logvar)
    for k, i in enumerate(MNIST_SAMPLE):
        got = client.predict(handle_file(str(digit_files[i])), api_name="/encode")
        assert set(got) == {"mu", "sigma"}
        np.testing.assert_allclose(got["mu"], mu[k].numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got["sigma"], sigma[k].numpy(), rtol=1e-5, atol=1e-7)
    again = client.predict(handle_file(str(digit_files[0])), api_name="/encode")
    assert again == client.predict(handle_file(str(digit_files[0])), api_name="/encode")


def test_reconstruct_returns_input_reconstruction_and_figures(served, digit_files, mnist_test):
    client, model, _ = served
    images, _ = mnist_test
    for i in MNIST_SAMPLE[:4]:
        pre, rec, stats = client.predict(handle_file(str(digit_files[i])), api_name="/reconstruct")
        assert set(stats) == {"mu", "sigma", "elbo", "bce", "kl"}
        np.testing.assert_array_equal(png(pre), images[i])  # an MNIST digit passes preprocessing unchanged
        np.testing.assert_allclose(png(rec).astype(int), decode(model, *stats["mu"]).astype(int), atol=1)
        mu, sigma = torch.tensor([stats["mu"]]), torch.tensor([stats["sigma"]])
        kl = kl_to_standard_normal(mu, 2 * torch.log(sigma)).item()
        assert stats["kl"] == pytest.approx(kl, rel=1e-4)
        assert stats["bce"] > 0 and stats["elbo"] == pytest.approx(stats["bce"] + stats["kl"], rel=1e-5)
        encoded = client.predict(handle_file(str(digit_files[i])), api_name="/encode")
        assert encoded["mu"] == pytest.approx(stats["mu"], rel=1e-6)
    first = client.predict(handle_file(str(digit_files[7])), api_name="/reconstruct")
    second = client.predict(handle_file(str(digit_files[7])), api_name="/reconstruct")
    assert first[2] == second[2]  # the -ELBO uses a fixed seed


def test_a_drawing_and_a_large_photo_are_preprocessed(served, mnist_test, tmp_path):
    client, model, _ = served
    images, _ = mnist_test
    digit = Image.fromarray(255 - images[0])  # dark on light, 4000 x 3000, under the 10 MB limit
    crop = digit.crop(Image.fromarray(images[0]).getbbox())
    big = Image.new("L", (4000, 3000), 255)
    big.paste(crop.resize((crop.width * 100, crop.height * 100), Image.Resampling.BILINEAR), (1500, 400))
    path = tmp_path / "photo.png"
    big.save(path)
    assert path.stat().st_size < 10 * 2**20
    pre, _, stats = client.predict(handle_file(str(path)), api_name="/reconstruct")
    assert np.abs(png(pre) / 255.0 - images[0] / 255.0).mean() < 0.05
    assert np.all(np.isfinite(stats["mu"]))


# ---------------------------------------------------------------------------------------------------------
# bad input: a clear message, and the server keeps serving


@pytest.mark.parametrize("args, endpoint, message", [
    (("nan", 0.0), "/generate", "z1 must be a finite number between -3 and 3; got 'nan'"),
    ((0.0, "inf"), "/generate", "z2 must be a finite number"),
    (("-inf", 0.0, 1.5), "/grid", "z1 must be a finite number"),
    ((3.5, 0.0), "/generate", r"z1 = 3.5 is outside the latent range \[-3, 3\]"),
    ((0.0, -10), "/grid", r"z2 = -10 is outside the latent range"),
    (("abc", 0.0), "/generate", "z1 must be a number between -3 and 3; got 'abc'"),
    ((None, 0.0), "/generate", "z1 must be a number"),
    ((0.0, 0.0, 0.0), "/grid", r"span must be greater than 0 and at most 5"),
    ((0.0, 0.0, -1.0), "/grid", "span must be greater than 0"),
    ((0.0, 0.0, 1e6), "/grid", "at most 5"),
    ((0.0, 0.0, "nan"), "/grid", "span must be greater than 0"),
])
def test_bad_latent_input_gets_a_clear_message(served, args, endpoint, message):
    client, _, _ = served
    with pytest.raises(AppError, match=message):
        client.predict(*args, api_name=endpoint)


def test_bad_uploads_get_a_clear_message(served, tmp_path):
    client, _, _ = served
    text = tmp_path / "notes.txt"
    text.write_text("a shopping list")
    blank = tmp_path / "blank.png"
    Image.new("L", (300, 300), 255).save(blank)
    transparent = tmp_path / "empty-canvas.png"
    Image.new("RGBA", (280, 280), (0, 0, 0, 0)).save(transparent)
    truncated = tmp_path / "cut.png"
    Image.new("L", (300, 300), 128).save(tmp_path / "whole.png")
    truncated.write_bytes((tmp_path / "whole.png").read_bytes()[:60])
    for endpoint in ("/encode", "/reconstruct", "/likelihood"):
        with pytest.raises(AppError, match="No image given"):
            client.predict(None, api_name=endpoint)
        with pytest.raises(AppError, match="'notes.txt' is not an image"):
            client.predict(handle_file(str(text)), api_name=endpoint)
        for empty in (blank, transparent):
            with pytest.raises(AppError, match="No digit found"):
                client.predict(handle_file(str(empty)), api_name=endpoint)
        with pytest.raises(AppError, match="cut.png"):
            client.predict(handle_file(str(truncated)), api_name=endpoint)


def test_oversized_uploads_are_refused(served, tmp_path):
    client, _, url = served
    big = tmp_path / "huge.png"
    big.write_bytes(b"\x89PNG" + bytes(11 * 2**20))
    with pytest.raises(ValueError, match="exceeds the maximum file size"):  # gradio_client checks first
        client.predict(handle_file(str(big)), api_name="/encode")
    # and the server enforces it for any other client
    response = httpx.post(url + "gradio_api/upload", files={"files": ("huge.png", big.read_bytes())}, timeout=60)
    assert response.status_code == 413


def test_raw_http_nan_gets_the_same_message(served):
    """JSON clients other than gradio_client can send a bare NaN; it is caught like the string 'nan'."""
    _, _, url = served
    post = httpx.post(url + "gradio_api/call/generate", content='{"data": [NaN, 0, "default", null]}',
                      headers={"content-type": "application/json"}, timeout=30)
    event = post.json()["event_id"]
    stream = httpx.get(url + f"gradio_api/call/generate/{event}", timeout=30).text
    assert "event: error" in stream
    payload = json.loads(stream.split("data:", 1)[1].strip().splitlines()[0])
    assert payload["error"].startswith("z1 must be a finite number")


def test_still_serving_after_bad_input(served):
    client, model, _ = served
    for bad in ("nan", 99):
        with pytest.raises(AppError):
            client.predict(bad, 0, api_name="/generate")
    np.testing.assert_allclose(png(client.predict(0.1, 0.2, api_name="/generate")).astype(int),
                               decode(model, 0.1, 0.2).astype(int), atol=1)


# ---------------------------------------------------------------------------------------------------------
# the README's examples run as written


def readme_examples() -> list[str]:
    """The ```python blocks of the API section: README.md once the docs are merged, docs/app.md until then."""
    for name in ("README.md", "docs/app.md"):
        text = (PRETRAINED.parent / name).read_text()
        blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
        api = [b for b in blocks if "gradio_client" in b and "api_name=" in b]
        if api:
            return api
    raise AssertionError("no gradio_client example in README.md or docs/app.md")


def test_the_readme_api_examples_run(served, monkeypatch, capsys):
    client, model, url = served
    monkeypatch.chdir(PRETRAINED.parent)  # the examples use paths relative to the repository's root
    namespace: dict = {}
    for block in readme_examples():
        exec(compile(block.replace('"http://127.0.0.1:7860/"', repr(url)), "README example", "exec"), namespace)
    printed = capsys.readouterr().out
    assert "'mu': [" in printed and "-ELBO" in printed
    assert "z1 = 4 is outside the latent range [-3, 3]" in printed  # the error example prints the message
    assert png(namespace["digit"]).shape == (28, 28) and png(namespace["grid"]).shape == (280, 280, 3)


def test_the_examples_are_mnist_test_digits(mnist_test):
    """static/examples/digit-D-mnist-test-IIIII.png: test-split image IIIII, whose label is D, one per class."""
    images, labels = mnist_test
    files = sorted((PRETRAINED.parent / "static" / "examples").glob("*.png"))
    assert len(files) == 10
    digits = set()
    for path in files:
        match = re.fullmatch(r"digit-(\d)-mnist-test-(\d{5})\.png", path.name)
        assert match, path.name
        digit, index = int(match[1]), int(match[2])
        assert labels[index] == digit
        np.testing.assert_array_equal(png(path), images[index])
        digits.add(digit)
    assert digits == set(range(10))
