"""The bounds on visitors' Hub models (webapp/models.py's ModelStore), checked directly on the store, its Hub a local
fake (tests/fake_hub.py): an evicted model is freed (no reference to it survives: a weak reference to it is dead);
memory stays flat over 36 models of the largest size the app opens, loaded in turn; and the bundle folder stays
under BUNDLE_CAP_BYTES while the bundles of the models in use are kept. (Through a launched app: memory over 20 small
models in turn, tests/test_hub_models.py.)

Run: python -m pytest tests/test_model_store.py   (about 30 s on 2 cores)
"""

from __future__ import annotations

import ctypes
import gc
import weakref
from pathlib import Path

import pytest

from fake_hub import FakeHub
from hub_repos import model_files, snapshots_file, tiny
from webapp.models import MAX_LOADED, ModelEntry, ModelStore

MODELS = 6
BIG = 36


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    with FakeHub() as hub, pytest.MonkeyPatch.context() as mp:
        for i in range(MODELS):  # each with its training replay, so replay bundles are written (and trimmed) too
            hub.add_repo(f"someone/m-{i}", model_files(tiny(10 + i), **{
                "snapshots.safetensors": snapshots_file([tiny(100 + i), tiny(10 + i)])}))
        # the largest decoder the app opens (resmlp 512x2: 11 MB of weights), in BIG repos sharing one model's bytes:
        # the store still loads each on its own
        big = model_files(tiny(100, hidden=512, blocks=2))
        hub.big_mib = len(big["model.safetensors"]) / 2**20
        for i in range(BIG):
            hub.add_repo(f"someone/big-{i}", big)
        hub.use(mp, tmp_path_factory.mktemp("hf-home"))
        yield hub


def bundles_in(folder) -> dict:
    return {p: p.stat().st_size for p in (*folder.glob("page-*.safetensors"), *folder.glob("replay-*.safetensors"))}


def test_an_evicted_model_is_freed(hub, tmp_path):
    store = ModelStore({"default": ModelEntry(tiny(0), "test model")}, tmp_path / "bundles", max_loaded=2)
    first = store.get("someone/m-0")
    first.replay.explorer(0)  # a snapshot's decoder, as /generate with a snapshot builds it
    refs = {"served": weakref.ref(first), "model": weakref.ref(first.model),
            "explorer": weakref.ref(first.explorer), "replay": weakref.ref(first.replay)}
    del first
    store.get("someone/m-1")
    gc.collect()
    assert all(ref() is not None for ref in refs.values())  # still one of the two kept: the check sees a live one
    store.get("someone/m-2")  # the least recently used, m-0, goes
    gc.collect()
    assert {name: ref() is None for name, ref in refs.items()} == dict.fromkeys(refs, True)
    assert [name.split("@")[0] for name in store.loaded] == ["someone/m-1", "someone/m-2"]


def test_the_bundle_folder_stays_under_its_cap_and_keeps_the_bundles_in_use(hub, tmp_path):
    folder = tmp_path / "bundles"
    default = tiny(0)
    probe = ModelStore({"default": ModelEntry(default, "test model")}, tmp_path / "probe")
    served = probe.get("someone/m-0")
    served.replay.page()  # the replay bundle, written when the Training tab first asks
    one_model = sum(bundles_in(tmp_path / "probe").values()) - probe.bundled["default"].bundle.stat().st_size
    # room for the bundled model's bundle and two and a half Hub models': the two kept in memory fit, a third does not
    cap = probe.bundled["default"].bundle.stat().st_size + int(2.5 * one_model)
    store = ModelStore({"default": ModelEntry(default, "test model")}, folder, max_loaded=2, bundle_cap_bytes=cap)
    written = set()
    for i in range(MODELS):
        served = store.get(f"someone/m-{i}")  # loading a model trims the folder
        in_use = [store.bundled["default"].bundle, *(p for m in store.loaded.values()
                                                      for p in (m.bundle, m.replay.bundle) if p)]
        assert all(path.is_file() for path in in_use), i
        assert sum(bundles_in(folder).values()) <= cap, i
        served.replay.page()
        written |= set(bundles_in(folder))
    assert len(written) == 1 + 2 * MODELS  # every model's page and replay bundle was written at some point


def rss_mib() -> float:
    """This process's resident memory, after handing the allocator's free pages back to the system (glibc keeps
    freed memory in per-thread arenas: without the trim, freed models still count)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: the figure then includes freed memory, and only errs high
        pass
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


@pytest.mark.slow
def test_memory_stays_flat_over_big_models_loaded_in_turn(hub, tmp_path, capsys):
    store = ModelStore({"default": ModelEntry(tiny(0), "test model")}, tmp_path / "bundles", timeout=60)
    for i in range(MAX_LOADED):  # the store full: from here on, each model loaded evicts one
        store.get(f"someone/big-{i}").explorer.digit(0.1, 0.1)
    before = rss_mib()
    for i in range(MAX_LOADED, BIG):
        store.get(f"someone/big-{i}").explorer.digit(0.1, 0.1)
    after = rss_mib()
    assert len(store.loaded) == MAX_LOADED
    with capsys.disabled():
        print(f"\n  RSS over {BIG} Hub models of {hub.big_mib:.0f} MiB loaded in turn: {before:.0f} -> {after:.0f} MiB")
    # 32 models evicted: kept alive, they would add 32 x 11 MiB (16 of them, measured: +163 MiB); freed, the
    # allocator kept +18 to +65 MiB (eight runs of 16 or 24 evictions), whatever their number: the bound is 16 models
    assert after - before < (BIG - MAX_LOADED) / 2 * hub.big_mib
