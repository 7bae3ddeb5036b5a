"""Which GPT learns most in a fixed number of CPU minutes? A sweep of ``cpu`` profile variants.

Each variant (profile overrides such as ``batch_size=16,depth=2,learning_rate=0.004``) is
trained for the same wall-clock budget, from seed 0, with its learning-rate schedule spanning
what fits in that budget: 30 timed steps (after 10 warm-up steps) give the seconds per step,
and the run's length is set to ``budget / seconds_per_step`` steps. Held-out bits per character
(all 1,852 held-out poems) are recorded when the training clock passes 40 % of the budget and
at the end (evaluation excluded from the clock; see ``gpt_cpu.Budgets``). This is how the
``cpu`` profile of :mod:`aigc_course.families.gpt` was chosen; ``gpt_cpu.py`` then measures the
chosen profile against the baselines. Run it on a quiet machine, from the repository root::

    nice -n 10 .venv/bin/python benchmarks/gpt_sweep.py --budget 300 \\
        batch_size=16,depth=2,learning_rate=0.004 batch_size=8,depth=2,learning_rate=0.003

About budget + 1 minute per variant. Results go to
``benchmarks/results/gpt_sweep_<YYYYmmdd-HHMMSS>.json`` (or ``--out FILE``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from gpt_cpu import Budgets, machine  # noqa: E402

from aigc_course import tang  # noqa: E402
from aigc_course.families import gpt  # noqa: E402
from aigc_course.profiles import get_profile  # noqa: E402


def parse_variant(text: str) -> dict:
    """``"batch_size=16,learning_rate=0.004"`` -> ``{"batch_size": 16, "learning_rate": 0.004}``."""
    variant = {}
    for item in filter(None, text.split(",")):
        key, _, value = item.partition("=")
        variant[key] = json.loads(value)
    return variant


def run(variant: dict, budget: float, tok, train, held_out) -> dict:
    profile = get_profile("cpu", family="gpt", **variant)
    model = gpt.build_gpt(profile, len(tok), seed=0)
    data = gpt.lm_dataset(tok, train, profile.context, profile.batch_size, seed=0)
    model.fit(data, steps_per_epoch=10, epochs=1, verbose=0)  # tracing, compiling
    start = time.perf_counter()
    model.fit(data, steps_per_epoch=30, epochs=1, verbose=0)
    per_step = (time.perf_counter() - start) / 30
    steps_per_epoch = max(1, int(budget / per_step) // profile.epochs)
    profile = profile.replace(examples_per_epoch=steps_per_epoch * profile.batch_size)
    rows = gpt.poem_rows(tok, held_out, profile.context)
    model = gpt.build_gpt(profile, len(tok), seed=0)
    clock = Budgets([0.4 * budget, budget],
                    lambda m: {"held_out_bits": round(gpt.held_out_bits(m, rows), 4)})
    model.fit(gpt.lm_dataset(tok, train, profile.context, profile.batch_size, seed=0),
              epochs=profile.epochs, steps_per_epoch=steps_per_epoch, verbose=0, callbacks=[clock])
    if clock.budgets:  # the schedule ended a moment before the clock reached the budget
        clock.rows.append({"budget_s": None, "steps": clock.steps,
                           "held_out_bits": round(gpt.held_out_bits(model, rows), 4)})
    return {"variant": variant, "seconds_per_step": round(per_step, 4),
            "planned_steps": profile.total_steps, "curve": clock.rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("variants", nargs="+", help="profile overrides, e.g. batch_size=16,depth=2")
    parser.add_argument("--budget", type=float, default=300.0, help="seconds of training each")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    variants = [parse_variant(v) for v in args.variants]
    for variant in variants:  # a typo fails now, not after an hour
        get_profile("cpu", family="gpt", **variant)
    tok = gpt.tokenizer()
    train, held_out = tang.load_poems("train"), tang.load_poems("held_out")
    record = {"budget_s": args.budget, "machine": machine(), "runs": []}
    out = args.out or Path(__file__).parent / "results" / time.strftime("gpt_sweep_%Y%m%d-%H%M%S.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    for variant in variants:
        record["runs"].append(run(variant, args.budget, tok, train, held_out))
        print(json.dumps(record["runs"][-1]), flush=True)
        out.write_text(json.dumps(record, indent=2) + "\n")  # after every run: a killed sweep keeps its rows
    for r in sorted(record["runs"], key=lambda r: r["curve"][-1]["held_out_bits"]):
        print(f"{r['curve'][-1]['held_out_bits']:.3f} bits  {r['curve'][-1]['steps']:>6,} steps  {r['variant']}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
