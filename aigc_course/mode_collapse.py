"""Mode collapse on a ring of Gaussians (chapter 04): the data, a mode-coverage metric, and a
small 2-D GAN trained for several seeds at once, with and without packing.

A generator *collapses* when it draws only some of the kinds of example in the data, each one
well. On a ring of Gaussians (Metz et al., 2017) both halves of that sentence can be counted:
how many modes receive samples, and how many samples are good (close to some mode). The GAN's
two players are small MLPs; the seeds are trained side by side in one TensorFlow graph (every
weight tensor has a leading seed axis), because one seed proves nothing and eight sequential
runs would take eight times as long. **Packing** (PacGAN, Lin et al., 2018) shows the
discriminator ``pack`` samples at once, real ones together and generated ones together, so a
generator that repeats itself is easy to spot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "Ring",
    "Coverage",
    "mode_coverage",
    "RingRun",
    "train_ring_gan",
    "plot_ring_runs",
    "save_ring_gif",
]


@dataclass(frozen=True)
class Ring:
    """``modes`` Gaussians of spread ``sigma`` evenly spaced on a circle of ``radius``, equally
    weighted."""

    modes: int = 8
    radius: float = 2.0
    sigma: float = 0.05

    def __post_init__(self) -> None:
        if not isinstance(self.modes, int) or self.modes < 2:
            raise ValueError(f"modes must be an integer >= 2, got {self.modes!r}")
        if not self.radius > 0 or not self.sigma > 0:
            raise ValueError(f"radius and sigma must be positive, got {self.radius}, {self.sigma}")

    @property
    def centres(self) -> np.ndarray:
        """The modes' centres, ``(modes, 2)``."""
        angle = 2.0 * np.pi * np.arange(self.modes) / self.modes
        return self.radius * np.stack([np.cos(angle), np.sin(angle)], axis=1)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` points, ``(n, 2)``: pick a mode uniformly, add Gaussian noise of spread sigma."""
        which = rng.integers(0, self.modes, int(n))
        return self.centres[which] + self.sigma * rng.standard_normal((int(n), 2))

    def assign(self, points) -> np.ndarray:
        """For each point, the index of its nearest mode if it lies within 3 sigma of it, else
        -1 (a low-quality sample). 3 sigma holds 98.9 % of a 2-D Gaussian's own samples."""
        points = np.asarray(points, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] != 2:
            raise ValueError(f"points must have shape (n, 2), got {points.shape}")
        dist = np.linalg.norm(points[:, None, :] - self.centres[None], axis=2)
        return np.where(dist.min(axis=1) < 3.0 * self.sigma, dist.argmin(axis=1), -1)


@dataclass(frozen=True)
class Coverage:
    """How well a set of samples covers the modes of the data."""

    modes_hit: int  # modes that received at least min_share of their fair share of samples
    modes: int
    high_quality: float  # fraction of samples that belong to some mode
    counts: np.ndarray  # samples per mode

    def __str__(self) -> str:
        return (
            f"{self.modes_hit}/{self.modes} modes hit, "
            f"{self.high_quality:.0%} high-quality samples"
        )


def mode_coverage(assigned, shares=None, min_share: float = 0.2) -> Coverage:
    """Mode coverage from one mode index per sample (-1 for a sample that fits no mode).

    ``shares`` are the modes' weights in the data (uniform over ``len(shares)`` modes; an int
    means that many equally weighted modes). A mode counts as *hit* when it received at least
    ``min_share`` of the samples it would get from a perfect generator. The same two numbers
    work for digits: classes as modes, a confident classifier label as "high quality".
    """
    assigned = np.asarray(assigned)
    if assigned.ndim != 1 or len(assigned) == 0 or assigned.dtype.kind not in "iu":
        raise ValueError("assigned must be a non-empty 1-D integer array (mode index or -1)")
    if shares is None or isinstance(shares, int | np.integer):
        n_modes = int(assigned.max()) + 1 if shares is None else int(shares)
        shares = np.full(n_modes, 1.0 / n_modes)
    shares = np.asarray(shares, dtype=np.float64)
    if shares.ndim != 1 or np.any(shares < 0) or not np.isclose(shares.sum(), 1.0):
        raise ValueError("shares must be the modes' weights: non-negative, summing to 1")
    if assigned.min() < -1 or assigned.max() >= len(shares):
        raise ValueError(f"mode indices must lie in -1..{len(shares) - 1}")
    if not 0 < min_share <= 1:
        raise ValueError(f"min_share must lie in (0, 1], got {min_share}")
    counts = np.bincount(assigned[assigned >= 0], minlength=len(shares))
    hit = counts >= min_share * shares * len(assigned) - 1e-9  # (rounding: 0.2 * 0.05 * 100)
    return Coverage(int(hit.sum()), len(shares), float(np.mean(assigned >= 0)), counts)


@dataclass
class RingRun:
    """What :func:`train_ring_gan` returns. ``snapshots`` are ``(step, samples)`` with samples
    shaped ``(seeds, n, 2)``, drawn from the same noise at every snapshot (step 0 included)."""

    ring: Ring
    pack: int
    seeds: int
    snapshots: list[tuple[int, np.ndarray]] = field(default_factory=list)
    d_loss: list[np.ndarray] = field(default_factory=list)  # per step, one value per seed
    g_loss: list[np.ndarray] = field(default_factory=list)

    def coverage(self, index: int = -1) -> list[Coverage]:
        """Mode coverage of every seed's samples at snapshot ``index`` (the last by default)."""
        _, samples = self.snapshots[index]
        return [mode_coverage(self.ring.assign(s), self.ring.modes) for s in samples]

    def summary(self, index: int = -1) -> str:
        """One line: mean modes hit and high-quality share over the seeds, with their ranges."""
        cov = self.coverage(index)
        hits, quality = [c.modes_hit for c in cov], [c.high_quality for c in cov]
        return (
            f"modes hit {np.mean(hits):.1f} of {self.ring.modes} (seeds: {min(hits)}-{max(hits)}), "
            f"high-quality samples {np.mean(quality):.0%} "
            f"({min(quality):.0%}-{max(quality):.0%})"
        )


def _init_mlp(rng: np.random.Generator, seeds: int, sizes: list[int]):
    """He-normal weights (He et al., 2015: variance 2 / fan-in, the usual start for ReLU
    networks; Keras' ``he_normal`` without its truncation) and zero biases, one set per seed."""
    from aigc_course._tf import tf

    weights = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        w = rng.normal(0.0, np.sqrt(2.0 / fan_in), (seeds, fan_in, fan_out)).astype(np.float32)
        weights += [tf.Variable(w), tf.Variable(np.zeros((seeds, 1, fan_out), np.float32))]
    return weights


def _mlp(weights, x):
    """ReLU MLP applied to every seed at once: x ``(seeds, n, in)`` -> ``(seeds, n, out)``."""
    from aigc_course._tf import tf

    layers = len(weights) // 2
    for i in range(layers):
        x = tf.einsum("kni,kio->kno", x, weights[2 * i]) + weights[2 * i + 1]
        if i < layers - 1:
            x = tf.nn.relu(x)
    return x


def train_ring_gan(
    ring: Ring | None = None,
    steps: int = 2500,
    seeds: int = 6,
    pack: int = 1,
    batch_size: int = 128,
    width: int = 64,
    latent_dim: int = 8,
    learning_rate: float = 1e-3,
    snapshot_every: int = 100,
    snapshot_size: int = 1000,
    seed: int = 0,
    progress: bool = True,
) -> RingRun:
    """Train ``seeds`` independent GANs on ``ring`` (default :class:`Ring`) side by side.

    Generator and discriminator are MLPs with two hidden ReLU layers of ``width``; the losses are
    the course's cross-entropy pair (discriminator on logits, non-saturating generator), each
    player with its own Adam (beta_1 = 0.5), one step each, alternating. With ``pack > 1`` the
    discriminator judges ``pack`` samples at once (PacGAN). Each seed's slice of every weight
    gets its own gradient, so the seeds are exactly independent runs; ``seed`` makes the whole
    set repeat.
    """
    from aigc_course._tf import keras, tf
    from aigc_course.losses import discriminator_loss, generator_loss

    ring = Ring() if ring is None else ring
    if not isinstance(ring, Ring):
        raise TypeError(f"ring must be a mode_collapse.Ring, got {type(ring).__name__}")
    for name, value in (
        ("steps", steps),
        ("seeds", seeds),
        ("pack", pack),
        ("batch_size", batch_size),
        ("snapshot_every", snapshot_every),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if batch_size % pack:
        raise ValueError(f"batch_size ({batch_size}) must be a multiple of pack ({pack})")

    rng = np.random.default_rng(seed)
    gen = _init_mlp(rng, seeds, [latent_dim, width, width, 2])
    disc = _init_mlp(rng, seeds, [2 * pack, width, width, 1])
    opt_g = keras.optimizers.Adam(learning_rate, beta_1=0.5)
    opt_d = keras.optimizers.Adam(learning_rate, beta_1=0.5)
    opt_g.build(gen)
    opt_d.build(disc)
    draws = tf.random.Generator.from_seed(seed)  # data and noise, drawn inside the graph
    centres = tf.constant(ring.centres, tf.float32)

    def judge(points):  # (seeds, n, 2) -> logits (seeds, n / pack, 1): pack samples per verdict
        return _mlp(disc, tf.reshape(points, (seeds, -1, 2 * pack)))

    def per_seed(loss_fn, *logits):  # the course's loss, averaged within each seed
        return tf.stack([loss_fn(*(lg[k] for lg in logits)) for k in range(seeds)])

    def train_step():
        which = draws.uniform((seeds, batch_size), 0, ring.modes, dtype=tf.int32)
        real = tf.gather(centres, which) + ring.sigma * draws.normal((seeds, batch_size, 2))
        z_d, z_g = (draws.normal((seeds, batch_size, latent_dim)) for _ in range(2))
        # Each player descends the sum of the seeds' losses: every seed's slice of the weights
        # gets exactly its own loss's gradient, and Adam works element by element.
        with tf.GradientTape() as tape:
            d_loss = per_seed(discriminator_loss, judge(real), judge(_mlp(gen, z_d)))
            d_total = tf.reduce_sum(d_loss)
        opt_d.apply_gradients(zip(tape.gradient(d_total, disc), disc, strict=True))
        with tf.GradientTape() as tape:
            g_loss = per_seed(generator_loss, judge(_mlp(gen, z_g)))
            g_total = tf.reduce_sum(g_loss)
        opt_g.apply_gradients(zip(tape.gradient(g_total, gen), gen, strict=True))
        return d_loss, g_loss

    @tf.function
    def train_steps(n):  # n steps in one call: no Python between steps
        d_losses = tf.TensorArray(tf.float32, size=n)
        g_losses = tf.TensorArray(tf.float32, size=n)
        for i in tf.range(n):
            d_loss, g_loss = train_step()
            d_losses, g_losses = d_losses.write(i, d_loss), g_losses.write(i, g_loss)
        return d_losses.stack(), g_losses.stack()

    run = RingRun(ring, pack, seeds)
    snap_z = np.random.default_rng(seed + 1).standard_normal((seeds, snapshot_size, latent_dim))
    snap_z = snap_z.astype(np.float32)

    def snapshot(step: int) -> None:
        run.snapshots.append((step, np.asarray(_mlp(gen, snap_z))))

    snapshot(0)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, desc=f"{seeds} ring GANs, pack {pack}", unit="step")
    done = 0
    while done < steps:
        n = min(snapshot_every, steps - done)
        d_losses, g_losses = train_steps(tf.constant(n))
        run.d_loss += list(d_losses.numpy())
        run.g_loss += list(g_losses.numpy())
        done += n
        snapshot(done)
        if bar is not None:
            bar.update(n)
    if bar is not None:
        bar.close()
    return run


def _draw(ax, run: RingRun, index: int, seed: int, title: str) -> None:
    step, samples = run.snapshots[index]
    cov = mode_coverage(run.ring.assign(samples[seed]), run.ring.modes)
    lim = 1.6 * run.ring.radius
    ax.clear()
    ax.scatter(*run.ring.centres.T, s=260, facecolors="none", edgecolors="tab:blue", lw=1.5)
    ax.scatter(*samples[seed].T, s=4, color="tab:orange", alpha=0.5)
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", xticks=[], yticks=[])
    ax.set_title(f"{title}, step {step}\n{cov}", fontsize=10)


def plot_ring_runs(runs: dict[str, RingRun], index: int = -1, seeds: int = 3):
    """One row per run (labelled by its key), one panel per seed: the samples at snapshot
    ``index`` over the ring's modes (blue circles), with each panel's coverage in its title."""
    import matplotlib.pyplot as plt

    if not runs:
        raise ValueError("give at least one run, e.g. {'plain GAN': run}")
    seeds = min(seeds, *(r.seeds for r in runs.values()))
    fig, axes = plt.subplots(
        len(runs), seeds, figsize=(3.2 * seeds, 3.4 * len(runs)), squeeze=False
    )
    for row, (label, run) in zip(axes, runs.items(), strict=True):
        for k, ax in enumerate(row):
            _draw(ax, run, index, k, f"{label}, seed {k}")
    fig.tight_layout()
    return fig


def save_ring_gif(runs: dict[str, RingRun], path, seed: int = 0, fps: float = 6, dpi: int = 80):
    """An animated GIF of one seed of each run side by side, one frame per snapshot.

    The runs must have been trained with the same snapshot steps. Returns the GIF's path.
    """
    import tempfile

    import matplotlib.pyplot as plt

    from aigc_course.plotting import make_gif

    steps = {tuple(s for s, _ in r.snapshots) for r in runs.values()}
    if len(steps) != 1:
        raise ValueError("the runs must share their snapshot steps (same steps, snapshot_every)")
    with tempfile.TemporaryDirectory() as tmp:
        frames = []
        fig, axes = plt.subplots(1, len(runs), figsize=(3.6 * len(runs), 3.8), dpi=dpi)
        for i in range(len(next(iter(steps)))):
            for ax, (label, run) in zip(np.atleast_1d(axes), runs.items(), strict=True):
                _draw(ax, run, i, seed, label)
            fig.tight_layout()
            frames.append(Path(tmp) / f"frame_{i:04d}.png")
            fig.savefig(frames[-1], dpi=dpi)
        plt.close(fig)
        return make_gif(frames, path, fps=fps)
