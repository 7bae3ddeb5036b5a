"""Cut the small real Fashion-MNIST sample that ships with the course from the official IDX files.

Why: offline students still get real clothing images (Fashion-MNIST by Zalando Research, MIT
licence). The sample is 2,000 train + 1,000 test images, exactly 200 + 100 per class, drawn
without replacement from the official train and test files with a fixed seed and shuffled, so
any prefix mixes the classes. The positions in the official files are stored alongside
(``index_train``, ``index_test``), so every image can be traced back.

Usage::

    python scripts/make_fashion_sample.py                    # Debian's dataset-fashion-mnist
    python scripts/make_fashion_sample.py path/to/idx-folder  # any folder with the 4 .gz files

The files are read through ``aigc_course.data`` (sha256 checked against the official release).
The script writes ``aigc_course/_data/fashion_mnist_sample.npz`` and prints its sha256, which
must match ``aigc_course.data.SHIPPED_FILES`` (update both together).
"""

from __future__ import annotations

import argparse
import hashlib
import os
from pathlib import Path

import numpy as np
from convert_npm_mnist import write_npz

from aigc_course import data

OUT = Path(data.__file__).resolve().parent / "_data" / "fashion_mnist_sample.npz"
PER_CLASS = {"train": 200, "test": 100}
SEED = 20170828  # any fixed number; changing it changes the shipped file's hash


def sample(labels: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """Positions of ``per_class`` images of every class, shuffled together."""
    picks = [rng.choice(np.flatnonzero(labels == c), per_class, replace=False) for c in range(10)]
    return rng.permutation(np.concatenate(picks))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", nargs="?", type=Path, default=data.DEBIAN_FASHION_DIR)
    args = parser.parse_args()
    os.environ["AIGC_DATA_DIR"] = str(args.folder)  # read exactly this folder, verified

    rng = np.random.default_rng(SEED)
    arrays = {}
    for split, n in PER_CLASS.items():
        images, labels = data.load_dataset("fashion_mnist", split, source="dir")
        index = sample(labels, n, rng)
        arrays[f"x_{split}"], arrays[f"y_{split}"] = images[index], labels[index]
        arrays[f"index_{split}"] = index.astype(np.int32)
        print(f"{split}: {len(index):,} images, per class {np.bincount(labels[index]).tolist()}")

    write_npz(OUT, **arrays)
    digest = hashlib.sha256(OUT.read_bytes()).hexdigest()
    print(f"wrote {OUT.name}: {OUT.stat().st_size:,} bytes, sha256 {digest}")
    if digest == data.SHIPPED_FILES["fashion_mnist"][1]:
        print("identical to the file recorded in aigc_course.data.SHIPPED_FILES")
    else:
        print("differs from aigc_course.data.SHIPPED_FILES: update it and PROVENANCE.md")


if __name__ == "__main__":
    main()
