"""Train the GPT that chapter 08 ships: the ``cpu`` profile on the Tang poems, seed 0.

Why: chapter 08 shows numbers of a trained model (held-out bits, samples, attention maps) that a
laptop would need minutes to make; CI runs the chapter in seconds. So the course ships the
``cpu`` profile's result (weights in float16, ~3 MB) and the notebook trains only a short run
live. This script is how that file was made; run it again to check or replace it::

    nice -n 10 python scripts/train_shipped_gpt.py [--out runs/gpt_tang_shipped]

It trains with the engine's pieces (:func:`aigc_course.runs.build_model`, the family's data,
the checkpoint callback, so a killed run resumes with ``--resume``) plus
:class:`aigc_course.families.gpt.HeldOutBits`, which scores all 1,852 held-out poems after every
epoch (100 steps) — the curve the chapter plots, kept in the run folder's ``curve.json``.
``--export-only`` exports an interrupted run's latest checkpoint instead. Writes:

* ``aigc_course/_data/gpt_tang_cpu.npz``: the weights (float16) and the architecture;
* ``aigc_course/_data/gpt_tang_cpu.json``: the profile, the steps trained, the held-out curve
  (step, wall and CPU seconds of training, bits per character) and the machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


class _KeepCurve:
    """After every epoch, rewrite ``curve.json`` in the run folder: an interrupted run keeps its
    curve (a Keras callback built on demand, so ``--help`` does not import TensorFlow)."""

    @staticmethod
    def make(curve, path: Path):
        from aigc_course._tf import keras

        class KeepCurve(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                path.write_text(json.dumps(curve.history, indent=1) + "\n", encoding="utf-8")

        return KeepCurve()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="runs/gpt_tang_shipped")
    parser.add_argument("--resume", action="store_true", help="continue the run's checkpoint")
    parser.add_argument("--export-only", action="store_true",
                        help="no training: export the run's latest checkpoint (an interrupted run)")
    args = parser.parse_args(argv)

    from aigc_course import tang
    from aigc_course._tf import keras
    from aigc_course.checkpoint import Checkpoint, restore, run_identity
    from aigc_course.families import gpt
    from aigc_course.profiles import describe_precision, dtype_policy, get_profile
    from aigc_course.runs import build_model

    family, profile, seed = gpt.FAMILY, get_profile("cpu", family="gpt"), 0
    out = Path(args.out)
    curve_file = out / "curve.json"
    if args.export_only:
        with dtype_policy("float32"):
            model = gpt.build_gpt(profile.replace(jit_compile=False))
        step = restore(out / "checkpoints", model, weights_only=True)["step"]
        history = json.loads(curve_file.read_text(encoding="utf-8"))
    else:
        keras.utils.set_random_seed(seed)
        data, n = family.data("tang", profile, seed)
        model = build_model(family, profile, "tang")
        checkpoint = Checkpoint(out / "checkpoints", profile.checkpoint_every_steps,
                                run_identity(family, "tang", profile))
        done = checkpoint.restore(model)["epoch"] if args.resume else 0
        rows = gpt.poem_rows(gpt.tokenizer(), tang.load_poems("held_out"), profile.context)
        curve = gpt.HeldOutBits(rows)
        if args.resume and curve_file.exists():
            curve.history = json.loads(curve_file.read_text(encoding="utf-8"))
        out.mkdir(parents=True, exist_ok=True)
        model.fit(data, epochs=profile.epochs, initial_epoch=done,
                  steps_per_epoch=profile.steps_per_epoch(n),
                  callbacks=[checkpoint, curve, _KeepCurve.make(curve, curve_file)],
                  verbose=2, shuffle=False)
        step, history = checkpoint.step, curve.history
    data_dir = ROOT / "aigc_course" / "_data"
    gpt.save_weights(model, data_dir / gpt.SHIPPED_MODEL, dtype="float16")
    record = {
        "profile": profile.name,
        "precision": describe_precision(profile),
        "seed": seed,
        "steps": profile.total_steps,
        "trained_steps": step,
        "curve": history,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
    }
    path = data_dir / gpt.SHIPPED_MODEL.replace(".npz", ".json")
    path.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(record, indent=1, ensure_ascii=False))
    digest = hashlib.sha256((data_dir / gpt.SHIPPED_MODEL).read_bytes()).hexdigest()
    print(f"now set SHIPPED_MODEL_SHA256 = {digest!r} in aigc_course/families/gpt.py")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
