"""The bench of chapter 09: every image family, the same data, the same wall-clock budgets.

Each (family, seed) is one child process running :func:`aigc_course.bench.run_family` with the
family's ``cpu`` profile through cumulative budgets (default 1, 5 and 15 minutes: scored after a
minute, resumed to five, then to fifteen), so its peak memory (maximum resident set size, from
``wait4``) is its own. The families run one after the other, never side by side, on the same
machine. Rows go to ``benchmarks/results/families_<dataset>_<stamp>.json`` with the machine's
load average before and after; the table (medians over seeds, FID range) is printed and is what
``benchmarks/README.md`` and chapter 09 quote. Sample grids land beside the JSON.

Run it from the repository root on a quiet machine::

    nice -n 10 .venv/bin/python benchmarks/families.py --dataset fashion_mnist --seeds 0,1,2
    .venv/bin/python benchmarks/families.py --quick      # smoke profiles, seconds: does it run?
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="fashion_mnist", choices=("mnist", "fashion_mnist"))
    p.add_argument("--families", default=None,
                   help="comma-separated (default: every image family)")  # fmt: skip
    p.add_argument(
        "--budgets", default="60,300,900", help="cumulative seconds (default 60,300,900)"
    )
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    p.add_argument("--n", type=int, default=1000, help="samples scored per budget (default 1000)")
    p.add_argument("--profile", default="cpu")
    p.add_argument("--out", type=Path, default=None, help="the JSON file (default: results/)")
    p.add_argument("--quick", action="store_true",
                   help="smoke profiles, 3 and 6 s budgets, 64 samples, one seed")  # fmt: skip
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)  # family:seed:run folder
    args = p.parse_args(argv)
    if args.quick:
        args.profile, args.budgets, args.seeds, args.n = "smoke", "3,6", "0", 64
    args.budgets = tuple(float(b) for b in args.budgets.split(","))
    args.seeds = tuple(int(s) for s in args.seeds.split(","))
    return args


def child(args: argparse.Namespace) -> int:
    """One family and seed, in this process; its rows are printed as one JSON line."""
    from aigc_course import bench

    family, seed, run = args.child.split(":", 2)
    rows = bench.run_family(family, args.dataset, args.budgets, out=Path(run),
                            profile=args.profile, n=args.n, seed=int(seed))  # fmt: skip
    print("ROWS " + json.dumps(rows), flush=True)
    return 0


def run_child(argv: list[str], family: str, seed: int, run: Path) -> tuple[list[dict], float]:
    """Run one family and seed in a child process: its rows and its peak memory in MiB (the
    whole child: training, sampling, the likelihood and the scores)."""
    cmd = [sys.executable, __file__, *argv, "--child", f"{family}:{seed}:{run}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read()  # the child's stderr (progress, warnings) passes through
    _, status, usage = os.wait4(proc.pid, 0)  # reaps it, with its own resource usage
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"families.py: {family} (seed {seed}) failed; its messages are above")
    rows = json.loads(next(line[5:] for line in out.splitlines() if line.startswith("ROWS ")))
    return rows, usage.ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.quick:
        os.environ["AIGC_SMOKE"] = "1"
    if args.child:
        return child(args)
    import aigc_course
    from aigc_course import bench
    from aigc_course.families import family_names, get_family

    names = (
        args.families.split(",")
        if args.families
        else [n for n in family_names() if get_family(n).data_kind == "images"]
    )
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = args.out or RESULTS / f"families_{args.dataset}_{stamp}.json"
    folder = Path(tempfile.mkdtemp(prefix="families_"))
    record: dict = {"args": {k: v for k, v in vars(args).items() if k not in ("out", "child")},
                    "load_average_before": os.getloadavg(), "rows": []}  # fmt: skip
    print(f"families.py: {', '.join(names)} on {args.dataset}, budgets {args.budgets} s, seeds "
          f"{args.seeds}, {os.cpu_count()} CPU(s); runs in {folder}", flush=True)  # fmt: skip
    save = not args.quick or args.out is not None
    for seed in args.seeds:
        for name in names:
            start = time.perf_counter()
            rows, peak = run_child(argv, name, seed, folder / f"{name}_seed{seed}")
            for row in rows:
                row["peak_memory_mib"] = round(peak)
            record["rows"] += rows
            if save:  # after every child: a failure later keeps what was measured
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text(json.dumps(record, indent=2) + "\n")
            fids = ", ".join(f"{row['fid']:.1f}" for row in rows)
            print(f"  {name} seed {seed}: {time.perf_counter() - start:.0f} s, FID {fids}",
                  flush=True)  # fmt: skip
    record["machine"] = {"platform": platform.platform(), "cpus": os.cpu_count(),
                         "load_average_after": os.getloadavg(),
                         **aigc_course.environment_report()}  # fmt: skip
    print()
    print(bench.format_table(record["rows"]))
    if save:
        out.write_text(json.dumps(record, indent=2) + "\n")
        for name in names:  # the last seed's grids
            for grid in sorted((folder / f"{name}_seed{args.seeds[-1]}").glob("bench_*.png")):
                (out.parent / f"{out.stem}_{name}_{grid.name}").write_bytes(grid.read_bytes())
        print(f"results: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
