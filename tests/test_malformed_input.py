"""Malformed input against the launched app (`python app.py` in a subprocess, one launch for the module): every
public endpoint gets bad numbers (NaN, ±inf, 1e308) through gradio_client, and over raw HTTP what the client
will not send (null, strings, missing or extra arguments, a body that is not JSON, a file argument that is not a
file); the image endpoints get a corpus of odd files (not an image, truncated, zero bytes, 1×1, a 20000×20000
decompression bomb, 16-bit grey, CMYK JPEG, palette PNG with transparency, animated GIF, SVG, all white, all
black, an empty canvas, a file over the upload limit). Each gets a result or a clear message without traceback
text; after each a valid call still succeeds; and the uploads and outputs do not pile up in Gradio's cache.

Run: python -m pytest tests/test_malformed_input.py   (about a minute on 2 cores)
"""

from __future__ import annotations

import json
import struct
import time
import zlib
from pathlib import Path

import httpx
import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from app_server import files_under, launch_app

pytestmark = pytest.mark.filterwarnings(
    "ignore:'future.no_silent_downcasting' is deprecated", "ignore:The copy keyword is deprecated")

CACHE_SECONDS = 4  # the app deletes uploads and outputs older than this (VAE_CACHE_SECONDS)
TRACEBACK_MARKERS = ("Traceback", 'File "', "Exception", "site-packages")


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    server = launch_app(tmp_path_factory.mktemp("app"), VAE_CACHE_SECONDS=str(CACHE_SECONDS))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def client(app):
    return Client(app.url, verbose=False)


def assert_clear(message: str) -> None:
    assert message and len(message) < 400, message
    for marker in TRACEBACK_MARKERS:
        assert marker not in message, message


def still_serving(client) -> None:
    """A valid call right after a bad one gets the right answer."""
    with Image.open(client.predict(0.5, -0.5, api_name="/generate")) as im:
        assert im.size == (28, 28)


# ---------------------------------------------------------------------------------------------------------
# numbers


@pytest.mark.parametrize("value", [1e308, -1e308, "nan", "inf", "-inf", "1e308"])
@pytest.mark.parametrize("endpoint, position", [("/generate", 0), ("/generate", 1), ("/grid", 0), ("/grid", 1),
                                                ("/grid", 2)])
def test_bad_numbers_through_the_client(client, value, endpoint, position):
    args = [0.0, 0.0] + ([1.5] if endpoint == "/grid" else [])
    args[position] = value
    with pytest.raises(AppError) as caught:
        client.predict(*args, api_name=endpoint)
    message = str(caught.value)
    assert_clear(message)
    name = ["z1", "z2", "span"][position]
    assert message.startswith(name) and ("finite" in message or "outside" in message or "at most" in message), message
    still_serving(client)


def test_the_client_refuses_to_send_a_bare_nan(client):
    """gradio_client's JSON encoder refuses NaN and inf before sending (raw HTTP sends them below)."""
    for value in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match="not JSON compliant"):
            client.predict(value, 0.0, api_name="/generate")
    still_serving(client)


def call_raw(url: str, endpoint: str, body: str | bytes) -> tuple[int, str, str]:
    """POST /gradio_api/call/<endpoint> then read its event stream -> (POST status, event name, message or data)."""
    post = httpx.post(url + f"gradio_api/call/{endpoint}", content=body,
                      headers={"content-type": "application/json"}, timeout=30)
    if post.status_code != 200:
        return post.status_code, "http", post.text
    event_id = post.json()["event_id"]
    stream = httpx.get(url + f"gradio_api/call/{endpoint}/{event_id}", timeout=60).text
    event = stream.split("event:", 1)[1].split("\n", 1)[0].strip()
    data = stream.split("data:", 1)[1].strip().splitlines()[0]
    payload = json.loads(data)
    if event == "error":
        return 200, event, (payload or {}).get("error") if isinstance(payload, dict) else str(payload)
    return 200, event, data


@pytest.mark.parametrize("endpoint, body, expected", [
    # raw HTTP sends every argument, the optional model too (gradio_client fills in the defaults itself)
    ("generate", '{"data": [null, 0, "default", null]}', "z1 must be a number"),
    ("generate", '{"data": [0, "zero", "default", null]}', "z2 must be a number"),
    ("generate", '{"data": [NaN, Infinity, "default", null]}', "z1 must be a finite number"),
    ("generate", '{"data": [1e308, 0, "default", null]}', "outside the latent range"),
    ("generate", '{"data": [[1, 2], 0, "default", null]}', "z1 must be a number"),
    ("generate", '{"data": [{"z": 1}, 0, "default", null]}', "z1 must be a number"),
    ("generate", '{"data": [true, 0, "default", null]}', None),  # a bool is 1.0 to Python: a result, not an error
    ("generate", '{"data": [0, 0, null, null]}', None),  # null: the app's model, its final weights
    ("generate", '{"data": [0, 0, 42, null]}', "model must be a name from /models"),
    ("generate", '{"data": [0, 0, "/etc/passwd", null]}', "Files on the server are never loaded"),
    ("generate", '{"data": [0, 0, "default", 0]}', None),  # the first training snapshot
    ("generate", '{"data": [0, 0, "default", -1]}', None),  # the last
    ("generate", '{"data": [0, 0, "default", 13]}', "from 0 to 12"),  # the bundled model has 13
    ("generate", '{"data": [0, 0, "default", 1.5]}', "snapshot must be a whole number"),
    ("generate", '{"data": [0, 0, "default", true]}', "snapshot must be a whole number"),
    ("generate", '{"data": [0, 0, "default", "first"]}', "snapshot must be a whole number"),
    ("generate", '{"data": [0, 0, "default"]}', ""),  # missing argument: Gradio refuses the call before the app sees it
    ("generate", '{"data": [0]}', ""),
    ("generate", '{"data": []}', ""),
    ("generate", '{"data": [0, 0, "default", null, 0]}', None),  # extra arguments are ignored
    ("grid", '{"data": [0, 0, null, null, null]}', None),  # null: span's default, 1.5
    ("grid", '{"data": [0, 0, "wide", "default", null]}', "span must be a number"),
    ("grid", '{"data": [0, 0, 1.5, "default", "-1"]}', None),  # a numeric string: the last snapshot
    ("grid", '{"data": [0, 0, 1.5]}', ""),  # too few values: refused by Gradio
    ("replay", '{"data": ["default", 0, 0, null]}', None),
    ("replay", '{"data": ["default", 9, 0, null]}', "outside the latent range"),
    ("encode", '{"data": [null, "default"]}', "No image given"),
    ("encode", '{"data": ["", "default"]}', "No image given"),
    ("encode", '{"data": [42, "default"]}', "must be an uploaded file"),  # not a file object
    ("encode", '{"data": [{"path": "/etc/passwd"}, "default"]}', "must be an uploaded file"),  # no file marker:
    ("encode", '{"data": ["/etc/passwd", "default"]}', "must be an uploaded file"),  # Gradio does not check it
    ("encode", '{"data": []}', ""),
    ("reconstruct", '{"data": [null, "default"]}', "No image given"),
    ("reconstruct", '{"data": ["not a file", "default"]}', "must be an uploaded file"),
    ("reconstruct", '{"data": [{"path": "nowhere.png", "meta": {"_type": "gradio.FileData"}}, "default"]}', ""),
])
def test_what_the_client_would_not_send_over_raw_http(app, client, endpoint, body, expected):
    """expected: None = a result; a text = an error event carrying that message; "" = an error event whose message
    Gradio withholds (its own validation refused the call before the app ran: wrong argument count, a file object
    naming a path Gradio did not receive), so nothing about the server leaks. A file argument that is not a file
    object at all gets the app's message: the app opens only files inside Gradio's upload folder."""
    status, event, message = call_raw(app.url, endpoint, body)
    if expected is None:
        assert (status, event) == (200, "complete"), message
    elif expected:
        assert event == "error", (status, event, message)
        assert_clear(message)
        assert expected in message, message
    else:
        assert event == "error" and message is None, (status, event, message)
    still_serving(client)


@pytest.mark.parametrize("body", [b"not json", b'{"data": 5}', b'{"nodata": []}', b"\xff\xfe", b"[]"])
def test_a_body_that_is_not_a_call_is_refused(app, client, body):
    status, event, message = call_raw(app.url, "generate", body)
    assert status in (400, 422) or event == "error", (status, event, message)
    assert "Traceback" not in message
    still_serving(client)


# ---------------------------------------------------------------------------------------------------------
# files


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb_png(path: Path, side: int = 20000) -> None:
    """A valid greyscale PNG of side x side zero pixels (400 MB decoded) in a few hundred kB, streamed."""
    compressor = zlib.compressobj(9)
    row = bytes(side + 1)  # filter byte + pixels
    idat = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", idat)
                     + png_chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def digit(mnist_test) -> np.ndarray:
    """An MNIST test digit drawn dark on light at 4x, as a photo or scan would show it."""
    big = Image.fromarray(255 - mnist_test[0][0]).resize((112, 112), Image.Resampling.BILINEAR)
    return np.asarray(big)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, digit) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("corpus")
    files = {}

    def path(name):
        files[name] = folder / name
        return files[name]

    path("digit.png").write_bytes(b"")
    Image.fromarray(digit).save(files["digit.png"])
    path("bytes.png").write_bytes(bytes(range(256)) * 40)
    whole = files["digit.png"].read_bytes()
    path("truncated.png").write_bytes(whole[: len(whole) // 2])
    path("zero.png").write_bytes(b"")
    Image.new("L", (1, 1), 0).save(path("one-pixel.png"))
    bomb_png(path("bomb.png"))
    Image.fromarray(digit.astype(np.uint16) * 257).save(path("grey16.png"))  # mode I;16
    Image.fromarray(digit).convert("CMYK").save(path("cmyk.jpg"), quality=95)
    # an icon-like palette PNG: crisp black ink (index 0) on a transparent background (index 1, white)
    crisp = np.where(digit < 128, 0, 255).astype(np.uint8)
    Image.fromarray(crisp).save(path("crisp.png"))
    palette = Image.fromarray((crisp > 0).astype(np.uint8), "P")
    palette.putpalette([0, 0, 0, 255, 255, 255])
    palette.save(path("palette.png"), transparency=1)
    frames = [Image.fromarray(digit).convert("P"), Image.new("P", (112, 112), 0)]
    frames[0].save(path("animated.gif"), save_all=True, append_images=frames[1:], duration=100, loop=0)
    path("digit.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="28" height="28">'
                                 '<text x="4" y="24" font-size="24">7</text></svg>')
    Image.new("L", (300, 300), 255).save(path("white.png"))
    Image.new("L", (300, 300), 0).save(path("black.png"))
    Image.new("RGBA", (280, 280), (0, 0, 0, 0)).save(path("empty-canvas.png"))
    return files


GOOD = {"grey16.png": "digit.png", "cmyk.jpg": "digit.png", "animated.gif": "digit.png",  # file -> same digit as
        "palette.png": "crisp.png"}
BAD = {  # file -> what the message must say
    "bytes.png": "'bytes.png' is not an image this app can read",
    "truncated.png": "'truncated.png' could not be decoded",
    "zero.png": "'zero.png' is not an image",
    "one-pixel.png": "No digit found",
    "bomb.png": "'bomb.png' has 400 megapixels; the limit is 64",
    "digit.svg": "'digit.svg' is not an image",
    "white.png": "No digit found",
    "black.png": "No digit found",
    "empty-canvas.png": "No digit found",
}


@pytest.mark.parametrize("endpoint", ["/encode", "/reconstruct"])
def test_odd_files_get_a_result_or_a_clear_message(client, corpus, endpoint):
    for name, plain in GOOD.items():  # the same digit in other encodings lands where the plain PNG does
        reference = client.predict(handle_file(str(corpus[plain])), api_name="/encode")["mu"]
        result = client.predict(handle_file(str(corpus[name])), api_name=endpoint)
        mu = result["mu"] if endpoint == "/encode" else result[2]["mu"]
        assert np.allclose(mu, reference, atol=0.15), (name, mu, reference)
        still_serving(client)
    for name, message in BAD.items():
        started = time.monotonic()
        with pytest.raises(AppError) as caught:
            client.predict(handle_file(str(corpus[name])), api_name=endpoint)
        assert message in str(caught.value), (name, str(caught.value))
        assert_clear(str(caught.value))
        assert time.monotonic() - started < 20, name  # refused, not decoded: the bomb costs no 400 MB decode
        still_serving(client)


def test_a_file_over_the_upload_limit_is_refused(app, client, tmp_path):
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(10 * 2**20 + 1))
    with pytest.raises(ValueError, match="exceeds the maximum file size"):
        client.predict(handle_file(str(big)), api_name="/reconstruct")
    response = httpx.post(app.url + "gradio_api/upload", files={"files": ("big.png", big.read_bytes())}, timeout=60)
    assert response.status_code == 413 and "Traceback" not in response.text
    still_serving(client)


# ---------------------------------------------------------------------------------------------------------
# nothing piles up (runs last: the calls above filled the cache)


@pytest.mark.slow
def test_uploads_and_outputs_do_not_pile_up(app, client, corpus):
    for _ in range(3):
        client.predict(handle_file(str(corpus["digit.png"])), api_name="/reconstruct")
        client.predict(0.25, 0.25, 1.0, api_name="/grid")
    assert files_under(app.cache), "the calls above wrote uploads and outputs to the cache"
    deadline = time.monotonic() + 4 * CACHE_SECONDS + 10
    while files_under(app.cache) and time.monotonic() < deadline:
        time.sleep(1)
    left = [(str(p.relative_to(app.cache)), p.stat().st_size) for p in files_under(app.cache)]
    assert left == [], "the cache still holds files older than VAE_CACHE_SECONDS"
    # the temporary folder holds the page's weight bundle and nothing else (no .part files, no spilled uploads)
    left = [p.relative_to(app.tmp) for p in files_under(app.tmp)]
    assert all(p.parts[0] == "vae-explorer" and p.suffix == ".safetensors" for p in left), left
    assert app.alive()
    still_serving(client)
