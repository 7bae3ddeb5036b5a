"""Small demos that run in seconds (chapter 02): a 1-D GAN and a 1-D diffusion model fitting a
mixture of Gaussians, and the numbers to compare them (the few-label classifiers of chapter 02's
part B live in :mod:`aigc_course.fewlabels`).

In one dimension we can *see* what a generator has learned: estimate the density of its
samples and draw it over the true density. The networks are tiny MLPs; the GAN uses the
course's logit-form losses (:mod:`aigc_course.losses`), the diffusion model the noise schedule
of :mod:`aigc_course.diffusion`. The target distributions are
:class:`aigc_course.game1d.Mixture` objects, so the exact optimal discriminator of
:func:`aigc_course.game1d.optimal_discriminator` can be drawn next to the trained one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from aigc_course.game1d import Mixture, Normal
from aigc_course.validate import positive_int

__all__ = [
    "three_bumps",
    "build_toy_generator",
    "build_toy_discriminator",
    "ToyGANRun",
    "train_toy_gan",
    "kde",
    "plot_snapshots",
    "save_density_gif",
    "ToyDiffusion",
    "train_toy_diffusion",
    "wasserstein_1d",
    "mass_per_component",
    "spread_per_component",
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
        positive_int(name, value)

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


# --- a 1-D diffusion model: learn to predict the noise, then denoise step by step -----------


@dataclass
class ToyDiffusion:
    """A noise-prediction network for 1-D data and its schedule (what :func:`train_toy_diffusion`
    returns). ``betas[t - 1]`` is beta_t for t = 1..T, as in :mod:`aigc_course.diffusion`."""

    model: object
    betas: np.ndarray
    losses: list[float] = field(default_factory=list)

    def predict_noise(self, x_t: np.ndarray, t: int | np.ndarray) -> np.ndarray:
        """The network's estimate of the noise in ``x_t`` at step ``t`` (1-based)."""
        x_t = np.asarray(x_t, dtype=np.float32).reshape(-1, 1)
        t = np.broadcast_to(np.asarray(t, dtype=np.float32), (len(x_t),)).reshape(-1, 1)
        inputs = np.concatenate([x_t, _time_features(t, len(self.betas))], axis=1)
        return np.asarray(self.model(inputs, training=False))[:, 0].astype(np.float64)

    def sample(self, n: int, rng: np.random.Generator, keep_path: bool = False):
        """Ancestral sampling (Ho et al., 2020, Algorithm 2): start from ``x_T ~ N(0, 1)`` and
        apply the learned reverse step for t = T..1,
        ``x_{t-1} = (x_t - beta_t / sqrt(1 - abar_t) * eps(x_t, t)) / sqrt(alpha_t) + sqrt(beta_t) z``
        (no noise at the last step). Returns ``n`` samples, and with ``keep_path=True`` also the
        whole path ``(T + 1, n)`` from noise (row 0) to data (row T)."""
        from aigc_course.diffusion import alpha_bars

        betas = self.betas
        abar = alpha_bars(betas)
        x = rng.standard_normal(int(n))
        path = [x]
        for t in range(len(betas), 0, -1):
            beta, eps = betas[t - 1], self.predict_noise(x, t)
            x = (x - beta / np.sqrt(1.0 - abar[t - 1]) * eps) / np.sqrt(1.0 - beta)
            if t > 1:
                x = x + np.sqrt(beta) * rng.standard_normal(x.shape)
            path.append(x)
        return (x, np.stack(path)) if keep_path else x


def _time_features(t: np.ndarray, num_steps: int) -> np.ndarray:
    """A step t (1..T) as 8 numbers: sines and cosines of t/T at 4 frequencies, so the network
    can tell nearby steps apart (a small version of the Transformer's position encoding)."""
    angle = (np.asarray(t, np.float32) / num_steps) * np.array([1.0, 3.0, 9.0, 27.0], np.float32)
    return np.concatenate([np.sin(angle), np.cos(angle)], axis=-1).astype(np.float32)


def train_toy_diffusion(
    data: Mixture,
    num_steps: int = 100,
    train_steps: int = 3000,
    batch_size: int = 256,
    width: int = 64,
    learning_rate: float = 2e-3,
    seed: int = 0,
    progress: bool = True,
) -> ToyDiffusion:
    """Train a denoising diffusion model on samples of ``data`` (Ho et al., 2020, Algorithm 1).

    Each step draws clean points ``x_0``, steps ``t ~ U{1..T}`` and noise ``eps``, forms
    ``x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps`` with the closed form of the forward process,
    and regresses the MLP's output on ``eps`` (mean squared error). The schedule is Ho et al.'s
    linear one stretched to ``num_steps``: beta from 1e-4 * 1000 / T to 0.02 * 1000 / T, so the
    last step leaves almost no signal (abar_T = 2e-5 for T = 100).
    """
    from aigc_course._tf import keras, tf
    from aigc_course.diffusion import alpha_bars, linear_beta_schedule

    if not isinstance(data, Mixture | Normal):
        raise TypeError(f"data must be a game1d.Mixture or Normal, got {type(data).__name__}")
    for name, value in (("num_steps", num_steps), ("train_steps", train_steps)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if num_steps < 20:
        raise ValueError(
            f"num_steps must be at least 20 (each step must be small), got {num_steps}"
        )
    betas = linear_beta_schedule(num_steps, 0.1 / num_steps, min(20.0 / num_steps, 0.999))
    abar = alpha_bars(betas).astype(np.float32)

    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    model = keras.Sequential(
        [
            keras.Input(shape=(9,)),  # x_t and 8 time features
            keras.layers.Dense(width, activation="silu"),
            keras.layers.Dense(width, activation="silu"),
            keras.layers.Dense(width, activation="silu"),
            keras.layers.Dense(1),
        ],
        name="toy_denoiser",
    )
    optimizer = keras.optimizers.Adam(learning_rate)

    @tf.function
    def train_step(inputs, eps):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(inputs, training=True) - eps))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    run = ToyDiffusion(model, betas)
    steps_iter = range(train_steps)
    if progress:
        from tqdm.auto import tqdm

        steps_iter = tqdm(steps_iter, desc="1-D diffusion", unit="step")
    for _ in steps_iter:
        x0 = data.sample(batch_size, rng).astype(np.float32)
        t = rng.integers(1, num_steps + 1, batch_size)
        eps = rng.standard_normal(batch_size).astype(np.float32)
        x_t = np.sqrt(abar[t - 1]) * x0 + np.sqrt(1.0 - abar[t - 1]) * eps
        inputs = np.concatenate([x_t[:, None], _time_features(t[:, None], num_steps)], axis=1)
        run.losses.append(float(train_step(inputs, eps[:, None])))
    return run


def wasserstein_1d(a, b) -> float:
    """The Wasserstein-1 (earth mover's) distance between two 1-D samples: the mean gap between
    their quantiles. 0 for identical samples; in the units of the data."""
    a, b = np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64)
    if a.size < 2 or b.size < 2:
        raise ValueError("wasserstein_1d needs at least two samples on each side")
    q = (np.arange(max(a.size, b.size)) + 0.5) / max(a.size, b.size)
    return float(np.mean(np.abs(np.quantile(a, q) - np.quantile(b, q))))


def _nearest_component(samples, mixture: Mixture) -> tuple[np.ndarray, np.ndarray]:
    x = np.ravel(np.asarray(samples, dtype=np.float64))
    if x.size == 0:
        raise ValueError("no samples")
    means = np.array([c.mu for c in mixture.components])
    return x, np.abs(x[:, None] - means[None, :]).argmin(axis=1)


def mass_per_component(samples, mixture: Mixture) -> np.ndarray:
    """The share of ``samples`` nearest to each component's mean: how a generator splits its
    mass between the bumps (compare with ``mixture.weights``)."""
    _, nearest = _nearest_component(samples, mixture)
    return np.bincount(nearest, minlength=len(mixture.components)) / nearest.size


def spread_per_component(samples, mixture: Mixture) -> np.ndarray:
    """The standard deviation of the samples nearest to each component's mean (NaN for a
    component no sample is nearest to): how wide a generator draws each bump."""
    x, nearest = _nearest_component(samples, mixture)
    return np.array(
        [
            x[nearest == k].std() if np.any(nearest == k) else np.nan
            for k in range(len(mixture.components))
        ]
    )
