"""The Train live tab's server side (webapp/live_training.py): its presets are python -m train's; the models it offers
load as VAE with the parameter counts it states; a program request writes the initial weights `python -m train`
starts from, once, into the served folder, keeps at most PROGRAMS_KEPT files, and refuses what it does not offer
with a message; a data set the server lacks is said with how to get it; a data file outside the served folder is
refused.

Run: python -m pytest tests/test_live_training.py   (a few seconds)
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from train.__main__ import resolve_config
from vae import VAE
from vae.presets import TAB_PRESETS
from webapp import live_training
from webapp.live_training import LiveTraining, model_config, models, presets
from webapp.training_program import FORMAT


def served(tmp_path: Path, data: Path | None = None) -> LiveTraining:
    return LiveTraining(tmp_path, lambda dataset: data, lambda dataset: f"no {dataset} here: get it so")


def test_the_presets_are_what_python_m_train_runs():
    offered = presets()
    assert set(offered) == {"quick", "default", "reference"}
    assert [p["name"] for p in served(Path(".")).options()["presets"]] == list(offered)
    for name, page in offered.items():
        cfg = asdict(resolve_config(["--preset", TAB_PRESETS[name][0]])[1])  # what python -m train --preset runs
        assert page["model"] == ("mlp" if cfg["arch"] == "mlp" else f"resmlp-{cfg['hidden']}-{cfg['blocks']}")
        for key in ("batch_size", "lr", "epochs", "schedule", "warmup", "weight_decay", "beta"):
            assert page[key] == cfg[key], (name, key)
        assert page["lr"] in live_training.LEARNING_RATES and page["batch_size"] in live_training.BATCH_SIZES, name


def test_the_models_offered_state_their_parameter_counts():
    offered = models()
    assert offered[0]["key"] == "mlp" and len(offered) == 10
    for m in offered:
        model = VAE(model_config(m["key"], "mnist"))
        assert m["parameters"] == sum(p.numel() for p in model.parameters())
        assert f"{m['parameters'] / 1e6:.2f} M parameters" in m["label"]


def test_a_program_request_writes_the_initial_weights_once_into_the_served_folder(tmp_path):
    data = tmp_path / "served" / "training-data-mnist.bin"  # where the app's data_path writes it
    data.parent.mkdir()
    data.write_bytes(b"\0" * 100)
    live = served(tmp_path / "served", data)
    reply = live.training_program({"dataset": "mnist", "model": "resmlp-128-1", "seed": 7})
    program = Path(reply["program"].removeprefix("gradio_api/file="))
    assert program.parent == tmp_path / "served" / "programs"
    with safe_open(program, "pt") as f:
        assert f.metadata()["format"] == FORMAT
    torch.manual_seed(7)  # what python -m train --seed 7 does before building the model
    expected = VAE(model_config("resmlp-128-1", "mnist")).state_dict()
    written = load_file(program)
    assert written.keys() == expected.keys() and all(torch.equal(written[k], expected[k]) for k in expected)
    assert reply["data"] == f"gradio_api/file={data}"
    assert reply["config"]["hidden"] == 128
    mtime = program.stat().st_mtime_ns
    again = live.training_program({"dataset": "mnist", "model": "resmlp-128-1", "seed": 7})
    assert again["program"] == reply["program"]
    assert program.stat().st_mtime_ns >= mtime  # not written again (touched: recently used)


def test_at_most_programs_kept_stay_on_disk(tmp_path, monkeypatch):
    monkeypatch.setattr(live_training, "PROGRAMS_KEPT", 3)
    live = served(tmp_path, tmp_path / "data.bin")
    (tmp_path / "data.bin").write_bytes(b"x")
    for seed in range(5):
        assert "error" not in live.training_program({"dataset": "mnist", "model": "resmlp-128-0", "seed": seed})
    assert len(list((tmp_path / "programs").glob("*.safetensors"))) == 3


def test_what_is_not_offered_is_refused_with_a_message(tmp_path):
    live = served(tmp_path, tmp_path / "data.bin")
    for request, message in [({"model": "resmlp-999-1"}, "unknown model"), ({"model": "resmlp-128-3"}, "unknown model"),
                             ({"model": "mlp", "dataset": "cifar"}, "unknown data set"),
                             ({"model": "mlp", "seed": -1}, "seed must be between"),
                             ({"model": "mlp", "seed": "x"}, "invalid literal")]:
        reply = live.training_program(request)
        assert message in reply["error"], (request, reply)
    assert not (tmp_path / "programs").exists()
    assert served(tmp_path).training_program({"model": "mlp"}) == {"error": "no mnist here: get it so"}


def test_a_data_file_outside_the_served_folder_is_refused(tmp_path):
    """The page can fetch only what the app serves: a data file elsewhere is a wiring mistake, said as such."""
    data = tmp_path / "elsewhere" / "mnist.bin"
    data.parent.mkdir()
    data.write_bytes(b"\0" * 100)
    with pytest.raises(ValueError, match="outside the served folder"):
        served(tmp_path / "served", data).training_program({"model": "mlp"})
