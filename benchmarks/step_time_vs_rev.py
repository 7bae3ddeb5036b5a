"""Is the GAN's training step as fast as it was at another git revision? Side by side, one process.

A refactor of the engine must not slow the step down. This script extracts the package as it was
at ``--rev`` (``git archive``) under another name, builds the same profile's GAN with both
versions in one Python process (one TensorFlow, one data pipeline, the same machine load), and
times short ``fit()`` slices of each in alternation, so a slowed stretch of a shared machine hits
both alike. It prints the median milliseconds per step of each, their ratio, and the median of
the ratios of slices timed back to back (the figure least moved by a drifting load)::

    python benchmarks/step_time_vs_rev.py --rev adaaba8            # the cpu profile
    python benchmarks/step_time_vs_rev.py --rev main --profile smoke --repeats 3

Run it from the repository's root (it needs ``git``).
"""

from __future__ import annotations

import argparse
import importlib
import io
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STEPS = 40  # training steps per timed slice


def old_package(rev: str, folder: Path) -> str:
    """Extract ``aigc_course`` at ``rev`` into ``folder`` as the package ``aigc_rev``."""
    archive = subprocess.run(["git", "archive", rev, "aigc_course"], cwd=ROOT, check=True,
                             capture_output=True).stdout  # fmt: skip
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    package = folder / "aigc_rev"
    (folder / "aigc_course").rename(package)
    for path in package.rglob("*.py"):
        path.write_text(re.sub(r"\baigc_course\b", "aigc_rev", path.read_text()))
    sys.path.insert(0, str(folder))
    return "aigc_rev"


def build(package: str, profile_name: str):
    """The profile's compiled GAN, built by ``package`` (before or after model families)."""
    try:
        family = importlib.import_module(f"{package}.families.gan")
        return family.build_gan(family.PROFILES[profile_name])
    except ModuleNotFoundError:  # before the engine had families: one training module
        training = importlib.import_module(f"{package}.training")
        return training.build_gan(training.PROFILES[profile_name])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rev", required=True, help="the git revision to compare with")
    parser.add_argument("--profile", default="cpu", help="smoke, cpu or gpu (default cpu)")
    parser.add_argument("--repeats", type=int, default=7, help="timed slices per version")
    args = parser.parse_args(argv)

    import aigc_course

    aigc_course.setup(seed=0, quiet=True)
    from aigc_course.data import load_dataset, make_dataset
    from aigc_course.profiles import describe_precision, get_profile

    with tempfile.TemporaryDirectory() as tmp:
        old = old_package(args.rev, Path(tmp))
        gans = {f"at {args.rev}": build(old, args.profile), "this tree": build("aigc_course",
                                                                               args.profile)}
        profile = get_profile(args.profile)
        images, _ = load_dataset("mnist", "train", verbose=False)
        data = make_dataset(images, profile.batch_size, seed=0, repeat=True)
        print(f"profile {args.profile}, {describe_precision(profile)}, {STEPS} steps per slice")
        for gan in gans.values():  # trace and warm up both before timing
            gan.fit(data, epochs=1, steps_per_epoch=5, verbose=0)
        times: dict[str, list[float]] = {name: [] for name in gans}
        for r in range(args.repeats):
            order = list(gans) if r % 2 == 0 else list(reversed(gans))
            for name in order:
                start = time.perf_counter()
                gans[name].fit(data, epochs=1, steps_per_epoch=STEPS, verbose=0)
                times[name].append(1000 * (time.perf_counter() - start) / STEPS)
    medians = {name: statistics.median(t) for name, t in times.items()}
    for name, t in times.items():
        spread = f"{min(t):.1f}-{max(t):.1f}"
        print(f"{name:<16} {medians[name]:7.1f} ms/step (median of {len(t)}; range {spread})")
    old_name, new_name = gans
    pairs = [new / old for new, old in zip(times[new_name], times[old_name], strict=True)]
    print(f"ratio (this tree / {args.rev}): {medians[new_name] / medians[old_name]:.3f} of the "
          f"medians; {statistics.median(pairs):.3f} median of the {len(pairs)} slice pairs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
