"""Chapter 04's exercise checks: stubs and typical mistakes fail with a helpful hint; answers pass."""

import math

import numpy as np
import pytest

from aigc_course._tf import tf
from aigc_course.checks import CheckFailed, NotAttempted, ch04


def _stub(*_args):
    raise NotImplementedError


@pytest.mark.parametrize(
    "check",
    [ch04.check_optimal_discriminator, ch04.check_non_saturating_loss, ch04.check_jsd],
)
def test_stubs_are_not_attempted(check):
    with pytest.raises(NotAttempted, match="not attempted"):
        check(_stub)


def test_optimal_discriminator():
    ch04.check_optimal_discriminator(lambda p, q: p / (p + q))
    with pytest.raises(CheckFailed, match="1 - D\\*"):
        ch04.check_optimal_discriminator(lambda p, q: q / (p + q))
    with pytest.raises(CheckFailed, match="divide by the sum"):
        ch04.check_optimal_discriminator(lambda p, q: p / q)
    with pytest.raises(CheckFailed, match="forget `return`"):
        ch04.check_optimal_discriminator(lambda p, q: None)


def test_non_saturating_loss(capsys):
    ch04.check_non_saturating_loss(lambda z: tf.reduce_mean(tf.nn.softplus(-z)))
    assert "✔" in capsys.readouterr().out
    naive = lambda z: -tf.reduce_mean(tf.math.log(tf.sigmoid(z)))  # noqa: E731
    with pytest.raises(CheckFailed, match="softplus"):
        ch04.check_non_saturating_loss(naive)
    with pytest.raises(CheckFailed, match="saturating loss"):
        ch04.check_non_saturating_loss(lambda z: -tf.reduce_mean(tf.nn.softplus(z)))
    with pytest.raises(CheckFailed, match="sign looks flipped"):
        ch04.check_non_saturating_loss(lambda z: -tf.reduce_mean(tf.nn.softplus(-z)))
    numpy_version = lambda z: np.mean(np.logaddexp(0.0, -np.asarray(z)))  # noqa: E731
    with pytest.raises(CheckFailed, match="no gradient"):
        ch04.check_non_saturating_loss(numpy_version)


def _jsd(p, q, x):
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_pm = np.where(p > 0, p * np.log(p / m), 0.0)
        kl_qm = np.where(q > 0, q * np.log(q / m), 0.0)
    return 0.5 * np.trapezoid(kl_pm, x) + 0.5 * np.trapezoid(kl_qm, x)


def test_jsd():
    ch04.check_jsd(_jsd)
    with pytest.raises(CheckFailed, match="bits"):
        ch04.check_jsd(lambda p, q, x: _jsd(p, q, x) / math.log(2))
    with pytest.raises(CheckFailed, match="1/2"):
        ch04.check_jsd(lambda p, q, x: 2 * _jsd(p, q, x))
    with pytest.raises(CheckFailed, match="symmetry"):
        ch04.check_jsd(lambda p, q, x: _jsd(p, q, x) + 0.01 * float(np.trapezoid(p * x, x)))


def test_conceptual_answers():
    ch04.check_article_discriminator_loss("b")
    ch04.check_article_discriminator_loss(" B ")
    with pytest.raises(CheckFailed, match="not right"):
        ch04.check_article_discriminator_loss("a")
    with pytest.raises(CheckFailed, match="one letter"):
        ch04.check_article_discriminator_loss("worse")
    ch04.check_value_at_optimum(-math.log(4))
    ch04.check_value_at_optimum(-1.3863)
    with pytest.raises(CheckFailed, match="sign is flipped"):
        ch04.check_value_at_optimum(math.log(4))
    with pytest.raises(CheckFailed, match="D\\*\\(x\\) = 1/2"):
        ch04.check_value_at_optimum(-math.log(3))
    with pytest.raises(CheckFailed, match="one number"):
        ch04.check_value_at_optimum("-log 4")
    # untouched answers (the exercise notebook starts them at None) are "not attempted", not wrong
    with pytest.raises(NotAttempted, match="answer_q1"):
        ch04.check_article_discriminator_loss(None)
    with pytest.raises(NotAttempted, match="answer_q2"):
        ch04.check_value_at_optimum(None)


def test_aliases_of_the_library_are_not_the_students_code():
    # issue 15: `non_saturating_loss = aigc_course.losses.generator_loss` and
    # `jsd = game1d.js_divergence` passed although the exercise says to write them
    from aigc_course import game1d, losses

    with pytest.raises(CheckFailed, match="a library function, not your own code"):
        ch04.check_non_saturating_loss(losses.generator_loss)
    with pytest.raises(CheckFailed, match="a library function, not your own code"):
        ch04.check_jsd(game1d.js_divergence)
    with pytest.raises(CheckFailed, match="calls js_divergence"):
        ch04.check_jsd(lambda p, q, x: game1d.js_divergence(p, q, x))
