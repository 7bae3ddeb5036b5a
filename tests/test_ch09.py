"""Chapter 09's exercise checks: the stub is 'not attempted', the listed mistakes (log_var read as
the variance, the 1/2 or a sign lost, nats for bits, the bin width forgotten, a point its own
neighbour, precision and recall swapped, the library's own functions) fail with their hint, and
correct answers, written here independently of the package, pass."""

from __future__ import annotations

import math

import numpy as np
import pytest

from aigc_course import bench, vae
from aigc_course.checks import CheckFailed, NotAttempted, ch09


def stub(*args, **kwargs):
    raise NotImplementedError


def kl(mean, log_var, half=0.5, mean_sign=1.0, reduce=np.sum):
    var = np.exp(log_var)
    return half * reduce(mean_sign * mean**2 + var - np.log(var) - 1.0, axis=-1)


def bits(nll, dims, value_range):
    bin_width = value_range / 256
    return (nll / dims - math.log(bin_width)) / math.log(2)  # -log2 of (density x bin) per dim


def radius(points, i, k, skip_self=True):
    others = np.delete(points, i, axis=0) if skip_self else points
    return np.partition(np.linalg.norm(others - points[i], axis=1), k - 1)[k - 1]


def covered(queries, support, k, skip_self=True):
    radii = np.array([radius(support, i, k, skip_self) for i in range(len(support))])
    return [np.any(np.linalg.norm(support - q, axis=1) <= radii) for q in queries]


def pr_by_hand(real, generated, k=3, skip_self=True, counts=False):
    hits = (covered(generated, real, k, skip_self), covered(real, generated, k, skip_self))
    return tuple(float(np.sum(h) if counts else np.mean(h)) for h in hits)


def precision_recall(real, generated, k=3):  # the student's name, which the sweep must call
    return pr_by_hand(real, generated, k)


def sweep(real, noise, scales, k):
    return [precision_recall(real, s * noise, k) for s in scales]


def test_correct_answers_pass(capsys):
    ch09.check_kl_normal(kl)
    ch09.check_bits_per_dim(bits)
    ch09.check_precision_recall(pr_by_hand)
    ch09.check_bench_answer(" B ")
    real = np.random.default_rng(0).standard_normal((300, 8))
    noise = np.random.default_rng(1).standard_normal((300, 8))
    ch09.check_truncation_experiment(sweep, "a", real, noise, [0.5, 1.0, 2.0], 3)
    assert capsys.readouterr().out.count("✔") == 5


def test_the_toy_trades_recall_for_precision_as_the_notebook_says():
    real = np.random.default_rng(0).standard_normal((1000, 8))
    noise = np.random.default_rng(1).standard_normal((1000, 8))
    table = [bench.precision_recall(real, s * noise) for s in (0.25, 0.5, 1.0, 1.5, 2.0)]
    precision, recall = np.array(table).T
    assert np.all(np.diff(precision) <= 0) and np.all(np.diff(recall) >= 0)
    assert precision[0] == 1.0 and recall[0] < 0.05  # shrunk: on the manifold, covering little
    assert precision[-1] < 0.3 and recall[-1] > 0.95  # widened: covering all, mostly off it


def test_uniform_models_score_eight_bits_in_either_range():
    assert bits(0.0, 784, 1.0) == pytest.approx(8.0)
    assert bits(784 * math.log(2.0), 784, 2.0) == pytest.approx(8.0)


@pytest.mark.parametrize(
    "check",
    [ch09.check_kl_normal, ch09.check_bits_per_dim, ch09.check_precision_recall],
)
def test_stub_is_not_attempted(check):
    with pytest.raises(NotAttempted, match="not attempted"):
        check(stub)


def test_unanswered_questions_are_not_attempted():
    data = np.random.default_rng(0).standard_normal((40, 3))
    with pytest.raises(NotAttempted):
        ch09.check_bench_answer(None)
    with pytest.raises(NotAttempted):
        ch09.check_truncation_experiment(stub, "a", data, data, [0.5, 1.0])
    with pytest.raises(NotAttempted):
        ch09.check_truncation_experiment(sweep, "", data, data, [0.5, 1.0])


def kl_library(mean, log_var):
    return np.asarray(vae.gaussian_kl(mean, log_var))


def pr_library(real, generated, k=3):
    return bench.precision_recall(real, generated, k)


def pr_radii_library(real, generated, k=3):
    inside = np.linalg.norm(generated[:, None] - real[None], axis=-1) <= bench.knn_radii(real, k)
    return float(inside.any(axis=1).mean()), 1.0


def pr_own_radii(real, generated, k=3):
    """Each point's ball drawn around the point being judged, with its own set's radius."""
    d = np.linalg.norm(generated[:, None] - real[None], axis=-1)  # (generated, real)
    r_gen = np.sort(np.linalg.norm(generated[:, None] - generated[None], axis=-1), 1)[:, k]
    r_real = np.sort(np.linalg.norm(real[:, None] - real[None], axis=-1), 1)[:, k]
    return float((d <= r_gen[:, None]).any(1).mean()), float((d.T <= r_real[:, None]).any(1).mean())


def sweep_shifted(real, noise, scales, k):
    return [precision_recall(real, noise + s, k) for s in scales]


@pytest.mark.parametrize(
    ("check", "wrong", "hint"),
    [
        (ch09.check_kl_normal, lambda m, lv: 0.5 * np.sum(m**2 + lv - 1 - np.log(lv), axis=-1),
         "log of the variance"),
        (ch09.check_kl_normal, lambda m, lv: kl(m, lv, half=1.0), "1/2 in front is missing"),
        (ch09.check_kl_normal, lambda m, lv: kl(m, lv, reduce=np.mean), "mean over the dimensions"),
        (ch09.check_kl_normal, lambda m, lv: kl(m, lv, mean_sign=-1.0), "sign slip"),
        (ch09.check_kl_normal, lambda m, lv: kl(m, lv, reduce=np.sum).sum(), "last axis"),
        (ch09.check_kl_normal, kl_library, "calls gaussian_kl"),
        (ch09.check_kl_normal, vae.gaussian_kl, "library function"),
        (ch09.check_bits_per_dim, lambda n, d, r: bits(n, d, r) * math.log(2), "nats"),
        (ch09.check_bits_per_dim, lambda n, d, r: n / math.log(2) + math.log2(256 / r),
         "per image"),
        (ch09.check_bits_per_dim, lambda n, d, r: n / d / math.log(2), "bin term is missing"),
        (ch09.check_bits_per_dim, lambda n, d, r: n / d / math.log(2) + 8, "holds only for"),
        (ch09.check_bits_per_dim, lambda n, d, r: n / d / math.log(2) - math.log2(256 / r),
         "wrong sign"),
        (ch09.check_bits_per_dim, lambda n, d, r: None, "forget `return`"),
        (ch09.check_precision_recall, lambda r, g, k=3: pr_by_hand(r, g, k, skip_self=False),
         "its own nearest neighbour"),
        (ch09.check_precision_recall, lambda r, g, k=3: pr_by_hand(r, g, k)[::-1],
         "swapped"),
        (ch09.check_precision_recall, pr_own_radii, "balls belong to the other set"),
        (ch09.check_precision_recall, lambda r, g, k=3: (pr_own_radii(r, g, k)[0],
         pr_by_hand(r, g, k)[1]), "balls belong to the other set"),  # precision alone wrong
        (ch09.check_precision_recall, lambda r, g, k=3: pr_by_hand(r, g, k, counts=True),
         "counts"),
        (ch09.check_precision_recall, pr_library, "calls precision_recall"),
        (ch09.check_precision_recall, pr_radii_library, "calls knn_radii"),
        (ch09.check_precision_recall, bench.manifold_share, "library function"),
        (ch09.check_bench_answer, "a", "best likelihood"),
        (ch09.check_bench_answer, "c", "sharpness"),
        (ch09.check_bench_answer, "d", "no likelihood"),
        (ch09.check_bench_answer, "z", "one letter"),
    ],
)  # fmt: skip
def test_listed_mistakes_fail_with_their_hint(check, wrong, hint):
    with pytest.raises(CheckFailed, match=hint):
        check(wrong)


@pytest.mark.parametrize(
    ("wrong", "answer", "hint"),
    [
        (lambda r, n, s, k: [precision_recall(r, n, k)] * len(s), "a", "every row is the same"),
        (lambda r, n, s, k: [pr[::-1] for pr in sweep(r, n, s, k)], "a", "precision first"),
        (sweep_shifted, "a", "multiplies the noise"),
        (lambda r, n, s, k: sweep(r, n, s, 3), "a", "pass k on"),
        (sweep, "b", "only precision rises"),
        (sweep, "c", "your table says otherwise"),
        (sweep, "d", "the other way round"),
    ],
)
def test_the_experiment_names_each_mistake(wrong, answer, hint):
    real = np.random.default_rng(0).standard_normal((200, 8))
    noise = np.random.default_rng(1).standard_normal((200, 8))
    with pytest.raises(CheckFailed, match=hint) as info:
        ch09.check_truncation_experiment(wrong, answer, real, noise, [0.5, 1.0, 2.0])
    assert "reread: chapter 09" in str(info.value)
