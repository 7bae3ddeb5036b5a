"""CPU benchmark: the TensorFlow DCGAN tutorial against the course's trainer, at equal wall-clock.

Three set-ups train on the same data pipeline, one after the other, each for the same budgets of
training time (default 60, 150 and 300 seconds):

* ``tutorial-loop``: the architecture and hyper-parameters of the tensorflow.org "Deep
  Convolutional Generative Adversarial Network" tutorial (noise 100, batch 256, Adam 1e-4 for
  both players, binary cross-entropy on logits), trained by a plain ``GradientTape`` loop
  compiled with ``@tf.function``, as the tutorial does;
* ``tutorial-trainer``: the same two networks, optimizers and update rule (the tutorial's
  simultaneous step), trained by the course's :class:`aigc_course.gan.GAN` through
  ``fit()`` under the precision the course picks for this machine
  (:func:`aigc_course.profiles.precision_policy`: bfloat16 on CPUs that compute it natively);
* ``tutorial-loop-mixed``: the tutorial's own loop under that same precision, to show how much
  of the difference is the number format and how much the trainer;
* ``course-cpu``: the course's ``cpu`` training profile (smaller networks) via the trainer.

TensorFlow's defaults apply to every set-up (oneDNN on where TensorFlow enables it), as they
would for a student running the tutorial.

For each budget it reports the images per second (real images consumed, start-up and graph
compilation included, FID evaluation excluded) and the FID of ``--eval-images`` generated images
against as many training images, measured with :func:`aigc_course.metrics.fid` (the course's
domain classifier, not Inception). ``--repeats`` runs everything several times; the table shows
medians. The FID of two disjoint sets of real images ("floor") is printed for scale.

Run from the repository root (see benchmarks/README.md)::

    nice -n 10 .venv/bin/python benchmarks/gan_cpu.py --dataset mnist --budgets 60,150,300
    .venv/bin/python benchmarks/gan_cpu.py --quick      # a few seconds per set-up: does it run?
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

CONFIGS = ("tutorial-loop", "tutorial-trainer", "tutorial-loop-mixed", "course-cpu")
TUTORIAL = {"latent_dim": 100, "batch_size": 256, "learning_rate": 1e-4}


def tutorial_generator(latent_dim: int = 100):
    """The tensorflow.org DCGAN tutorial's generator: 7x7x256 -> 7x7x128 -> 14x14x64 -> 28x28x1."""
    from aigc_course._tf import keras

    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input((latent_dim,)),
            layers.Dense(7 * 7 * 256, use_bias=False),
            layers.BatchNormalization(),
            layers.LeakyReLU(),
            layers.Reshape((7, 7, 256)),
            layers.Conv2DTranspose(128, 5, strides=1, padding="same", use_bias=False),
            layers.BatchNormalization(),
            layers.LeakyReLU(),
            layers.Conv2DTranspose(64, 5, strides=2, padding="same", use_bias=False),
            layers.BatchNormalization(),
            layers.LeakyReLU(),
            layers.Conv2DTranspose(1, 5, strides=2, padding="same", use_bias=False),
            layers.Activation("tanh", dtype="float32"),
        ],
        name="tutorial_generator",
    )


def tutorial_discriminator():
    """The tutorial's discriminator: two 5x5 stride-2 convolutions with dropout, one logit."""
    from aigc_course._tf import keras

    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Conv2D(64, 5, strides=2, padding="same"),
            layers.LeakyReLU(),
            layers.Dropout(0.3),
            layers.Conv2D(128, 5, strides=2, padding="same"),
            layers.LeakyReLU(),
            layers.Dropout(0.3),
            layers.Flatten(),
            layers.Dense(1, dtype="float32"),
        ],
        name="tutorial_discriminator",
    )


def machine_policy() -> str:
    """The dtype policy the course trains under on this machine (its ``cpu``/``gpu`` profiles)."""
    from aigc_course import GPUS, get_profile
    from aigc_course.profiles import precision_policy

    return precision_policy(get_profile("gpu" if GPUS else "cpu"))


def tutorial_networks(policy: str):
    """The tutorial's generator and discriminator, computing under dtype ``policy``."""
    from aigc_course.profiles import dtype_policy

    with dtype_policy(policy):
        return tutorial_generator(TUTORIAL["latent_dim"]), tutorial_discriminator()


class TutorialLoop:
    """The tutorial's training step: both players updated from one tape pair per batch."""

    def __init__(self, images: np.ndarray, seed: int, policy: str = "float32"):
        from aigc_course._tf import keras, tf
        from aigc_course.data import make_dataset

        self.latent_dim = TUTORIAL["latent_dim"]
        self.batch_size = TUTORIAL["batch_size"]
        self.policy = policy
        self.generator, self.discriminator = tutorial_networks(policy)
        g_opt = keras.optimizers.Adam(TUTORIAL["learning_rate"])
        d_opt = keras.optimizers.Adam(TUTORIAL["learning_rate"])
        bce = keras.losses.BinaryCrossentropy(from_logits=True)
        gen, disc, batch, latent = (
            self.generator,
            self.discriminator,
            self.batch_size,
            self.latent_dim,
        )

        @tf.function
        def train_step(real):
            noise = tf.random.normal([batch, latent])
            with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
                fake = gen(noise, training=True)
                real_out = tf.cast(disc(real, training=True), "float32")
                fake_out = tf.cast(disc(fake, training=True), "float32")
                g_loss = bce(tf.ones_like(fake_out), fake_out)
                d_loss = bce(tf.ones_like(real_out), real_out) + bce(
                    tf.zeros_like(fake_out), fake_out
                )
            g_vars, d_vars = gen.trainable_variables, disc.trainable_variables
            g_opt.apply_gradients(zip(g_tape.gradient(g_loss, g_vars), g_vars, strict=True))
            d_opt.apply_gradients(zip(d_tape.gradient(d_loss, d_vars), d_vars, strict=True))

        self._step = train_step
        self._batches = iter(make_dataset(images, batch, shuffle=True, seed=seed, repeat=True))
        self.steps = 0

    def train_until(self, deadline: float) -> None:
        """Take steps until ``time.perf_counter()`` passes ``deadline`` (at least one step)."""
        while True:
            self._step(next(self._batches))
            self.steps += 1
            if time.perf_counter() >= deadline:
                return


class TrainerRun:
    """A course :class:`~aigc_course.gan.GAN` trained by ``fit()`` in time slices."""

    def __init__(self, images: np.ndarray, seed: int, config: str):
        from aigc_course import get_profile
        from aigc_course._tf import keras
        from aigc_course.data import make_dataset
        from aigc_course.families.gan import build_gan
        from aigc_course.gan import GAN
        from aigc_course.profiles import precision_policy

        if config == "tutorial-trainer":
            self.latent_dim, self.batch_size = TUTORIAL["latent_dim"], TUTORIAL["batch_size"]
            self.policy = machine_policy()
            self.gan = GAN(
                *tutorial_networks(self.policy),
                latent_dim=self.latent_dim,
                loss="non_saturating",
                update="simultaneous",
            )
            self.gan.compile(
                d_optimizer=keras.optimizers.Adam(TUTORIAL["learning_rate"]),
                g_optimizer=keras.optimizers.Adam(TUTORIAL["learning_rate"]),
            )
        else:
            profile = get_profile("cpu")
            self.latent_dim, self.batch_size = profile.latent_dim, profile.batch_size
            self.policy = precision_policy(profile)
            self.gan = build_gan(profile)
        self._data = make_dataset(images, self.batch_size, shuffle=True, seed=seed, repeat=True)

    @property
    def steps(self) -> int:
        return int(self.gan.step.numpy())

    @property
    def generator(self):
        """What the trainer samples from (its weight average when the profile keeps one)."""
        return self.gan.sampler

    def train_until(self, deadline: float) -> None:
        from aigc_course._tf import keras

        class Deadline(keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                if time.perf_counter() >= deadline:
                    self.model.stop_training = True

        self.gan.fit(
            self._data,
            epochs=1,
            steps_per_epoch=10**9,
            callbacks=[Deadline()],
            verbose=0,
            shuffle=False,
        )


def generate(generator, latent_dim: int, n: int, seed: int) -> np.ndarray:
    """``n`` images in [-1, 1] from fixed noise, in inference mode."""
    from aigc_course.inference import latent_noise, run_batched

    return run_batched(generator, latent_noise(n, latent_dim, seed))


def run_one(
    config: str,
    images: np.ndarray,
    budgets: list[float],
    score: Callable[[np.ndarray], float],
    eval_images: int,
    seed: int,
) -> tuple[list[dict], np.ndarray]:
    """Train ``config`` through each budget in turn; return one row per budget and samples."""
    from aigc_course._tf import keras

    keras.utils.set_random_seed(seed)
    if config == "tutorial-loop":
        runner = TutorialLoop(images, seed)
    elif config == "tutorial-loop-mixed":
        runner = TutorialLoop(images, seed, machine_policy())
    else:
        runner = TrainerRun(images, seed, config)
    rows, trained = [], 0.0
    for budget in budgets:
        start = time.perf_counter()
        runner.train_until(start + budget - trained)
        trained += time.perf_counter() - start
        fakes = generate(runner.generator, runner.latent_dim, eval_images, seed)
        rows.append(
            {
                "config": config,
                "precision": runner.policy,
                "budget_s": budget,
                "train_s": round(trained, 2),
                "steps": runner.steps,
                "images": runner.steps * runner.batch_size,
                "images_per_s": round(runner.steps * runner.batch_size / trained, 1),
                "fid": round(score(fakes), 3),
            }
        )
        print(
            f"  {config:<19} {budget:>6.0f} s: {rows[-1]['steps']:>6} steps, "
            f"{rows[-1]['images_per_s']:>7.1f} img/s, FID {rows[-1]['fid']:.2f}",
            flush=True,
        )
    return rows, fakes[:64]


def median_table(rows: list[dict], floor: float, repeats: int) -> str:
    """One line per (config, budget): medians over repeats of steps, images/s and FID."""
    head = f"{'config':<19}  {'precision':<14}  {'budget s':>8}  {'steps':>7}  {'img/s':>8}  {'FID':>8}"
    if repeats > 1:
        head += f"  {'FID min-max':>15}"
    lines = [head, "-" * len(head)]
    for config in CONFIGS:
        for budget in sorted({r["budget_s"] for r in rows}):
            group = [r for r in rows if r["config"] == config and r["budget_s"] == budget]
            if not group:
                continue
            fids = [r["fid"] for r in group]
            line = (
                f"{config:<19}  {group[0]['precision']:<14}  {budget:>8.0f}  {statistics.median(r['steps'] for r in group):>7.0f}"
                f"  {statistics.median(r['images_per_s'] for r in group):>8.1f}"
                f"  {statistics.median(fids):>8.2f}"
            )
            if repeats > 1:
                line += f"  {min(fids):>7.2f}-{max(fids):<7.2f}"
            lines.append(line)
    lines.append(f"FID of real vs real images (floor at this sample size): {floor:.2f}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=("mnist", "fashion_mnist"), default="mnist")
    parser.add_argument("--budgets", default="60,150,300", help="seconds of training, ascending")
    parser.add_argument("--repeats", type=int, default=3, help="runs per set-up (medians shown)")
    parser.add_argument("--eval-images", type=int, default=2000, help="images per FID set")
    parser.add_argument(
        "--configs", default=",".join(CONFIGS), help="subset of " + ", ".join(CONFIGS)
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out",
        type=Path,
        help="JSON file for the raw results (default: benchmarks/results/gan_cpu_<dataset>_<time>.json; "
        "--quick writes nothing unless --out is given)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny budgets (3,6 s), 1 repeat, 256 FID images and the smoke classifier: checks "
        "that everything runs, the numbers mean nothing",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.budgets, args.repeats, args.eval_images = "3,6", 1, 256
    try:
        args.budgets = [float(b) for b in args.budgets.split(",")]
    except ValueError:
        parser.error(
            f"--budgets must be comma-separated seconds, e.g. 60,150,300; got {args.budgets!r}"
        )
    if not args.budgets or min(args.budgets) <= 0 or args.budgets != sorted(set(args.budgets)):
        parser.error(f"--budgets must be positive and strictly ascending, got {args.budgets}")
    args.configs = [c.strip() for c in args.configs.split(",")]
    unknown = sorted(set(args.configs) - set(CONFIGS))
    if unknown:
        parser.error(f"unknown --configs {unknown}; choose from {', '.join(CONFIGS)}")
    if args.repeats < 1 or args.eval_images < 2:
        parser.error("--repeats must be >= 1 and --eval-images >= 2")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.quick:
        os.environ.setdefault("AIGC_SMOKE", "1")  # tiny evaluation classifier, trained in seconds

    import aigc_course
    from aigc_course import metrics
    from aigc_course.data import load_dataset
    from aigc_course.plotting import image_grid

    aigc_course.setup(seed=args.seed)
    load_before = os.getloadavg()  # a busy machine makes every number here slower
    images, _ = load_dataset(args.dataset, "train")
    classifier = metrics.get_classifier(args.dataset)
    rng = np.random.default_rng(args.seed)
    n = min(args.eval_images, len(images) // 2)
    picks = rng.permutation(len(images))[: 2 * n]
    reference, other = images[np.sort(picks[:n])], images[np.sort(picks[n:])]
    floor = metrics.fid(other, reference, args.dataset, classifier=classifier)

    def score(fakes: np.ndarray) -> float:
        return metrics.fid(fakes, reference, args.dataset, classifier=classifier)

    print(
        f"gan_cpu: {args.dataset} ({len(images)} training images), budgets {args.budgets} s, "
        f"{args.repeats} repeat(s), FID on {n} images, {os.cpu_count()} CPU(s)",
        flush=True,
    )
    rows, samples = [], {}
    for repeat in range(args.repeats):
        print(f"repeat {repeat + 1}/{args.repeats}", flush=True)
        for config in args.configs:
            result, samples[config] = run_one(
                config, images, args.budgets, score, n, seed=args.seed + repeat
            )
            rows += [dict(r, repeat=repeat) for r in result]
    print()
    print(median_table(rows, floor, args.repeats))

    out = args.out
    if out is None and not args.quick:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        out = Path(__file__).resolve().parent / "results" / f"gan_cpu_{args.dataset}_{stamp}.json"
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "machine": {
                "platform": platform.platform(),
                "processor": platform.processor(),
                "cpus": os.cpu_count(),
                "load_average_before": load_before,
                "load_average_after": os.getloadavg(),
                **aigc_course.environment_report(),
            },
            "fid_floor": round(floor, 3),
            "fid_images": n,
            "rows": rows,
        }
        out.write_text(json.dumps(record, indent=2) + "\n")
        from PIL import Image

        for config, fakes in samples.items():
            Image.fromarray(image_grid(fakes)).save(out.with_name(f"{out.stem}_{config}.png"))
        print(f"results: {out} (and one sample grid per set-up next to it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
