"""Pack the course's own bench results into the package, for chapter 09.

Why: chapter 09 reads the table of a real ``cpu`` bench (``benchmarks/families.py`` on the full
data set, hours of machine time) so that its stored outputs are the same on every machine and no
student has to wait for them. This script merges one or more result files of ``families.py``
into ``aigc_course/_data/bench_<dataset>.json`` (every row, and how each run was made) and cuts
:data:`aigc_course.bench.SHIPPED_SAMPLES` samples per family and budget out of one run's PNG
grids (written beside its JSON) into ``aigc_course/_data/bench_<dataset>_samples.npz``.

Usage::

    python scripts/pack_bench.py benchmarks/results/families_fashion_mnist_A.json \\
        benchmarks/results/families_fashion_mnist_B.json --grids-from A

The grids are decoded exactly: ``plotting.save_image_grid`` tiles the images 8 per row with a
1-pixel border and enlarges the grid ``PNG_SCALE`` times by repeating pixels.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
from convert_npm_mnist import write_npz
from PIL import Image

from aigc_course import bench
from aigc_course.plotting import PNG_SCALE

DATA = Path(bench.__file__).resolve().parent / "_data"
SIZE, PAD = 28, 1


def tiles(png: Path, count: int) -> np.ndarray:
    """The first ``count`` images of a grid written by ``plotting.save_image_grid``."""
    grid = np.asarray(Image.open(png).convert("L"))[::PNG_SCALE, ::PNG_SCALE]
    ncols = (grid.shape[1] - PAD) // (SIZE + PAD)
    if grid.shape[1] != ncols * (SIZE + PAD) + PAD:
        raise ValueError(f"{png} is not a grid of {SIZE}x{SIZE} images")
    out = []
    for i in range(count):
        r, c = divmod(i, ncols)
        top, left = PAD + r * (SIZE + PAD), PAD + c * (SIZE + PAD)
        out.append(grid[top : top + SIZE, left : left + SIZE])
    return np.stack(out).astype(np.uint8)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("results", nargs="+", type=Path, help="JSON files of benchmarks/families.py")
    p.add_argument("--grids-from", required=True,
                   help="the stem (or a unique part of it) of the run whose grids to keep")  # fmt: skip
    args = p.parse_args()
    runs, rows = [], []
    for path in args.results:
        record = json.loads(path.read_text())
        for row in record["rows"]:  # early runs called the peak memory "_mb" (it was MiB)
            if "peak_memory_mb" in row:
                row["peak_memory_mib"] = row.pop("peak_memory_mb")
        rows += record["rows"]
        runs.append({"file": path.name, **{k: v for k, v in record.items() if k != "rows"}})
    datasets = {row["dataset"] for row in rows}
    if len(datasets) != 1:
        raise SystemExit(f"pack one data set at a time, got {sorted(datasets)}")
    dataset = datasets.pop()
    bench.summarise(rows)  # refuses mixed sample sizes
    (source,) = [p for p in args.results if args.grids_from in p.stem]
    samples = {}
    for row in rows:
        key = f"{row['family']}_{row['budget_s']:g}"
        png = source.with_name(f"{source.stem}_{row['family']}_bench_{row['budget_s']:g}s.png")
        if key not in samples and png.exists():
            samples[key] = tiles(png, bench.SHIPPED_SAMPLES)
    missing = {f"{r['family']}_{r['budget_s']:g}" for r in rows} - set(samples)
    if missing:
        raise SystemExit(f"no grid beside {source.name} for {sorted(missing)}")
    out = DATA / f"bench_{dataset}.json"
    out.write_text(json.dumps({"runs": runs, "rows": rows}, indent=1) + "\n")
    write_npz(DATA / f"bench_{dataset}_samples.npz", **dict(sorted(samples.items())))
    seeds = sorted({row["seed"] for row in rows})
    print(f"{out.name}: {len(rows)} rows, seeds {seeds}; "
          f"{len(samples)} x {bench.SHIPPED_SAMPLES} samples from {source.name}")  # fmt: skip
    print(bench.format_table(rows))
    assert math.isfinite(sum(r["fid"] for r in rows))


if __name__ == "__main__":
    main()
