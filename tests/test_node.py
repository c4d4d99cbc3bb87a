"""The page's DOM-free core (static/js/core/) under Node, against numbers PyTorch computed: this test writes the
fixtures (page bundles, compact as the app writes them, of the spec's mlp and of a resmlp with LayerNorm, SiLU and
residual blocks; a replay bundle whose snapshots hold int8 and float16 matrices, float16 with subnormal values; the
decoders' outputs; latent map positions computed here from the map's limit and margins) into a temporary folder
named by $VAE_NODE_FIXTURES, then runs the *.test.mjs files in tests/node/ with `node --test` and fails with their
output. A test file added to tests/node/ runs here too, unless a test module of its own names it (as
tests/test_node_engine.py names engine.test.mjs, whose fixtures it writes).

Needs Node.js 18 or newer (Debian/Ubuntu: apt-get install nodejs). No MNIST, no browser.
Run: python -m pytest tests/test_node.py   (about 40 s on 2 busy cores)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.numpy import save_file

from vae import VAE, VAEConfig
from vae.snapshots import Snapshots, compact_decoder, decode_tensor
from vae.datasets import class_words
from webapp.bundle import write_page_bundle
from webapp.page import MAP_MARGIN
from webapp.replay import write_replay_bundle

from conftest import REPO, node_test

NODE_TESTS = REPO / "tests" / "node"
FIXTURES_ENV = "VAE_NODE_FIXTURES"  # where tests/node/*.test.mjs find what this test writes
POINTS = 37  # decoded points per model: more than one SIMD tile, not a multiple of 4


def run_here(test_file: Path) -> bool:
    """Whether this module runs `test_file`: not when another test module names it (it runs it with its fixtures)."""
    name = f"tests/node/{test_file.name}"
    return not any(name in module.read_text() for module in (REPO / "tests").glob("test_*.py")
                   if module.name != Path(__file__).name)


def latent_points(seed: int) -> np.ndarray:
    """(POINTS, 2) float32: the corners and centre of the sliders' range, then random points beyond it too."""
    rng = np.random.default_rng(seed)
    fixed = [[0, 0], [-3, -3], [3, 3], [-3, 3], [2.95, -0.05]]
    return np.concatenate([fixed, rng.uniform(-4, 4, (POINTS - len(fixed), 2))]).astype(np.float32)


@torch.inference_mode()
def probabilities(model: VAE, points: np.ndarray) -> np.ndarray:
    return model.decode(torch.from_numpy(points)).reshape(len(points), -1).numpy()


def bundled_decoder(model: VAE, path: Path) -> tuple[VAE, dict]:
    """`model` with the decoder weights its page bundle stores (dequantized as vae/snapshots.py does), and the
    bundle's encodings ({} for float32)."""
    with safe_open(path, "numpy") as f:
        encodings = json.loads(f.metadata().get("encodings", "{}"))
        state = {name: decode_tensor(enc, f.get_tensor(name), f.get_tensor(f"{name}.scale") if enc == "int8" else None)
                 for name, enc in encodings.items()}
    copy = VAE(model.config).eval()
    copy.load_state_dict({**model.state_dict(), **state})
    return copy, encodings


def planted_float16(snaps: Snapshots, k: int, name: str) -> None:
    """Store snapshot k's `name` as float16 with values the page must widen exactly: subnormal halves and -0."""
    weights = snaps.decoder_state(k)[name].numpy().astype(np.float16)
    weights.reshape(-1)[:4] = [6e-8, -3e-6, 2.5e-5, -0.0]
    snaps.tensors.pop(f"s{k}.{name}.scale", None)
    snaps.tensors[f"s{k}.{name}"] = weights
    snaps.records[k]["encodings"][name] = "float16"


def replay_snapshots(final: VAE, others: list[VAE], labels: np.ndarray) -> Snapshots:
    """A replay of `others` then `final`, each decoder compact (int8 where exact enough), one matrix float16."""
    rng = np.random.default_rng(3)
    tensors, records = {}, []
    for k, model in enumerate([*others, final]):
        stored, encodings, _ = compact_decoder(model)
        tensors.update({f"s{k}.{name}": value for name, value in stored.items()})
        tensors[f"s{k}.mu"] = rng.normal(0, 1 + k, (len(labels), 2)).astype(np.float16)
        records.append({"step": 10 * k, "epoch": k / 2, "train_elbo": 200.0 - k, "test_elbo": 201.0 - k,
                        "encodings": encodings})
    snaps = Snapshots(final.config, 20, records, np.arange(len(labels)), labels, tensors)
    planted_float16(snaps, 0, next(n for n, e in records[0]["encodings"].items() if e == "int8"))
    return snaps


def write_fixtures(folder: Path) -> None:
    """Everything tests/node/ reads, described by folder/fixtures.json."""
    torch.manual_seed(0)
    labels = np.random.default_rng(1).integers(0, 10, 500).astype(np.uint8)
    mu = np.random.default_rng(2).normal(0, 1.6, (500, 2)).astype(np.float32)
    models = {"mlp": VAE(VAEConfig(arch="mlp")).eval(),
              "resmlp": VAE(VAEConfig(arch="resmlp", hidden=48, blocks=2, dataset="fashion-mnist")).eval()}
    index: dict = {"bundles": {}, "margin": MAP_MARGIN,  # and what each bundle's page must say of its classes
                   "words": {name: class_words(model.config.dataset) for name, model in models.items()}}
    expected = {}
    for name, model in models.items():
        bundle = write_page_bundle(model, {"mu": mu, "labels": labels}, folder)
        points = latent_points(len(index["bundles"]))
        stored, encodings = bundled_decoder(model, bundle)
        expected[f"{name}.points"], expected[f"{name}.probabilities"] = points, probabilities(stored, points)
        index["bundles"][name] = bundle.name
        index.setdefault("bundle_encodings", {})[name] = encodings
    # the replay: snapshots of two earlier (random) decoders and the resmlp's
    final = models["resmlp"]
    earlier = [VAE(final.config).eval() for _ in range(2)]
    snaps = replay_snapshots(final, earlier, labels[:200])
    index["replay"] = write_replay_bundle(snaps, final, folder).name
    index["replay_encodings"] = [r["encodings"] for r in snaps.records]
    for k in range(len(snaps)):
        points = latent_points(10 + k)
        expected[f"replay{k}.points"], expected[f"replay{k}.probabilities"] = points, probabilities(
            snaps.model(final, k), points)
    # the latent map: where a point is drawn, from the limit and the margins alone (y grows downwards, z2 upwards)
    size, limit, m = 380, 4.0, MAP_MARGIN
    z = np.array([[0, 0], [-limit, limit], [limit, -limit], [1.5, -2.25], [-3, 0.5]], np.float64)
    x = m["left"] + (z[:, 0] + limit) / (2 * limit) * (size - m["left"] - m["right"])
    y = m["top"] + (limit - z[:, 1]) / (2 * limit) * (size - m["top"] - m["bottom"])
    index["map"] = {"size": size, "limit": limit, "z": z.tolist(), "pixels": np.stack([x, y], 1).tolist()}
    save_file(expected, folder / "expected.safetensors")
    (folder / "fixtures.json").write_text(json.dumps(index))


def test_the_page_core_under_node(node_executable, tmp_path):
    write_fixtures(tmp_path)
    files = sorted(str(p) for p in NODE_TESTS.glob("*.test.mjs") if run_here(p))
    assert any(f.endswith("core.test.mjs") for f in files), files
    run = node_test(node_executable, *files, **{FIXTURES_ENV: str(tmp_path)})
    if run.returncode != 0:
        pytest.fail(f"node --test failed ({run.returncode}):\n{run.stdout}\n{run.stderr}", pytrace=False)
    assert "# fail 0" in run.stdout and "# pass 0" not in run.stdout, run.stdout
