"""Benchmark: grading a class, the sandboxed grader against the grader it replaced.

The class is ``--notebooks`` submissions (default 40), cycling through the course's six
solutions notebooks and their untouched exercise versions, each in its own student folder.
Three set-ups grade it, one after the other in one run, ``--rounds`` times in alternation
(A, B, C, A, B, C, ...) so that a busy machine slows each alike:

* ``baseline``: ``aigc_course/grading.py`` as it was before the sandbox (nbclient, one Jupyter
  kernel per notebook, no isolation), loaded from git (``--baseline REV``);
* ``sandboxed``: ``aigc_course.grading.grade``, one notebook at a time;
* ``sandboxed-jobs2``: the same with ``jobs=2`` (two notebooks at once: the 2-core case).

It prints seconds per notebook (median over rounds) and each set-up's ratio to the baseline,
and checks that every set-up gave every student the same points. The environment is CI's
(``AIGC_SMOKE=1``, offline). Run from the repository root::

    nice -n 5 .venv/bin/python benchmarks/grading.py                # 40 notebooks, 1 round
    .venv/bin/python benchmarks/grading.py --notebooks 12 --rounds 2
    .venv/bin/python benchmarks/grading.py --quick                  # does it run? (4 notebooks)
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ENV = {
    "AIGC_SMOKE": "1",
    "AIGC_OFFLINE": "1",
    "PYTHONHASHSEED": "0",
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "TF_ENABLE_ONEDNN_OPTS": "0",
}


def baseline_module(rev: str | None):
    """The pre-sandbox grader, from git: ``rev`` or the last commit that had grading.py."""
    if rev is None:
        log = ["git", "log", "-1", "--format=%H", "--diff-filter=D", "--", "aigc_course/grading.py"]
        deleted = subprocess.run(log, cwd=ROOT, capture_output=True, text=True, check=True)
        rev = deleted.stdout.strip() + "^"
    parse = ["git", "rev-parse", "--short=12", rev]
    rev = subprocess.run(parse, cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    show = ["git", "show", f"{rev}:aigc_course/grading.py"]
    source = subprocess.run(show, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    path = Path(tempfile.mkdtemp(prefix="aigc-bench-")) / "grading_baseline.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("grading_baseline", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module, rev


def make_class(folder: Path, count: int) -> None:
    from aigc_course.exercises import make_exercise, notebook_text, read_notebook

    solutions = sorted((ROOT / "solutions").glob("*.ipynb"))
    kinds = [(p, False) for p in solutions] + [(p, True) for p in solutions]
    for n in range(count):
        path, exercise = kinds[n % len(kinds)]
        target = folder / f"student{n:02d}" / path.name
        target.parent.mkdir(parents=True)
        if exercise:
            target.write_text(notebook_text(make_exercise(read_notebook(path))), encoding="utf-8")
        else:
            shutil.copyfile(path, target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notebooks", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--baseline", default=None, metavar="REV", help="git revision")
    parser.add_argument("--quick", action="store_true", help="4 notebooks, 1 round")
    args = parser.parse_args()
    if args.quick:
        args.notebooks, args.rounds = 4, 1
    os.environ.update(ENV)
    from aigc_course.grading import grade

    baseline, rev = baseline_module(args.baseline)
    folder = Path(tempfile.mkdtemp(prefix="aigc-bench-class-"))
    make_class(folder, args.notebooks)
    solutions = ROOT / "solutions"
    setups = {
        "baseline": lambda: baseline.grade(folder, solutions, timeout=300),
        "sandboxed": lambda: grade(folder, solutions, timeout=300),
        "sandboxed-jobs2": lambda: grade(folder, solutions, timeout=300, jobs=2),
    }
    seconds: dict[str, list[float]] = {name: [] for name in setups}
    points: dict[str, dict] = {}
    load = os.getloadavg()[0]
    for _ in range(args.rounds):
        for name, run in setups.items():
            start = time.perf_counter()
            report = run()
            seconds[name].append(time.perf_counter() - start)
            points[name] = report.totals()
            print(f"  {name}: {seconds[name][-1]:.1f} s", file=sys.stderr, flush=True)
    same = all(p == points["baseline"] for p in points.values())
    print(f"{args.notebooks} notebooks, {args.rounds} round(s), baseline {rev[:12]}, "
          f"{os.cpu_count()} CPUs, load average {load:.1f} -> {os.getloadavg()[0]:.1f}")  # fmt: skip
    print(f"{'set-up':18}{'s/notebook':>12}{'ratio':>8}")
    base = statistics.median(seconds["baseline"]) / args.notebooks
    for name, values in seconds.items():
        per = statistics.median(values) / args.notebooks
        print(f"{name:18}{per:12.2f}{per / base:8.2f}")
    print("same points for every student:", "yes" if same else f"NO: {points}")
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
