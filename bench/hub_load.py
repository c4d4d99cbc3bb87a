"""Time to open a visitor's Hub model, cold (nothing in the Hub cache) and cached (the weights already downloaded,
the revision asked again), against a local server that answers the Hub's protocol (tests/fake_hub.py), so the
figures are the app's own work plus localhost transfers, not the internet's.

    python bench/hub_load.py                    # the bundled default model (7 MB of weights), 5 rounds
    python bench/hub_load.py --model FOLDER --rounds 9

Each round: a fresh ModelStore (as a fresh app process would have) asks for someone/vae-2d@main. "cold" uses an
empty Hub cache; "cached" reuses the cache the cold round filled. Also measured in the same run: loading the same
folder from disk with VAE.from_pretrained (the floor). Prints medians; writes artifacts/bench/hub_load.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(REPO / "bench")]

from app_latency import save_result  # noqa: E402  (the benchmarks' shared helpers)
from fake_hub import FakeHub  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=REPO / "pretrained", help="a model folder to serve")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    import pytest
    import torch

    from vae import VAE
    from webapp.models import ModelEntry, ModelStore

    torch.set_num_threads(1)  # as the app
    files = {name: (args.model / name).read_bytes()
             for name in ("config.json", "model.safetensors", "latents.safetensors", "results.json")
             if (args.model / name).is_file()}
    base = VAE.from_pretrained(args.model)
    times: dict[str, list[float]] = {"disk": [], "cold": [], "cached": []}
    with FakeHub() as hub, pytest.MonkeyPatch.context() as mp, tempfile.TemporaryDirectory() as tmp:
        hub.add_repo("someone/vae-2d", files)
        for r in range(args.rounds):
            t0 = time.perf_counter()
            VAE.from_pretrained(args.model)
            times["disk"].append(time.perf_counter() - t0)
            hf_home = Path(tmp) / f"hf-{r}"
            hub.use(mp, hf_home)
            for kind in ("cold", "cached"):
                store = ModelStore({"default": ModelEntry(base, "bench")}, Path(tmp) / f"bundles-{r}-{kind}",
                                   timeout=30)
                t0 = time.perf_counter()
                store.get("someone/vae-2d")
                times[kind].append(time.perf_counter() - t0)
    result = {k: {"median_s": statistics.median(v), "min_s": min(v), "max_s": max(v)} for k, v in times.items()}
    shown = args.model.resolve().relative_to(REPO) if args.model.resolve().is_relative_to(REPO) else args.model
    result.update(model=str(shown), weights_mb=len(files["model.safetensors"]) / 2**20, rounds=args.rounds)
    print(f"model {shown} ({result['weights_mb']:.1f} MB of weights), {args.rounds} rounds, medians:")
    for kind, label in (("disk", "VAE.from_pretrained(folder) from disk"), ("cold", "Hub model, empty cache"),
                        ("cached", "Hub model, weights in the cache")):
        r = result[kind]
        print(f"  {label:40s} {1000 * r['median_s']:7.1f} ms  (min {1000 * r['min_s']:.1f}, max {1000 * r['max_s']:.1f})")
    save_result("hub_load", result)


if __name__ == "__main__":
    main()
