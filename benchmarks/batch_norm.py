"""CPU benchmark: Keras' BatchNormalization against the course's FusedBatchNormalization.

Keras 3 trains a batch-norm layer with a dozen separate float32 operations;
:class:`aigc_course.models.FusedBatchNormalization` hands the same maths to TensorFlow's fused
kernel. Two measurements, each side by side in one process, alternating A, B, A, B, ... so that
a noisy machine slows both alike:

* **layer**: forward + backward of one layer, training mode, at the two shapes of the ``cpu``
  profile's generator (after the dense projection, and at 14x14);
* **step**: one training step of the ``cpu`` profile (:func:`aigc_course.families.gan.build_gan`),
  once with its generator as built and once with :func:`aigc_course.models.keras_only` of it,
  which is the same network with Keras' layer.

Both run in the profile's precision on this machine when that is 16-bit (the fused layer uses
Keras' own code in float32, so there is nothing to compare there). Medians of ``--repeats``
timed slices of 100 calls per layer, and of ``2 * repeats + 1`` slices of 50 steps for the
training step (short slices: a stretch in which the machine is slowed then hits both variants
alike). Run from the repository root::

    nice -n 5 .venv/bin/python benchmarks/batch_norm.py
    .venv/bin/python benchmarks/batch_norm.py --quick      # does it run?
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aigc_course  # noqa: E402

STEPS = 50  # training steps per timed fit() call


def timed(fn, calls: int) -> float:
    """Milliseconds per call of ``fn`` over ``calls`` calls (the last result is waited for)."""
    start = time.perf_counter()
    for _ in range(calls):
        result = fn()
    if isinstance(result, list):  # tensors computed asynchronously
        _ = [t.numpy() for t in result]
    return (time.perf_counter() - start) / calls * 1000


def alternate(fns: dict, calls: int, repeats: int) -> dict[str, float]:
    """Median ms per call of each function, timed in alternation, after one warm-up each."""
    for fn in fns.values():
        timed(fn, 2)
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            samples[name].append(timed(fn, calls))
    return {name: statistics.median(values) for name, values in samples.items()}


def layer_pair(shape: tuple[int, ...], policy: str) -> dict:
    """Forward + backward of Keras' and the fused layer on the same input."""
    from aigc_course._tf import keras, tf
    from aigc_course.models import FusedBatchNormalization

    x = tf.cast(tf.random.normal(shape, seed=0), keras.mixed_precision.Policy(policy).compute_dtype)
    fns = {}
    for name, cls in (
        ("keras", keras.layers.BatchNormalization),
        ("fused", FusedBatchNormalization),
    ):
        layer = cls(dtype=policy)
        layer.build(shape)

        @tf.function
        def step(layer=layer):
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = tf.reduce_sum(tf.cast(layer(x, training=True), "float32") ** 2)
            return tape.gradient(loss, [x, *layer.trainable_variables])

        fns[name] = step
    return fns


def step_pair(policy: str) -> dict:
    """A ``fit()`` slice of the cpu profile with the fused generator and with its Keras twin."""
    from aigc_course._tf import keras
    from aigc_course.data import load_dataset, make_dataset
    from aigc_course.families.gan import PROFILES, build_gan
    from aigc_course.gan import GAN
    from aigc_course.models import build_discriminator, keras_only
    from aigc_course.profiles import dtype_policy

    profile = PROFILES["cpu"]
    images, _ = load_dataset("mnist", "train")
    data = make_dataset(images, profile.batch_size, seed=0, repeat=True)
    with dtype_policy(policy):
        fused = build_gan(profile)
        twin = GAN(
            keras_only(fused.generator),
            build_discriminator(profile.discriminator_width, profile.dropout),
            latent_dim=profile.latent_dim,
            loss=profile.loss,
            ema=profile.ema,
        )
        twin.compile(
            keras.optimizers.Adam(profile.d_learning_rate, beta_1=profile.beta_1),
            keras.optimizers.Adam(profile.g_learning_rate, beta_1=profile.beta_1),
        )
    assert fused.generator.compute_dtype == twin.generator.compute_dtype
    return {
        name: (lambda gan=gan: gan.fit(data, epochs=1, steps_per_epoch=STEPS, verbose=0))
        for name, gan in (("keras", twin), ("fused", fused))
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed slices per variant")
    parser.add_argument("--quick", action="store_true", help="a few short slices: does it run?")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    aigc_course.setup(seed=0, quiet=True)
    from aigc_course.families.gan import PROFILES
    from aigc_course.profiles import precision_policy

    repeats, calls = (2, 3) if args.quick else (args.repeats, 100)
    policy = precision_policy(PROFILES["cpu"])
    if policy == "float32":
        print("the cpu profile trains in float32 on this machine, where FusedBatchNormalization")
        print("runs Keras' own code: nothing to compare (the fused kernel is for 16-bit inputs)")
        return 0
    print(f"{'what':<34} {'precision':<15} {'keras ms':>9} {'fused ms':>9} {'speed-up':>9}")
    rows = [(f"layer fwd+bwd {s}", layer_pair(s, policy), calls)
            for s in ((64, 6272), (64, 14, 14, 64))]  # fmt: skip
    # short slices, many of them: a slowed stretch of the machine then hits both alike
    rows.append(("cpu-profile step (per step)", step_pair(policy), 1))
    for what, fns, n in rows:
        ms = alternate(fns, n, 2 * repeats + 1 if n == 1 else repeats)
        if n == 1:  # a call is a fit() of STEPS steps
            ms = {name: value / STEPS for name, value in ms.items()}
        print(
            f"{what:<34} {policy:<15} {ms['keras']:>9.2f} {ms['fused']:>9.2f} "
            f"{ms['keras'] / ms['fused']:>8.2f}x",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
