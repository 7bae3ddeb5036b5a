"""The GAN game in one dimension, solved on a grid instead of with networks.

With 1-D densities we can compute everything the theory talks about exactly (up to the
accuracy of numerical integration): the optimal discriminator D*, the value function
V(D, G), the Jensen-Shannon divergence, and so check the identity
C(G) = V(D*, G) = -log 4 + 2 JSD(p_data || p_g) with numbers. :func:`game_explorer` is a
small ipywidgets toy that moves the generator's Gaussian with sliders.

All divergences and values are in nats (natural logarithms), as in Goodfellow et al. (2014).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field

import ipywidgets as widgets
import numpy as np

LOG4 = math.log(4.0)


def _finite(name: str, value: float) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


@dataclass(frozen=True)
class Normal:
    """A Gaussian N(mu, sigma^2) on the real line."""

    mu: float
    sigma: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "mu", _finite("mu", self.mu))
        sigma = _finite("sigma", self.sigma)
        if sigma <= 0:
            raise ValueError(f"sigma must be positive (it is a standard deviation), got {sigma}")
        object.__setattr__(self, "sigma", sigma)

    def pdf(self, x: np.ndarray) -> np.ndarray:
        """Density at the points ``x``."""
        z = (np.asarray(x, dtype=np.float64) - self.mu) / self.sigma
        return np.exp(-0.5 * z * z) / (self.sigma * math.sqrt(2.0 * math.pi))

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` independent draws, using the NumPy generator ``rng``."""
        return rng.normal(self.mu, self.sigma, size=int(n))

    def span(self, width: float) -> tuple[float, float]:
        """An interval that holds all but a negligible part of the mass."""
        return self.mu - width * self.sigma, self.mu + width * self.sigma


@dataclass(frozen=True)
class Mixture:
    """A mixture of Gaussians: sum_k weights[k] * components[k]."""

    components: tuple[Normal, ...]
    weights: tuple[float, ...] = field(default=())

    def __post_init__(self) -> None:
        components = tuple(self.components)
        if not components or not all(isinstance(c, Normal) for c in components):
            raise TypeError("components must be a non-empty sequence of Normal(mu, sigma)")
        weights = tuple(self.weights) or (1.0 / len(components),) * len(components)
        if len(weights) != len(components):
            raise ValueError(
                f"got {len(weights)} weights for {len(components)} components; give one each"
            )
        weights = tuple(_finite("weight", w) for w in weights)
        if min(weights) < 0 or abs(sum(weights) - 1.0) > 1e-9:
            raise ValueError(f"weights must be non-negative and sum to 1, got {weights}")
        object.__setattr__(self, "components", components)
        object.__setattr__(self, "weights", weights)

    def pdf(self, x: np.ndarray) -> np.ndarray:
        """Density at the points ``x``."""
        return sum(w * c.pdf(x) for w, c in zip(self.weights, self.components, strict=True))

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` independent draws: pick a component by weight, then draw from it."""
        which = rng.choice(len(self.components), size=int(n), p=self.weights)
        mus = np.array([c.mu for c in self.components])[which]
        sigmas = np.array([c.sigma for c in self.components])[which]
        return rng.normal(mus, sigmas)

    def span(self, width: float) -> tuple[float, float]:
        """An interval that holds all but a negligible part of the mass."""
        spans = [c.span(width) for c in self.components]
        return min(s[0] for s in spans), max(s[1] for s in spans)


Distribution = Normal | Mixture


def grid(*dists: Distribution, n: int = 4001, width: float = 10.0) -> np.ndarray:
    """Evenly spaced points covering every distribution to ``width`` standard deviations.

    Ten standard deviations leave out less than 1e-22 of a Gaussian's mass, so integrals on
    this grid are limited by the trapezoid rule's accuracy, not by the cut-off.
    """
    if not dists:
        raise ValueError("give at least one distribution, e.g. grid(Normal(0, 1))")
    if int(n) < 3:
        raise ValueError(f"n must be at least 3 points, got {n}")
    spans = [d.span(width) for d in dists]
    return np.linspace(min(s[0] for s in spans), max(s[1] for s in spans), int(n))


def integrate(y: np.ndarray, x: np.ndarray) -> float:
    """The trapezoid rule: the integral of the samples ``y`` taken at the points ``x``."""
    y, x = np.asarray(y, dtype=np.float64), np.asarray(x, dtype=np.float64)
    if y.shape != x.shape or x.ndim != 1:
        raise ValueError(f"y and x must be 1-D arrays of the same length, got {y.shape}, {x.shape}")
    return float(np.trapezoid(y, x))


def optimal_discriminator(p_data: np.ndarray, p_g: np.ndarray) -> np.ndarray:
    """D*(x) = p_data(x) / (p_data(x) + p_g(x)), the best discriminator for a fixed generator.

    Where both densities are zero D* is arbitrary (no sample ever lands there); we return 0.5.
    """
    p_data, p_g = _densities(p_data, p_g)
    total = p_data + p_g
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, p_data / np.where(total > 0, total, 1.0), 0.5)


def _densities(p: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    if p.shape != q.shape:
        raise ValueError(
            f"the two densities must be sampled on the same grid: {p.shape} vs {q.shape}"
        )
    if np.any(p < 0) or np.any(q < 0):
        raise ValueError(
            "densities cannot be negative; pass pdf values such as Normal(0, 1).pdf(x)"
        )
    return p, q


def _plogq(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """p * log q with the convention 0 * log 0 = 0 (points of zero mass contribute nothing)."""
    with np.errstate(divide="ignore"):
        return _times(p, np.log(np.where(p > 0, q, 1.0)))


def _times(p: np.ndarray, log_q: np.ndarray) -> np.ndarray:
    """p * log_q, counting 0 where p = 0 even if log_q is -inf."""
    return np.where(p > 0, p * np.where(p > 0, log_q, 0.0), 0.0)


def optimal_logits(p_data: np.ndarray, p_g: np.ndarray) -> np.ndarray:
    """The logit of D*: log p_data(x) - log p_g(x), so that D* = sigmoid(logit).

    Far in the tails p_g / p_data can be 1e-100: D* then rounds to exactly 1.0 in float64 and
    log(1 - D*) becomes -inf, although the true value is finite. The logit keeps full precision
    (the same reason the package's losses take logits).
    """
    p_data, p_g = _densities(p_data, p_g)
    with np.errstate(divide="ignore", invalid="ignore"):
        logits = np.log(p_data) - np.log(p_g)
    return np.where(np.isnan(logits), 0.0, logits)  # both zero: D* = 0.5, as above


def value_function(
    d: np.ndarray, p_data: np.ndarray, p_g: np.ndarray, x: np.ndarray, *, from_logits: bool = False
) -> float:
    """V(D, G) = integral of p_data(x) log D(x) + p_g(x) log(1 - D(x)) dx.

    This is E_{x~p_data}[log D(x)] + E_{z~p_z}[log(1 - D(G(z)))] written over x, with p_g the
    density of G(z). The discriminator maximises it; the generator minimises it. ``d`` holds
    D's values on the grid ``x``, or its logits when ``from_logits=True`` (numerically safe:
    log D = -softplus(-logit) and log(1 - D) = -softplus(logit)).
    """
    p_data, p_g = _densities(p_data, p_g)
    d = np.asarray(d, dtype=np.float64)
    if d.shape != p_data.shape:
        raise ValueError(f"D must be evaluated on the same grid as the densities: {d.shape}")
    if from_logits:
        if np.any(np.isnan(d)):
            raise ValueError("the logits contain NaN")
        log_d, log_1md = -np.logaddexp(0.0, -d), -np.logaddexp(0.0, d)
        return integrate(_times(p_data, log_d) + _times(p_g, log_1md), x)
    if np.any(~((d >= 0) & (d <= 1))):
        raise ValueError(
            "D(x) is a probability: every value must lie in [0, 1] (or pass "
            "from_logits=True if these are logits)"
        )
    return integrate(_plogq(p_data, d) + _plogq(p_g, 1.0 - d), x)


def kl_divergence(p: np.ndarray, q: np.ndarray, x: np.ndarray) -> float:
    """KL(p || q) = integral of p log(p / q) dx, in nats."""
    p, q = _densities(p, q)
    return integrate(_plogq(p, p) - _plogq(p, q), x)


def js_divergence(p: np.ndarray, q: np.ndarray, x: np.ndarray) -> float:
    """JSD(p || q) = KL(p || m) / 2 + KL(q || m) / 2 with m = (p + q) / 2; between 0 and log 2."""
    p, q = _densities(p, q)
    m = 0.5 * (p + q)
    return 0.5 * kl_divergence(p, m, x) + 0.5 * kl_divergence(q, m, x)


def kl_minus_two_jsd(p_data: np.ndarray, p_g: np.ndarray, x: np.ndarray) -> float:
    """KL(p_g || p_data) - 2 JSD(p_data || p_g), in nats.

    With the discriminator at its optimum D*, the non-saturating generator loss -E[log D(G(z))]
    descends this divergence, not the JSD that the minimax game is about (Arjovsky & Bottou, 2017).
    It is zero only when p_g = p_data, like the JSD, but it is lopsided: KL(p_g || p_data) is huge
    when the generator puts mass where the data has none and mild when it misses part of the data.
    """
    return kl_divergence(p_g, p_data, x) - 2.0 * js_divergence(p_data, p_g, x)


GRADIENT_ROWS = (
    "non-saturating loss, D = D* fixed",
    "KL(p_g || p_data) - 2 JSD",
    "minimax loss, D = D* fixed",
    "2 JSD",
)


def generator_gradients(
    data: Distribution, generator: Normal, h: float = 1e-4, n: int = 8001
) -> dict[str, tuple[float, float]]:
    """Gradients with respect to a Gaussian generator's ``(mu, sigma)``, by central differences.

    Two generator losses are differentiated with the discriminator frozen at D* for the current
    generator, as a gradient step of the generator does: the non-saturating
    ``E_{x~p_g}[-log D*(x)]`` and the minimax ``E_{x~p_g}[log(1 - D*(x))]``. Beside them, the
    gradients of the two divergences the theory says they follow: ``KL(p_g || p_data) - 2 JSD``
    and ``2 JSD``. Returns ``{row name: (d/dmu, d/dsigma)}`` with the names of
    :data:`GRADIENT_ROWS`.
    """
    if not isinstance(generator, Normal):
        raise TypeError(f"generator must be a Normal(mu, sigma), got {type(generator).__name__}")
    h = _finite("h", h)
    if not 0 < h < generator.sigma / 10:
        raise ValueError(f"h must be a small positive step (below sigma / 10), got {h}")
    x = grid(data, generator, n=n)
    p_data = data.pdf(x)
    logits = optimal_logits(p_data, generator.pdf(x))  # D* of the current generator, frozen
    minus_log_d, log_1md = np.logaddexp(0.0, -logits), -np.logaddexp(0.0, logits)

    def shifted(d_mu: float, d_sigma: float) -> np.ndarray:
        return Normal(generator.mu + d_mu, generator.sigma + d_sigma).pdf(x)

    functionals = {
        GRADIENT_ROWS[0]: lambda q: integrate(_times(q, minus_log_d), x),
        GRADIENT_ROWS[1]: lambda q: kl_minus_two_jsd(p_data, q, x),
        GRADIENT_ROWS[2]: lambda q: integrate(_times(q, log_1md), x),
        GRADIENT_ROWS[3]: lambda q: 2.0 * js_divergence(p_data, q, x),
    }
    return {
        name: tuple(
            (f(shifted(*step)) - f(shifted(*(-s for s in step)))) / (2.0 * h)
            for step in ((h, 0.0), (0.0, h))
        )
        for name, f in functionals.items()
    }


@dataclass(frozen=True)
class GameState:
    """Everything about one (p_data, p_g) pair, computed on a grid."""

    x: np.ndarray
    p_data: np.ndarray
    p_g: np.ndarray
    d_star: np.ndarray
    value: float  # C(G) = V(D*, G)
    jsd: float

    @property
    def identity_rhs(self) -> float:
        """-log 4 + 2 JSD, which the theory says equals ``value``."""
        return -LOG4 + 2.0 * self.jsd


def solve_game(data: Distribution, generator: Distribution, n: int = 4001) -> GameState:
    """Compute D*, C(G) = V(D*, G) and JSD(p_data || p_g) for two 1-D distributions."""
    x = grid(data, generator, n=n)
    p_data, p_g = data.pdf(x), generator.pdf(x)
    d_star = optimal_discriminator(p_data, p_g)
    return GameState(
        x=x,
        p_data=p_data,
        p_g=p_g,
        d_star=d_star,
        value=value_function(optimal_logits(p_data, p_g), p_data, p_g, x, from_logits=True),
        jsd=js_divergence(p_data, p_g, x),
    )


def sweep_mu(data: Distribution, sigma_g: float, mus: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """C(G) and JSD for generators N(mu, sigma_g^2) as mu runs over ``mus``."""
    states = [solve_game(data, Normal(mu, sigma_g), n=1001) for mu in np.asarray(mus)]
    return np.array([s.value for s in states]), np.array([s.jsd for s in states])


def plot_game(data: Distribution, generator: Distribution, mus: np.ndarray | None = None):
    """Two panels: the densities with D*, and C(G) and JSD as the generator's mean moves.

    Returns a ``matplotlib.figure.Figure`` that is not registered with pyplot, so a widget can
    redraw it without Jupyter also showing a copy.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 3.8), layout="constrained")
    ax_d, ax_v = fig.subplots(1, 2)
    _draw(ax_d, ax_v, data, generator, mus)
    return fig


def _draw(ax_d, ax_v, data, generator, mus) -> GameState:
    state = solve_game(data, generator)
    ax_d.clear()
    ax_d.plot(state.x, state.p_data, color="tab:blue", label="$p_{data}$")
    ax_d.plot(state.x, state.p_g, color="tab:orange", label="$p_g$")
    ax_d.plot(state.x, state.d_star, color="black", ls="--", label="$D^*(x)$")
    ax_d.set_ylim(0, max(1.05, 1.1 * max(state.p_data.max(), state.p_g.max())))
    ax_d.set_xlim(-6, 6)
    ax_d.set_xlabel("x")
    ax_d.set_title("densities and the optimal discriminator")
    ax_d.legend(loc="upper left", fontsize=9)

    ax_v.clear()
    if isinstance(generator, Normal):
        mus = np.linspace(-4, 4, 81) if mus is None else np.asarray(mus)
        values, jsds = sweep_mu(data, generator.sigma, mus)
        ax_v.plot(mus, values, color="tab:red", label="$C(G)=V(D^*,G)$")
        ax_v.plot(mus, jsds, color="tab:green", label="JSD$(p_{data}\\|p_g)$")
        ax_v.set_xlabel(f"generator mean $\\mu_g$ (with $\\sigma_g$ = {generator.sigma:.2f})")
    for level, text, va in [
        (-LOG4, "−log 4: smallest C(G), at $p_g = p_{data}$", "bottom"),
        (math.log(2), "log 2: largest JSD", "top"),
    ]:
        ax_v.axhline(level, color="gray", lw=0.8, ls=":")
        ax_v.text(0.01, level, text, transform=ax_v.get_yaxis_transform(), va=va, color="0.4")
    ax_v.plot(
        [getattr(generator, "mu", 0.0)] * 2,
        [state.value, state.jsd],
        "o",
        color="black",
        ms=7,
        zorder=5,
    )
    ax_v.set_ylim(-LOG4 - 0.1, math.log(2) + 0.1)
    ax_v.set_ylabel("nats")
    ax_v.set_title("C(G) = -log 4 + 2 JSD")
    ax_v.legend(loc="lower right", fontsize=9)  # clear of both curves for any generator
    return state


def game_explorer(data: Distribution | None = None, mu_g: float = 2.0, sigma_g: float = 0.5):
    """A widget: sliders for the generator's mean and spread; live D*, C(G) and JSD.

    ``data`` defaults to N(0, 1). Returns a :class:`GameExplorer` (an ipywidgets VBox).
    """
    return GameExplorer(Normal(0.0, 1.0) if data is None else data, mu_g, sigma_g)


class GameExplorer(widgets.VBox):
    """Sliders for the generator N(mu_g, sigma_g^2) against a fixed data distribution.

    Moving a slider recomputes :attr:`state` (a :class:`GameState`), rewrites :attr:`readout`
    (an HTML line with C(G), -log 4 + 2 JSD and the JSD) and redraws :attr:`image` (a PNG).
    """

    def __init__(self, data: Distribution, mu_g: float, sigma_g: float):
        w = widgets
        if not isinstance(data, Normal | Mixture):
            raise TypeError(f"data must be a Normal or a Mixture, got {type(data).__name__}")
        self.data = data
        self.mu_slider = w.FloatSlider(
            value=mu_g, min=-4.0, max=4.0, step=0.1, description="μ_g", continuous_update=False
        )
        self.sigma_slider = w.FloatSlider(
            value=sigma_g, min=0.2, max=3.0, step=0.05, description="σ_g", continuous_update=False
        )
        self.readout = w.HTML()
        self.image = w.Image(format="png")
        self.figure = plot_game(data, Normal(mu_g, sigma_g))
        self.state: GameState = solve_game(data, Normal(mu_g, sigma_g))
        self.mu_slider.observe(self._on_change, names="value")
        self.sigma_slider.observe(self._on_change, names="value")
        super().__init__([w.HBox([self.mu_slider, self.sigma_slider]), self.readout, self.image])
        self.update()

    def __repr__(self) -> str:
        # What a static page shows instead of the live widget (Jupyter cuts it at 110 characters).
        g = self.generator
        return (
            f"GameExplorer(μ_g={g.mu:.2f}, σ_g={g.sigma:.2f}, C(G)={self.state.value:.4f}, "
            f"JSD={self.state.jsd:.4f}): run in Jupyter to move the sliders"
        )

    @property
    def generator(self) -> Normal:
        """The generator's current distribution, read from the sliders."""
        return Normal(self.mu_slider.value, self.sigma_slider.value)

    def _on_change(self, _change) -> None:
        self.update()

    def update(self) -> None:
        """Recompute the game for the current sliders and refresh the numbers and the plot."""
        ax_d, ax_v = self.figure.axes[:2]
        self.state = _draw(ax_d, ax_v, self.data, self.generator, None)
        s = self.state
        self.readout.value = (
            f"<b>C(G) = V(D*, G) = {s.value:.4f}</b> &nbsp; "
            f"−log 4 + 2·JSD = {s.identity_rhs:.4f} &nbsp; "
            f"JSD = {s.jsd:.4f} nats (0 ≤ JSD ≤ log 2 = {math.log(2):.4f})"
        )
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png")
        self.image.value = buffer.getvalue()
