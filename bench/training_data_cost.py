"""What the page's training data costs: its bytes per data set, and, where the file holds less than the training set
exactly (Fashion-MNIST: 4-bit grey levels, 55,000 of 60,000 images), a folder of IDX files holding exactly what the
page trains on, so the Python trainer can be run on both and the test −ELBO compared (docs/app.md).

    python bench/training_data_cost.py --dataset fashion-mnist --data-dir data/fashion-mnist --out data/fashion-page
    python -m train --preset quick --iwae-k 0 --dataset fashion-mnist --data-dir data/fashion-mnist \
        --out-dir runs/fashion-full
    python -m train --preset quick --iwae-k 0 --dataset fashion-mnist --data-dir data/fashion-page \
        --train-subset 55000 --out-dir runs/fashion-page        # --train-subset: the count this script prints

The written folder holds the 60,000 training images in the file's shuffled order, each at the grey level the page
gets (the file's first N are the ones it holds: --train-subset N), and the data set's own test files.
"""

from __future__ import annotations

import argparse
import json
import shutil
import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vae.datasets import FILES, load_split  # noqa: E402
from webapp.training_data import dequantise, encode, quantise, training_order  # noqa: E402


def write_idx(path: Path, array) -> None:
    path.write_bytes(bytes([0, 0, 8, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
                     + array.tobytes())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="mnist", choices=["mnist", "fashion-mnist"])
    p.add_argument("--data-dir", required=True, help="the data set's four IDX files")
    p.add_argument("--out", type=Path, help="write the page's training images here as IDX files")
    args = p.parse_args()
    train, test = load_split(args.data_dir, "train", args.dataset), load_split(args.data_dir, "test", args.dataset)
    data, held = encode(args.dataset, train, test)
    (length,) = struct.unpack("<I", data[8:12])
    header = json.loads(data[12:12 + length])
    first = 12 + length + sum(c["bytes"] for c in header["chunks"][:2])
    print(f"{args.dataset}: {len(data):,} bytes, {len(held):,} training images at "
          f"{sorted({c['bits'] for c in header['chunks'][1:]})} bits; the test chunk and the first training chunk "
          f"({header['chunks'][1]['n']:,} images): the first {first:,} bytes")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        order = training_order(len(train[0]))
        exact = all(c["bits"] == 8 for c in header["chunks"])
        images = train[0][order] if exact else dequantise(quantise(train[0][order]))
        write_idx(args.out / FILES["train"][0], images)
        write_idx(args.out / FILES["train"][1], train[1][order])
        for name in FILES["test"]:
            shutil.copy(next(Path(args.data_dir).glob(f"{name}*")), args.out)
        print(f"wrote {args.out}: train with --train-subset {len(held)}")


if __name__ == "__main__":
    main()
