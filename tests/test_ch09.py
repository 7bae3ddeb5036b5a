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


# --- Slips found in review: each must fail and say which slip it was. ------------------------


def pairwise(a, b):
    return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=-1))


def pr_variant(real, generated, k=3, compare=np.less_equal, square_cross=False, axis=1,
               radii=None, fixed_k=None):  # fmt: skip
    """Precision and recall with one slip: a strict comparison, squared cross distances against
    plain radii, the reduction over the wrong axis, radii from the other set, a fixed k."""
    kk = k if fixed_k is None else fixed_k
    cross = pairwise(generated, real)  # (generated, real)
    if radii == "other set":
        r_real, r_gen = np.sort(cross.T, axis=1)[:, kk - 1], np.sort(cross, axis=1)[:, kk - 1]
    else:
        r_real = np.sort(pairwise(real, real), axis=1)[:, kk]
        r_gen = np.sort(pairwise(generated, generated), axis=1)[:, kk]
    if square_cross:
        cross = cross**2
    precision = compare(cross, r_real[None, :]).any(axis=axis).mean()
    recall = compare(cross.T, r_gen[None, :]).any(axis=axis).mean()
    return float(precision), float(recall)


def pr_argsort(real, generated, k=3):  # indices where distances belong: no slip of the list
    r_real = np.argsort(pairwise(real, real), axis=1)[:, k]
    r_gen = np.argsort(pairwise(generated, generated), axis=1)[:, k]
    cross = pairwise(generated, real)
    return float((cross <= r_real).any(1).mean()), float((cross.T <= r_gen).any(1).mean())


@pytest.mark.parametrize(
    ("check", "wrong", "hint"),
    [
        (ch09.check_kl_normal,
         lambda m, lv: 0.5 * np.sum(m**2 + np.exp(2 * lv) - 1 - 2 * lv, axis=-1), "log σ²"),
        (ch09.check_kl_normal,
         lambda m, lv: 0.5 * np.sum(m**2 + np.exp(lv / 2) - 1 - lv, axis=-1),
         "standard deviation"),
        (ch09.check_kl_normal, lambda m, lv: 0.5 * np.sum(m**2 + np.exp(lv) - lv, axis=-1),
         "the -1"),
        (ch09.check_kl_normal, lambda m, lv: 0.5 * np.sum(m**2 + np.exp(lv) - 1 + lv, axis=-1),
         "log term"),
        (ch09.check_bits_per_dim,
         lambda n, d, r: n / (d * math.log(2)) + math.log(256 / r), "bin term is in nats"),
        (ch09.check_bits_per_dim,
         lambda n, d, r: n * math.log(2) / d + math.log2(256 / r), "divide by ln 2"),
        (ch09.check_bits_per_dim,
         lambda n, d, r: n / (d * math.log10(2)) + math.log2(256 / r), "base-10"),
        (ch09.check_bits_per_dim,
         lambda n, d, r: n / (d * math.log(2)) + math.log2(255 / r), "256 levels"),
        (ch09.check_bits_per_dim,
         lambda n, d, r: -n / (d * math.log(2)) + math.log2(256 / r), "already the negative"),
        (ch09.check_precision_recall, lambda r, g, k=3: pr_variant(r, g, k, compare=np.less),
         "surface"),
        (ch09.check_precision_recall, lambda r, g, k=3: pr_variant(r, g, k, square_cross=True),
         "like with like"),
        (ch09.check_precision_recall, lambda r, g, k=3: pr_variant(r, g, k, axis=0),
         "share of the balls"),
        (ch09.check_precision_recall, lambda r, g, k=3: pr_variant(r, g, k, radii="other set"),
         "its own set"),
        (ch09.check_precision_recall, lambda r, g, k=3: pr_variant(r, g, k, fixed_k=3),
         "the k passed in"),
    ],
)  # fmt: skip
def test_more_mistakes_fail_with_their_hint(check, wrong, hint):
    with pytest.raises(CheckFailed, match=hint):
        check(wrong)


def pr_nearest_ball_only(real, generated, k=3):  # only the nearest point's ball: no listed slip
    cross = pairwise(generated, real)
    r_real = np.sort(pairwise(real, real), axis=1)[:, k]
    r_gen = np.sort(pairwise(generated, generated), axis=1)[:, k]
    precision = np.mean(cross.min(1) <= r_real[cross.argmin(1)])
    return float(precision), float(np.mean(cross.T.min(1) <= r_gen[cross.T.argmin(1)]))


@pytest.mark.parametrize(
    ("wrong", "not_named"), [(pr_argsort, "swapped"), (pr_nearest_ball_only, "squared")]
)
def test_no_slip_is_named_when_the_answer_only_matches_one_half_by_chance(wrong, not_named):
    """The argsort slip's recall is 1.0 where the right precision is 1.0, the nearest-ball
    slip's precision that of squared distances: coincidences of one number, both numbers
    wrong, must not name a slip."""
    with pytest.raises(CheckFailed) as info:
        ch09.check_precision_recall(wrong)
    assert not_named not in str(info.value)


def pr_as_array(real, generated, k=3):
    return np.array(pr_by_hand(real, generated, k))


def knn_radii(points, k):  # the student's own helper, named like the bench's
    return np.sort(pairwise(points, points), axis=1)[:, k]


def pr_own_helper(real, generated, k=3):
    cross = pairwise(generated, real)
    precision = (cross <= knn_radii(real, k)[None, :]).any(axis=1).mean()
    return float(precision), float((cross.T <= knn_radii(generated, k)[None, :]).any(1).mean())


def gaussian_kl(mean, log_var):  # the student's own helper, named like the library's
    return kl(mean, log_var)


def kl_own_helper(mean, log_var):
    return gaussian_kl(mean, log_var)


def pr_calls_the_bench_beside_an_own_helper(real, generated, k=3):
    knn_radii(real, k)
    return bench.knn_radii(real, k)[0], 1.0


def test_right_answers_in_other_forms_pass(capsys):
    """An array instead of a tuple, and the student's own helpers named like the library's."""
    ch09.check_precision_recall(pr_as_array)
    ch09.check_precision_recall(pr_own_helper)
    ch09.check_kl_normal(kl_own_helper)
    real = np.random.default_rng(0).standard_normal((200, 8))
    noise = np.random.default_rng(1).standard_normal((200, 8))

    def sweep_as_array(real, noise, scales, k):
        return np.array([precision_recall(real, s * noise, k) for s in scales])

    ch09.check_truncation_experiment(sweep_as_array, "a", real, noise, [0.5, 1.0, 2.0], 3)
    assert capsys.readouterr().out.count("✔") == 4
    with pytest.raises(CheckFailed, match="calls knn_radii"):  # the bench's, through `bench.`
        ch09.check_precision_recall(pr_calls_the_bench_beside_an_own_helper)


def sweep_scaling_real(real, noise, scales, k):
    return [precision_recall(s * real, noise, k) for s in scales]


def sweep_reusing_real(real, noise, scales, k):
    return [precision_recall(real, s * real, k) for s in scales]


def sweep_dividing(real, noise, scales, k):
    return [precision_recall(real, noise / s, k) for s in scales]


NOTEBOOK_REAL = np.random.default_rng(0).standard_normal((200, 8))
NOTEBOOK_NOISE = np.random.default_rng(1).standard_normal((200, 8))


def sweep_of_the_notebook_sets(real, noise, scales, k):
    return [precision_recall(NOTEBOOK_REAL, s * NOTEBOOK_NOISE, k) for s in scales]


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (sweep_scaling_real, "opposite way"),
        (sweep_reusing_real, "not from the real set"),
        (sweep_dividing, "opposite way"),
        (sweep_of_the_notebook_sets, "sets passed in"),
    ],
)
def test_the_experiment_names_more_mistakes(wrong, hint):
    with pytest.raises(CheckFailed, match=hint):
        ch09.check_truncation_experiment(wrong, "a", NOTEBOOK_REAL, NOTEBOOK_NOISE, [0.5, 1.0, 2.0])


def test_a_right_sweep_over_a_wrong_precision_recall_points_to_exercise_3():
    """The sweep is right, the precision_recall it calls counts each point as its own
    neighbour: the check must send the student back to exercise 3, not blame the sweep's k."""
    wrong = lambda r, g, k=3: pr_by_hand(r, g, k, skip_self=False)  # noqa: E731
    import types

    right_sweep_wrong_helper = types.FunctionType(
        sweep.__code__, {**globals(), "precision_recall": wrong}, "sweep"
    )
    real = np.random.default_rng(0).standard_normal((200, 8))
    noise = np.random.default_rng(1).standard_normal((200, 8))
    with pytest.raises(CheckFailed, match="exercise 3") as info:
        ch09.check_truncation_experiment(
            right_sweep_wrong_helper, "a", real, noise, [0.5, 1.0, 2.0]
        )
    assert "pass k on" not in str(info.value)


def test_the_bench_question_holds_on_the_shipped_table():
    """Exercise 4 and the prose around it quote no number, only claims about the 5-minute rows;
    they must hold on whatever table ships (one seed now, medians over seeds later). If this
    fails after a new bench run, reword the question, the check's messages and the prose."""
    rows = [r for r in bench.shipped_results("fashion_mnist") if r["budget_s"] == 300]
    table = {r["family"]: r for r in bench.summarise(rows)}
    gan, vae, pixelcnn, diffusion = (table[f] for f in ("gan", "vae", "pixelcnn", "diffusion"))
    likelihoods = {f: r["bits_per_dim"] for f, r in table.items() if r["bits_per_dim"] is not None}
    # (b): the best bits/dim is the PixelCNN's, and its FID is far behind the GAN's.
    assert min(likelihoods, key=likelihoods.get) == "pixelcnn"
    assert pixelcnn["fid"] > 2 * gan["fid"]
    # (a) false: the best FID belongs to a family without bits/dim. (d) false: the GAN has no
    # bits/dim and a lower precision than the VAE's. (c)'s message: the VAE's recall is low and
    # its FID far behind the GAN's.
    assert min((r["fid"], f) for f, r in table.items() if f != "real data")[1] == "gan"
    assert gan["bits_per_dim"] is None and gan["precision"] < vae["precision"]
    assert vae["recall"] < gan["recall"] and vae["fid"] > 2 * gan["fid"]
    # The truncation prose: the VAE and diffusion at the shrunk end, the GAN nearer the balance.
    for shrunk in (vae, diffusion):
        assert shrunk["precision"] > shrunk["recall"] + 0.3
        assert abs(gan["precision"] - gan["recall"]) < shrunk["precision"] - shrunk["recall"]
