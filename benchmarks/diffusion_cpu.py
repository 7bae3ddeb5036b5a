"""CPU benchmark of the diffusion family: quality after minutes of training, and sampling speed.

Three parts, all on the course's ``cpu`` profile (:data:`aigc_course.families.diffusion.PROFILES`):

* **train**: trains the profile through cumulative budgets of wall-clock time (default 5, 15 and
  30 minutes; start-up and graph tracing included, evaluation excluded) and after each budget
  reports steps, images per second and the FID of ``--eval-images`` DDIM samples (``--steps``
  steps, random classes, no guidance) against as many training images, with the course's
  classifier (:mod:`aigc_course.metrics`, not Inception) and the real-vs-real floor beside it.
  After the last budget it also draws ``--final-images`` samples (default 10,000), timed, and
  reports their FID against as many training images (``--final-steps`` DDIM steps, default
  ``--steps``): the "10,000 samples in five minutes" figure (``--final-images 0`` skips it).
  ``--repeats`` seeds; the table shows medians.
* **sample**: images per second of the trained model for DDIM at 10, 25, 50 and 100 steps and
  for DDPM's 1,000 (on fewer images), and with classifier-free guidance (two network passes).
* **speed** (``--speed``, no training): the U-Net's training step and forward pass side by side
  in one process, Keras' group norm against the course's fused :class:`GroupNormSiLU`, float32
  against bfloat16; medians of alternating slices, as CPU seconds per image (robust on a busy
  machine) and wall-clock.
* **xla** (``--xla``, no scoring): the profile's own training step (the one ``fit`` runs) with
  and without XLA (``jit_compile``), side by side in one process on the same data,
  ``--speed-slices`` alternating slices of 10 steps; medians of training images per second.

Peak memory (maximum resident set size) is recorded. Run from the repository root; on a quiet
machine (the script records the load average before and after)::

    nice -n 10 .venv/bin/python benchmarks/diffusion_cpu.py --dataset fashion_mnist
    .venv/bin/python benchmarks/diffusion_cpu.py --speed       # step-time ratios only
    .venv/bin/python benchmarks/diffusion_cpu.py --xla         # XLA against a plain graph
    .venv/bin/python benchmarks/diffusion_cpu.py --quick       # seconds: does it run?
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import platform
import resource
import statistics
import time
from pathlib import Path

import numpy as np


def fid_against(images: np.ndarray, dataset: str, n: int, seed: int):
    """A function scoring generated images against ``n`` training images, and the floor."""
    from aigc_course import metrics

    classifier = metrics.get_classifier(dataset)
    picks = np.random.default_rng(seed).permutation(len(images))[: 2 * n]
    ref = metrics.features(images[picks[:n]], classifier=classifier)
    floor = metrics.frechet_distance(
        metrics.features(images[picks[n:]], classifier=classifier), ref
    )

    def score(fakes: np.ndarray) -> float:
        return metrics.frechet_distance(metrics.features(fakes, classifier=classifier), ref)

    return score, floor


def Deadline(deadline: float):
    """A Keras callback that stops ``fit()`` after the first step past ``deadline``."""
    from aigc_course._tf import keras

    class Stop(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if time.perf_counter() >= deadline:
                self.model.stop_training = True

    return Stop()


def train_runs(args, images, labels) -> tuple[list[dict], dict, np.ndarray, object]:
    """Train the profile through the budgets, ``--repeats`` times; rows, floors, last samples."""
    from aigc_course._tf import keras
    from aigc_course.families import diffusion as fam
    from aigc_course.profiles import dtype_policy, precision_policy
    from aigc_course.samplers import sample

    profile = fam.PROFILES[args.profile].replace(**args.overrides)
    score, floor = fid_against(images, args.dataset, args.eval_images, args.seed)
    final_score, final_floor = (
        fid_against(images, args.dataset, args.final_images, args.seed)
        if args.final_images
        else (None, None)
    )
    rows, model = [], None
    for repeat in range(args.repeats):
        seed = args.seed + repeat
        keras.utils.set_random_seed(seed)
        with dtype_policy(precision_policy(profile)):
            model = fam.FAMILY.build(profile, args.dataset)
        data = fam.make_labelled_dataset(images, labels, profile.batch_size, seed=seed)
        trained = 0.0
        for budget in args.budgets:
            start = time.perf_counter()
            stop = Deadline(start + budget - trained)
            model.fit(data, epochs=1, steps_per_epoch=10**9, callbacks=[stop], verbose=0)
            trained += time.perf_counter() - start
            steps = int(model.step.numpy())
            fakes = sample(model, args.eval_images, seed=seed, steps=args.steps)
            row = {
                "repeat": repeat, "budget_s": budget, "train_s": round(trained, 1),
                "steps": steps, "images_per_s": round(steps * profile.batch_size / trained, 1),
                "fid": round(score(fakes), 3), "precision": precision_policy(profile),
                "xla": bool(model.jit_compile),  # compiled, not only asked for by the profile
            }  # fmt: skip
            if budget == args.budgets[-1] and args.final_images:
                start = time.perf_counter()
                final = sample(model, args.final_images, seed=seed, steps=args.final_steps)
                row["final_sample_s"] = round(time.perf_counter() - start, 1)
                row["final_fid"] = round(final_score(final), 3)
            rows.append(row)
            print(f"  seed {seed} {budget:>6.0f} s: {json.dumps(row)}", flush=True)
    floors = {"fid_floor": round(floor, 3)}
    if args.final_images:
        floors["final_fid_floor"] = round(final_floor, 3)
    return rows, floors, fakes[:64], model


def sampling_speed(model, args) -> list[dict]:
    """Images per second for several samplers and step counts (after one warm-up call)."""
    from aigc_course.samplers import generate

    # The smoke schedule is short (T = 20): keep the step counts it has, at least T itself.
    counts = [s for s in (10, 25, 50, 100) if s <= model.timesteps] or [model.timesteps]
    plans = [("ddim", s, 1.0, args.speed_images) for s in counts]
    plans += [
        ("ddim", counts[-1] if 25 not in counts else 25, 3.0, args.speed_images),
        ("ddpm", None, 1.0, max(1, args.speed_images // 10)),
    ]
    generate(model, 8, steps=2)  # trace the network once
    rows = []
    for sampler, steps, guidance, n in plans:
        start = time.perf_counter()
        generate(model, n, seed=1, steps=steps, sampler=sampler, guidance=guidance)
        seconds = time.perf_counter() - start
        rows.append({"sampler": sampler, "steps": steps or model.timesteps, "guidance": guidance,
                     "images": n, "seconds": round(seconds, 2),
                     "images_per_s": round(n / seconds, 1)})  # fmt: skip
        print(f"  sampling: {json.dumps(rows[-1])}", flush=True)
    return rows


def step_speed(args) -> list[dict]:
    """The U-Net's training step and forward pass, variants side by side (alternating slices)."""
    from aigc_course import unet
    from aigc_course._tf import keras, tf
    from aigc_course.families import diffusion as fam
    from aigc_course.profiles import dtype_policy

    class KerasGroupNormSiLU(unet.GroupNormSiLU):  # Keras' own code in every precision
        def call(self, inputs):
            return keras.activations.silu(keras.layers.GroupNormalization.call(self, inputs))

    profile = fam.PROFILES[args.profile]
    variants = {"float32, Keras group norm": ("float32", KerasGroupNormSiLU),
                "bfloat16, Keras group norm": ("mixed_bfloat16", KerasGroupNormSiLU),
                "bfloat16, fused GroupNormSiLU": ("mixed_bfloat16", unet.GroupNormSiLU)}  # fmt: skip
    batch = profile.batch_size
    x, t = tf.random.normal((batch, 28, 28, 1)), tf.random.uniform((batch,), 1, 1000)
    y = tf.zeros((batch,), "int32")
    xs, ts, ys = (
        tf.random.normal((500, 28, 28, 1)),
        tf.fill((500,), 500.0),
        tf.zeros((500,), "int32"),
    )
    runs = {}
    original = unet.GroupNormSiLU
    for name, (policy, layer) in variants.items():
        unet.GroupNormSiLU = layer
        try:
            with dtype_policy(policy):
                net = unet.build_unet(
                    profile.widths, profile.blocks, profile.attention, patch=profile.patch
                )
        finally:
            unet.GroupNormSiLU = original
        opt = keras.optimizers.Adam(1e-3)
        opt.build(net.trainable_variables)

        @tf.function
        def train(net=net, opt=opt):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(
                    tf.square(tf.cast(net([x, t, y], training=True), "float32") - x)
                )
            grads = tape.gradient(loss, net.trainable_variables)
            opt.apply_gradients(zip(grads, net.trainable_variables, strict=True))
            return loss

        forward = tf.function(lambda net=net: net([xs, ts, ys], training=False))
        train(), forward()
        runs[name] = (
            train,
            forward,
            {"train_cpu": [], "train_wall": [], "fwd_cpu": [], "fwd_wall": []},
        )
    for _ in range(args.speed_slices):
        for train, forward, times in runs.values():
            for key, fn, n in (("train", train, batch * 5), ("fwd", forward, 500)):
                cpu, wall = time.process_time(), time.perf_counter()
                for _ in range(5 if key == "train" else 1):
                    fn()
                times[f"{key}_cpu"].append(n / (time.process_time() - cpu))
                times[f"{key}_wall"].append(n / (time.perf_counter() - wall))
    rows = []
    for name, (_, _, times) in runs.items():
        row = {"variant": name, **{k: round(statistics.median(v), 1) for k, v in times.items()}}
        rows.append(row)
    base = rows[0]
    for row in rows:
        ratios = ", ".join(
            f"{k} {row[k] / base[k]:.2f}x" for k in ("train_cpu", "train_wall", "fwd_cpu")
        )
        print(f"  {row['variant']:<32} train {row['train_wall']:>6.0f} img/s ({row['train_cpu']:>6.0f} "
              f"img per CPU-s), forward {row['fwd_wall']:>6.0f} img/s; vs first: {ratios}", flush=True)  # fmt: skip
    return rows


def xla_speed(args, images, labels) -> list[dict]:
    """The profile's training step with and without XLA, alternating slices of 10 steps.

    Each variant first runs one untimed slice, so neither median carries the warm-up."""
    from aigc_course._tf import keras
    from aigc_course.families import diffusion as fam
    from aigc_course.profiles import dtype_policy, precision_policy

    runs = {}
    for xla in (False, True):
        profile = fam.PROFILES[args.profile].replace(**{**args.overrides, "jit_compile": False})
        keras.utils.set_random_seed(args.seed)
        policy = precision_policy(profile)
        with dtype_policy(policy):
            model = fam.FAMILY.build(profile, args.dataset)
            # XLA is set here, not in the profile: build() leaves it off where it was not
            # measured faster (oneDNN, bfloat16), and this is the measurement
            model.compile(model.optimizer, jit_compile=xla)
        if model.jit_compile is not xla:
            print(f"  Keras did not compile this model with XLA under {policy}: nothing to "
                  "compare", flush=True)  # fmt: skip
            break
        data = fam.make_labelled_dataset(images, labels, profile.batch_size, seed=args.seed)
        model.fit(data, epochs=1, steps_per_epoch=2, verbose=0)  # build, trace and compile
        model.make_train_function()
        runs[f"jit_compile={xla}"] = (model.train_function, iter(data), profile.batch_size, [])
    for timed in [False] + [True] * args.speed_slices:
        for step, batches, batch, rates in runs.values():
            start = time.perf_counter()
            for _ in range(10):
                step(batches)
            if timed:
                rates.append(10 * batch / (time.perf_counter() - start))
    rows = [
        {"variant": name, "policy": policy, "train_wall": round(statistics.median(rates), 1),
         "slices": [round(r, 1) for r in rates]}
        for name, (*_, rates) in runs.items()
    ]  # fmt: skip
    for row in rows:
        ratio = row["train_wall"] / rows[0]["train_wall"]
        print(f"  {row['variant']:<18} train {row['train_wall']:>6.0f} img/s (median of "
              f"{len(row['slices'])} slices); vs first: {ratio:.2f}x", flush=True)  # fmt: skip
    return rows


def median_table(rows: list[dict], floors: dict, final_images: int, final_steps: int) -> str:
    head = f"{'budget s':>8}  {'steps':>7}  {'img/s':>7}  {'FID':>7}  {'FID min-max':>13}"
    lines = [head, "-" * len(head)]
    for budget in sorted({r["budget_s"] for r in rows}):
        group = [r for r in rows if r["budget_s"] == budget]
        fids = [r["fid"] for r in group]
        lines.append(
            f"{budget:>8.0f}  {statistics.median(r['steps'] for r in group):>7.0f}  "
            f"{statistics.median(r['images_per_s'] for r in group):>7.1f}  "
            f"{statistics.median(fids):>7.2f}  {min(fids):>6.2f}-{max(fids):<6.2f}"
        )
    finals = [r for r in rows if "final_fid" in r]
    lines.append(f"FID floor (real vs real, same sample size): {floors['fid_floor']:.2f}")
    if finals:
        fid = statistics.median(r["final_fid"] for r in finals)
        seconds = statistics.median(r["final_sample_s"] for r in finals)
        lines.append(
            f"{final_images:,} samples ({final_steps} DDIM steps) after the last budget: FID {fid:.2f} (median; floor "
            f"{floors['final_fid_floor']:.2f}), drawn in {seconds:.0f} s (median)"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=("mnist", "fashion_mnist"), default="fashion_mnist")
    parser.add_argument("--profile", default="cpu", help="a diffusion profile (default cpu)")
    parser.add_argument(
        "--set", default="", help="profile overrides: 'learning_rate=2e-3;widths=(48, 96)'"
    )
    parser.add_argument("--budgets", default="300,900,1800", help="seconds of training, ascending")
    parser.add_argument("--repeats", type=int, default=3, help="seeds (medians shown)")
    parser.add_argument("--eval-images", type=int, default=2000, help="images per FID set")
    parser.add_argument("--final-images", type=int, default=10_000, help="timed samples at the end")
    parser.add_argument("--steps", type=int, default=25, help="DDIM steps for the samples")
    parser.add_argument(
        "--final-steps", type=int, help="DDIM steps for the timed samples (default: --steps)"
    )
    parser.add_argument("--speed-images", type=int, default=1000, help="images per sampling test")
    parser.add_argument("--speed", action="store_true", help="only the step-time comparison")
    parser.add_argument("--xla", action="store_true", help="only XLA against a plain graph")
    parser.add_argument(
        "--speed-slices", type=int, default=9, help="alternating slices (--speed, --xla)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="JSON results (default benchmarks/results/...)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke profile, seconds of training, the smoke classifier")  # fmt: skip
    args = parser.parse_args(argv)
    if args.quick:
        args.profile, args.budgets, args.repeats = "smoke", "3,6", 1
        args.eval_images, args.final_images, args.speed_images, args.speed_slices = 64, 64, 16, 1
        args.steps = 5  # the smoke schedule has only 20 steps
    if args.final_steps is None:
        args.final_steps = args.steps
    counts = ("eval_images", "speed_images", "steps", "final_steps", "repeats", "speed_slices")
    for name in counts:
        if getattr(args, name) < 1:
            parser.error(
                f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}"
            )
    if args.speed and args.xla:
        parser.error("--speed and --xla are separate comparisons: choose one")
    if args.final_images < 0:
        parser.error(f"--final-images must be 0 (skip) or more, got {args.final_images}")
    args.budgets = [float(b) for b in args.budgets.split(",")]
    if min(args.budgets) <= 0 or args.budgets != sorted(set(args.budgets)):
        parser.error(f"--budgets must be positive and strictly ascending, got {args.budgets}")
    args.overrides = {}
    for item in filter(None, args.set.split(";")):
        key, _, value = item.partition("=")
        try:
            args.overrides[key.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            args.overrides[key.strip()] = value.strip()  # a string, e.g. prediction=eps
    if args.xla and "jit_compile" in args.overrides:
        parser.error("--xla sets jit_compile itself (False, then True): drop it from --set")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.quick:
        os.environ.setdefault("AIGC_SMOKE", "1")
    import aigc_course
    from aigc_course.data import load_dataset
    from aigc_course.plotting import image_grid

    aigc_course.setup(seed=args.seed)
    load_before = os.getloadavg()
    record: dict = {
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    }
    if args.speed:
        record["speed"] = step_speed(args)
    elif args.xla:
        images, labels = load_dataset(args.dataset, "train")
        record["xla"] = xla_speed(args, images, labels)
    else:
        images, labels = load_dataset(args.dataset, "train")
        print(f"diffusion_cpu: {args.dataset} ({len(images)} training images), profile "
              f"{args.profile} {args.overrides or ''}, budgets {args.budgets} s, {args.repeats} "
              f"seed(s), {os.cpu_count()} CPU(s)", flush=True)  # fmt: skip
        rows, floors, grid, model = train_runs(args, images, labels)
        record.update(rows=rows, **floors, sampling=sampling_speed(model, args))
        print()
        print(median_table(rows, floors, args.final_images, args.final_steps))
    record["peak_memory_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    record["machine"] = {"platform": platform.platform(), "cpus": os.cpu_count(),
                         "load_average_before": load_before, "load_average_after": os.getloadavg(),
                         **aigc_course.environment_report()}  # fmt: skip
    print(f"peak memory: {record['peak_memory_mb']} MB")
    out = args.out
    if out is None and not args.quick:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        kind = "speed" if args.speed else f"xla_{args.dataset}" if args.xla else args.dataset
        out = Path(__file__).resolve().parent / "results" / f"diffusion_cpu_{kind}_{stamp}.json"
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(record, indent=2) + "\n")
        if not (args.speed or args.xla):
            from PIL import Image

            Image.fromarray(image_grid(grid)).save(out.with_suffix(".png"))
        print(f"results: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
