"""The API as MCP tools, for LLM agents: the launched app's MCP server (Gradio's, streamable HTTP at
/gradio_api/mcp/) listed and called through the `mcp` package's own client. Each tool is described by its
endpoint's docstring; images come back as images.

Run: python -m pytest tests/test_mcp.py   (about 15 s)
"""

from __future__ import annotations

import asyncio
import base64
import io
import json

import numpy as np
import pytest
import torch
from mcp import ClientSession
from mcp.client.streamable_http import streamablehttp_client
from PIL import Image

from conftest import REPO
from vae.imaging import to_uint8

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

EXAMPLE = REPO / "static" / "examples" / "digit-3-mnist-test-00018.png"


@pytest.fixture(scope="module")
def mcp_url(bundled_model, tmp_path_factory):
    import app
    from webapp.models import ModelEntry

    demo = app.build_demo(ModelEntry(bundled_model, "test model"),
                          options=app.Options(bundle_dir=tmp_path_factory.mktemp("bundle")))
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True, **app.LAUNCH_OPTIONS)
    yield url + "gradio_api/mcp/"
    demo.close()


def session_run(url: str, work):
    """Run `work(session)` in an MCP client session against `url`; -> its result."""
    async def main():
        async with streamablehttp_client(url) as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                return await work(session)

    return asyncio.run(main())


def test_the_endpoints_are_tools_described_by_their_docstrings(mcp_url):
    async def work(session):
        return (await session.list_tools()).tools

    tools = {t.name: t for t in session_run(mcp_url, work)}
    assert set(tools) == {"generate", "grid", "interpolate", "encode", "reconstruct", "models", "replay"}
    assert tools["generate"].description.startswith("The decoded digit at (z1, z2)")
    assert set(tools["grid"].inputSchema["properties"]) == {"z1", "z2", "span", "model", "snapshot"}
    assert "Hub model id" in json.dumps(tools["encode"].inputSchema)  # the arguments' docs reach the agent


def test_generate_returns_an_image_and_encode_takes_one(mcp_url, bundled_model):
    picture = "data:image/png;base64," + base64.b64encode(EXAMPLE.read_bytes()).decode()

    async def work(session):
        digit = await session.call_tool("generate", {"z1": 0.5, "z2": -1.0})
        posterior = await session.call_tool("encode", {"image": picture})
        models = await session.call_tool("models", {})
        bad = await session.call_tool("generate", {"z1": 9.0, "z2": 0.0})
        return digit, posterior, models, bad

    digit, posterior, models, bad = session_run(mcp_url, work)
    image = next(c for c in digit.content if c.type == "image")
    assert image.mimeType == "image/png" and not digit.isError
    pixels = np.asarray(Image.open(io.BytesIO(base64.b64decode(image.data))))
    with torch.inference_mode():
        expected = to_uint8(bundled_model.decode(torch.tensor([[0.5, -1.0]])).numpy()[0, 0])
    assert np.abs(pixels.astype(int) - expected).max() <= 1
    from vae.explorer import Explorer
    from vae.preprocess import load_image, preprocess_digit

    mu, _ = Explorer(bundled_model).posterior(preprocess_digit(load_image(EXAMPLE)))
    text = " ".join(c.text for c in posterior.content if c.type == "text")
    assert f"{mu[0]:.6f}"[:7] in text and not posterior.isError
    assert "'name': 'default'" in " ".join(c.text for c in models.content if c.type == "text")
    assert bad.isError and "outside the latent range" in " ".join(c.text for c in bad.content if c.type == "text")
