"""Checks for chapter 04's exercises (the GAN objective).

Every check recomputes the right answer from the inputs it hands to the student's function
(random densities, Gaussians on a grid, random logits), so no result is hard-coded.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from aigc_course.checks import (
    CheckFailed,
    NotAttempted,
    check,
    check_callable,
    check_choice,
    check_close,
    check_own_code,
    check_true,
    ok,
)
from aigc_course.game1d import (
    GRADIENT_ROWS,
    LOG4,
    Mixture,
    Normal,
    generator_gradients,
    grid,
    integrate,
    js_divergence,
    optimal_discriminator,
    optimal_logits,
    value_function,
)

__all__ = [
    "check_optimal_discriminator",
    "check_non_saturating_loss",
    "check_jsd",
    "check_article_discriminator_loss",
    "check_value_at_optimum",
    "check_divergence_experiment",
    "HINTS",
]

_PAIRS = [
    (Normal(0.0, 1.0), Normal(2.0, 0.5)),
    (Mixture((Normal(-2.0, 0.5), Normal(2.0, 0.7)), (0.4, 0.6)), Normal(0.5, 1.5)),
]


@check(reread="chapter 04, section 3 (The optimal discriminator)")
def check_optimal_discriminator(optimal_d: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> None:
    """``optimal_d(p_data, p_g)`` returns D*(x) for densities sampled on a grid."""
    check_callable("optimal_d", optimal_d)
    rng = np.random.default_rng(4)
    p, q = rng.uniform(0.05, 2.0, 50), rng.uniform(0.05, 2.0, 50)
    got = optimal_d(p, q)
    want = p / (p + q)
    hint = None
    if got is not None and np.shape(got) == want.shape:
        arr = np.asarray(got, dtype=np.float64)
        if np.allclose(arr, q / (p + q)):
            hint = "that is 1 - D*: D should be large where the real data is more likely"
        elif np.allclose(arr, p / q):
            hint = "D* is a probability: divide by the sum p_data + p_g, not by p_g alone"
    check_close("optimal_d(p_data, p_g) on random densities", got, want, hint=hint)
    for data, gen in _PAIRS:
        x = grid(data, gen, n=801, width=6.0)
        p, q = data.pdf(x), gen.pdf(x)
        d = np.asarray(optimal_d(p, q), dtype=np.float64)
        check_close(f"optimal_d for {data} vs {gen}", d, optimal_discriminator(p, q), atol=1e-9)
        # The derivation maximises the integrand point by point: y -> p log y + q log(1 - y).
        inside = (d > 1e-6) & (d < 1 - 1e-6)
        p, q, d = p[inside], q[inside], d[inside]
        best = p * np.log(d) + q * np.log1p(-d)
        for y in (np.clip(d + 0.05, 1e-9, 1 - 1e-9), np.clip(d - 0.05, 1e-9, 1 - 1e-9)):
            check_true(
                np.all(p * np.log(y) + q * np.log1p(-y) <= best + 1e-12),
                "moving your D(x) by ±0.05 raised p_data log D + p_g log(1 - D) somewhere",
            )
    ok("optimal_d = p_data / (p_data + p_g); moving it by ±0.05 lowers V(D, G) at every x")


@check(reread="chapter 04, sections 5 and 6 (non-saturating loss; why logits)")
def check_non_saturating_loss(loss_fn: Callable) -> None:
    """``loss_fn(fake_logits)`` is the batch mean of -log sigmoid(logit), stable and differentiable."""
    from aigc_course._tf import tf

    check_callable("non_saturating_loss", loss_fn)
    check_own_code(
        "non_saturating_loss",
        loss_fn,
        ["generator_loss", "non_saturating_generator_loss"],
        "the exercise is to write the loss yourself from -log sigmoid(logits), not to call "
        "aigc_course.losses",
    )
    rng = np.random.default_rng(5)
    logits = rng.normal(0.0, 3.0, 64)
    want = np.mean(np.logaddexp(0.0, -logits))
    got = loss_fn(tf.constant(logits, tf.float32))
    hint = None
    if got is not None and np.ndim(got) == 0:
        value = float(np.asarray(got))
        if math.isclose(value, -np.mean(np.logaddexp(0.0, logits)), rel_tol=1e-4):
            hint = "that is the saturating loss log(1 - D): the generator wants -log D instead"
        elif math.isclose(value, -want, rel_tol=1e-4):
            hint = "the sign looks flipped: minimise -log D(G(z)), i.e. push D(G(z)) up"
        elif math.isclose(value, np.mean(np.logaddexp(0.0, logits)), rel_tol=1e-4):
            hint = "that is -log(1 - D), the loss for labelling fakes as fake (the discriminator's)"
    check_close("non_saturating_loss(logits)", got, want, atol=1e-4, rtol=1e-4, hint=hint)

    extreme = tf.constant([-200.0, -30.0, 0.0, 30.0, 200.0], tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(extreme)
        value = loss_fn(extreme)
    grad = tape.gradient(value, extreme) if tf.is_tensor(value) else None
    check_true(
        np.isfinite(np.asarray(value)).all(),
        f"non_saturating_loss on logits ±200 gave {np.asarray(value)}, not a finite number",
        "log(sigmoid(-200)) underflows to log(0) in float32: use tf.nn.softplus(-logits), "
        "which equals -log(sigmoid(logits)) exactly",
    )
    ex = np.asarray(extreme, dtype=np.float64)
    check_close("non_saturating_loss on logits ±200", value, np.mean(np.logaddexp(0.0, -ex)))
    check_true(
        grad is not None,
        "no gradient flows from your loss back to the logits",
        "use TensorFlow operations (tf.nn.softplus, tf.reduce_mean), not NumPy, so that "
        "tf.GradientTape can differentiate the loss",
    )
    check_close(
        "d loss / d logits",
        grad,
        -1.0 / (1.0 + np.exp(ex)) / ex.size,
        atol=1e-6,
        hint="the gradient of mean softplus(-l) is -sigmoid(-l) / N; NaN means log(0) somewhere",
    )
    ok("non_saturating_loss matches mean softplus(-logits), finite with finite gradients at ±200")


@check(reread="chapter 04, section 4 (The generator's criterion: C(G) = -log 4 + 2 JSD)")
def check_jsd(jsd: Callable[[np.ndarray, np.ndarray, np.ndarray], float]) -> None:
    """``jsd(p, q, x)`` is the Jensen-Shannon divergence in nats, and V(D*, G) = -log 4 + 2 JSD."""
    check_callable("jsd", jsd)
    check_own_code(
        "jsd",
        jsd,
        ["js_divergence", "kl_minus_two_jsd", "jensenshannon"],
        "the exercise is to build the JSD from its definition (two KL terms against the "
        "mixture m), not to call game1d.js_divergence",
    )
    far = (Normal(0.0, 1.0), Normal(60.0, 1.0))
    for data, gen in [*_PAIRS, far, (Normal(1.0, 0.7), Normal(1.0, 0.7))]:
        x = grid(data, gen, n=2001)
        p, q = data.pdf(x), gen.pdf(x)
        want = js_divergence(p, q, x)
        got = jsd(p, q, x)
        hint = None
        if got is not None and np.ndim(got) == 0 and want > 0:
            value = float(np.asarray(got))
            if math.isclose(value, want / math.log(2), rel_tol=1e-4):
                hint = "that looks like bits (log2): use the natural log, nats"
            elif math.isclose(value, 2 * want, rel_tol=1e-4):
                hint = "JSD averages the two KL terms: multiply their sum by 1/2"
        check_close(f"jsd for {data} vs {gen}", got, want, atol=1e-6, rtol=1e-5, hint=hint)
        check_close(
            f"symmetry: jsd(q, p) for {data} vs {gen}", jsd(q, p, x), want, atol=1e-6, rtol=1e-5
        )
        lhs = value_function(optimal_logits(p, q), p, q, x, from_logits=True)
        check_close("V(D*, G) - (-log 4 + 2 jsd)", lhs - (-LOG4 + 2 * float(got)), 0.0, atol=1e-6)
    ok("jsd is right (0 for equal densities, log 2 for disjoint ones), and C(G) = -log 4 + 2 JSD")


@check(reread="chapter 04, section 2 (The value function, and who optimises what)")
def check_article_discriminator_loss(answer: str) -> None:
    """``answer`` is the letter saying what minimising the article's L_D does to D."""
    check_choice(
        "check_article_discriminator_loss",
        answer,
        "b",
        {
            "a": "D maximises V; the article's L_D is V itself, and minimising it runs the game "
            "backwards",
            "c": "log D(x) depends on D's parameters through D(x): its gradient is not zero",
            "d": "binary cross-entropy is -[y log D + (1 - y) log(1 - D)]: the article's L_D "
            "lacks the minus sign, so it is the negative of the BCE",
        },
        not_attempted='set answer_q1 to one letter, e.g. "a"',
    )
    ok("right: minimising V pushes D(x) down and D(G(z)) up, so D learns the opposite of its job")


@check(reread="chapter 04, section 4 (The generator's criterion)")
def check_value_at_optimum(answer: float) -> None:
    """``answer`` is C(G) = V(D*, G) when p_g = p_data, as a number."""
    if answer is None:
        raise NotAttempted("check_value_at_optimum", "set answer_q2 to a number, e.g. np.log(2)")
    if isinstance(answer, str) or np.ndim(answer) != 0:
        raise CheckFailed(f"expected one number, got {answer!r}")
    x = grid(Normal(0.0, 1.0))
    p = Normal(0.0, 1.0).pdf(x)
    want = value_function(optimal_discriminator(p, p), p, p, x)
    if math.isclose(float(answer), math.log(4), rel_tol=1e-3):
        raise CheckFailed(
            f"{answer:.4g} is +log 4: the sign is flipped",
            "log(1/2) is negative, and V adds two of them",
        )
    if math.isclose(float(answer), -math.log(2), rel_tol=1e-3):
        raise CheckFailed(
            f"{answer:.4g} is -log 2, only one of the two expectations",
            "V = E[log D(x)] + E[log(1 - D(G(z)))]: add both terms",
        )
    check_close(
        "C(G) at p_g = p_data",
        answer,
        want,
        atol=1e-3,
        hint="when p_g = p_data, D*(x) = 1/2 everywhere; put that into V = E[log D] + E[log(1 - D)]",
    )
    ok("right: D* = 1/2 everywhere, so C(G) = log(1/2) + log(1/2) = -log 4")


_FOLLOWS = {"jsd": "jsd", "2jsd": "jsd", "kl-2jsd": "kl-2jsd", "kl - 2 jsd": "kl-2jsd"}


@check(reread="chapter 04, section 5 (Saturating and non-saturating generator losses)")
def check_divergence_experiment(measure_slopes: Callable, answer_follows: str) -> None:
    """``measure_slopes(data, mus, sigma)`` measures, by finite differences in mu, the slopes of
    the non-saturating loss with D frozen at D*, of KL - 2 JSD and of 2 JSD; ``answer_follows``
    says which divergence the first follows. Judged against ``game1d.generator_gradients`` on
    another pair of densities, to 1e-3."""
    check_callable("measure_slopes", measure_slopes)
    data, sigma = Mixture((Normal(-1.5, 0.6), Normal(2.5, 0.4)), (0.3, 0.7)), 0.8
    mus = np.array([-0.5, 0.5, 1.5])
    got = measure_slopes(data, mus, sigma)
    rows = (GRADIENT_ROWS[0], GRADIENT_ROWS[1], GRADIENT_ROWS[3])
    grads = [generator_gradients(data, Normal(float(mu), sigma)) for mu in mus]
    want = np.array([[g[row][0] for g in grads] for row in rows])
    if got is not None and np.shape(got) == want.shape:
        arr = np.asarray(got, dtype=np.float64)
        moving = []
        for mu in mus:  # the same loss with D re-optimised for every shifted generator
            x = grid(data, Normal(float(mu), sigma), n=8001)
            p = data.pdf(x)

            def ns(m: float, x: np.ndarray = x, p: np.ndarray = p) -> float:
                q = Normal(m, sigma).pdf(x)
                return integrate(q * np.logaddexp(0.0, -optimal_logits(p, q)), x)

            moving.append((ns(mu + 1e-4) - ns(mu - 1e-4)) / 2e-4)
        if np.allclose(arr[0], moving, atol=1e-4, rtol=1e-3) and not np.allclose(
            arr[0], want[0], atol=1e-4, rtol=1e-3
        ):
            raise CheckFailed(
                "your non-saturating slopes re-optimise D for every shifted generator: D must "
                "stay frozen at D* of the generator at mu while you differentiate",
                "compute the logits of D* once per mu, outside the function you differentiate",
            )
    check_close(
        "measure_slopes(data, [-0.5, 0.5, 1.5], 0.8), rows: NS, KL - 2 JSD, 2 JSD",
        got,
        want,
        atol=1e-3,
        rtol=1e-3,
        hint="row 0 the non-saturating loss with D frozen, row 1 KL(p_g || p_data) - 2 JSD, "
        "row 2 2 JSD; one column per mu, central differences (f(mu + h) - f(mu - h)) / 2h",
    )
    if answer_follows is None or answer_follows == "":
        raise NotAttempted(
            "check_divergence_experiment", 'set answer_follows to "jsd" or "kl-2jsd"'
        )
    follows = _FOLLOWS.get(str(answer_follows).strip().lower().replace("−", "-"))
    if follows is None:
        raise CheckFailed(f'answer_follows must be "jsd" or "kl-2jsd", got {answer_follows!r}')
    to_kl, to_jsd = np.abs(want[0] - want[1]).max(), np.abs(want[0] - want[2]).max()
    check_true(
        follows == "kl-2jsd",
        f"your own measurement says otherwise: the non-saturating slopes differ from KL - 2 JSD "
        f"by at most {to_kl:.1e} but from 2 JSD by up to {to_jsd:.2g}",
        "the minimax loss follows 2 JSD; the non-saturating one, with D frozen, does not",
    )
    ok(
        f"measured: the non-saturating slopes follow KL - 2 JSD (largest gap {to_kl:.1e}), "
        f"not 2 JSD (gap up to {to_jsd:.2g})"
    )


#: Graded hints (``aigc_course.hints.hint``): the idea first, then the tool, never the line.
HINTS = {
    "optimal_d": (
        "V is an integral of something that depends on D(x) at each x separately, so D can be "
        "optimised point by point: for fixed numbers a, b >= 0, which y in (0, 1) maximises "
        "a log y + b log(1 - y)?",
        "Set the derivative in y to zero and solve; it gives a fraction of the two densities. "
        "NumPy arrays combine element by element, so the formula works on whole grids.",
        "Sanity checks: D* is 1/2 where the densities are equal and near 1 where only the data "
        "has mass.",
    ),
    "non_saturating_loss": (
        "The generator wants D(G(z)) large: minimise the mean of -log D(G(z)), with D = sigmoid "
        "of the logit.",
        "-log(sigmoid(l)) has a stable form in TensorFlow that never takes log(0): look at "
        "tf.nn.softplus and what softplus(-l) equals. Use TensorFlow ops so gradients flow.",
        "Test it on logits -200 and +200: the value and its gradient must be finite.",
    ),
    "jsd": (
        "JSD compares p and q through their average m: it is the mean of KL(p || m) and "
        "KL(q || m).",
        "KL(a || b) is the integral of a log(a / b); where a = 0 the integrand is 0 (np.where "
        "keeps log(0) out), and game1d.integrate does the integral on the grid x.",
        "Natural logs (nats): JSD of two disjoint densities is log 2 = 0.693, of equal ones 0.",
    ),
    "q1_article_loss": (
        "Gradient descent makes a loss smaller. What does the discriminator need to do to make "
        "log D(x) small, and log(1 - D(G(z))) small?",
        "Compare the article's L_D with the binary cross-entropy: which sign is missing?",
    ),
    "divergence_experiment": (
        "A slope by finite differences: evaluate a function of the generator a little to the "
        "right and a little to the left of mu, and divide the change by the distance. The "
        "non-saturating loss must see the same frozen D on both sides, as a gradient step does.",
        "D* as logits is game1d.optimal_logits(p_data, p_g) for the generator at mu; -log D = "
        "softplus(-logit) = np.logaddexp(0, -logit); the expectation under p_g is "
        "game1d.integrate(p_g * ..., x) on one grid that covers every generator.",
        "Return the three rows stacked: shape (3, len(mus)). If NS matches neither divergence, "
        "check that D is not recomputed inside the differentiated function.",
    ),
    "q2_value_at_optimum": (
        "When p_g = p_data, what is D*(x) at every x?",
        "Put that constant into V = E[log D(x)] + E[log(1 - D(G(z)))]; each expectation of a "
        "constant is the constant.",
    ),
}
