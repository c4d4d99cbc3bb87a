"""/interpolate: the animated GIF of the digits along a straight path between two latent points. First the GIF
writer on its own (every grey level and every frame read back exactly by Pillow, repeated frames kept), then the
endpoint through gradio_client on a launched app with the bundled model and "reference": frame count, frames
against the model's own decode at the linspace points and against /generate at both ends and the middle, the
file's timing and looping, the bounds of steps, and every bad argument's message (the server keeps serving).

Run: python -m pytest tests/test_interpolate.py   (about 15 s on 2 cores)
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from gradio_client import Client
from gradio_client.exceptions import AppError
from PIL import Image, ImageSequence

from vae import VAE
from vae.imaging import GIF_FRAME_MS, gif_bytes, latent_path, to_uint8
from webapp.models import ModelEntry

from conftest import PRETRAINED, png

pytestmark = pytest.mark.filterwarnings(  # raised inside gradio's queue by pandas 3, not by this app
    "ignore:'future.no_silent_downcasting' is deprecated", "ignore:The copy keyword is deprecated")

STEPS_MESSAGE = "steps must be a whole number from 2 to 120 (the GIF's frame count, both ends included); got {!r}."


@pytest.fixture(scope="module")
def served(bundled_model, tmp_path_factory):
    """(client, {"default": model, "reference": model}, url): build_demo launched as the app launches it."""
    import app

    reference = VAE.from_pretrained(PRETRAINED / "reference")
    demo = app.build_demo(ModelEntry(bundled_model, "test model"),
                          {"reference": ModelEntry.from_folder(PRETRAINED / "reference")},
                          app.Options(bundle_dir=tmp_path_factory.mktemp("bundle")))
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True, **app.launch_options())
    yield Client(url, verbose=False), {"default": bundled_model, "reference": reference}, url
    demo.close()


def read_gif(source) -> tuple[np.ndarray, list[dict]]:
    """A GIF file (path or bytes) -> (every frame as Pillow composes it, converted to grey: uint8 (N, H, W),
    each frame's info)."""
    with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as im:
        assert im.format == "GIF"
        frames, infos = [], []
        for frame in ImageSequence.Iterator(im):
            frames.append(np.asarray(frame.convert("L")))
            infos.append(dict(frame.info))
        assert im.n_frames == len(frames)
    return np.stack(frames), infos


def decoded_path(model: VAE, z_a, z_b, steps: int) -> np.ndarray:
    """The model's own digits at z_a + t (z_b - z_a), t = linspace(0, 1, steps), written as the issue states it."""
    t = np.linspace(0, 1, steps)[:, None]
    z = np.asarray(z_a) + t * (np.asarray(z_b) - np.asarray(z_a))
    with torch.inference_mode():
        return to_uint8(model.decode(torch.tensor(z, dtype=torch.float32)).numpy()[:, 0])


def assert_same_digits(got: np.ndarray, expected: np.ndarray) -> None:
    """Equal up to 1 grey level, and exactly equal almost everywhere: a batch of decodes sums in another order than a
    single decode (or than a batch of another size), which moves round(255 p) by 1 at a rare pixel."""
    assert got.shape == expected.shape
    difference = np.abs(got.astype(int) - expected.astype(int))
    assert difference.max() <= 1
    assert np.mean(difference == 0) >= 0.999, f"{np.sum(difference > 0)} of {difference.size} pixels differ"


# ---------------------------------------------------------------------------------------------------------
# the GIF writer on its own


def test_every_grey_level_and_every_frame_reads_back_exactly():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (9, 28, 28), dtype=np.uint8)
    frames[0].flat[:256] = np.arange(256)  # all 256 levels in one frame
    frames[4] = frames[3]  # a repeated frame: Image.save(save_all=True) would drop it
    frames[5] = 0  # a black frame, then one that changes a single pixel
    frames[6] = 0
    frames[6, 27, 27] = 200
    data = gif_bytes(frames)
    back, infos = read_gif(data)
    np.testing.assert_array_equal(back, frames)
    assert all(info["duration"] == GIF_FRAME_MS for info in infos)
    assert infos[0]["loop"] == 0  # forever
    assert data.startswith(b"GIF89a") and data.endswith(b";")
    assert gif_bytes(frames) == data  # deterministic: the cache names the file by its content


def test_a_still_animation_keeps_all_its_frames():
    frames = np.full((30, 28, 28), 17, np.uint8)
    back, infos = read_gif(gif_bytes(frames, frame_ms=100))
    assert len(back) == 30 and np.all(back == 17)
    assert [info["duration"] for info in infos] == [100] * 30


def test_the_gif_writer_refuses_what_it_cannot_write():
    with pytest.raises(ValueError, match="uint8 grey frames"):
        gif_bytes(np.zeros((3, 28, 28), np.float32))
    with pytest.raises(ValueError, match="uint8 grey frames"):
        gif_bytes(np.zeros((28, 28), np.uint8))
    with pytest.raises(ValueError, match="1/100 s"):
        gif_bytes(np.zeros((2, 28, 28), np.uint8), frame_ms=65)


def test_the_path_starts_and_ends_exactly_at_its_points():
    z_a, z_b = (0.1, -2.9), (0.3, 2.7)  # 0.1 + (0.3 - 0.1) is not 0.3 in floating point
    path = latent_path(z_a, z_b, 7)
    assert path.dtype == np.float32 and path.shape == (7, 2)
    assert np.array_equal(path[0], np.float32(z_a)) and np.array_equal(path[-1], np.float32(z_b))
    np.testing.assert_allclose(path[3], np.float32([0.2, -0.1]), atol=1e-7)


# ---------------------------------------------------------------------------------------------------------
# the endpoint


def test_the_frames_are_the_models_decode_along_the_path(served):
    client, models, _ = served
    z_a, z_b = (-2.0, 1.5), (2.5, -1.0)
    path = client.predict(*z_a, *z_b, api_name="/interpolate")  # steps defaults to 16
    assert Path(path).suffix == ".gif"
    frames, infos = read_gif(path)
    assert frames.shape == (16, 28, 28)
    assert_same_digits(frames, decoded_path(models["default"], z_a, z_b, 16))
    assert all(info["duration"] == 60 for info in infos) and infos[0]["loop"] == 0
    assert len({frame.tobytes() for frame in frames}) > 8  # the path crosses digits: the frames differ
    assert Path(client.predict(*z_a, *z_b, 16, api_name="/interpolate")).read_bytes() == Path(path).read_bytes()


def test_the_ends_and_the_middle_are_what_generate_gives(served):
    client, _, _ = served
    z_a, z_b, steps = (1.2, -0.7), (-2.4, 2.9), 17  # odd: frame 8 is t = 0.5
    frames, _ = read_gif(client.predict(*z_a, *z_b, steps, api_name="/interpolate"))
    assert len(frames) == steps
    middle = [(a + b) / 2 for a, b in zip(z_a, z_b)]
    for frame, z in [(frames[0], z_a), (frames[8], middle), (frames[-1], z_b)]:
        assert_same_digits(frame, png(client.predict(*z, api_name="/generate")))


@pytest.mark.parametrize("steps", [2, 120])
def test_the_fewest_and_the_most_frames(served, steps):
    client, models, _ = served
    z_a, z_b = (-3.0, -3.0), (3.0, 3.0)
    frames, _ = read_gif(client.predict(*z_a, *z_b, steps, api_name="/interpolate"))
    assert len(frames) == steps
    assert_same_digits(frames, decoded_path(models["default"], z_a, z_b, steps))
    assert_same_digits(frames[0], png(client.predict(*z_a, api_name="/generate")))
    assert_same_digits(frames[-1], png(client.predict(*z_b, api_name="/generate")))


def test_a_path_that_stands_still_has_all_its_frames(served):
    client, _, _ = served
    frames, infos = read_gif(client.predict(0.5, 0.5, 0.5, 0.5, 30, api_name="/interpolate"))
    assert len(frames) == 30 and len(infos) == 30
    assert all(np.array_equal(frame, frames[0]) for frame in frames)


def test_steps_given_as_a_whole_float_or_numeric_string(served):
    """The schema says integer; 16.0 and "16" (what a loose JSON client may send) mean 16, as z accepts "0.5"."""
    client, _, _ = served
    expected = Path(client.predict(0.0, 1.0, 1.0, 0.0, 16, api_name="/interpolate")).read_bytes()
    for steps in (16.0, "16"):
        assert Path(client.predict(0.0, 1.0, 1.0, 0.0, steps, api_name="/interpolate")).read_bytes() == expected


def test_the_reference_model(served):
    client, models, _ = served
    z_a, z_b = (-1.0, 0.5), (1.5, -2.0)
    frames, _ = read_gif(client.predict(*z_a, *z_b, 12, model="reference", api_name="/interpolate"))
    assert_same_digits(frames, decoded_path(models["reference"], z_a, z_b, 12))
    default, _ = read_gif(client.predict(*z_a, *z_b, 12, api_name="/interpolate"))
    assert not np.array_equal(frames, default)


# ---------------------------------------------------------------------------------------------------------
# bad input: a clear message, and the server keeps serving


@pytest.mark.parametrize("steps", [1, 121, 0, -3, 2.5, "nan", "inf", "16.5", "abc", None, True, False, 10**30, [16]])
def test_bad_steps_get_a_clear_message(served, steps):
    client, _, _ = served
    with pytest.raises(AppError, match=re.escape(STEPS_MESSAGE.format(steps))):
        client.predict(0.0, 0.0, 1.0, 1.0, steps, api_name="/interpolate")


@pytest.mark.parametrize("position, name", [(0, "z1_a"), (1, "z2_a"), (2, "z1_b"), (3, "z2_b")])
@pytest.mark.parametrize("value, message", [
    ("nan", "{name} must be a finite number between -3 and 3; got 'nan'"),
    ("-inf", "{name} must be a finite number between -3 and 3"),
    (3.5, r"{name} = 3.5 is outside the latent range \[-3, 3\]"),
    (-10, r"{name} = -10 is outside the latent range \[-3, 3\]"),
    ("abc", "{name} must be a number between -3 and 3; got 'abc'"),
    (None, "{name} must be a number between -3 and 3; got None"),
])
def test_bad_latent_points_get_a_clear_message(served, position, name, value, message):
    client, _, _ = served
    args = [0.0, 0.0, 1.0, 1.0]
    args[position] = value
    with pytest.raises(AppError, match=message.format(name=name)):
        client.predict(*args, api_name="/interpolate")


def test_an_unknown_model_gets_a_clear_message(served):
    client, _, _ = served
    with pytest.raises(AppError, match="No bundled model named 'nonexistent'"):
        client.predict(0.0, 0.0, 1.0, 1.0, model="nonexistent", api_name="/interpolate")


def test_raw_http_nan_steps_gets_the_same_message(served):
    """A JSON client other than gradio_client can send a bare NaN; it is refused like the string 'nan'."""
    _, _, url = served
    post = httpx.post(url + "gradio_api/call/interpolate", content='{"data": [0, 0, 1, 1, NaN, "default"]}',
                      headers={"content-type": "application/json"}, timeout=30)
    stream = httpx.get(url + f"gradio_api/call/interpolate/{post.json()['event_id']}", timeout=30).text
    assert "event: error" in stream
    payload = json.loads(stream.split("data:", 1)[1].strip().splitlines()[0])
    assert payload["error"] == STEPS_MESSAGE.format(float("nan"))


def test_still_serving_after_bad_input(served):
    client, models, _ = served
    for steps in (0, "nan", 10**6):
        with pytest.raises(AppError):
            client.predict(0.0, 0.0, 1.0, 1.0, steps, api_name="/interpolate")
    frames, _ = read_gif(client.predict(0.0, 0.0, 1.0, 1.0, 5, api_name="/interpolate"))
    assert_same_digits(frames, decoded_path(models["default"], (0.0, 0.0), (1.0, 1.0), 5))
