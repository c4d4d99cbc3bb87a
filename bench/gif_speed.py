"""Time to make /interpolate's animated GIF in-process, against the goal "a 60-frame GIF is made in <= 1 s on 2 cores".

    python bench/gif_speed.py                          # the bundled model, 60 frames, 50 rounds
    python bench/gif_speed.py --model FOLDER --steps 120 --rounds 100

On 1 torch thread, as the app runs. Each round is a fresh random path (z_a, z_b uniform in [-3, 3]^2, fixed seed)
and times, one after the other:
  decode   Explorer.interpolation: the path's points decoded in one batch, to uint8 grey levels
  encode   vae.imaging.gif_bytes on those frames (Pillow's GIF encoder, 256-grey palette, whole frames)
  total    what the endpoint does after checking its arguments: decode, encode and the atomic write into a cache
           folder (webapp.png_cache.gif_file); the figure held against the goal
Prints medians (and the slowest round) with the machine's load; writes artifacts/bench/gif_speed.json.
Gradio's own cost per call (queue, HTTP, the client's download) is measured by bench/app_latency.py, not here.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "bench")]
from app_latency import save_result  # noqa: E402  (the benchmarks' shared helpers)

GOAL_S = 1.0  # the goal for a 60-frame GIF on 2 cores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=REPO / "pretrained", help="a model folder (default: pretrained/)")
    parser.add_argument("--steps", type=int, default=60, help="frames per GIF (the goal is stated for 60)")
    parser.add_argument("--rounds", type=int, default=50, help="measured rounds; the median is reported")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured rounds first")
    args = parser.parse_args()

    import numpy as np
    import torch

    from vae import VAE
    from vae.explorer import Explorer
    from vae.imaging import gif_bytes
    from webapp.png_cache import gif_file

    torch.set_num_threads(1)  # as app.py
    explorer = Explorer(VAE.from_pretrained(args.model))
    rng = np.random.default_rng(0)
    times: dict[str, list[float]] = {"decode": [], "encode": [], "total": []}
    sizes = []
    with tempfile.TemporaryDirectory() as cache:
        for r in range(args.warmup + args.rounds):
            z = rng.uniform(-3, 3, 4).tolist()
            t0 = time.perf_counter()
            frames = explorer.interpolation(*z, args.steps)
            t1 = time.perf_counter()
            data = gif_bytes(frames)
            t2 = time.perf_counter()
            gif_file(explorer.interpolation(*z, args.steps), "interpolation", cache)
            t3 = time.perf_counter()
            if r >= args.warmup:
                times["decode"].append(t1 - t0)
                times["encode"].append(t2 - t1)
                times["total"].append(t3 - t2)
                sizes.append(len(data))

    load = os.getloadavg()
    result = {name: {"median_ms": 1000 * statistics.median(v), "max_ms": 1000 * max(v)} for name, v in times.items()}
    result.update(model=str(args.model), steps=args.steps, rounds=args.rounds, torch_threads=torch.get_num_threads(),
                  cores=os.cpu_count(), load_average=load, median_gif_bytes=statistics.median(sizes), goal_s=GOAL_S)
    print(f"{args.steps}-frame GIF, {args.rounds} rounds, 1 torch thread, {os.cpu_count()} cores, "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; medians (slowest round):")
    for name, label in (("decode", "decode (one batch, to uint8)"), ("encode", "GIF encode"),
                        ("total", "decode + encode + cache write")):
        print(f"  {label:30s} {result[name]['median_ms']:8.2f} ms  ({result[name]['max_ms']:.2f})")
    total_s = result["total"]["median_ms"] / 1000
    verdict = f"met, {GOAL_S / total_s:.0f}x under it" if total_s <= GOAL_S else "NOT met"
    print(f"  GIF size {result['median_gif_bytes'] / 1024:.1f} KiB (median)")
    print(f"goal: a 60-frame GIF in <= {GOAL_S:g} s on 2 cores; this {args.steps}-frame GIF: "
          f"{total_s * 1000:.1f} ms, {verdict}")
    save_result("gif_speed", result)


if __name__ == "__main__":
    main()
