"""The API as MCP tools, for LLM agents: the launched app's MCP server (Gradio's, streamable HTTP at
/gradio_api/mcp/) listed and called through the `mcp` package's own client. Each tool is described by its
endpoint's docstring; all but /upload_model answer with the bundled model's own values (pixels, posterior, figures, the
exact likelihood, the replay's frames), computed here; images come back as images.

Run: python -m pytest tests/test_mcp.py   (about 15 s)
"""

from __future__ import annotations

import ast
import asyncio
import base64
import io
import json
import re

import httpx
import numpy as np
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamablehttp_client
from PIL import Image, ImageSequence

from conftest import PRETRAINED, REPO
from hub_repos import differs
from vae.explorer import Explorer
from vae.imaging import to_uint8
from vae.posterior_map import posterior_heat_map
from vae.preprocess import load_image, preprocess_digit
from webapp.replay import replay_for, snapshot_count

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

EXAMPLE = REPO / "static" / "examples" / "digit-3-mnist-test-00018.png"
SNAPSHOTS = PRETRAINED / "snapshots.safetensors"


@pytest.fixture(scope="module")
def mcp_url(bundled_model, tmp_path_factory):
    import app
    from webapp.models import ModelEntry

    stated = json.loads((PRETRAINED / "results.json").read_text())["elbo"]
    demo = app.build_demo(ModelEntry(bundled_model, "test model", test_elbo=stated, folder=PRETRAINED),
                          options=app.Options(bundle_dir=tmp_path_factory.mktemp("bundle")))
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True, **app.launch_options())
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
    assert set(tools) == {"generate", "grid", "interpolate", "encode", "reconstruct", "likelihood", "models", "replay",
                          "upload_model"}
    assert tools["generate"].description.startswith("The decoded digit at (z1, z2)")
    assert set(tools["grid"].inputSchema["properties"]) == {"z1", "z2", "span", "model", "snapshot"}
    assert "Hub model id" in json.dumps(tools["encode"].inputSchema)  # the arguments' docs reach the agent


def image_of(result) -> np.ndarray:
    """A tool's image content -> its pixels (of an animated GIF, Gradio's MCP server sends the first frame)."""
    item = next(c for c in result.content if c.type == "image")
    with Image.open(io.BytesIO(base64.b64decode(item.data))) as im:
        return np.asarray(im.convert("L") if item.mimeType == "image/gif" else im)


def frames_at(result, mode: str) -> np.ndarray:
    """The whole animated GIF behind a tool's "Image URL: ..." -> its frames in `mode` ("L": grey, "RGB")."""
    url = re.search(r"Image URL: (\S+)", " ".join(c.text for c in result.content if c.type == "text"))[1]
    with Image.open(io.BytesIO(httpx.get(url, timeout=30).content)) as im:
        return np.stack([np.asarray(frame.convert(mode)) for frame in ImageSequence.Iterator(im)])


def png_at(url: str) -> np.ndarray:
    with Image.open(io.BytesIO(httpx.get(url, timeout=30).content)) as im:
        return np.asarray(im)


def value_of(result):
    """A tool's text content -> the Python value it spells (Gradio's MCP server writes repr() of the result)."""
    return ast.literal_eval(" ".join(c.text for c in result.content if c.type == "text"))


def test_every_tool_answers_with_the_models_values(mcp_url, bundled_model, tmp_path):
    picture = "data:image/png;base64," + base64.b64encode(EXAMPLE.read_bytes()).decode()
    calls = {"generate": {"z1": 0.5, "z2": -1.0}, "grid": {"z1": 0.5, "z2": -1.0, "span": 1.0},
             "interpolate": {"z1_a": -1.0, "z2_a": 0.5, "z1_b": 1.0, "z2_b": -0.5, "steps": 5},
             "encode": {"image": picture}, "reconstruct": {"image": picture}, "likelihood": {"image": picture},
             "models": {},
             "replay": {"z1": 0.25, "z2": -0.25, "span": 1.0}}

    async def work(session):
        return {name: await session.call_tool(name, arguments) for name, arguments in calls.items()}

    got = session_run(mcp_url, work)
    assert set(got) == set(calls) and not any(result.isError for result in got.values())
    explorer = Explorer(bundled_model)
    assert differs(image_of(got["generate"]), explorer.digit(0.5, -1.0)) <= 1
    assert differs(image_of(got["grid"]), explorer.grid(0.5, -1.0, 1.0)) <= 1
    path = explorer.interpolation(-1.0, 0.5, 1.0, -0.5, 5)
    assert differs(image_of(got["interpolate"]), path[0]) <= 1
    assert differs(frames_at(got["interpolate"], "L"), path) <= 1

    x = preprocess_digit(load_image(EXAMPLE))
    mu, sigma = explorer.posterior(x)
    posterior = value_of(got["encode"])
    np.testing.assert_allclose(posterior["mu"], mu, rtol=0, atol=1e-6)
    np.testing.assert_allclose(posterior["sigma"], sigma, rtol=0, atol=1e-6)
    pre, rec, stats = value_of(got["reconstruct"])
    recon, expected = explorer.reconstruct(x)
    assert stats.keys() == expected.keys()
    for name in expected:
        np.testing.assert_allclose(stats[name], expected[name], rtol=1e-6, atol=1e-6, err_msg=name)
    assert differs(png_at(pre["url"]), to_uint8(x)) == 0 and differs(png_at(rec["url"]), recon) <= 1
    heat, figures = value_of(got["likelihood"])
    account = explorer.likelihood(x)
    for name in ("exact", "elbo", "iwae"):
        assert figures[name] == pytest.approx(getattr(account, name), abs=1e-6), name
    picture, _ = posterior_heat_map(account.posterior, account.q_mean, account.q_sigma)
    assert differs(png_at(heat["url"]), picture) == 0

    stated = json.loads((PRETRAINED / "results.json").read_text())["elbo"]
    assert value_of(got["models"]) == [{"name": "default", "arch": bundled_model.config.arch, "dataset": "mnist",
                                        "source": "test model", "test_elbo": stated,
                                        "snapshots": snapshot_count(SNAPSHOTS)}]
    frames = frames_at(got["replay"], "RGB")
    replay = replay_for(bundled_model, PRETRAINED, tmp_path)
    with Image.open(io.BytesIO(replay.gif(0.25, -0.25, 1.0))) as gif:
        expected_frames = np.stack([np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(gif)])
    assert len(frames) == len(expected_frames) == snapshot_count(SNAPSHOTS)
    assert differs(frames, expected_frames) <= 1


def test_a_bad_argument_is_an_error_that_says_why(mcp_url):
    async def work(session):
        return await session.call_tool("generate", {"z1": 9.0, "z2": 0.0})

    bad = session_run(mcp_url, work)
    assert bad.isError and "outside the latent range" in " ".join(c.text for c in bad.content if c.type == "text")
