"""Loading a model folder (VAE.from_pretrained / load_weights): strict about every way a folder can fail to match
the model it claims to be, never unpickling anything, and exact: save -> load gives bit-identical outputs.

    python -m pytest tests/test_loading.py      # about 5 s
"""

from __future__ import annotations

import json
import pathlib
import pickle

import pytest
import torch
from safetensors.torch import load_file, save_file

from vae import VAE, VAEConfig, WeightsError

TINY = VAEConfig(arch="resmlp", hidden=32, blocks=1)


@pytest.fixture
def folder(tmp_path) -> pathlib.Path:
    """A good model folder (tiny resmlp), to be broken by each test."""
    torch.manual_seed(0)
    VAE(TINY).save_pretrained(tmp_path / "model")
    return tmp_path / "model"


def _edit_weights(folder: pathlib.Path, edit) -> None:
    tensors = load_file(str(folder / "model.safetensors"))
    edit(tensors)
    save_file(tensors, str(folder / "model.safetensors"))


def _refused(folder) -> str:
    with pytest.raises(WeightsError) as e:
        VAE.from_pretrained(folder)
    return str(e.value)


def test_the_untouched_folder_loads(folder):
    assert VAE.from_pretrained(folder).config == TINY


# ---------------------------------------------------------------------------------------------------------
# weights that do not fit


def test_a_missing_tensor_is_named(folder):
    _edit_weights(folder, lambda t: t.pop("fc_mu.bias"))
    msg = _refused(folder)
    assert "missing tensors ['fc_mu.bias']" in msg


def test_an_extra_tensor_is_named(folder):
    _edit_weights(folder, lambda t: t.update({"classifier.weight": torch.zeros(10, 32)}))
    assert "unexpected tensors ['classifier.weight']" in _refused(folder)


def test_a_mis_shaped_tensor_is_named_with_both_shapes(folder):
    _edit_weights(folder, lambda t: t.update({"fc_mu.weight": torch.zeros(3, 32)}))
    assert "fc_mu.weight: file has (3, 32), model needs (2, 32)" in _refused(folder)


def test_non_finite_weights_are_refused(folder):
    def poison(t):
        t["fc_logvar.bias"][0] = float("nan")

    _edit_weights(folder, poison)
    assert "non-finite values in ['fc_logvar.bias']" in _refused(folder)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_an_unreadable_weights_file_is_refused(folder, damage):
    path = folder / "model.safetensors"
    data = path.read_bytes()
    path.write_bytes({"truncated": data[: len(data) // 2], "garbage": b"\x07" * 4096, "empty": b""}[damage])
    msg = _refused(folder)
    assert "model.safetensors is not a readable safetensors file" in msg


# ---------------------------------------------------------------------------------------------------------
# a config that does not fit


def _edit_config(folder: pathlib.Path, **changes) -> None:
    config = json.loads((folder / "config.json").read_text())
    config.update(changes)
    (folder / "config.json").write_text(json.dumps(config))


def test_a_config_that_does_not_match_the_weights(folder):
    _edit_config(folder, hidden=64)
    msg = _refused(folder)
    assert "does not fit a VAE with config" in msg and "'hidden': 64" in msg and "model needs" in msg


def test_a_config_for_the_other_architecture(folder):
    _edit_config(folder, arch="mlp")
    msg = _refused(folder)
    assert "missing tensors" in msg and "unexpected tensors" in msg


def test_an_unknown_config_key_is_named(folder):
    _edit_config(folder, dropout=0.1)
    msg = _refused(folder)
    assert "config.json is not a valid VAE config" in msg and "unknown keys ['dropout']" in msg


def test_an_unknown_architecture_is_named(folder):
    _edit_config(folder, arch="transformer")
    assert "unknown architecture 'transformer'" in _refused(folder)


def test_a_config_that_is_not_json(folder):
    (folder / "config.json").write_text("arch: mlp\n")
    assert "config.json is not a valid VAE config" in _refused(folder)


@pytest.mark.parametrize("missing", ["config.json", "model.safetensors"])
def test_a_missing_file_is_named(folder, missing):
    (folder / missing).unlink()
    msg = _refused(folder)
    assert f"has no {missing}" in msg


# ---------------------------------------------------------------------------------------------------------
# never unpickle


class _Bait:
    """Unpickling this creates a file: proof that pickle.load ran."""

    def __init__(self, marker: pathlib.Path):
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.touch, (self.marker,)


def test_a_pickle_is_never_loaded(folder, tmp_path, monkeypatch):
    marker = tmp_path / "unpickled"
    payload = pickle.dumps(_Bait(marker))
    # the bait is live: unpickling it does create the marker
    pickle.loads(pickle.dumps(_Bait(tmp_path / "proof")))
    assert (tmp_path / "proof").exists()

    def no_unpickling(*args, **kwargs):
        raise AssertionError("torch.load was called")

    monkeypatch.setattr(torch, "load", no_unpickling)

    # a folder with only the old PyTorch format is refused...
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(payload)
    assert "has no model.safetensors" in _refused(folder)
    # ...and a pickle under the safetensors name is not a safetensors file
    (folder / "model.safetensors").write_bytes(payload)
    assert "not a readable safetensors file" in _refused(folder)
    assert not marker.exists()


# ---------------------------------------------------------------------------------------------------------
# save -> load is exact


@pytest.mark.parametrize("config", [VAEConfig(arch="mlp"), VAEConfig(arch="resmlp", hidden=64, blocks=2),
                                    VAEConfig(arch="resmlp", hidden=32, blocks=1, latent_dim=3)], ids=str)
def test_save_then_load_gives_bit_identical_outputs(config, tmp_path, test_tensor):
    torch.manual_seed(1)
    model = VAE(config).eval()
    with torch.no_grad():  # move the weights off their initialisation so a silent re-init could not pass
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    model.save_pretrained(tmp_path / "saved")
    assert not list((tmp_path / "saved").glob("*.bin")) and not list((tmp_path / "saved").glob("*.pt"))
    loaded = VAE.from_pretrained(tmp_path / "saved")
    assert loaded.config == config and not loaded.training
    x = test_tensor[:256]  # real test digits
    with torch.no_grad():
        mu, logvar = model.encode(x)
        mu2, logvar2 = loaded.encode(x)
        assert torch.equal(mu, mu2) and torch.equal(logvar, logvar2)
        z = torch.randn(64, config.latent_dim, generator=torch.Generator().manual_seed(0)) * 2
        assert torch.equal(model.decode(z), loaded.decode(z))
        assert torch.equal(model.decode(mu), loaded.decode(mu2))
