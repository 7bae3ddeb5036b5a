"""How far is the GPT's ``cpu`` profile from a target when it is given more steps, not more minutes?

Trains the ``cpu`` profile of :mod:`aigc_course.families.gpt` for ``--factor`` times its steps
(each epoch ``factor`` times longer, so the warm-up and cosine schedule stretch over the whole
run), from seed 0, and records held-out bits per character (all 1,852 held-out poems) after every
third epoch. Counting steps instead of seconds makes the answer the same on a fast and a slow CPU:
it says what a model that trained ``factor`` times faster would reach in the same minutes. Issue
20 asked whether a cheaper output layer could bring the profile to 6.09 bits after five minutes;
the output projection is about 60 % of the multiply-adds, so even a free one would buy at most
2.5 times the steps (``--factor 2.5``). Run from the repository root::

    nice -n 10 .venv/bin/python benchmarks/gpt_long.py --factor 2.5

About 50 minutes on a slow 2-core CPU (2.75 steps/s), 15 on a fast one. Results go to
``benchmarks/results/gpt_long_<YYYYmmdd-HHMMSS>.json`` (or ``--out FILE``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from gpt_cpu import machine  # noqa: E402

from aigc_course import tang  # noqa: E402
from aigc_course._tf import keras  # noqa: E402
from aigc_course.families import gpt  # noqa: E402
from aigc_course.profiles import get_profile  # noqa: E402


class EveryThirdEpoch(keras.callbacks.Callback):
    """Held-out bits after every third epoch (evaluation excluded from ``train_s``)."""

    def __init__(self, rows, steps_per_epoch: int):
        super().__init__()
        self.held_out, self.steps_per_epoch, self.curve = rows, steps_per_epoch, []

    def on_train_begin(self, logs=None):
        self.start, self.paused = time.perf_counter(), 0.0

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % 3:
            return
        pause = time.perf_counter()
        self.curve.append({"epoch": epoch + 1, "steps": (epoch + 1) * self.steps_per_epoch,
                           "train_s": round(pause - self.start - self.paused, 1),
                           "held_out_bits": round(gpt.held_out_bits(self.model, self.held_out), 4)})  # fmt: skip
        print(json.dumps(self.curve[-1]), flush=True)
        self.paused += time.perf_counter() - pause


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--factor", type=float, default=2.5, help="times the profile's steps")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.factor <= 0:
        parser.error(f"--factor must be positive, got {args.factor}")
    tok = gpt.tokenizer()
    train, held_out = tang.load_poems("train"), tang.load_poems("held_out")
    profile = get_profile("cpu", family="gpt")
    profile = profile.replace(examples_per_epoch=int(profile.examples_per_epoch * args.factor))
    steps_per_epoch = profile.examples_per_epoch // profile.batch_size
    model = gpt.build_gpt(profile, len(tok), seed=0)
    clock = EveryThirdEpoch(gpt.poem_rows(tok, held_out, profile.context), steps_per_epoch)
    record = {"factor": args.factor, "steps": profile.total_steps,
              "machine": machine(), "curve": clock.curve}  # fmt: skip
    model.fit(gpt.lm_dataset(tok, train, profile.context, profile.batch_size, seed=0),
              epochs=profile.epochs, steps_per_epoch=steps_per_epoch, verbose=0, callbacks=[clock])  # fmt: skip
    out = args.out or Path(__file__).parent / "results" / time.strftime("gpt_long_%Y%m%d-%H%M%S.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
