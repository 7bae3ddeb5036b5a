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
    check_close,
    check_letter,
    check_true,
    ok,
)
from aigc_course.game1d import (
    LOG4,
    Mixture,
    Normal,
    grid,
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
]

_PAIRS = [
    (Normal(0.0, 1.0), Normal(2.0, 0.5)),
    (Mixture((Normal(-2.0, 0.5), Normal(2.0, 0.7)), (0.4, 0.6)), Normal(0.5, 1.5)),
]


@check
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


@check
def check_non_saturating_loss(loss_fn: Callable) -> None:
    """``loss_fn(fake_logits)`` is the batch mean of -log sigmoid(logit), stable and differentiable."""
    from aigc_course._tf import tf

    check_callable("non_saturating_loss", loss_fn)
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


@check
def check_jsd(jsd: Callable[[np.ndarray, np.ndarray, np.ndarray], float]) -> None:
    """``jsd(p, q, x)`` is the Jensen-Shannon divergence in nats, and V(D*, G) = -log 4 + 2 JSD."""
    check_callable("jsd", jsd)
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


@check
def check_article_discriminator_loss(answer: str) -> None:
    """``answer`` is the letter saying what minimising the article's L_D does to D."""
    letter = check_letter(
        "check_article_discriminator_loss",
        answer,
        not_attempted='set answer_q1 to one letter, e.g. "a"',
    )
    check_true(
        letter == "b",
        f"{answer!r} is not right",
        "L_D = mean(log D(x) + log(1 - D(G(z)))) is V itself; gradient descent lowers it. "
        "Which D values make log D(x) and log(1 - D(G(z))) small?",
    )
    ok("right: minimising V pushes D(x) down and D(G(z)) up, so D learns the opposite of its job")


@check
def check_value_at_optimum(answer: float) -> None:
    """``answer`` is C(G) = V(D*, G) when p_g = p_data, as a number."""
    if answer is None:
        raise NotAttempted("check_value_at_optimum", "set answer_q2 to a number, e.g. np.log(2)")
    if isinstance(answer, str) or np.ndim(answer) != 0:
        raise CheckFailed(f"expected one number, got {answer!r}")
    x = grid(Normal(0.0, 1.0))
    p = Normal(0.0, 1.0).pdf(x)
    want = value_function(optimal_discriminator(p, p), p, p, x)
    check_close(
        "C(G) at p_g = p_data",
        answer,
        want,
        atol=1e-3,
        hint="when p_g = p_data, D*(x) = 1/2 everywhere; put that into V = E[log D] + E[log(1 - D)]",
    )
    ok("right: D* = 1/2 everywhere, so C(G) = log(1/2) + log(1/2) = -log 4")
