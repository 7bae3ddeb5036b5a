"""Small demos that run in seconds: a 1-D GAN fitting a mixture of Gaussians, and its animation.

In one dimension we can *see* what a generator has learned: estimate the density of its
samples and draw it over the true density. Both networks are tiny MLPs; the losses are the
course's logit-form GAN losses (:mod:`aigc_course.losses`). The target distributions are
:class:`aigc_course.game1d.Mixture` objects, so the exact optimal discriminator of
:func:`aigc_course.game1d.optimal_discriminator` can be drawn next to the trained one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from aigc_course.game1d import Mixture, Normal

__all__ = [
    "three_bumps",
    "build_toy_generator",
    "build_toy_discriminator",
    "ToyGANRun",
    "train_toy_gan",
    "kde",
    "plot_snapshots",
    "save_density_gif",
    "build_digit_features",
    "build_classifier",
    "fit_steps",
    "accuracy",
    "TRANSFER_MODES",
    "transfer_comparison",
]


def three_bumps() -> Mixture:
    """The chapter's target: three well separated Gaussians with unequal weights."""
    return Mixture((Normal(-3.0, 0.5), Normal(0.0, 0.5), Normal(3.0, 0.5)), weights=(0.3, 0.4, 0.3))


def build_toy_generator(latent_dim: int = 4, width: int = 64):
    """An MLP from ``z ~ N(0, I_latent_dim)`` to one real number."""
    from aigc_course._tf import keras

    return keras.Sequential(
        [
            keras.Input(shape=(latent_dim,)),
            keras.layers.Dense(width, activation="relu"),
            keras.layers.Dense(width, activation="relu"),
            keras.layers.Dense(1),
        ],
        name="toy_generator",
    )


def build_toy_discriminator(width: int = 64):
    """An MLP from one real number to one logit (no sigmoid: the losses take logits)."""
    from aigc_course._tf import keras

    return keras.Sequential(
        [
            keras.Input(shape=(1,)),
            keras.layers.Dense(width, activation="relu"),
            keras.layers.Dense(width, activation="relu"),
            keras.layers.Dense(1),
        ],
        name="toy_discriminator",
    )


@dataclass
class ToyGANRun:
    """What :func:`train_toy_gan` returns: the two networks, losses per step, and snapshots
    ``(step, generated samples)`` taken every ``snapshot_every`` steps (step 0 included)."""

    generator: object
    discriminator: object
    latent_dim: int
    d_loss: list[float] = field(default_factory=list)
    g_loss: list[float] = field(default_factory=list)
    snapshots: list[tuple[int, np.ndarray]] = field(default_factory=list)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` samples from the trained generator, as a 1-D NumPy array."""
        z = rng.standard_normal((int(n), self.latent_dim)).astype(np.float32)
        return np.asarray(self.generator(z, training=False))[:, 0]

    def discriminator_prob(self, x) -> np.ndarray:
        """The trained discriminator's ``D(x) = sigmoid(logit)`` at the points ``x``."""
        x = np.asarray(x, dtype=np.float32).reshape(-1, 1)
        logits = np.asarray(self.discriminator(x, training=False))[:, 0].astype(np.float64)
        return 1.0 / (1.0 + np.exp(-logits))


def train_toy_gan(
    data: Mixture,
    steps: int = 2000,
    batch_size: int = 256,
    latent_dim: int = 4,
    width: int = 64,
    learning_rate: float = 1e-3,
    snapshot_every: int = 100,
    snapshot_size: int = 4000,
    seed: int = 0,
    progress: bool = True,
) -> ToyGANRun:
    """Train a 1-D GAN on samples of ``data`` with alternating Adam steps (one D, one G).

    Uses :func:`aigc_course.losses.discriminator_loss` and the non-saturating
    :func:`aigc_course.losses.generator_loss`. Calls ``keras.utils.set_random_seed(seed)``,
    and draws data and noise from ``numpy.random.default_rng(seed)``, so a run repeats.
    """
    from aigc_course._tf import keras, tf
    from aigc_course.losses import discriminator_loss, generator_loss

    if not isinstance(data, Mixture | Normal):
        raise TypeError(f"data must be a game1d.Mixture or Normal, got {type(data).__name__}")
    for name, value in (
        ("steps", steps),
        ("batch_size", batch_size),
        ("snapshot_every", snapshot_every),
    ):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")

    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    gen, disc = build_toy_generator(latent_dim, width), build_toy_discriminator(width)
    opt_g = keras.optimizers.Adam(learning_rate, beta_1=0.5)
    opt_d = keras.optimizers.Adam(learning_rate, beta_1=0.5)

    @tf.function
    def train_step(real, z_d, z_g):
        with tf.GradientTape() as tape:
            fake = gen(z_d, training=True)
            d_loss = discriminator_loss(disc(real, training=True), disc(fake, training=True))
        opt_d.apply_gradients(
            zip(
                tape.gradient(d_loss, disc.trainable_variables),
                disc.trainable_variables,
                strict=True,
            )
        )
        with tf.GradientTape() as tape:
            g_loss = generator_loss(disc(gen(z_g, training=True), training=True))
        opt_g.apply_gradients(
            zip(
                tape.gradient(g_loss, gen.trainable_variables), gen.trainable_variables, strict=True
            )
        )
        return d_loss, g_loss

    run = ToyGANRun(gen, disc, latent_dim)
    snap_rng = np.random.default_rng(seed + 1)  # the same z for every snapshot: smooth animation
    snap_z = snap_rng.standard_normal((snapshot_size, latent_dim)).astype(np.float32)

    def snapshot(step: int) -> None:
        run.snapshots.append((step, np.asarray(gen(snap_z, training=False))[:, 0]))

    snapshot(0)
    steps_iter = range(1, steps + 1)
    if progress:
        from tqdm.auto import tqdm

        steps_iter = tqdm(steps_iter, desc="1-D GAN", unit="step")
    for step in steps_iter:
        real = data.sample(batch_size, rng).astype(np.float32).reshape(-1, 1)
        z_d = rng.standard_normal((batch_size, latent_dim)).astype(np.float32)
        z_g = rng.standard_normal((batch_size, latent_dim)).astype(np.float32)
        d_loss, g_loss = train_step(real, z_d, z_g)
        run.d_loss.append(float(d_loss))
        run.g_loss.append(float(g_loss))
        if step % snapshot_every == 0 or step == steps:
            snapshot(step)
    return run


def kde(samples, grid, bandwidth: float | None = None) -> np.ndarray:
    """Gaussian kernel density estimate of 1-D ``samples`` evaluated at ``grid``.

    The default bandwidth is Silverman's rule, ``0.9 min(std, IQR/1.34) n^(-1/5)``.
    """
    x = np.asarray(samples, dtype=np.float64).ravel()
    grid = np.asarray(grid, dtype=np.float64)
    if x.size < 2:
        raise ValueError("kde needs at least two samples")
    if bandwidth is None:
        iqr = np.subtract(*np.percentile(x, [75, 25]))
        spread = min(x.std(), iqr / 1.34) if iqr > 0 else x.std()
        bandwidth = 0.9 * max(spread, 1e-3) * x.size ** (-0.2)
    if bandwidth <= 0:
        raise ValueError(f"bandwidth must be > 0, got {bandwidth}")
    # bin first (1024 bins), then smooth: exact enough and fast for thousands of samples
    counts, edges = np.histogram(x, bins=1024)
    centres = 0.5 * (edges[:-1] + edges[1:])
    z = (grid[:, None] - centres[None, :]) / bandwidth
    dens = np.exp(-0.5 * z * z) @ counts / (x.size * bandwidth * np.sqrt(2.0 * np.pi))
    return dens


def _draw_density(ax, data: Mixture, grid: np.ndarray, samples: np.ndarray, step: int) -> None:
    ax.fill_between(grid, data.pdf(grid), color="tab:blue", alpha=0.25, label="data $p_{data}$")
    ax.plot(grid, kde(samples, grid), color="tab:orange", lw=2, label="generator $p_g$ (KDE)")
    ax.set_xlim(grid[0], grid[-1])
    ax.set_ylim(0, 1.25 * float(data.pdf(grid).max()))
    ax.set_title(f"step {step}")
    ax.set_xlabel("x")


def plot_snapshots(run: ToyGANRun, data: Mixture, count: int = 4, grid=None):
    """A row of ``count`` evenly spaced snapshots: the generator's density over the data's."""
    import matplotlib.pyplot as plt

    grid = np.linspace(*data.span(4.0), 400) if grid is None else np.asarray(grid)
    picks = np.linspace(0, len(run.snapshots) - 1, min(count, len(run.snapshots))).round()
    fig, axes = plt.subplots(1, len(picks), figsize=(3.2 * len(picks), 2.8), sharey=True)
    for ax, i in zip(np.atleast_1d(axes), picks.astype(int), strict=True):
        step, samples = run.snapshots[i]
        _draw_density(ax, data, grid, samples, step)
    np.atleast_1d(axes)[0].legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig


def save_density_gif(run: ToyGANRun, data: Mixture, path, fps: float = 8, dpi: int = 96) -> Path:
    """Write an animated GIF of the generator's density, one frame per snapshot.

    Frames are drawn with matplotlib into a temporary folder and joined by
    :func:`aigc_course.plotting.make_gif` (Pillow; no ffmpeg needed). Returns the path.
    """
    import tempfile

    import matplotlib.pyplot as plt

    from aigc_course.plotting import make_gif

    if not run.snapshots:
        raise ValueError("the run has no snapshots; train with snapshot_every > 0")
    grid = np.linspace(*data.span(4.0), 400)
    with tempfile.TemporaryDirectory() as tmp:
        frames = []
        for i, (step, samples) in enumerate(run.snapshots):
            fig, ax = plt.subplots(figsize=(6, 3), dpi=dpi)
            _draw_density(ax, data, grid, samples, step)
            ax.legend(loc="upper left", fontsize=9)
            fig.tight_layout()
            frames.append(Path(tmp) / f"frame_{i:04d}.png")
            fig.savefig(frames[-1], dpi=dpi)
            plt.close(fig)
        return make_gif(frames, path, fps=fps)


# --- transfer learning (迁移学习) with few labels -------------------------------------------


def build_digit_features():
    """A small convolutional feature extractor, ``(B, 28, 28, 1)`` in [0, 1] -> ``(B, 800)``."""
    from aigc_course._tf import keras

    return keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            keras.layers.Conv2D(16, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
        ],
        name="features",
    )


def build_classifier(features, num_classes: int = 10, learning_rate: float = 1e-3):
    """``features`` followed by dropout and a linear layer of logits, compiled with Adam."""
    from aigc_course._tf import keras

    model = keras.Sequential(
        [features, keras.layers.Dropout(0.3), keras.layers.Dense(num_classes, name="head")],
        name=f"classifier_on_{features.name}",
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def fit_steps(model, x, y, steps: int, batch_size: int = 32, seed: int = 0) -> None:
    """Train a compiled ``model`` for exactly ``steps`` mini-batches, however few examples.

    With 100 labelled images an "epoch" is only 3 batches; counting steps instead keeps
    comparisons fair (the same number of updates for every label budget). The shuffled
    batches are fed as a ``tf.data`` pipeline: Keras' own NumPy pipeline makes TensorFlow
    2.21 print a C++ "NodeDef mentions attribute" error line into notebook outputs.
    """
    from aigc_course._tf import tf

    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(
            f"need as many labels as inputs (and at least one), got {len(x)}, {len(y)}"
        )
    rng = np.random.default_rng(seed)
    repeats = -(-steps * batch_size // len(x))
    order = np.concatenate([rng.permutation(len(x)) for _ in range(repeats)])
    order = order[: steps * batch_size]
    batches = tf.data.Dataset.from_tensor_slices((x[order], y[order])).batch(batch_size)
    model.fit(batches, epochs=1, shuffle=False, verbose=0)


def accuracy(model, x, y, batch_size: int = 500) -> float:
    """Fraction of ``x`` whose arg-max logit equals the label ``y`` (model run in inference mode)."""
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(
            f"need as many labels as inputs (and at least one), got {len(x)}, {len(y)}"
        )
    hits = 0
    for start in range(0, len(x), batch_size):
        logits = np.asarray(model(x[start : start + batch_size], training=False))
        hits += int((logits.argmax(axis=1) == np.asarray(y[start : start + batch_size])).sum())
    return hits / len(x)


TRANSFER_MODES = ("scratch", "random frozen", "pretrained frozen", "pretrained fine-tuned")


def transfer_comparison(
    pretrained_weights,
    x_train,
    y_train,
    x_test,
    y_test,
    budgets: Sequence[int] = (100, 1000),
    steps: int = 300,
    seed: int = 0,
    progress: bool = True,
) -> list[dict[str, float]]:
    """Test accuracy of four ways to use few labels, for each label budget.

    ``scratch``: features and head trained only on the few labels. ``random frozen``: a
    random, frozen feature extractor and a trained head (the control: how much do
    features help when they learned nothing?). ``pretrained frozen``: the features
    learned on another dataset (``pretrained_weights`` of :func:`build_digit_features`),
    frozen, with a trained head. ``pretrained fine-tuned``: the same start, everything
    trained. Images are float32 ``(N, 28, 28, 1)`` in [0, 1]. Returns one dict per budget.
    """
    from aigc_course._tf import keras

    budgets = list(budgets)
    if not budgets or not all(isinstance(n, int | np.integer) and n > 0 for n in budgets):
        raise ValueError(f"budgets must be positive integers (numbers of labels), got {budgets!r}")
    if max(budgets) > len(x_train):
        raise ValueError(
            f"a budget of {max(budgets)} labels needs that many training images; "
            f"got {len(x_train)}"
        )
    rng = np.random.default_rng(seed)
    rows = []
    jobs = [(n, mode) for n in budgets for mode in TRANSFER_MODES]
    if progress:
        from tqdm.auto import tqdm

        jobs = tqdm(jobs, desc="transfer", unit="model")
    picks = {n: rng.choice(len(x_train), n, replace=False) for n in budgets}
    for n, mode in jobs:
        if mode == TRANSFER_MODES[0]:
            rows.append({"labels": n})
        keras.utils.set_random_seed(seed + 1)  # same initial head for every mode
        features = build_digit_features()
        if mode.startswith("pretrained"):
            features.set_weights(pretrained_weights)
        features.trainable = not mode.endswith("frozen")
        # a frozen extractor leaves only a linear head to fit: a larger step size suits it
        model = build_classifier(features, learning_rate=3e-3 if mode.endswith("frozen") else 1e-3)
        fit_steps(model, x_train[picks[n]], y_train[picks[n]], steps, seed=seed)
        rows[-1][mode] = accuracy(model, x_test, y_test)
    return rows
