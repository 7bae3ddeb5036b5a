"""CPU benchmark for chapter 08's small GPT: speed, held-out bits after 1/2/5 minutes, baselines.

Three parts, each optional (``--parts``):

* ``speed``: training tokens per second of the ``cpu`` profile (median over timed slices after
  a warm-up), and sampling tokens per second with and without the KV cache for a model of the
  same size with context 128, measured side by side in one process, interleaved, on 8 rows:
  the time of one forward pass for the 128th token (127 tokens before it, read from the cache
  or recomputed) and the tokens per second of a whole 128-token generation, and their ratios.
* ``quality``: trains the ``cpu`` profile and records held-out bits per character each time
  the training clock (evaluation excluded) passes a budget (default 60, 120 and 300 s), the
  form of 64 sampled poems and their 5-gram overlap with the training poems (next to the same
  for real held-out poems), and the wall-clock and CPU seconds used.
* ``baselines``: uniform, unigram and bigram bits (seconds to count) and chapter 02's MLP
  trained for the same budgets; then the targets: the GPT must beat the best of bigram and MLP
  by 15 % at the last budget, and 90 % of sampled lines must have the right length.

Every part records the peak resident memory of the process and the load average before and
after: run it on a quiet machine (nothing else running), from the repository root::

    nice -n 10 .venv/bin/python benchmarks/gpt_cpu.py
    .venv/bin/python benchmarks/gpt_cpu.py --quick      # seconds: does it run?

Results go to ``benchmarks/results/gpt_cpu_<YYYYmmdd-HHMMSS>.json`` (or ``--out FILE``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from aigc_course import baselines, sampling, tang
from aigc_course._tf import keras, tf
from aigc_course.families import gpt
from aigc_course.profiles import describe_precision, get_profile


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024 if sys.platform == "darwin" else 1024)


def machine() -> dict:
    return {
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "precision": describe_precision(get_profile("cpu", family="gpt")),
        "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default"),
    }


class Budgets(keras.callbacks.Callback):
    """Evaluates each time the training clock passes a budget, and stops after the last one;
    evaluation time is not training time."""

    def __init__(self, budgets, evaluate):
        super().__init__()
        self.budgets, self.evaluate, self.rows = list(budgets), evaluate, []

    def on_train_begin(self, logs=None):
        self.start, self.cpu, self.paused, self.steps = time.perf_counter(), time.process_time(), 0.0, 0

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        clock = time.perf_counter() - self.start - self.paused
        if self.budgets and clock >= self.budgets[0]:
            budget = self.budgets.pop(0)
            pause = time.perf_counter()
            self.rows.append({"budget_s": budget, "seconds": round(clock, 1),
                              "cpu_seconds": round(time.process_time() - self.cpu, 1),
                              "steps": self.steps, **self.evaluate(self.model)})
            print(f"  {budget:>5} s: {self.rows[-1]}", flush=True)
            self.paused += time.perf_counter() - pause
            if not self.budgets:
                self.model.stop_training = True


def speed(args) -> dict:
    tok = gpt.tokenizer()
    train = tang.load_poems("train")
    profile = get_profile("smoke" if args.quick else "cpu", family="gpt")
    model = gpt.build_gpt(profile, len(tok), seed=0)
    data = gpt.lm_dataset(tok, train, profile.context, profile.batch_size)
    steps = 3 if args.quick else 20
    model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False)  # warm-up: tracing, compiling
    slices = []
    for _ in range(2 if args.quick else 5):
        start = time.perf_counter()
        model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False)
        slices.append(steps * profile.batch_size * profile.context / (time.perf_counter() - start))

    context = 16 if args.quick else 128
    sampler = gpt.build_gpt(get_profile(profile.name, family="gpt", context=max(context, 66)), len(tok), seed=0)
    rows, length = 8, sampler.context
    full, cached = sampling._compiled(sampler)  # the two forward passes generate() uses
    ids = np.random.default_rng(0).integers(0, len(tok), (rows, length)).astype(np.int32)
    _, cache = cached(ids[:, :-1], sampler.empty_cache(rows), np.int32(0))  # 127 tokens cached
    per_token = {True: [], False: []}
    whole = {True: [], False: []}
    for use_cache in (True, False):  # warm-up: tracing
        sampling.generate(sampler, [tok.end_id], rows, seed=0, max_new=4, use_cache=use_cache)
    for _ in range(2 if args.quick else 5):
        for use_cache in (True, False):  # interleaved, so both see the same machine load
            start = time.perf_counter()
            sampling.generate(sampler, [tok.end_id], rows, seed=0, use_cache=use_cache)
            whole[use_cache].append(rows * (length - 1) / (time.perf_counter() - start))
            start = time.perf_counter()
            for _ in range(10):  # the last token: 127 before it, in the cache or recomputed
                if use_cache:
                    np.asarray(cached(ids[:, -1:], cache, np.int32(length - 1))[0])
                else:
                    np.asarray(full(ids))
            per_token[use_cache].append((time.perf_counter() - start) / 10)
    result = {
        "train_tokens_per_s": statistics.median(slices),
        "train_slices": slices,
        "sample_context": length,
        "sample_rows": rows,
        "sample_tokens_per_s_cache": statistics.median(whole[True]),
        "sample_tokens_per_s_no_cache": statistics.median(whole[False]),
        "last_token_s_cache": statistics.median(per_token[True]),
        "last_token_s_no_cache": statistics.median(per_token[False]),
    }
    result["whole_generation_ratio"] = (result["sample_tokens_per_s_cache"]
                                        / result["sample_tokens_per_s_no_cache"])
    result["full_context_ratio"] = result["last_token_s_no_cache"] / result["last_token_s_cache"]
    return result


def quality(args, budgets) -> dict:
    tok = gpt.tokenizer()
    train, held_out = tang.load_poems("train"), tang.load_poems("held_out")
    profile = get_profile("smoke" if args.quick else "cpu", family="gpt")
    rows = gpt.poem_rows(tok, held_out, profile.context)
    model = gpt.build_gpt(profile, len(tok), seed=args.seed)
    clock = Budgets(budgets, lambda m: {"held_out_bits": round(gpt.held_out_bits(m, rows), 4)})
    start = time.perf_counter()
    model.fit(gpt.lm_dataset(tok, train, profile.context, profile.batch_size, seed=args.seed),
              epochs=profile.epochs, steps_per_epoch=profile.examples_per_epoch // profile.batch_size, verbose=0,
              callbacks=[clock])
    trained = time.perf_counter() - start
    if not clock.rows or clock.budgets:  # the profile ended before the last budget
        clock.rows.append({"budget_s": None, "seconds": round(trained, 1), "steps": clock.steps,
                           "held_out_bits": round(gpt.held_out_bits(model, rows), 4)})
    poems = gpt.write_poems(model, 64, seed=args.seed)
    known = tang.ngrams(p.text for p in train)
    real = [p.text for p in held_out[:64]]
    return {
        "profile": profile.name,
        "curve": clock.rows,
        "form": tang.form_report(poems),
        "form_real_held_out": tang.form_report(real),
        "copied_5grams": tang.copied_fraction(poems, known),
        "copied_5grams_real_held_out": tang.copied_fraction(real, known),
        "samples": poems[:8],
    }


def baselines_part(args, budgets) -> dict:
    tok = gpt.tokenizer()
    train, held_out = tang.load_poems("train"), tang.load_poems("held_out")
    start = time.perf_counter()
    result = {name: {"bits": bits} for name, bits in baselines.ngram_bits(tok, train, held_out).items()}
    result["bigram"]["seconds"] = round(time.perf_counter() - start, 1)
    mlp = baselines.train_mlp(tok, train, steps=1)  # built and traced; the clock starts below
    x, y = tang.context_windows(tok, train, 8)
    data = tf.data.Dataset.from_tensor_slices((x, y)).repeat().shuffle(100_000, seed=0)
    clock = Budgets(budgets, lambda m: {"held_out_bits": round(baselines.mlp_bits(m, tok, held_out), 4)})
    mlp.fit(data.batch(256).prefetch(2), steps_per_epoch=10**7, epochs=1, verbose=0,
            callbacks=[clock])
    result["mlp"] = {"curve": clock.rows, "bits": clock.rows[-1]["held_out_bits"]}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default="speed,quality,baselines")
    parser.add_argument("--budgets", default="60,120,300", help="seconds of training, ascending")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, seconds; writes nothing")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    budgets = [2, 4] if args.quick else [float(b) for b in args.budgets.split(",")]
    parts = args.parts.split(",")
    record = {"args": vars(args) | {"out": str(args.out)}, "machine": machine()}
    if "speed" in parts:
        record["speed"] = speed(args)
        print("speed:", json.dumps(record["speed"], indent=1), flush=True)
    if "quality" in parts:
        record["quality"] = quality(args, budgets)
        print("quality:", json.dumps(record["quality"], indent=1, ensure_ascii=False), flush=True)
    if "baselines" in parts:
        record["baselines"] = baselines_part(args, budgets)
        print("baselines:", json.dumps(record["baselines"], indent=1), flush=True)
    if "quality" in record and "baselines" in record:
        best = min(record["baselines"]["bigram"]["bits"], record["baselines"]["mlp"]["bits"])
        gpt_bits = record["quality"]["curve"][-1]["held_out_bits"]
        record["targets"] = {
            "gpt_vs_best_baseline": 1 - gpt_bits / best,
            "beats_by_15_percent": gpt_bits <= 0.85 * best,
            "right_length_lines": record["quality"]["form"]["right_length"],
            "right_length_at_least_90_percent": record["quality"]["form"]["right_length"] >= 0.9,
        }
        if "speed" in record:
            record["targets"]["kv_cache_5x_at_full_context"] = record["speed"]["full_context_ratio"] >= 5
        print("targets:", record["targets"])
    record["peak_memory_mb"] = peak_memory_mb()
    record["load_average_after"] = os.getloadavg()
    print(f"peak memory {record['peak_memory_mb']:.0f} MB; load average before "
          f"{record['machine']['load_average']}, after {record['load_average_after']}")
    if not args.quick:
        out = args.out or Path(__file__).parent / "results" / time.strftime("gpt_cpu_%Y%m%d-%H%M%S.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
