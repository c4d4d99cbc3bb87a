"""The page's HTML is sent compressed to a browser that accepts it (webapp/compress.py), byte for byte the page
sent uncompressed; everything else is served as before (Gradio's own compression of its assets, none for the rest).

Run: python -m pytest tests/test_page_compression.py   (about 20 s on 2 cores)
"""

from __future__ import annotations

import gzip
import re

import brotli
import httpx
import pytest

from vae.latents import load_latents
from webapp.models import ModelEntry

from conftest import PRETRAINED

BROWSER = "gzip, deflate, br, zstd"  # what Chromium sends


@pytest.fixture(scope="module")
def url(bundled_model, tmp_path_factory):
    """The app launched as `python app.py` launches it."""
    import app

    demo = app.build_demo(ModelEntry(bundled_model, "test model", load_latents(PRETRAINED / "latents.safetensors")),
                          options=app.Options(bundle_dir=tmp_path_factory.mktemp("bundle")))
    _, address, _ = demo.launch(prevent_thread_lock=True, quiet=True, **app.launch_options())
    yield address
    demo.close()


def fetch(address: str, accept: str, method: str = "GET") -> tuple[httpx.Headers, bytes]:
    """(headers, body as it crossed the wire, not decoded)."""
    with httpx.Client(timeout=60) as client, client.stream(method, address, headers={"Accept-Encoding": accept}) as r:
        assert r.status_code == 200, (address, r.status_code)
        return r.headers, b"".join(r.iter_raw())


def test_the_page_is_compressed_for_a_browser_and_decompresses_to_the_same_page(url):
    headers, plain = fetch(url, "identity")
    assert "content-encoding" not in headers
    assert b'"api_prefix"' in plain  # the page with its config, what is worth compressing
    for accept, encoding, decompress, query in [(BROWSER, "br", brotli.decompress, ""),
                                                ("gzip", "gzip", gzip.decompress, "?z1=0.5&z2=-1"),
                                                ("br;q=0, gzip", "gzip", gzip.decompress, "")]:
        headers, body = fetch(url + query, accept)
        assert headers["content-encoding"] == encoding, accept
        assert "accept-encoding" in headers["vary"].lower()  # a cache keeps one copy per encoding
        assert int(headers["content-length"]) == len(body) < len(plain) / 4, (accept, len(body), len(plain))
        assert decompress(body) == plain, accept


def test_what_is_not_the_page_is_served_as_before(url):
    headers, plain = fetch(url, "identity")
    script = re.search(r'src="\./(assets/[^"]+\.js)"', plain.decode()).group(1)
    # Gradio's assets: compressed by Gradio (brotli once, not twice), decoding to the file
    _, original = fetch(url + script, "identity")
    headers, body = fetch(url + script, BROWSER)
    assert headers["content-encoding"] == "br"
    assert brotli.decompress(body) == original
    # the config as JSON (no text extension: Gradio leaves it as it is, and so does the page's compression)
    headers, _ = fetch(url + "config", BROWSER)
    assert "content-encoding" not in headers
    # HEAD of the page: no body to compress
    headers, body = fetch(url, BROWSER, "HEAD")
    assert "content-encoding" not in headers and body == b""


def test_each_launch_gets_its_own_app_arguments(url):
    """Gradio writes its lifespan into app_kwargs at launch: the next launch's arguments must not carry it."""
    import app

    assert app.launch_options()["app_kwargs"].keys() == {"middleware"}
